//! Built-in workflows every `l9 worker` runs. The run pipeline (a later issue) adds its own.
//!
//! * `l9.echo` — returns its payload (a smoke test for a deployment).
//! * `l9.sleep` — `{"seconds": N}`: a durable timer; survives worker restarts.
//! * `l9.approval` — `{"what": "…"}`: waits for `l9 tasks approve|reject`.

use std::time::Duration;

use l9_tasks::{Ctx, Registry, WfError};
use serde_json::{Value, json};

/// The registry of built-in workflows.
pub fn builtin() -> Registry {
    let mut reg = Registry::new();
    reg.register("l9.echo", |_ctx: Ctx, v: Value| async move { Ok(v) });
    reg.register("l9.sleep", |ctx: Ctx, v: Value| async move {
        let secs = v.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
        if !(0.0..=31_536_000.0).contains(&secs) {
            return Err(WfError::failed(format!(
                "l9.sleep: seconds must be between 0 and one year, not {secs}"
            )));
        }
        let start = ctx.now().await?;
        ctx.sleep(Duration::from_secs_f64(secs)).await?;
        let end = ctx.now().await?;
        Ok(json!({"slept_ms": (end - start).num_milliseconds()}))
    });
    reg.register("l9.approval", |ctx: Ctx, v: Value| async move {
        let what = v.get("what").and_then(Value::as_str).unwrap_or("this run").to_string();
        let approved = ctx.approval(&what).await?;
        Ok(json!({"what": what, "approved": approved}))
    });
    reg
}
