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
];
