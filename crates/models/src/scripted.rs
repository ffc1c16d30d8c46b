//! The `scripted` provider: a YAML file of rules; the first rule whose conditions all hold
//! answers. Conditions: `role` (who asks), `step` (journaled step name), `prompt` (substring
//! of the last user/tool message), `regex` (on the same text), `call` (the Nth time the
//! other conditions held). An unmatched call is an error naming the closest rule and what
//! did not match. Tests and examples use it; no network, fully deterministic.
//!
//! ```yaml
//! rules:
//!   - name: coder writes the function
//!     when: { role: coder, prompt: "implement add", call: 1 }
//!     reply: "Writing src/lib.rs"
//!     tool_calls:
//!       - name: write_file
//!         arguments: { path: src/lib.rs, content: "pub fn add(a: i32, b: i32) -> i32 { a + b }\n" }
//! ```

use std::sync::Mutex;

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ModelError, Result};
use crate::provider::Provider;
use crate::types::{ChatRequest, ChatResponse, ToolCall, Usage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    #[serde(default)]
    when: When,
    #[serde(default)]
    reply: String,
    #[serde(default)]
    tool_calls: Vec<CallSpec>,
    #[serde(default)]
    usage: Option<UsageSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct When {
    role: Option<String>,
    step: Option<String>,
    prompt: Option<String>,
    regex: Option<String>,
    call: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallSpec {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageSpec {
    input: u64,
    output: u64,
}

#[derive(Debug)]
struct Rule {
    spec: RuleSpec,
    regex: Option<Regex>,
}

#[derive(Debug)]
pub struct ScriptedProvider {
    name: String,
    file: String,
    rules: Vec<Rule>,
    /// Per rule: how many calls met its other conditions so far.
    seen: Mutex<Vec<u32>>,
    calls: Mutex<u64>,
    /// What its answers cost (scripted providers are free unless priced, e.g. to rehearse
    /// budgets), and the output cap its forecasts assume.
    prices: crate::types::Prices,
    max_output: u32,
}

impl ScriptedProvider {
    /// Parses a script; errors name the file and line.
    pub fn parse(name: &str, file: &str, yaml: &str) -> Result<Self> {
        if let Some((line, why)) = l9_types::yaml_depth::check(yaml) {
            return Err(ModelError::File {
                file: file.into(),
                line,
                message: format!("{why}; a script is a few levels deep — check the file"),
            });
        }
        let script: Script = yaml_serde::from_str(yaml).map_err(|e| ModelError::File {
            file: file.into(),
            line: e.location().map_or(1, |l| l.line()),
            message: format!(
                "not a valid script: {e}; expected `rules:` with name, when, reply, tool_calls"
            ),
        })?;
        let mut rules = Vec::new();
        for spec in script.rules {
            let regex = match &spec.when.regex {
                Some(r) => Some(Regex::new(r).map_err(|e| ModelError::File {
                    file: file.into(),
                    line: line_of(yaml, r),
                    message: format!("rule {:?}: bad regex: {e}", spec.name),
                })?),
                None => None,
            };
            rules.push(Rule { spec, regex });
        }
        let n = rules.len();
        Ok(ScriptedProvider {
            name: name.into(),
            file: file.into(),
            rules,
            seen: Mutex::new(vec![0; n]),
            calls: Mutex::new(0),
            prices: crate::types::Prices::default(),
            max_output: 1024,
        })
    }

    /// Checks each condition except `call`: (held, description) per condition.
    fn conditions(rule: &Rule, req: &ChatRequest) -> Vec<(bool, String)> {
        let w = &rule.spec.when;
        let prompt = req.prompt();
        let mut out = Vec::new();
        if let Some(r) = &w.role {
            out.push((
                req.role.as_deref() == Some(r.as_str()),
                format!("role {r:?} (call has {:?})", req.role.as_deref().unwrap_or("-")),
            ));
        }
        if let Some(s) = &w.step {
            out.push((
                req.step.as_deref() == Some(s.as_str()),
                format!("step {s:?} (call has {:?})", req.step.as_deref().unwrap_or("-")),
            ));
        }
        if let Some(p) = &w.prompt {
            out.push((prompt.contains(p.as_str()), format!("prompt contains {p:?}")));
        }
        if let (Some(re), Some(src)) = (&rule.regex, &w.regex) {
            out.push((re.is_match(prompt), format!("regex {src:?}")));
        }
        out
    }
}

fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.find(needle).map_or(1, |p| yaml[..p].lines().count().max(1))
}

/// A rough token count for scripted answers (about four characters per token).
fn tokens(s: &str) -> u64 {
    (s.chars().count() as u64).div_ceil(4)
}

impl ScriptedProvider {
    /// Prices its answers (per million tokens, in millionths of a dollar) and caps the output
    /// its forecasts assume.
    pub fn priced(mut self, prices: crate::types::Prices, max_output: u32) -> Self {
        self.prices = prices;
        self.max_output = max_output;
        self
    }
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn forecast(&self, req: &ChatRequest) -> crate::types::Forecast {
        crate::types::Forecast::of(req, self.max_output, self.prices)
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let mut seen = self.seen.lock().map_err(|_| ModelError::Protocol {
            provider: self.name.clone(),
            message: "script state poisoned".into(),
        })?;
        let mut closest: Option<(usize, usize, String)> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let conds = Self::conditions(rule, req);
            let held = conds.iter().filter(|c| c.0).count();
            if held == conds.len() {
                seen[i] += 1;
                match rule.spec.when.call {
                    Some(n) if n != seen[i] => {
                        let why = format!(
                            "{:?} (its conditions hold, but this is call {} of them, the rule wants call {n})",
                            rule.spec.name, seen[i]
                        );
                        if closest.as_ref().is_none_or(|c| held + 1 > c.0) {
                            closest = Some((held + 1, i, why));
                        }
                        continue;
                    }
                    _ => {}
                }
                let mut calls = self.calls.lock().map_err(|_| ModelError::Protocol {
                    provider: self.name.clone(),
                    message: "script state poisoned".into(),
                })?;
                *calls += 1;
                let tool_calls: Vec<ToolCall> = rule
                    .spec
                    .tool_calls
                    .iter()
                    .enumerate()
                    .map(|(k, c)| ToolCall {
                        id: format!("call_{}_{k}", *calls),
                        name: c.name.clone(),
                        arguments: if c.arguments.is_null() {
                            Value::Object(Default::default())
                        } else {
                            c.arguments.clone()
                        },
                    })
                    .collect();
                let usage = match &rule.spec.usage {
                    Some(u) => Usage { input_tokens: u.input, output_tokens: u.output },
                    None => Usage {
                        input_tokens: req.messages.iter().map(|m| tokens(&m.content)).sum(),
                        output_tokens: tokens(&rule.spec.reply)
                            + tool_calls
                                .iter()
                                .map(|c| tokens(&c.arguments.to_string()))
                                .sum::<u64>(),
                    },
                };
                let finish = if tool_calls.is_empty() { "stop" } else { "tool_calls" };
                return Ok(ChatResponse {
                    content: rule.spec.reply.clone(),
                    tool_calls,
                    cost_micro_usd: self.prices.cost(usage),
                    usage,
                    model: format!("scripted:{}", self.file),
                    provider: self.name.clone(),
                    finish_reason: finish.into(),
                });
            }
            let failed: Vec<&str> = conds.iter().filter(|c| !c.0).map(|c| c.1.as_str()).collect();
            let why = format!("{:?} (did not match: {})", rule.spec.name, failed.join("; "));
            if closest.as_ref().is_none_or(|c| held > c.0) {
                closest = Some((held, i, why));
            }
        }
        let prompt: String = req.prompt().chars().take(120).collect();
        Err(ModelError::Unmatched {
            provider: self.name.clone(),
            detail: format!(
                "role {:?}, step {:?}, prompt {prompt:?}; script {}",
                req.role.as_deref().unwrap_or("-"),
                req.step.as_deref().unwrap_or("-"),
                self.file
            ),
            closest: closest.map_or_else(|| "none (the script has no rules)".to_string(), |c| c.2),
        })
    }
}
