//! `[schedules.NAME]` tables.

use crate::{ConfigError, Result};

/// One `[schedules.NAME]` table: `cron` (5 fields, or 6 with seconds first), `kind` (a
/// registered workflow), optional `queue` (default `default`) and `payload` (any TOML value).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    /// `file:line` of the table, for messages.
    pub origin: String,
}

impl ScheduleConfig {
    /// The runnable schedule (the cron expression was checked when the file was read).
    pub fn schedule(&self) -> Result<l9_tasks::Schedule> {
        l9_tasks::Schedule::new(
            &self.name,
            &self.cron,
            &self.queue,
            &self.kind,
            self.payload.clone(),
        )
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", self.origin)))
    }
}

pub(crate) fn parse_schedules(
    t: &toml::Value,
    origin: &dyn Fn(&str) -> String,
) -> Result<Vec<ScheduleConfig>> {
    let toml::Value::Table(t) = t else {
        return Err(ConfigError::Invalid(format!(
            "{}: [schedules] must be a table",
            origin("schedules")
        )));
    };
    let mut out = Vec::new();
    for (name, v) in t {
        let key = format!("schedules.{name}");
        let toml::Value::Table(s) = v else {
            return Err(ConfigError::Invalid(format!(
                "{}: [{key}] must be a table with cron = \"…\" and kind = \"…\"",
                origin(&key)
            )));
        };
        for k in s.keys() {
            if !["cron", "kind", "queue", "payload"].contains(&k.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "{}: [{key}] has unknown key {k:?}; keys are cron, kind, queue, payload",
                    origin(&format!("{key}.{k}"))
                )));
            }
        }
        let text = |k: &str| -> Result<Option<String>> {
            match s.get(k) {
                None => Ok(None),
                Some(toml::Value::String(x)) if !x.trim().is_empty() => Ok(Some(x.clone())),
                Some(_) => Err(ConfigError::Invalid(format!(
                    "{}: {key}.{k} must be a non-empty string",
                    origin(&format!("{key}.{k}"))
                ))),
            }
        };
        let (Some(cron), Some(kind)) = (text("cron")?, text("kind")?) else {
            return Err(ConfigError::Invalid(format!(
                "{}: [{key}] needs cron = \"*/5 * * * *\" and kind = \"WORKFLOW\"",
                origin(&key)
            )));
        };
        let payload = match s.get("payload") {
            None => serde_json::Value::Null,
            Some(p) => serde_json::to_value(p).map_err(|e| {
                ConfigError::Invalid(format!(
                    "{}: {key}.payload: {e}",
                    origin(&format!("{key}.payload"))
                ))
            })?,
        };
        let c = ScheduleConfig {
            name: name.clone(),
            cron,
            kind,
            queue: text("queue")?.unwrap_or_else(|| "default".into()),
            payload,
            origin: origin(&format!("{key}.cron")),
        };
        c.schedule()?;
        out.push(c);
    }
    Ok(out)
}
