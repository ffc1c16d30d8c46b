//! Document frequencies of common full-text terms, for query-term pruning
//! (`l9_store::prune_common_terms`), read from the planner statistics of the `tsv` column
//! (`most_common_elems`) and kept between searches: reading `pg_stats` cost a search about
//! 1.5 ms. The copy is dropped when this store analyzes `packets` itself and re-read after
//! [`REUSES`] searches (so autovacuum's or another process's `ANALYZE` is seen too).
//!
//! Also the query that keeps a full-text search from ranking documents that cannot make its
//! top k ([`at_least_two`]).

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

/// Most query terms for which a search first ranks only the documents holding two or more
/// of them (see [`at_least_two`]); a longer query's expression would cost more to test per
/// candidate than it saves.
pub(crate) const STAGED_TERMS: usize = 16;

/// A `tsquery` expression true exactly for documents holding at least two of `terms`
/// (distinct, alphanumeric): `(t1 & (t2 | … | tn)) | (t2 & (t3 | … | tn)) | …`, n − 1
/// conjunctions whose right sides stop at the first term found. GIN answers it from the
/// index alone, so documents with one term are never fetched.
///
/// Why ranking those first is exact: `ts_rank` of an OR query (no weights set, no length
/// normalization — `to_tsvector` gives every position weight D, 0.1) sums over the distinct
/// query terms a document holds `(w + Σⱼ w/j² − w) / (π²/6)` for its occurrences j = 1, 2, …,
/// between 0.1/1.645 = 0.0608 (once) and 0.1 (never reached), then divides by the query's
/// term count. Two terms give at least 0.1216, more than any one term can: every document with
/// two or more terms outranks every document with one. So when k documents hold two or more,
/// they are the top k, ranked as before; otherwise the rest come from the one-term documents.
///
/// That holds while each term is one lexeme to PostgreSQL's parser. `tokenize` keeps runs of
/// any alphanumeric characters; the parser splits some (`1e5x` is the number `1e5` and the word
/// `x`: a phrase of two) and drops characters it does not count as letters (`x²` is `x`). So
/// only queries whose terms are all ASCII, each a word starting with a letter or a number of
/// digits only, are staged; others rank every match, as before.
pub(crate) fn at_least_two(terms: &[String]) -> Option<String> {
    if terms.len() < 2 || terms.len() > STAGED_TERMS || !terms.iter().all(|t| one_lexeme(t)) {
        return None;
    }
    let parts: Vec<String> = (0..terms.len() - 1)
        .map(|i| format!("({} & ({}))", terms[i], terms[i + 1..].join(" | ")))
        .collect();
    Some(parts.join(" | "))
}

/// Whether PostgreSQL's parser reads `term` (a `tokenize` term) as exactly that one token: an
/// ASCII word starting with a letter (`asciiword`, `numword`) or ASCII digits (`uint`).
fn one_lexeme(term: &str) -> bool {
    let b = term.as_bytes();
    !b.is_empty()
        && b.iter().all(u8::is_ascii_alphanumeric)
        && (b[0].is_ascii_alphabetic() || b.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_string()).collect()
    }

    #[test]
    fn two_or_more_of_the_terms() {
        assert_eq!(at_least_two(&t(&["a"])), None);
        assert_eq!(at_least_two(&t(&["a", "b"])).as_deref(), Some("(a & (b))"));
        assert_eq!(
            at_least_two(&t(&["a", "b", "c", "d"])).as_deref(),
            Some("(a & (b | c | d)) | (b & (c | d)) | (c & (d))")
        );
        let long: Vec<String> = (0..=STAGED_TERMS).map(|i| format!("w{i}")).collect();
        assert_eq!(at_least_two(&long), None);
        assert!(at_least_two(&long[..STAGED_TERMS]).is_some());
        // Terms the parser may read otherwise are not staged.
        for odd in ["1e5x", "2nd", "x²", "straße", ""] {
            assert_eq!(at_least_two(&t(&["a", odd])), None, "{odd}");
        }
        assert!(at_least_two(&t(&["utf8", "h2o", "007", "x1e5"])).is_some());
    }
}
