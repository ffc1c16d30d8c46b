use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    /// A path outside the task's worktree, or otherwise unusable.
    #[error("path {path:?} is refused: {reason}")]
    Path { path: String, reason: String },
    /// A patch that does not apply.
    #[error("the patch does not apply: {0}")]
    Patch(String),
    /// A git operation failed.
    #[error("git {command}: {message}")]
    Git { command: String, message: String },
    /// Merging the task branch back conflicts.
    #[error("merging {branch} conflicts in: {}", files.join(", "))]
    Conflict { branch: String, files: Vec<String> },
    /// Git would not start the merge: the checkout has changes the merge would overwrite (or
    /// a merge of its own in progress). Nothing was changed there.
    #[error(
        "git would not merge {branch} into {dir}: {reason}; commit or stash the changes there and try again (the work stays on branch {branch})"
    )]
    MergeRefused { branch: String, dir: String, reason: String },
    /// A process could not be started.
    #[error("cannot run {program}: {message}")]
    Spawn { program: String, message: String },
    #[error(transparent)]
    Model(#[from] l9_models::ModelError),
    /// The agent stopped: step limit, loop.
    #[error("the agent stopped: {0}")]
    Stopped(String),
    /// The next model call could cross the task's budget, so it was not made.
    #[error("{0}")]
    Budget(BudgetStop),
    #[error("{0}")]
    Io(String),
    /// A journaled step failed (the durable runtime's own error).
    #[error("journal: {0}")]
    Journal(String),
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

/// Where a task's spending stopped: what it spent, its limits, and the call that was not made
/// (its forecast: estimated input plus the output cap, priced).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BudgetStop {
    /// The step that was not run (`r2/coder/model#1`, `r1/review`).
    pub step: String,
    pub spent_tokens: u64,
    pub spent_micro_usd: u64,
    pub limit_tokens: Option<u64>,
    pub limit_micro_usd: Option<u64>,
    pub forecast_tokens: u64,
    pub forecast_micro_usd: u64,
}

impl std::fmt::Display for BudgetStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let usd = |m: u64| format!("${:.4}", m as f64 / 1e6);
        write!(f, "budget: {} would cost up to ", self.step)?;
        match (self.limit_micro_usd, self.limit_tokens) {
            (Some(l), _) if self.spent_micro_usd + self.forecast_micro_usd > l => write!(
                f,
                "{} with {} spent, and the limit is {}",
                usd(self.forecast_micro_usd),
                usd(self.spent_micro_usd),
                usd(l)
            ),
            (_, Some(l)) => write!(
                f,
                "{} tokens with {} used, and the limit is {l} tokens",
                self.forecast_tokens, self.spent_tokens
            ),
            _ => write!(f, "{}", usd(self.forecast_micro_usd)),
        }
    }
}

fn tighter(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Checks a call before it is made: `spent` (the task's total so far) plus the call's
/// forecast against the tighter of `limits` and the journaling seam's allowance. Over it, the
/// seam decides: stop (the error), or wait for a raise and check again.
pub async fn ensure_budget(
    steps: &dyn crate::steps::Steps,
    step: &str,
    spent: (u64, u64),
    limits: (Option<u64>, Option<u64>),
    forecast: l9_models::Forecast,
) -> Result<()> {
    loop {
        let a = steps.allowance();
        let l = (tighter(limits.0, a.0), tighter(limits.1, a.1));
        match BudgetStop::check(step, spent, l, forecast) {
            Err(AgentError::Budget(stop)) => steps.budget_stop(stop).await?,
            other => return other,
        }
    }
}

impl BudgetStop {
    /// Checks a call's forecast against what is left; `Err` when it could cross a limit.
    pub fn check(
        step: &str,
        spent: (u64, u64),
        limits: (Option<u64>, Option<u64>),
        forecast: l9_models::Forecast,
    ) -> Result<()> {
        let over_tokens = limits.0.is_some_and(|l| spent.0 + forecast.tokens > l);
        let over_usd = limits.1.is_some_and(|l| spent.1 + forecast.micro_usd > l);
        if over_tokens || over_usd {
            return Err(AgentError::Budget(BudgetStop {
                step: step.to_string(),
                spent_tokens: spent.0,
                spent_micro_usd: spent.1,
                limit_tokens: limits.0,
                limit_micro_usd: limits.1,
                forecast_tokens: forecast.tokens,
                forecast_micro_usd: forecast.micro_usd,
            }));
        }
        Ok(())
    }
}
