//! The conformance suite every backend runs, and the differential test between backends.
//!
//! A backend's test binary invokes [`conformance_tests!`](crate::conformance_tests) with an
//! async expression that yields a fresh, empty `Box<dyn Store>` of [`DIMS`] dimensions; the
//! macro expands to one `#[tokio::test]` per case so failures name the case.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

mod differential;
mod differential_tasks;
mod fixtures;
mod graph;
mod journal;
mod packets;
mod search;
mod tasks;

pub use differential::differential;
pub use differential_tasks::differential_tasks;
pub use fixtures::{DIMS, Fx};
pub use graph::*;
pub use journal::*;
pub use packets::*;
pub use search::*;
pub use tasks::*;

/// Expands to one `#[tokio::test]` per conformance case — the single list of cases every
/// backend runs. `$make` is an `async fn() -> Option<S>` giving a fresh, empty store of
/// [`DIMS`] dimensions (`None`: the backend is not available here, which test fixtures allow
/// only outside CI); `$cleanup` is an `async fn(S)` run after a passing case.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path, $cleanup:path) => {
        $crate::conformance_tests!(@cases $make, $cleanup;
            put_get_round_trip, put_is_idempotent_and_conflicts_are_refused,
            tampered_packets_are_refused, missing_parents_are_refused_atomically,
            parents_may_come_earlier_in_the_batch, loads_in_parts_are_atomic,
            blobs_are_content_addressed_and_stored_once,
            missing_blobs_are_refused, list_filters_and_cursor_pagination, lineage_walks_with_depth,
            text_search_ranks_and_filters, text_search_is_injection_safe,
            vector_search_exact_and_filtered, vector_errors_are_clear,
            graph_as_of_and_invalidation, graph_refuses_dangling_relations, graph_batches_are_atomic,
            meta_round_trip,
            queue_claims_by_priority_and_time, queue_idempotency_keys_and_atomic_batches,
            queue_failures_retry_then_dead_letter, queue_expired_leases_are_reclaimed_and_fenced,
            queue_wait_wake_signals_without_lost_wakeups,
            queue_children_wake_parents_and_cancel_cascades, queue_finishes_a_mixed_batch_item_by_item,
            queue_lists_newest_first_with_cursor, queue_counts_and_lists_every_state,
            any_tasks_agrees_with_listing,
            queue_claims_are_disjoint_under_concurrency, cron_ticks_fire_once,
            checkpoints_replace_and_are_fenced, journal_appends_are_packets_fenced_and_forkable,
            concurrent_journal_appends_are_answered_one_by_one,
            concurrent_runs_keep_their_journal_order,
            journal_appends_refuse_taken_numbers_stored_packets_and_unknown_parents,
        );
    };
    (@cases $make:path, $cleanup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(store) = $make().await else { return };
                $crate::conformance::$case(&store).await;
                $cleanup(store).await;
            }
        )*
    };
}
