//! Why a task or run failed, told apart so that learning takes only what real work taught:
//! a gate that failed on the code, or a reviewer who rejected it. A missing provider, an
//! unreachable endpoint, a missing agent binary or a budget stop says nothing about the work
//! and must not become a reflection, a vote, an executor's failure or a prior.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Something to set up: no provider, a wrong setting, a scripted provider without a rule,
    /// a budget stop, a spec without a runnable gate.
    Configuration,
    /// Something outside: an endpoint that cannot be reached, a program that cannot be run.
    Infrastructure,
    /// The code did not pass its gate (or verification).
    Gate,
    /// The gate passed but the reviewer rejected the change.
    Review,
    /// The agent itself gave up (step limit, loop, a tool it kept misusing) or anything else.
    Agent,
}

impl FailureClass {
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Configuration => "configuration",
            FailureClass::Infrastructure => "infrastructure",
            FailureClass::Gate => "gate failure",
            FailureClass::Review => "review rejection",
            FailureClass::Agent => "agent error",
        }
    }

    /// Whether the failure is an outcome of real work, which learning may take.
    pub fn teaches(self) -> bool {
        matches!(self, FailureClass::Gate | FailureClass::Review)
    }
}

/// Markers in the messages L9's own steps write, most specific first.
const RULES: &[(FailureClass, &[&str])] = &[
    (
        FailureClass::Review,
        &["the gate passed and the reviewer said", "the reviewer still asks for changes"],
    ),
    (FailureClass::Gate, &["the gate did not pass", "not verified —", "still fails `"]),
    (
        FailureClass::Configuration,
        &[
            "(setting:",
            "no rule matches this call",
            "is not configured",
            "no model provider",
            "no provider",
            "unknown agent template",
            "needs template or command",
            "cannot read the scripted provider",
            "budget:",
            "no runnable gate",
            "api key",
        ],
    ),
    (
        FailureClass::Infrastructure,
        &[
            "(check ",
            "cannot run ",
            "unreachable",
            "connection refused",
            "error sending request",
            "dns error",
            "os error",
            "not a git repository",
        ],
    ),
];

/// The class of a failure from its message.
pub fn classify(message: &str) -> FailureClass {
    let lower = message.to_lowercase();
    for (class, markers) in RULES {
        if markers.iter().any(|m| lower.contains(&m.to_lowercase())) {
            return *class;
        }
    }
    FailureClass::Agent
}

#[cfg(test)]
mod tests {
    use super::{FailureClass::*, classify};

    #[test]
    fn failures_are_told_apart_by_what_caused_them() {
        let cases = [
            (
                "not done after 3 round(s): the gate did not pass and the reviewer said \"changes\"",
                Gate,
            ),
            (
                "not done after 1 round(s): the gate passed and the reviewer said \"changes\"",
                Review,
            ),
            ("not verified — REQ-1: `pytest` failed; the result stays on branch l9/run-x", Gate),
            (
                "dead (step `step:r1/coder/model#1#0` failed: provider gpt: missing key (setting: providers.gpt.api_key_env))",
                Configuration,
            ),
            ("provider s: no rule matches this call (role \"coder\")", Configuration),
            ("no model provider or agent adapter is configured", Configuration),
            ("provider gpt: error sending request (check providers.gpt.base_url)", Infrastructure),
            (
                "step `step:r1/adapter:claude#0` failed: cannot run claude: No such file or directory (os error 2)",
                Infrastructure,
            ),
            ("budget: r1/coder/model#1 would cost up to $0.81", Configuration),
            ("the agent stopped: step limit: 40 model calls", Agent),
        ];
        for (msg, want) in cases {
            assert_eq!(classify(msg), want, "{msg}");
        }
        assert!(Gate.teaches() && Review.teaches());
        assert!(!Configuration.teaches() && !Infrastructure.teaches() && !Agent.teaches());
    }
}
