//! Schema migrations for the SQLite backend. Each migration runs once, in order, in its own
//! transaction; `l9_schema` records the version reached.

pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE l9_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE packets (
    rowid    INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    v        INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    schema_v INTEGER NOT NULL,
    run_id   TEXT,
    task_id  TEXT,
    actor    TEXT NOT NULL,
    at       INTEGER NOT NULL,
    body     TEXT NOT NULL,
    text     TEXT,
    blobs    TEXT NOT NULL,
    effect   TEXT,
    hash     BLOB NOT NULL
);
CREATE INDEX packets_kind ON packets(kind, id);
CREATE INDEX packets_run ON packets(run_id, id);
CREATE INDEX packets_task ON packets(task_id, id);
CREATE INDEX packets_actor ON packets(actor, id);
CREATE INDEX packets_at ON packets(at);
CREATE TABLE packet_parents (
    child  INTEGER NOT NULL REFERENCES packets(rowid),
    parent INTEGER NOT NULL REFERENCES packets(rowid),
    ord    INTEGER NOT NULL,
    PRIMARY KEY (child, parent)
) WITHOUT ROWID;
CREATE INDEX packet_parents_parent ON packet_parents(parent, child);
CREATE VIRTUAL TABLE packet_fts USING fts5(text, content='', tokenize='unicode61 remove_diacritics 0');
CREATE TABLE blobs (
    rowid INTEGER PRIMARY KEY,
    hash  BLOB NOT NULL UNIQUE,
    size  INTEGER NOT NULL,
    data  BLOB NOT NULL
);
CREATE TABLE embeddings (
    rowid  INTEGER PRIMARY KEY,
    packet INTEGER NOT NULL UNIQUE REFERENCES packets(rowid),
    vec    BLOB NOT NULL
);
CREATE TABLE kg_entities (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    attrs          TEXT NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    recorded_at    INTEGER NOT NULL,
    invalidated_at INTEGER,
    source         TEXT
);
CREATE INDEX kg_entities_kind ON kg_entities(kind, name);
CREATE INDEX kg_entities_name ON kg_entities(name);
CREATE TABLE kg_relations (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    src            TEXT NOT NULL REFERENCES kg_entities(id),
    dst            TEXT NOT NULL REFERENCES kg_entities(id),
    attrs          TEXT NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    recorded_at    INTEGER NOT NULL,
    invalidated_at INTEGER,
    source         TEXT
);
CREATE INDEX kg_relations_src ON kg_relations(src, kind);
CREATE INDEX kg_relations_dst ON kg_relations(dst, kind);
"#,
    ),
    (
        2,
        r#"
CREATE VIRTUAL TABLE packet_fts_vocab USING fts5vocab(packet_fts, 'row');
"#,
    ),
    (
        3,
        r#"
CREATE TABLE ann_snapshot (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    nodes      INTEGER NOT NULL,
    upto_rowid INTEGER NOT NULL,
    params     TEXT NOT NULL,
    graph      BLOB NOT NULL
);
"#,
    ),
    (
        4,
        r#"
CREATE TABLE tasks (
    id           TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after    INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    wake_pending INTEGER NOT NULL DEFAULT 0,
    idem_key     TEXT UNIQUE,
    run_id       TEXT,
    parent       TEXT,
    result       TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tasks_ready ON tasks(priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX tasks_leases ON tasks(lease_until) WHERE state = 'leased';
CREATE INDEX tasks_parent ON tasks(parent) WHERE parent IS NOT NULL;
CREATE INDEX tasks_state ON tasks(state, id);
CREATE TABLE task_checkpoints (
    task_id TEXT PRIMARY KEY,
    data    BLOB NOT NULL,
    at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE cron_ticks (
    schedule TEXT NOT NULL,
    tick     INTEGER NOT NULL,
    task_id  TEXT NOT NULL,
    PRIMARY KEY (schedule, tick)
) WITHOUT ROWID;
CREATE TABLE signals (
    task_id TEXT NOT NULL,
    name    TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    payload TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (task_id, name, seq)
) WITHOUT ROWID;
CREATE TABLE journal (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    key    TEXT NOT NULL,
    status TEXT NOT NULL,
    packet TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"#,
    ),
    (
        5,
        // The journal's unfiled tail (`tail.rs`): a durable step writes its entry and its
        // packet here, one B-tree, and a few hundred rows at a time are filed into
        // `journal`, `packets` and the indexes. `parents`: ids, space-separated, in order;
        // `packet_run`: the packet's own run id (`packets.run_id`).
        r#"
CREATE TABLE journal_pending (
    run_id     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    key        TEXT NOT NULL,
    status     TEXT NOT NULL,
    id         TEXT NOT NULL,
    v          INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    schema_v   INTEGER NOT NULL,
    task_id    TEXT,
    actor      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    body       TEXT NOT NULL,
    text       TEXT,
    blobs      TEXT NOT NULL,
    effect     TEXT,
    hash       BLOB NOT NULL,
    parents    TEXT NOT NULL,
    packet_run TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"#,
    ),
    (
        6,
        // Queued and leased tasks are found through `tasks_ready` and `tasks_leases`; the
        // state index holds only the other states, so a claim (queued → leased) no longer
        // rewrites it and a finish adds one entry instead of moving one. Queries by state name
        // the index's condition (`l9_store::STATE_INDEXED`) so the planner can use it.
        r#"
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks(state, id) WHERE state NOT IN ('queued', 'leased');
"#,
    ),
];
