//! Journal semantics of durable workflows: step keys, what a resumed run does with each
//! recorded step, and how a replay detects that the code took another path.
//!
//! The runtime (`l9-tasks`) owns the storage; this module owns the rules, so the real
//! runtime, replays and tests all decide the same way.

use std::collections::BTreeMap;

use l9_types::Effect;
use serde::{Deserialize, Serialize};

/// What kind of nondeterminism a journal entry captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Step,
    Now,
    Random,
    Sleep,
    Signal,
    Child,
    Join,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Step => "step",
            EntryKind::Now => "now",
            EntryKind::Random => "random",
            EntryKind::Sleep => "sleep",
            EntryKind::Signal => "signal",
            EntryKind::Child => "child",
            EntryKind::Join => "join",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        Some(match s {
            "step" => EntryKind::Step,
            "now" => EntryKind::Now,
            "random" => EntryKind::Random,
            "sleep" => EntryKind::Sleep,
            "signal" => EntryKind::Signal,
            "child" => EntryKind::Child,
            "join" => EntryKind::Join,
            _ => return None,
        })
    }
}

/// Deterministic step keys: `name#n`, where `n` counts earlier calls with the same kind
/// and name in this execution. The same code on the same journal produces the same keys,
/// whatever the wall clock or the worker.
#[derive(Debug, Clone, Default)]
pub struct StepKeys {
    seen: BTreeMap<(EntryKind, String), u32>,
}

impl StepKeys {
    pub fn next(&mut self, kind: EntryKind, name: &str) -> String {
        let n = self.seen.entry((kind, name.to_string())).or_insert(0);
        let key = StepKey { kind, name: name.to_string(), n: *n }.to_string();
        *n += 1;
        key
    }
}

/// A journal key taken apart: `KIND:NAME#N` (`step:r1/gate#0`, `child:l9.plan#0`). The one
/// format and the one parser; everything that reads journals by key goes through it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepKey {
    pub kind: EntryKind,
    pub name: String,
    /// Earlier calls with the same kind and name in the execution.
    pub n: u32,
}

impl StepKey {
    /// The key of the first call of `name` (`n` = 0).
    pub fn first(kind: EntryKind, name: impl Into<String>) -> StepKey {
        StepKey { kind, name: name.into(), n: 0 }
    }

    /// Parses a key written by [`StepKeys::next`]; `None` for anything else.
    pub fn parse(key: &str) -> Option<StepKey> {
        let (kind, rest) = key.split_once(':')?;
        let kind = EntryKind::parse(kind)?;
        let (name, n) = rest.rsplit_once('#')?;
        let n = n.parse().ok()?;
        Some(StepKey { kind, name: name.to_string(), n })
    }
}

impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}#{}", self.kind.as_str(), self.name, self.n)
    }
}

/// What the journal holds for a step key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Recorded {
    /// The step began (recorded only for effects that may not run twice) but its outcome
    /// was never written: the process died in between.
    Started,
    Completed(serde_json::Value),
    Failed(String),
}

/// What a (re)starting execution does at a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Return the recorded outcome; do not run the effect.
    UseRecorded,
    /// Run the effect (first time, or a re-run its class allows).
    Run,
    /// Outcome unknown and the effect may not be repeated: pause the run and ask.
    Escalate(String),
}

/// Whether a step of this class writes a "started" marker before running, so a crash in
/// the middle is detectable. Re-runnable classes skip it (one journal write per step).
pub fn needs_start_marker(effect: &Effect) -> bool {
    matches!(effect, Effect::Compensable | Effect::Irreversible)
}

/// The recovery rule.
pub fn decide(recorded: Option<&Recorded>, effect: &Effect, key: &str) -> Decision {
    match recorded {
        None => Decision::Run,
        Some(Recorded::Completed(_)) | Some(Recorded::Failed(_)) => Decision::UseRecorded,
        Some(Recorded::Started) => match effect {
            Effect::Pure | Effect::Idempotent { .. } => Decision::Run,
            Effect::Compensable | Effect::Irreversible => Decision::Escalate(format!(
                "step `{key}` has an effect that may not run twice ({}), it started but its \
                 outcome was never recorded (the worker died); check whether it happened, then \
                 resolve it with `l9 tasks resolve`",
                effect_name(effect)
            )),
        },
    }
}

pub fn effect_name(effect: &Effect) -> &'static str {
    match effect {
        Effect::Pure => "pure",
        Effect::Idempotent { .. } => "idempotent",
        Effect::Compensable => "compensable",
        Effect::Irreversible => "irreversible",
    }
}

/// Where a replay left the recorded path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// Position in the journal (0-based) where the paths part.
    pub seq: u64,
    /// What the journal recorded there (`None`: the journal ended).
    pub recorded: Option<String>,
    /// What the code asked for (`None`: the code finished).
    pub requested: Option<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "(nothing)".into());
        write!(
            f,
            "diverged at journal entry {}: the journal has {}, the code now asks for {}",
            self.seq,
            show(&self.recorded),
            show(&self.requested)
        )
    }
}

/// Compares the key the code asks for at position `seq` with the recorded one.
pub fn check_replay(
    seq: u64,
    recorded: Option<&str>,
    requested: Option<&str>,
) -> Result<(), Divergence> {
    if recorded == requested {
        Ok(())
    } else {
        Err(Divergence {
            seq,
            recorded: recorded.map(str::to_string),
            requested: requested.map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_count_per_kind_and_name() {
        let mut k = StepKeys::default();
        assert_eq!(k.next(EntryKind::Step, "fetch"), "step:fetch#0");
        assert_eq!(k.next(EntryKind::Step, "fetch"), "step:fetch#1");
        assert_eq!(k.next(EntryKind::Now, "fetch"), "now:fetch#0");
        assert_eq!(k.next(EntryKind::Step, "other"), "step:other#0");
    }

    #[test]
    fn step_keys_parse_back_into_their_parts() {
        let mut k = StepKeys::default();
        for (kind, name) in [
            (EntryKind::Step, "r1/coder/tool#2.0:write_file"),
            (EntryKind::Child, "l9.plan"),
            (EntryKind::Signal, "poll:resume"),
            (EntryKind::Step, "compile+challenge+deliberate+plan"),
        ] {
            for n in 0..2 {
                let key = k.next(kind, name);
                let parsed = StepKey::parse(&key).unwrap();
                assert_eq!(parsed, StepKey { kind, name: name.to_string(), n }, "{key}");
                assert_eq!(parsed.to_string(), key);
            }
        }
        for bad in ["", "step", "step:x", "bogus:x#0", "step:x#y", "step:x#-1"] {
            assert_eq!(StepKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn recovery_rule() {
        let idem = Effect::Idempotent { key: "k".into() };
        let done = Recorded::Completed(serde_json::json!(1));
        for e in [Effect::Pure, idem.clone(), Effect::Compensable, Effect::Irreversible] {
            assert_eq!(decide(None, &e, "s"), Decision::Run);
            assert_eq!(decide(Some(&done), &e, "s"), Decision::UseRecorded);
            assert_eq!(decide(Some(&Recorded::Failed("x".into())), &e, "s"), Decision::UseRecorded);
        }
        assert_eq!(decide(Some(&Recorded::Started), &Effect::Pure, "s"), Decision::Run);
        assert_eq!(decide(Some(&Recorded::Started), &idem, "s"), Decision::Run);
        assert!(matches!(
            decide(Some(&Recorded::Started), &Effect::Irreversible, "s"),
            Decision::Escalate(m) if m.contains("irreversible") && m.contains("l9 tasks resolve")
        ));
        assert!(needs_start_marker(&Effect::Irreversible) && !needs_start_marker(&idem));
    }

    #[test]
    fn replay_divergence_names_both_paths() {
        assert!(check_replay(3, Some("step:a#0"), Some("step:a#0")).is_ok());
        let d = check_replay(3, Some("step:a#0"), Some("step:b#0")).unwrap_err();
        assert_eq!(
            d.to_string(),
            "diverged at journal entry 3: the journal has step:a#0, the code now asks for step:b#0"
        );
    }
}
