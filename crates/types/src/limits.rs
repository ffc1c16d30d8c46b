//! The limits on how much work one input may cause: each a setting (an environment variable,
//! for every command, in a project or not) with a default, and named by the refusal or cut it
//! causes.
//!
//! Values only: the registry, parsing and the values in force. `l9` reads the environment
//! once at its start ([`Limits::from_env`]), refuses a value that is not a number before any
//! work, and [`install`]s the rest; libraries ask [`Limit::get`] (the default where nothing
//! was installed, as in tests and fuzz targets).

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One limit: its variable, its default and what it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The environment variable that sets it.
    pub env: &'static str,
    pub default: u64,
    /// The smallest value taken (0 only where zero means "none").
    pub min: u64,
    /// What it bounds and what happens past it.
    pub doc: &'static str,
}

/// The largest spec read, in bytes.
pub const SPEC_BYTES: Limit = Limit {
    env: "L9_MAX_SPEC_BYTES",
    default: 64 * 1024 * 1024,
    min: 1,
    doc: "the largest spec read, in bytes (a larger file is refused, naming it)",
};

/// How many findings of one smell one statement lists.
pub const FINDINGS_PER_SMELL: Limit = Limit {
    env: "L9_FINDINGS_PER_SMELL",
    default: 20,
    min: 0,
    doc: "how many findings of one smell one statement lists before the rest are counted in \
          one more finding (0 lists none)",
};

/// How deep a YAML document may nest.
pub const YAML_DEPTH: Limit = Limit {
    env: "L9_MAX_YAML_DEPTH",
    default: 256,
    min: 1,
    doc: "how deep a YAML document (an OpenAPI description, a sim scenario, a scripted \
          provider's script) may nest; a deeper one is refused before it is parsed",
};

/// Bytes of a coder's command output kept for the model.
pub const TOOL_OUTPUT_BYTES: Limit = Limit {
    env: "L9_TOOL_OUTPUT_BYTES",
    default: 32 * 1024,
    min: 1,
    doc: "bytes of stdout and of stderr each that a coder's `run` and `run_tests` tools keep \
          for the model; the rest is read, counted and cut with a marker",
};

/// Bytes of a file a coder's `read_file` shows the model.
pub const TOOL_READ_BYTES: Limit = Limit {
    env: "L9_TOOL_READ_BYTES",
    default: 100 * 1024,
    min: 1,
    doc: "bytes of a file that a coder's `read_file` tool shows the model; the rest is \
          counted",
};

/// Bytes of other commands' output kept.
pub const COMMAND_OUTPUT_BYTES: Limit = Limit {
    env: "L9_COMMAND_OUTPUT_BYTES",
    default: 64 * 1024,
    min: 1,
    doc: "bytes of stdout and of stderr each kept of other commands (gates, the verify step, \
          external coding agents); the rest is read, counted and cut with a marker",
};

/// The largest source file `l9 ingest code` parses.
pub const SOURCE_FILE_BYTES: Limit = Limit {
    env: "L9_MAX_SOURCE_FILE_BYTES",
    default: 1024 * 1024,
    min: 1,
    doc: "the largest source file `l9 ingest code` parses, in bytes (larger ones are left out \
          and counted)",
};

/// The largest file `l9 ingest git` and `l9 dora` blame.
pub const BLAMED_FILE_BYTES: Limit = Limit {
    env: "L9_MAX_BLAMED_FILE_BYTES",
    default: 1024 * 1024,
    min: 1,
    doc: "the largest file `l9 ingest git` and `l9 dora` blame to find the commits a fix repairs, in \
          bytes (larger ones are left out and counted)",
};

/// The largest request body `l9 serve` takes (its API and `/mcp`).
pub const REQUEST_BYTES: Limit = Limit {
    env: "L9_MAX_REQUEST_BYTES",
    default: 1024 * 1024,
    min: 1,
    doc: "the largest request body `l9 serve` takes on its API and /mcp, in bytes (a larger \
          one is refused with 413)",
};

/// How many candidates one requirement is compared with when duplicates are looked for.
pub const DUPLICATE_CANDIDATES: Limit = Limit {
    env: "L9_DUPLICATE_CANDIDATES",
    default: 250,
    min: 1,
    doc: "how many earlier requirements that share its rarest terms one long requirement is \
          compared with when duplicates are looked for (real specs need a handful; requirements \
          drawn from a few words need thousands); past it the search stops, and one finding \
          counts the requirements whose search was cut",
};

/// Edges acceptance criteria make by their section alone, per requirement.
pub const SECTION_LINKS: Limit = Limit {
    env: "L9_SECTION_LINKS",
    default: 16,
    min: 0,
    doc: "edges per requirement (plus 4,096) that acceptance criteria sharing no telling terms \
          with a requirement may make by verifying their whole section; past it the criteria left \
          verify nothing and one warning (L9-IR-042) counts them",
};

/// Work of matching acceptance criteria to requirements by shared terms, per term.
pub const LINK_WORK: Limit = Limit {
    env: "L9_LINK_WORK",
    default: 64,
    min: 0,
    doc: "steps per term of the spec (plus 2^20) for matching acceptance criteria to the \
          requirements they share terms with; past it the criteria left are not matched and one \
          warning (L9-IR-042) counts them",
};

/// Bytes of a run's change a reviewer reads.
pub const REVIEW_DIFF_BYTES: Limit = Limit {
    env: "L9_REVIEW_DIFF_BYTES",
    default: 60 * 1024,
    min: 1,
    doc: "bytes of a run's diff a model reviewer reads (the rest is cut with a marker; the \
          diff is also a command's output, so L9_COMMAND_OUTPUT_BYTES bounds it too)",
};

/// Every limit, in the order help texts and `l9 config` list them.
pub const ALL: &[Limit] = &[
    SPEC_BYTES,
    FINDINGS_PER_SMELL,
    DUPLICATE_CANDIDATES,
    SECTION_LINKS,
    LINK_WORK,
    YAML_DEPTH,
    TOOL_OUTPUT_BYTES,
    TOOL_READ_BYTES,
    COMMAND_OUTPUT_BYTES,
    REVIEW_DIFF_BYTES,
    SOURCE_FILE_BYTES,
    BLAMED_FILE_BYTES,
    REQUEST_BYTES,
];

/// The values in force, once [`install`]ed.
static IN_FORCE: OnceLock<Limits> = OnceLock::new();

impl Limit {
    /// The value in force: the installed one, else the default.
    pub fn get(&self) -> u64 {
        IN_FORCE.get().and_then(|l| l.values.get(self.env)).map_or(self.default, |v| v.0)
    }

    /// [`Limit::get`] as a size in memory (saturating).
    pub fn get_usize(&self) -> usize {
        usize::try_from(self.get()).unwrap_or(usize::MAX)
    }

    /// A value of the variable: a whole number of at least [`Limit::min`].
    pub fn parse(&self, value: &str) -> Result<u64, String> {
        value.trim().parse::<u64>().ok().filter(|&n| n >= self.min).ok_or_else(|| {
            let what = if self.min == 0 { "a whole number" } else { "a positive whole number" };
            format!(
                "{}={value:?} is not {what}: it sets {} (default {}); set it to such a number \
                 or unset it",
                self.env, self.doc, self.default
            )
        })
    }

    /// The words a refusal or cut ends with: how to change the limit.
    pub fn hint(&self) -> String {
        format!("set {} to change the limit", self.env)
    }
}

/// A value for every limit (by its variable), each with whether the environment set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    values: BTreeMap<&'static str, (u64, bool)>,
}

impl Limits {
    /// Every limit's value from `env` (a variable's value, if set), or every refusal: one
    /// message per variable that is set to something that is not a number it takes.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Limits, Vec<String>> {
        let mut values = BTreeMap::new();
        let mut bad = Vec::new();
        for l in ALL {
            match env(l.env) {
                None => {
                    values.insert(l.env, (l.default, false));
                }
                Some(v) => match l.parse(&v) {
                    Ok(n) => {
                        values.insert(l.env, (n, true));
                    }
                    Err(m) => bad.push(m),
                },
            }
        }
        if bad.is_empty() { Ok(Limits { values }) } else { Err(bad) }
    }

    /// A limit's value here, and whether the environment set it.
    pub fn value(&self, l: &Limit) -> (u64, bool) {
        self.values.get(l.env).copied().unwrap_or((l.default, false))
    }
}

/// Puts `limits` in force for the rest of the process; the first call wins (the values are
/// read from one environment, so a later call would install the same).
pub fn install(limits: Limits) {
    let _ = IN_FORCE.set(limits);
}

/// One limit as `l9 config` shows it: its value in force and where that came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InForce {
    pub env: &'static str,
    pub value: u64,
    pub default: u64,
    /// `environment variable NAME` or `default`.
    pub from: String,
    pub doc: &'static str,
}

/// Every limit with its value in force (defaults where nothing was installed), in [`ALL`]'s
/// order.
pub fn in_force() -> Vec<InForce> {
    ALL.iter()
        .map(|l| {
            let (value, set) = IN_FORCE.get().map_or((l.default, false), |v| v.value(l));
            let from =
                if set { format!("environment variable {}", l.env) } else { "default".into() };
            InForce { env: l.env, value, default: l.default, from, doc: l.doc }
        })
        .collect()
}

/// Every limit on a line of its own, with its default and what it bounds (for `--help`).
pub fn help() -> String {
    let mut s = String::from(
        "Limits (environment variables, for every command; a value that is not a whole number \
         is refused before any work; `l9 config` shows those in force):",
    );
    for l in ALL {
        s.push_str(&format!("\n  {} (default {}): {}", l.env, l.default, l.doc));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_variable_of_its_own() {
        let names: std::collections::BTreeSet<_> = ALL.iter().map(|l| l.env).collect();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|l| l.env.starts_with("L9_") && l.default >= l.min));
    }

    #[test]
    fn values_come_from_the_environment_or_the_default() {
        let env = |v: &str| (v == "L9_MAX_YAML_DEPTH").then(|| " 12 ".to_string());
        let l = Limits::from_env(&env).unwrap();
        assert_eq!(l.value(&YAML_DEPTH), (12, true));
        assert_eq!(l.value(&SPEC_BYTES), (SPEC_BYTES.default, false));
    }

    #[test]
    fn a_value_that_is_not_a_number_it_takes_is_refused_naming_the_variable() {
        let env = |v: &str| match v {
            "L9_MAX_YAML_DEPTH" => Some("0".to_string()),
            "L9_FINDINGS_PER_SMELL" => Some("0".to_string()),
            "L9_TOOL_OUTPUT_BYTES" => Some("32k".to_string()),
            _ => None,
        };
        let bad = Limits::from_env(&env).unwrap_err();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("L9_MAX_YAML_DEPTH=\"0\" is not a positive"), "{bad:?}");
        assert!(bad[1].contains("L9_TOOL_OUTPUT_BYTES=\"32k\"") && bad[1].contains("32768"));
    }

    #[test]
    fn help_names_every_variable() {
        let h = help();
        for l in ALL {
            assert!(h.contains(l.env), "{h}");
        }
    }
}
