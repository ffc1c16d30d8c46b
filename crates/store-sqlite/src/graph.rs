//! The knowledge graph on SQLite.

use chrono::{DateTime, Utc};
use l9_store::graph_rules as rules;
use l9_store::{
    Entity, EntityId, EntityQuery, Relation, RelationDirection, RelationId, RelationQuery, Result,
    StoreError,
};
use l9_types::PacketId;
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{QueryBuilder, Row, SqliteConnection, SqlitePool};

use crate::codec::{db, from_micros, micros, parse_uuid};

const ENTITY_COLS: &str =
    "id, kind, name, attrs, valid_from, valid_to, recorded_at, invalidated_at, source";
const RELATION_COLS: &str =
    "id, kind, src, dst, attrs, valid_from, valid_to, recorded_at, invalidated_at, source";

fn invalidated(
    valid_to: Option<DateTime<Utc>>,
    inv: Option<DateTime<Utc>>,
    rec: DateTime<Utc>,
) -> Option<i64> {
    rules::invalidated_at(valid_to, inv, rec).map(micros)
}

pub(crate) async fn put_entity(conn: &mut SqliteConnection, e: &Entity) -> Result<()> {
    rules::check_interval(e.valid_from, e.valid_to)?;
    let r = sqlx::query(
        "INSERT INTO kg_entities (id, kind, name, attrs, valid_from, valid_to, recorded_at, invalidated_at, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
    )
    .bind(e.id.0.to_string())
    .bind(e.kind.clone())
    .bind(e.name.clone())
    .bind(e.attrs.to_string())
    .bind(micros(e.valid_from))
    .bind(e.valid_to.map(micros))
    .bind(micros(e.recorded_at))
    .bind(invalidated(e.valid_to, e.invalidated_at, e.recorded_at))
    .bind(e.source.map(|s| s.to_string()))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if r.rows_affected() == 0
        && !get_entity(&mut *conn, e.id).await?.is_some_and(|old| old.same_fact(e))
    {
        return Err(rules::immutable("entity", e.id));
    }
    Ok(())
}

pub(crate) async fn put_relation(conn: &mut SqliteConnection, r: &Relation) -> Result<()> {
    put_relation_known(conn, r, &mut std::collections::HashSet::new()).await
}

/// [`put_relation`], taking the entities in `known` as stored (and adding the ends it
/// checks): a batch checks each entity once.
pub(crate) async fn put_relation_known(
    conn: &mut SqliteConnection,
    r: &Relation,
    known: &mut std::collections::HashSet<EntityId>,
) -> Result<()> {
    rules::check_interval(r.valid_from, r.valid_to)?;
    for end in [r.from, r.to] {
        if known.contains(&end) {
            continue;
        }
        if get_entity(&mut *conn, end).await?.is_some() {
            known.insert(end);
        } else {
            return Err(StoreError::NotFound(format!("entity {end}")));
        }
    }
    let res = sqlx::query(
        "INSERT INTO kg_relations (id, kind, src, dst, attrs, valid_from, valid_to, recorded_at, invalidated_at, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
    )
    .bind(r.id.0.to_string())
    .bind(r.kind.clone())
    .bind(r.from.0.to_string())
    .bind(r.to.0.to_string())
    .bind(r.attrs.to_string())
    .bind(micros(r.valid_from))
    .bind(r.valid_to.map(micros))
    .bind(micros(r.recorded_at))
    .bind(invalidated(r.valid_to, r.invalidated_at, r.recorded_at))
    .bind(r.source.map(|s| s.to_string()))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if res.rows_affected() == 0 {
        same_relation_stored(&mut *conn, r).await?;
    }
    Ok(())
}

/// The relation stored under `r`'s id is `r` (an insert that did nothing met an earlier
/// put): facts are immutable.
async fn same_relation_stored(conn: &mut SqliteConnection, r: &Relation) -> Result<()> {
    let sql = format!("SELECT {RELATION_COLS} FROM kg_relations WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.id.0.to_string())
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    if relation_from_row(&row)?.same_fact(r) {
        Ok(())
    } else {
        Err(rules::immutable("relation", r.id))
    }
}

pub(crate) async fn get_entity(
    conn: &mut SqliteConnection,
    id: EntityId,
) -> Result<Option<Entity>> {
    let sql = format!("SELECT {ENTITY_COLS} FROM kg_entities WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.map(|r| entity_from_row(&r)).transpose()
}

pub(crate) async fn invalidate(
    pool: &SqlitePool,
    table: &'static str,
    what: &str,
    id: uuid::Uuid,
    valid_to: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let sql = format!("SELECT valid_from, valid_to FROM {table} WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let Some(row) = row else { return Err(StoreError::NotFound(format!("{what} {id}"))) };
    let from: i64 = row.try_get(0).map_err(db)?;
    let to: Option<i64> = row.try_get(1).map_err(db)?;
    rules::check_invalidation(
        what,
        id,
        from_micros(from)?,
        to.map(from_micros).transpose()?,
        valid_to,
    )?;
    let sql = format!("UPDATE {table} SET valid_to = ?, invalidated_at = ? WHERE id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(micros(valid_to))
        .bind(micros(at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)
}

/// Appends the as-of visibility condition (see `AsOf::sees`).
fn push_as_of(qb: &mut QueryBuilder<Sqlite>, as_of: &l9_store::AsOf) {
    let valid = micros(as_of.valid_at);
    qb.push(" AND valid_from <= ").push_bind(valid);
    match as_of.known_at {
        None => {
            qb.push(" AND (valid_to IS NULL OR ").push_bind(valid).push(" < valid_to)");
        }
        Some(k) => {
            let k = micros(k);
            qb.push(" AND recorded_at <= ").push_bind(k);
            qb.push(" AND (valid_to IS NULL OR invalidated_at > ").push_bind(k);
            qb.push(" OR ").push_bind(valid).push(" < valid_to)");
        }
    }
}

pub(crate) async fn entities(pool: &SqlitePool, q: &EntityQuery) -> Result<Vec<Entity>> {
    let mut qb = QueryBuilder::new(format!("SELECT {ENTITY_COLS} FROM kg_entities WHERE 1=1"));
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(name) = &q.name {
        qb.push(" AND name = ").push_bind(name.clone());
    }
    if let Some(as_of) = &q.as_of {
        push_as_of(&mut qb, as_of);
    }
    qb.push(" ORDER BY id");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(entity_from_row).collect()
}

pub(crate) async fn relations(pool: &SqlitePool, q: &RelationQuery) -> Result<Vec<Relation>> {
    let mut qb = QueryBuilder::new(format!("SELECT {RELATION_COLS} FROM kg_relations WHERE 1=1"));
    if let Some(e) = q.entity {
        let e = e.0.to_string();
        match q.direction {
            RelationDirection::Out => {
                qb.push(" AND src = ").push_bind(e);
            }
            RelationDirection::In => {
                qb.push(" AND dst = ").push_bind(e);
            }
            RelationDirection::Both => {
                qb.push(" AND (src = ")
                    .push_bind(e.clone())
                    .push(" OR dst = ")
                    .push_bind(e)
                    .push(")");
            }
        }
    }
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(as_of) = &q.as_of {
        push_as_of(&mut qb, as_of);
    }
    qb.push(" ORDER BY id");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(relation_from_row).collect()
}

fn opt_time(row: &SqliteRow, i: usize) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<i64>, _>(i).map_err(db)?.map(from_micros).transpose()
}

fn attrs(row: &SqliteRow, i: usize) -> Result<serde_json::Value> {
    let s: String = row.try_get(i).map_err(db)?;
    serde_json::from_str(&s)
        .map_err(|e| StoreError::Backend(format!("stored attrs do not decode: {e}")))
}

fn source(row: &SqliteRow, i: usize) -> Result<Option<PacketId>> {
    row.try_get::<Option<String>, _>(i)
        .map_err(db)?
        .map(|s| parse_uuid(&s).map(PacketId))
        .transpose()
}

fn entity_from_row(row: &SqliteRow) -> Result<Entity> {
    Ok(Entity {
        id: EntityId(parse_uuid(&row.try_get::<String, _>(0).map_err(db)?)?),
        kind: row.try_get(1).map_err(db)?,
        name: row.try_get(2).map_err(db)?,
        attrs: attrs(row, 3)?,
        valid_from: from_micros(row.try_get(4).map_err(db)?)?,
        valid_to: opt_time(row, 5)?,
        recorded_at: from_micros(row.try_get(6).map_err(db)?)?,
        invalidated_at: opt_time(row, 7)?,
        source: source(row, 8)?,
    })
}

fn relation_from_row(row: &SqliteRow) -> Result<Relation> {
    Ok(Relation {
        id: RelationId(parse_uuid(&row.try_get::<String, _>(0).map_err(db)?)?),
        kind: row.try_get(1).map_err(db)?,
        from: EntityId(parse_uuid(&row.try_get::<String, _>(2).map_err(db)?)?),
        to: EntityId(parse_uuid(&row.try_get::<String, _>(3).map_err(db)?)?),
        attrs: attrs(row, 4)?,
        valid_from: from_micros(row.try_get(5).map_err(db)?)?,
        valid_to: opt_time(row, 6)?,
        recorded_at: from_micros(row.try_get(7).map_err(db)?)?,
        invalidated_at: opt_time(row, 8)?,
        source: source(row, 9)?,
    })
}

/// Rows per multi-row INSERT of graph facts (10 parameters each, far below SQLite's 32766).
const GRAPH_CHUNK: usize = 500;

/// `Store::put_graph` inside the caller's transaction: multi-row inserts (a handful of
/// statements per thousand facts instead of one or three per fact), then the same checks as
/// single puts — a fact already stored must be the same fact, a relation's ends must exist.
pub(crate) async fn put_graph(
    conn: &mut SqliteConnection,
    entities: &[Entity],
    relations: &[Relation],
) -> Result<()> {
    let ends = rules::graph_ends_to_find(entities, relations)?;
    for chunk in entities.chunks(GRAPH_CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO kg_entities (id, kind, name, attrs, valid_from, valid_to, recorded_at, invalidated_at, source) ",
        );
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.id.0.to_string())
                .push_bind(e.kind.clone())
                .push_bind(e.name.clone())
                .push_bind(e.attrs.to_string())
                .push_bind(micros(e.valid_from))
                .push_bind(e.valid_to.map(micros))
                .push_bind(micros(e.recorded_at))
                .push_bind(invalidated(e.valid_to, e.invalidated_at, e.recorded_at))
                .push_bind(e.source.map(|s| s.to_string()));
        });
        qb.push(" ON CONFLICT(id) DO NOTHING RETURNING id");
        let inserted: std::collections::HashSet<String> = qb
            .build_query_scalar::<String>()
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
        for e in chunk.iter().filter(|e| !inserted.contains(&e.id.0.to_string())) {
            if !get_entity(&mut *conn, e.id).await?.is_some_and(|old| old.same_fact(e)) {
                return Err(rules::immutable("entity", e.id));
            }
        }
    }
    // Every end a relation names exists (in this batch or stored).
    let mut known: std::collections::HashSet<EntityId> = std::collections::HashSet::new();
    for chunk in ends.chunks(GRAPH_CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT id FROM kg_entities WHERE id IN (");
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(id.0.to_string());
        }
        qb.push(")");
        for id in qb.build_query_scalar::<String>().fetch_all(&mut *conn).await.map_err(db)? {
            known.insert(EntityId(parse_uuid(&id)?));
        }
    }
    if let Some(missing) = ends.iter().find(|e| !known.contains(e)) {
        return Err(StoreError::NotFound(format!("entity {missing}")));
    }
    for chunk in relations.chunks(GRAPH_CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO kg_relations (id, kind, src, dst, attrs, valid_from, valid_to, recorded_at, invalidated_at, source) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.0.to_string())
                .push_bind(r.kind.clone())
                .push_bind(r.from.0.to_string())
                .push_bind(r.to.0.to_string())
                .push_bind(r.attrs.to_string())
                .push_bind(micros(r.valid_from))
                .push_bind(r.valid_to.map(micros))
                .push_bind(micros(r.recorded_at))
                .push_bind(invalidated(r.valid_to, r.invalidated_at, r.recorded_at))
                .push_bind(r.source.map(|s| s.to_string()));
        });
        qb.push(" ON CONFLICT(id) DO NOTHING RETURNING id");
        let inserted: std::collections::HashSet<String> = qb
            .build_query_scalar::<String>()
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
        for r in chunk.iter().filter(|r| !inserted.contains(&r.id.0.to_string())) {
            same_relation_stored(&mut *conn, r).await?;
        }
    }
    Ok(())
}
