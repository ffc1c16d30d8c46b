//! Document frequencies of common full-text terms, for query-term pruning
//! (`l9_store::prune_common_terms`), read from the planner statistics of the `tsv` column
//! (`most_common_elems`) and kept between searches: reading `pg_stats` cost a search about
//! 1.5 ms. The copy is dropped when this store analyzes `packets` itself and re-read after
//! [`REUSES`] searches (so autovacuum's or another process's `ANALYZE` is seen too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use l9_store::Result;
use sqlx::PgPool;

use crate::codec::db;

/// Searches served from one reading of the statistics.
const REUSES: u32 = 256;

/// What `pg_stats` says about the `tsv` column: the rows it was computed over and each
/// listed term's estimated document frequency. `None` when not analyzed yet.
type Stats = Option<(u64, HashMap<String, u64>)>;

#[derive(Debug, Default)]
pub(crate) struct TermStats {
    cached: Mutex<Option<(Arc<Stats>, u32)>>,
}

impl TermStats {
    /// Forgets the copy (the statistics were just recomputed).
    pub(crate) fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Drops common query terms (see `l9_store::prune_common_terms`); a term absent from
    /// the statistics is rarer than every listed one.
    pub(crate) async fn prune(&self, pool: &PgPool, terms: Vec<String>) -> Result<Vec<String>> {
        let stats = self.get(pool).await?;
        let Some((total, df)) = stats.as_ref() else { return Ok(terms) };
        if *total <= l9_store::COMMON_TERM_MIN_DOCS {
            return Ok(terms);
        }
        Ok(l9_store::prune_common_terms(terms, *total, |t| df.get(t).copied().unwrap_or(0)))
    }

    async fn get(&self, pool: &PgPool) -> Result<Arc<Stats>> {
        {
            let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((stats, uses)) = c.as_mut()
                && *uses < REUSES
            {
                *uses += 1;
                return Ok(stats.clone());
            }
        }
        let stats = Arc::new(read(pool).await?);
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((stats.clone(), 1));
        Ok(stats)
    }
}

async fn read(pool: &PgPool) -> Result<Stats> {
    type Row = (Option<Vec<String>>, Option<Vec<f32>>, f32);
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples
         FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename
          AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = s.schemaname)
         WHERE s.schemaname = current_schema() AND s.tablename = 'packets' AND s.attname = 'tsv'",
    )
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let Some((Some(elems), Some(freqs), rows)) = row else { return Ok(None) };
    let total = rows.max(0.0) as u64;
    let df =
        elems.into_iter().zip(freqs).map(|(e, f)| (e, (f as f64 * total as f64) as u64)).collect();
    Ok(Some((total, df)))
}
