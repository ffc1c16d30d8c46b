//! Schema migrations for the PostgreSQL backend. Templated by the embedding dimension
//! (`{DIMS}`), run under an advisory lock so concurrent openers migrate once.

pub(crate) fn migrations(dims: usize) -> Vec<(i64, String)> {
    vec![
        (1, V1.replace("{DIMS}", &dims.to_string())),
        (2, V2.to_string()),
        (3, V3.to_string()),
        (4, V4.to_string()),
        (5, V5.to_string()),
        (6, V6.to_string()),
    ]
}

/// A packet's parents are checked where packets are written — by the write planner's
/// lookups (`write.rs`) and by the journal append's checks (`journal.rs`) — and packets are
/// never deleted, so the foreign keys of `packet_parents` only repeated those checks, at a
/// price paid on every link: two referential-integrity queries, and a key-share lock on both
/// packets' rows (a WAL record and a dirtied page on the parent, one step after another).
/// Filing the journal tail spent about a fifth of its time on them.
const V6: &str = r#"
ALTER TABLE packet_parents DROP CONSTRAINT IF EXISTS packet_parents_child_id_fkey,
    DROP CONSTRAINT IF EXISTS packet_parents_parent_id_fkey;
"#;

/// Queued and leased tasks are found through `tasks_ready` and `tasks_leases`; the state index
/// holds only the other states, so a claim adds no entry to it (as on SQLite, schema 6).
/// Queries by state name the condition (`l9_store::STATE_INDEXED`) so the planner can prove it.
const V3: &str = r#"
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks(state, id) WHERE state NOT IN ('queued', 'leased');
"#;

/// Most tasks have no idempotency key, and every claim and finish writes a new row version
/// into each index whose entry it needs (a state change is never a HOT update): a unique index
/// over all rows gave each of those versions a NULL key entry. The index holds keyed tasks
/// only; `ON CONFLICT DO NOTHING` and lookups by key use it as before.
const V4: &str = r#"
ALTER TABLE tasks DROP CONSTRAINT tasks_idem_key_key;
CREATE UNIQUE INDEX tasks_idem_key ON tasks(idem_key) WHERE idem_key IS NOT NULL;
"#;

/// The journal's unfiled tail (`tail.rs`): a step's journal entry and its packet in one row,
/// filed into `packets`, `packet_parents` and `journal` many at a time. `parents`: the
/// packet's parents, in order.
const V5: &str = r#"
CREATE TABLE journal_pending (
    run_id     UUID NOT NULL,
    seq        BIGINT NOT NULL,
    key        TEXT NOT NULL,
    status     TEXT NOT NULL,
    id         UUID NOT NULL,
    v          INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    schema_v   INTEGER NOT NULL,
    packet_run UUID,
    task_id    UUID,
    actor      TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    body       TEXT NOT NULL,
    text       TEXT,
    blobs      TEXT NOT NULL,
    effect     TEXT,
    hash       BYTEA NOT NULL,
    parents    UUID[] NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"#;

const V1: &str = r#"
CREATE TABLE l9_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE packets (
    id       UUID PRIMARY KEY,
    v        INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    schema_v INTEGER NOT NULL,
    run_id   UUID,
    task_id  UUID,
    actor    TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    body     TEXT NOT NULL,
    text     TEXT,
    blobs    TEXT NOT NULL,
    effect   TEXT,
    hash     BYTEA NOT NULL,
    tsv      TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', coalesce(text, ''))) STORED
);
CREATE INDEX packets_kind ON packets(kind, id);
CREATE INDEX packets_run ON packets(run_id, id);
CREATE INDEX packets_task ON packets(task_id, id);
CREATE INDEX packets_actor ON packets(actor, id);
CREATE INDEX packets_at ON packets(at);
CREATE INDEX packets_tsv ON packets USING GIN (tsv);
CREATE TABLE packet_parents (
    child_id  UUID NOT NULL REFERENCES packets(id),
    parent_id UUID NOT NULL REFERENCES packets(id),
    ord       INTEGER NOT NULL,
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX packet_parents_parent ON packet_parents(parent_id, child_id);
CREATE TABLE blobs (
    hash BYTEA PRIMARY KEY,
    size BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE TABLE embeddings (
    packet_id UUID PRIMARY KEY REFERENCES packets(id),
    embedding vector({DIMS}) NOT NULL
);
CREATE INDEX embeddings_hnsw ON embeddings USING hnsw (embedding vector_cosine_ops);
CREATE TABLE kg_entities (
    id             UUID PRIMARY KEY,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    attrs          TEXT NOT NULL,
    valid_from     TIMESTAMPTZ NOT NULL,
    valid_to       TIMESTAMPTZ,
    recorded_at    TIMESTAMPTZ NOT NULL,
    invalidated_at TIMESTAMPTZ,
    source         UUID
);
CREATE INDEX kg_entities_kind ON kg_entities(kind, name);
CREATE INDEX kg_entities_name ON kg_entities(name);
CREATE TABLE kg_relations (
    id             UUID PRIMARY KEY,
    kind           TEXT NOT NULL,
    src            UUID NOT NULL REFERENCES kg_entities(id),
    dst            UUID NOT NULL REFERENCES kg_entities(id),
    attrs          TEXT NOT NULL,
    valid_from     TIMESTAMPTZ NOT NULL,
    valid_to       TIMESTAMPTZ,
    recorded_at    TIMESTAMPTZ NOT NULL,
    invalidated_at TIMESTAMPTZ,
    source         UUID
);
CREATE INDEX kg_relations_src ON kg_relations(src, kind);
CREATE INDEX kg_relations_dst ON kg_relations(dst, kind);
"#;

const V2: &str = r#"
CREATE TABLE tasks (
    id           UUID PRIMARY KEY,
    queue        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after    TIMESTAMPTZ NOT NULL,
    lease_owner  TEXT,
    lease_until  TIMESTAMPTZ,
    wake_pending BOOLEAN NOT NULL DEFAULT false,
    idem_key     TEXT UNIQUE,
    run_id       UUID,
    parent       UUID,
    result       TEXT,
    error        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_ready ON tasks(priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX tasks_leases ON tasks(lease_until) WHERE state = 'leased';
CREATE INDEX tasks_parent ON tasks(parent) WHERE parent IS NOT NULL;
CREATE INDEX tasks_state ON tasks(state, id);
CREATE TABLE task_checkpoints (
    task_id UUID PRIMARY KEY,
    data    BYTEA NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE cron_ticks (
    schedule TEXT NOT NULL,
    tick     TIMESTAMPTZ NOT NULL,
    task_id  UUID NOT NULL,
    PRIMARY KEY (schedule, tick)
);
CREATE TABLE signals (
    task_id UUID NOT NULL,
    name    TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    payload TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, name, seq)
);
CREATE TABLE journal (
    run_id UUID NOT NULL,
    seq    BIGINT NOT NULL,
    key    TEXT NOT NULL,
    status TEXT NOT NULL,
    packet UUID NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"#;
