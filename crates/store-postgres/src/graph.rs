//! The knowledge graph on PostgreSQL (same semantics as SQLite's; see `AsOf::sees`).

use chrono::{DateTime, Utc};
use l9_store::graph_rules as rules;
use l9_store::{
    AsOf, Entity, EntityId, EntityQuery, Relation, RelationDirection, RelationId, RelationQuery,
    Result, StoreError,
};
use l9_types::PacketId;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{PgConnection, PgPool, QueryBuilder, Row};
use uuid::Uuid;

use crate::codec::db;

const ENTITY_COLS: &str =
    "id, kind, name, attrs, valid_from, valid_to, recorded_at, invalidated_at, source";
const RELATION_COLS: &str =
    "id, kind, src, dst, attrs, valid_from, valid_to, recorded_at, invalidated_at, source";

pub(crate) async fn put_entity(conn: &mut PgConnection, e: &Entity) -> Result<()> {
    rules::check_interval(e.valid_from, e.valid_to)?;
    let r = sqlx::query(
        "INSERT INTO kg_entities (id, kind, name, attrs, valid_from, valid_to, recorded_at, invalidated_at, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.id.0)
    .bind(e.kind.clone())
    .bind(e.name.clone())
    .bind(e.attrs.to_string())
    .bind(e.valid_from)
    .bind(e.valid_to)
    .bind(e.recorded_at)
    .bind(rules::invalidated_at(e.valid_to, e.invalidated_at, e.recorded_at))
    .bind(e.source.map(|s| s.0))
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

pub(crate) async fn put_relation(conn: &mut PgConnection, r: &Relation) -> Result<()> {
    put_relation_known(conn, r, &mut std::collections::HashSet::new()).await
}

/// [`put_relation`], taking the entities in `known` as stored (and adding the ends it
/// checks): a batch checks each entity once.
pub(crate) async fn put_relation_known(
    conn: &mut PgConnection,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.id.0)
    .bind(r.kind.clone())
    .bind(r.from.0)
    .bind(r.to.0)
    .bind(r.attrs.to_string())
    .bind(r.valid_from)
    .bind(r.valid_to)
    .bind(r.recorded_at)
    .bind(rules::invalidated_at(r.valid_to, r.invalidated_at, r.recorded_at))
    .bind(r.source.map(|s| s.0))
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
async fn same_relation_stored(conn: &mut PgConnection, r: &Relation) -> Result<()> {
    let sql = format!("SELECT {RELATION_COLS} FROM kg_relations WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.id.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    if relation_from_row(&row)?.same_fact(r) {
        Ok(())
    } else {
        Err(rules::immutable("relation", r.id))
    }
}

pub(crate) async fn get_entity(conn: &mut PgConnection, id: EntityId) -> Result<Option<Entity>> {
    let sql = format!("SELECT {ENTITY_COLS} FROM kg_entities WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.map(|r| entity_from_row(&r)).transpose()
}

pub(crate) async fn invalidate(
    pool: &PgPool,
    table: &'static str,
    what: &str,
    id: Uuid,
    valid_to: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    let sql = format!("SELECT valid_from, valid_to FROM {table} WHERE id = $1 FOR UPDATE");
    let row: Option<(DateTime<Utc>, Option<DateTime<Utc>>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    let Some((from, to)) = row else { return Err(StoreError::NotFound(format!("{what} {id}"))) };
    rules::check_invalidation(what, id, from, to, valid_to)?;
    let sql = format!("UPDATE {table} SET valid_to = $1, invalidated_at = $2 WHERE id = $3");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(valid_to)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)
}

fn push_as_of(qb: &mut QueryBuilder<Postgres>, as_of: &AsOf) {
    let valid = as_of.valid_at;
    qb.push(" AND valid_from <= ").push_bind(valid);
    match as_of.known_at {
        None => {
            qb.push(" AND (valid_to IS NULL OR ").push_bind(valid).push(" < valid_to)");
        }
        Some(k) => {
            qb.push(" AND recorded_at <= ").push_bind(k);
            qb.push(" AND (valid_to IS NULL OR invalidated_at > ").push_bind(k);
            qb.push(" OR ").push_bind(valid).push(" < valid_to)");
        }
    }
}

pub(crate) async fn entities(pool: &PgPool, q: &EntityQuery) -> Result<Vec<Entity>> {
    let mut qb = QueryBuilder::new(format!("SELECT {ENTITY_COLS} FROM kg_entities WHERE true"));
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

pub(crate) async fn relations(pool: &PgPool, q: &RelationQuery) -> Result<Vec<Relation>> {
    let mut qb = QueryBuilder::new(format!("SELECT {RELATION_COLS} FROM kg_relations WHERE true"));
    if let Some(e) = q.entity {
        match q.direction {
            RelationDirection::Out => {
                qb.push(" AND src = ").push_bind(e.0);
            }
            RelationDirection::In => {
                qb.push(" AND dst = ").push_bind(e.0);
            }
            RelationDirection::Both => {
                qb.push(" AND (src = ").push_bind(e.0).push(" OR dst = ").push_bind(e.0).push(")");
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

fn attrs(row: &PgRow, i: usize) -> Result<serde_json::Value> {
    let s: String = row.try_get(i).map_err(db)?;
    serde_json::from_str(&s)
        .map_err(|e| StoreError::Backend(format!("stored attrs do not decode: {e}")))
}

fn entity_from_row(row: &PgRow) -> Result<Entity> {
    Ok(Entity {
        id: EntityId(row.try_get(0).map_err(db)?),
        kind: row.try_get(1).map_err(db)?,
        name: row.try_get(2).map_err(db)?,
        attrs: attrs(row, 3)?,
        valid_from: row.try_get(4).map_err(db)?,
        valid_to: row.try_get(5).map_err(db)?,
        recorded_at: row.try_get(6).map_err(db)?,
        invalidated_at: row.try_get(7).map_err(db)?,
        source: row.try_get::<Option<Uuid>, _>(8).map_err(db)?.map(PacketId),
    })
}

fn relation_from_row(row: &PgRow) -> Result<Relation> {
    Ok(Relation {
        id: RelationId(row.try_get(0).map_err(db)?),
        kind: row.try_get(1).map_err(db)?,
        from: EntityId(row.try_get(2).map_err(db)?),
        to: EntityId(row.try_get(3).map_err(db)?),
        attrs: attrs(row, 4)?,
        valid_from: row.try_get(5).map_err(db)?,
        valid_to: row.try_get(6).map_err(db)?,
        recorded_at: row.try_get(7).map_err(db)?,
        invalidated_at: row.try_get(8).map_err(db)?,
        source: row.try_get::<Option<Uuid>, _>(9).map_err(db)?.map(PacketId),
    })
}

/// Rows per multi-row INSERT of graph facts (10 parameters each, far below PostgreSQL's
/// 65535).
const GRAPH_CHUNK: usize = 500;

/// `Store::put_graph` inside the caller's transaction: multi-row inserts, then the same
/// checks as single puts — a fact already stored must be the same fact, a relation's ends
/// must exist (in the batch or stored).
pub(crate) async fn put_graph(
    conn: &mut PgConnection,
    entities: &[Entity],
    relations: &[Relation],
) -> Result<()> {
    let ends: Vec<Uuid> =
        rules::graph_ends_to_find(entities, relations)?.into_iter().map(|e| e.0).collect();
    for chunk in entities.chunks(GRAPH_CHUNK) {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO kg_entities (id, kind, name, attrs, valid_from, valid_to, recorded_at, invalidated_at, source) ",
        );
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.id.0)
                .push_bind(e.kind.clone())
                .push_bind(e.name.clone())
                .push_bind(e.attrs.to_string())
                .push_bind(e.valid_from)
                .push_bind(e.valid_to)
                .push_bind(e.recorded_at)
                .push_bind(rules::invalidated_at(e.valid_to, e.invalidated_at, e.recorded_at))
                .push_bind(e.source.map(|s| s.0));
        });
        qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let inserted: std::collections::HashSet<Uuid> = qb
            .build_query_scalar::<Uuid>()
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
        for e in chunk.iter().filter(|e| !inserted.contains(&e.id.0)) {
            if !get_entity(&mut *conn, e.id).await?.is_some_and(|old| old.same_fact(e)) {
                return Err(rules::immutable("entity", e.id));
            }
        }
    }
    if !ends.is_empty() {
        let mut known: std::collections::HashSet<EntityId> = std::collections::HashSet::new();
        let (sql, reuse) =
            crate::codec::for_keys("SELECT id FROM kg_entities WHERE id = ANY($1)", ends.len());
        let found: Vec<Uuid> = sqlx::query_scalar(sql)
            .bind(&ends)
            .persistent(reuse)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        known.extend(found.into_iter().map(EntityId));
        if let Some(missing) = ends.iter().find(|e| !known.contains(&EntityId(**e))) {
            return Err(StoreError::NotFound(format!("entity {missing}")));
        }
    }
    for chunk in relations.chunks(GRAPH_CHUNK) {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO kg_relations (id, kind, src, dst, attrs, valid_from, valid_to, recorded_at, invalidated_at, source) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.0)
                .push_bind(r.kind.clone())
                .push_bind(r.from.0)
                .push_bind(r.to.0)
                .push_bind(r.attrs.to_string())
                .push_bind(r.valid_from)
                .push_bind(r.valid_to)
                .push_bind(r.recorded_at)
                .push_bind(rules::invalidated_at(r.valid_to, r.invalidated_at, r.recorded_at))
                .push_bind(r.source.map(|s| s.0));
        });
        qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let inserted: std::collections::HashSet<Uuid> = qb
            .build_query_scalar::<Uuid>()
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?
            .into_iter()
            .collect();
        for r in chunk.iter().filter(|r| !inserted.contains(&r.id.0)) {
            same_relation_stored(&mut *conn, r).await?;
        }
    }
    Ok(())
}
