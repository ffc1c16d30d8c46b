//! Writing the journal: synchronous appends for entries with effects, write-behind for
//! pure ones (group-committed by a background flusher), and the flush barriers between.

use std::sync::Arc;

use l9_kernel::journal::EntryKind;
use l9_store::{JournalAppend, JournalRow, JournalStatus};
use l9_types::{BlobRef, ContentHash, Effect, IdSource, PacketDraft};
use serde_json::{Value, json};

use super::{BLOB_THRESHOLD, Ctx, Inner, Mode};
use crate::error::WfError;

#[derive(Debug, Default)]
pub(super) struct Deferred {
    pub(super) queue: Vec<JournalAppend>,
    pub(super) running: bool,
    /// The first failure of a background flush: (lease lost?, message).
    pub(super) failed: Option<(bool, String)>,
}

impl Ctx {
    pub(super) async fn append(
        &self,
        key: &str,
        kind: EntryKind,
        status: JournalStatus,
        effect: Option<&Effect>,
        value: Option<&Value>,
        error: Option<&str>,
    ) -> Result<(), WfError> {
        self.append_with(key, kind, status, effect, value, error, None).await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn append_with(
        &self,
        key: &str,
        kind: EntryKind,
        status: JournalStatus,
        effect: Option<&Effect>,
        value: Option<&Value>,
        error: Option<&str>,
        resolution: Option<u32>,
    ) -> Result<(), WfError> {
        if self.inner.mode == Mode::Replay {
            return Ok(());
        }
        let _serial = self.inner.append.lock().await;
        // Write-behind entries go first, so the journal stays in sequence order.
        self.flush().await?;
        let (entry, row) = self.build(key, kind, status, effect, value, error, resolution)?;
        self.inner.store.tasks().append_journal(&self.inner.fence, &entry).await?;
        self.lock().absorb(&row);
        Ok(())
    }

    /// Journals an entry write-behind: it is committed in the background (group-committed
    /// with the entries around it) while the workflow goes on. Only for what may be lost in
    /// a crash and recomputed (pure steps, `now`, `random`): a crash loses at most a suffix
    /// of such entries, which is the same as crashing earlier. Everything with an effect
    /// outside the run flushes them first, and so does the end of every execution.
    pub(super) async fn append_deferred(
        &self,
        key: &str,
        kind: EntryKind,
        status: JournalStatus,
        effect: Option<&Effect>,
        value: Option<&Value>,
        error: Option<&str>,
    ) -> Result<(), WfError> {
        if self.inner.mode == Mode::Replay {
            return Ok(());
        }
        let _serial = self.inner.append.lock().await;
        let (entry, row) = self.build(key, kind, status, effect, value, error, None)?;
        self.lock().absorb(&row);
        let start = {
            let mut d = self.inner.deferred.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((lost, msg)) = &d.failed {
                return Err(flush_error(*lost, msg));
            }
            d.queue.push(entry);
            !std::mem::replace(&mut d.running, true)
        };
        if start {
            tokio::spawn(flush_in_background(self.inner.clone()));
        }
        Ok(())
    }

    /// Waits until every write-behind entry is committed (or reports why it was not).
    pub async fn flush(&self) -> Result<(), WfError> {
        loop {
            let notified = self.inner.flushed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let d = self.inner.deferred.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((lost, msg)) = &d.failed {
                    return Err(flush_error(*lost, msg));
                }
                if !d.running && d.queue.is_empty() {
                    return Ok(());
                }
            }
            self.inner.urgent.notify_one();
            notified.await;
        }
    }

    /// Seals the entry's packet and reserves its sequence number.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        key: &str,
        kind: EntryKind,
        status: JournalStatus,
        effect: Option<&Effect>,
        value: Option<&Value>,
        error: Option<&str>,
        resolution: Option<u32>,
    ) -> Result<(JournalAppend, JournalRow), WfError> {
        let (seq, parent, cited) = {
            let mut st = self.lock();
            (st.next_seq, st.last_packet, std::mem::take(&mut st.cited))
        };
        // No secret is journaled: a provider that echoes its key in an error, or a tool that
        // prints one, is redacted here (`l9_types::redact`).
        let error = error.map(l9_types::redact::redact);
        let error = error.as_deref();
        let redacted = value.and_then(l9_types::redact::redact_json);
        let value = redacted.as_ref().or(value);
        let mut body = json!({"key": key, "kind": kind.as_str(), "status": status.as_str()});
        if let Some(e) = effect {
            body["effect"] = serde_json::to_value(e)?;
        }
        if let Some(e) = error {
            body["error"] = json!(e);
        }
        if let Some(r) = resolution {
            body["resolution"] = json!(r);
        }
        let mut blob = None;
        let mut draft = PacketDraft::new(format!("journal.{}", kind.as_str()))
            .run(self.inner.run)
            .task(self.inner.task.id)
            .actor(self.inner.actor.clone());
        if let Some(v) = value {
            let text = v.to_string();
            if text.len() > BLOB_THRESHOLD {
                let hash = ContentHash::of_bytes(text.as_bytes());
                body["blob"] = json!(hash.to_string());
                draft = draft.blob(BlobRef {
                    hash,
                    size: text.len() as u64,
                    media_type: Some("application/json".into()),
                    name: None,
                });
                blob = Some(text.into_bytes());
            } else {
                body["value"] = v.clone();
            }
        }
        if let Some(p) = parent {
            draft = draft.parent(p);
        }
        for p in cited {
            draft = draft.parent(p);
        }
        if let Some(e) = effect {
            draft = draft.effect(e.clone());
        }
        let packet = draft
            .body(body.clone())
            .seal(&IdSource { clock: self.inner.clock.as_ref(), rng: &self.inner.rng })
            .map_err(|e| WfError::Failed(format!("journal entry for `{key}` is invalid: {e}")))?;
        let row = JournalRow {
            run: self.inner.run,
            seq,
            key: key.to_string(),
            status,
            packet: packet.id,
            body,
            at: packet.at,
        };
        let entry =
            JournalAppend { run: self.inner.run, seq, key: key.to_string(), status, packet, blob };
        Ok((entry, row))
    }
}

fn flush_error(lost: bool, msg: &str) -> WfError {
    if lost {
        WfError::LeaseLost(msg.to_string())
    } else {
        WfError::Store(l9_store::StoreError::Backend(format!("journal write-behind failed: {msg}")))
    }
}

/// Entries a write-behind batch waits for (at most [`BATCH_PAUSE`]) before committing.
const BATCH_TARGET: usize = 64;
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// Commits queued write-behind entries, batch after batch, until none are left. A small
/// batch waits up to a millisecond for more (one commit then carries dozens of entries,
/// which share their B-tree pages), unless someone is waiting in `flush`.
async fn flush_in_background(inner: Arc<Inner>) {
    loop {
        let small =
            inner.deferred.lock().unwrap_or_else(|e| e.into_inner()).queue.len() < BATCH_TARGET;
        if small {
            tokio::select! {
                _ = tokio::time::sleep(BATCH_PAUSE) => {}
                _ = inner.urgent.notified() => {}
            }
        }
        let batch = {
            let mut d = inner.deferred.lock().unwrap_or_else(|e| e.into_inner());
            if d.queue.is_empty() {
                d.running = false;
                drop(d);
                inner.flushed.notify_waiters();
                return;
            }
            std::mem::take(&mut d.queue)
        };
        if let Err(e) = inner.store.tasks().append_journal_many(&inner.fence, &batch).await {
            let lost = matches!(e, l9_store::StoreError::LeaseLost(_));
            let mut d = inner.deferred.lock().unwrap_or_else(|e| e.into_inner());
            d.failed = Some((lost, e.to_string()));
            d.queue.clear();
            d.running = false;
            drop(d);
            inner.flushed.notify_waiters();
            return;
        }
    }
}
