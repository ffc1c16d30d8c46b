//! A load written in parts (`Store::write_parts`) leaves its vectors in the shared file as it
//! writes them: nothing is read back from the table after it, by this handle or another; a
//! load that fails takes its records away; records a crashed load left are never taken.

use l9_store::conformance::Fx;
use l9_store::{Store, WriteBatch, WriteParts};
use l9_store_sqlite::{SqliteOptions, SqliteStore};

use super::vectors::{each_finds_itself, put, with_vectors, write_vectors};

/// Parts of `per` packets each; fails instead of giving part `fail_at` when set.
struct Parts {
    items: Vec<(l9_types::PacketEnvelope, Vec<f32>)>,
    per: usize,
    given: usize,
    fail_at: Option<usize>,
    /// The vector file, whose header mark is noted before each part after the first.
    side: std::path::PathBuf,
    marks: Vec<[u8; 8]>,
}

/// The mark in the vector file's header (zeros, or `PENDING` while a load's records are
/// there uncommitted).
fn mark(side: &std::path::Path) -> [u8; 8] {
    let h = std::fs::read(side).unwrap();
    h[32..40].try_into().unwrap()
}

#[async_trait::async_trait]
impl WriteParts for Parts {
    async fn next_part(&mut self) -> l9_store::Result<Option<WriteBatch>> {
        if self.given > 0 {
            self.marks.push(mark(&self.side));
        }
        if self.fail_at == Some(self.given) {
            return Err(l9_store::StoreError::Invalid("the source failed".into()));
        }
        let from = self.given * self.per;
        if from >= self.items.len() {
            return Ok(None);
        }
        self.given += 1;
        let part = &self.items[from..(from + self.per).min(self.items.len())];
        Ok(Some(WriteBatch {
            packets: part.iter().map(|(p, _)| p.clone()).collect(),
            embeddings: part.iter().map(|(p, v)| (p.id, v.clone())).collect(),
            blobs: vec![],
        }))
    }
}

fn records(path: &std::path::Path, dims: u64) -> u64 {
    (std::fs::metadata(l9_store_sqlite::vectors_path(path)).unwrap().len() - 64) / (24 + 4 * dims)
}

#[tokio::test]
async fn a_load_in_parts_leaves_its_vectors_in_the_shared_file() {
    let dir = l9_test_support::temp_dir();
    let path = dir.path().join("l9.db");
    let dims = 8;
    let opts = SqliteOptions { dims, exact_threshold: 50, ..Default::default() };
    let fx = Fx::default();
    let a = SqliteStore::open(&path, opts.clone()).await.unwrap();
    let mut all = write_vectors(&a, &fx, 1, 100, dims).await;

    let load = with_vectors(&fx, 2, 150, dims);
    let side = l9_store_sqlite::vectors_path(&path);
    let new = |items, fail_at| Parts {
        items,
        per: 50,
        given: 0,
        fail_at,
        side: side.clone(),
        marks: Vec::new(),
    };
    let mut parts = new(load.clone(), None);
    let r = a.write_parts(&mut parts).await.unwrap();
    assert_eq!(r.embeddings_inserted, 150);
    assert_eq!(parts.marks, vec![*b"PENDING\x00"; 3], "marked while its records are uncommitted");
    assert_eq!(mark(&side), [0; 8], "unmarked once committed");
    all.extend(load.iter().map(|(p, v)| (p.id, v.clone())));
    let st = a.vector_file().await;
    assert_eq!((st.cached, st.mapped, st.read_from_table), (250, 250, 0), "taken from the file");
    each_finds_itself(&a, &all).await;
    assert_eq!(a.vector_file().await.read_from_table, 0);
    let b = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&b, &all).await;
    assert_eq!(b.vector_file().await.read_from_table, 0, "another handle reads none back");
    drop(b);

    // A load whose source fails in its third part: nothing of it stays, in the table or the
    // file; the next write takes the same rowids.
    let failed = with_vectors(&fx, 3, 150, dims);
    let mut parts = new(failed, Some(2));
    assert!(a.write_parts(&mut parts).await.is_err());
    assert_eq!(mark(&side), [0; 8]);
    assert_eq!(records(&path, dims as u64), 250, "the failed load's records were cut");
    all.extend(write_vectors(&a, &fx, 4, 30, dims).await);
    each_finds_itself(&a, &all).await;
    let c = SqliteStore::open(&path, opts.clone()).await.unwrap();
    each_finds_itself(&c, &all).await;
    assert_eq!(c.vector_file().await.read_from_table, 0);
    drop(c);

    // A load that crashed after appending records for rows that never committed: the very
    // packets written again later (an import retried) at the same rowids, with other vectors
    // (embedded by another model). The crashed load's records, marked pending, are not taken.
    let retried = with_vectors(&fx, 5, 40, dims);
    let crashed = with_vectors(&fx, 6, 40, dims);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&side).unwrap();
        let mut header = [0u8; 64];
        f.read_exact_at(&mut header, 0).unwrap();
        header[32..40].copy_from_slice(b"PENDING\x00");
        f.write_all_at(&header, 0).unwrap();
        let mut at = f.metadata().unwrap().len();
        for (i, ((p, _), (_, v))) in retried.iter().zip(&crashed).enumerate() {
            let mut rec = (281 + i as i64).to_le_bytes().to_vec();
            rec.extend_from_slice(p.id.0.as_bytes());
            let unit = l9_store::normalized(v).unwrap();
            unit.iter().for_each(|x| rec.extend_from_slice(&x.to_ne_bytes()));
            f.write_all_at(&rec, at).unwrap();
            at += rec.len() as u64;
        }
    }
    all.extend(put(&a, &retried).await);
    each_finds_itself(&a, &all).await;
    let d = SqliteStore::open(&path, opts).await.unwrap();
    each_finds_itself(&d, &all).await;
}
