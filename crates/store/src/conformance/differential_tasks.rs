//! The differential test for the Task Runtime's storage: one random sequence of queue
//! operations fed to two backends, every answer and the whole task table compared after
//! each operation.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use l9_types::TaskId;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use super::fixtures::Fx;
use crate::{Claim, Fence, Finish, NewTask, Outcome, Store, TaskFilter};

fn show<T: std::fmt::Debug>(r: &crate::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e}"),
    }
}

async fn table(s: &dyn Store) -> Vec<String> {
    let page = s.tasks().list_tasks(&TaskFilter::default(), None, 10_000).await.unwrap();
    page.tasks
        .iter()
        .map(|t| {
            format!(
                "{} {} {} {}/{} {} {:?} {:?} {:?} {:?} {:?} p{} {}",
                t.id,
                t.state.as_str(),
                t.queue,
                t.attempts,
                t.failures,
                t.run_after.timestamp_micros(),
                t.lease_owner,
                t.lease_until.map(|u| u.timestamp_micros()),
                t.result,
                t.error,
                t.parent,
                t.priority,
                t.kind
            )
        })
        .collect()
}

/// Runs `ops` random queue operations against fresh stores `a` and `b` and panics at the
/// first difference.
pub async fn differential_tasks(a: &dyn Store, b: &dyn Store, seed: u64, ops: usize) {
    let fx = Fx::new(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut now: DateTime<Utc> = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap();
    let mut ids: Vec<TaskId> = Vec::new();
    let (mut claimed, mut finished) = (0usize, 0usize);
    let mut held: Vec<(TaskId, String)> = Vec::new();
    for op in 0..ops {
        now += Duration::milliseconds(rng.random_range(0..20_000));
        let ctx = format!("seed {seed}, op {op}");
        let pick = |rng: &mut ChaCha8Rng, ids: &Vec<TaskId>| {
            if ids.is_empty() {
                TaskId(uuid::Uuid::nil())
            } else {
                ids[rng.random_range(0..ids.len())]
            }
        };
        let (ra, rb) = match rng.random_range(0..10u32) {
            0..=2 => {
                let mut batch = Vec::new();
                for _ in 0..rng.random_range(1..=3) {
                    let mut t = NewTask::new(
                        TaskId(fx.uuid()),
                        ["q1", "q2"][rng.random_range(0..2)],
                        "k",
                        json!({"n": op}),
                    );
                    t.priority = rng.random_range(0..3);
                    if rng.random_range(0..3) == 0 {
                        t.run_after = Some(now + Duration::seconds(rng.random_range(0..40)));
                    }
                    if rng.random_range(0..4) == 0 {
                        t.idempotency_key = Some(format!("key{}", rng.random_range(0..5)));
                    }
                    t.max_attempts = rng.random_range(0..3);
                    if rng.random_range(0..5) == 0 && !ids.is_empty() {
                        t.parent = Some(pick(&mut rng, &ids));
                    }
                    batch.push(t);
                }
                let (x, y) =
                    (a.tasks().enqueue(&batch, now).await, b.tasks().enqueue(&batch, now).await);
                if let Ok(v) = &x {
                    ids.extend(v.iter().map(|e| e.id()));
                    ids.sort();
                    ids.dedup();
                }
                (show(&x), show(&y))
            }
            3..=4 => {
                let c = Claim {
                    queues: if rng.random_range(0..2) == 0 { vec![] } else { vec!["q1".into()] },
                    worker: ["w1", "w2"][rng.random_range(0..2)].into(),
                    limit: rng.random_range(1..4),
                    lease: StdDuration::from_secs(rng.random_range(5..40)),
                    now,
                };
                let (x, y) = (a.tasks().claim(&c).await, b.tasks().claim(&c).await);
                claimed += x.as_ref().map(|v| v.len()).unwrap_or(0);
                if let Ok(v) = &x {
                    held.extend(v.iter().map(|t| (t.id, c.worker.clone())));
                }
                let ids = |r: &crate::Result<Vec<crate::TaskRecord>>| {
                    r.as_ref()
                        .map(|v| v.iter().map(|t| t.id).collect::<Vec<_>>())
                        .map_err(|e| e.to_string())
                };
                (format!("{:?}", ids(&x)), format!("{:?}", ids(&y)))
            }
            5..=6 => {
                let (id, holder) = if !held.is_empty() && rng.random_range(0..5) > 0 {
                    held.swap_remove(rng.random_range(0..held.len()))
                } else {
                    (pick(&mut rng, &ids), "w1".to_string())
                };
                let outcome = match rng.random_range(0..5) {
                    0 | 1 => Outcome::Succeeded(json!({"op": op})),
                    2 => Outcome::Failed {
                        error: format!("boom {op}"),
                        retry_at: (rng.random_range(0..2) == 0).then(|| now + Duration::seconds(5)),
                    },
                    3 => Outcome::Snooze {
                        run_after: now + Duration::seconds(rng.random_range(0..30)),
                    },
                    _ => Outcome::Wait {
                        note: (rng.random_range(0..2) == 0).then(|| "note".to_string()),
                    },
                };
                let worker = if rng.random_range(0..10) == 0 { "w2" } else { holder.as_str() };
                let item = [Finish { id, outcome }];
                let (x, y) = (
                    a.tasks().finish(worker, &item, now).await,
                    b.tasks().finish(worker, &item, now).await,
                );
                finished += x.as_ref().map(|v| v.iter().filter(|b| **b).count()).unwrap_or(0);
                (show(&x), show(&y))
            }
            7 => {
                let id = pick(&mut rng, &ids);
                match rng.random_range(0..3) {
                    0 => (
                        show(&a.tasks().cancel(id, now).await),
                        show(&b.tasks().cancel(id, now).await),
                    ),
                    1 => (
                        show(&a.tasks().retry(id, now).await),
                        show(&b.tasks().retry(id, now).await),
                    ),
                    _ => {
                        (show(&a.tasks().wake(id, now).await), show(&b.tasks().wake(id, now).await))
                    }
                }
            }
            8 => {
                let id = pick(&mut rng, &ids);
                let name = ["go", "stop"][rng.random_range(0..2)];
                let p = json!({"op": op});
                (
                    show(&a.tasks().send_signal(id, name, &p, now).await),
                    show(&b.tasks().send_signal(id, name, &p, now).await),
                )
            }
            _ => {
                let fence = Fence {
                    task: pick(&mut rng, &ids),
                    worker: ["w1", "w2"][rng.random_range(0..2)].into(),
                };
                let until = now + Duration::seconds(30);
                (
                    show(&a.tasks().heartbeat(&fence, until).await),
                    show(&b.tasks().heartbeat(&fence, until).await),
                )
            }
        };
        assert_eq!(ra, rb, "{ctx}: the backends answered differently");
        assert_eq!(table(a).await, table(b).await, "{ctx}: the task tables differ");
    }
    assert!(
        claimed > 10 && finished > 5,
        "seed {seed}: too little happened ({claimed} claimed, {finished} finished)"
    );
}
