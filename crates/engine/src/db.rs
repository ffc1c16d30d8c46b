//! `l9 db check` and `l9 db salvage`: is the store sound, and what of a damaged one can be
//! read. On SQLite both read the file itself, read-only and packet by packet (a store too
//! damaged to open is still read); on PostgreSQL `check` reads every packet through the
//! store and verifies it (the server looks after its own pages).

use std::io::Write;
use std::path::{Path, PathBuf};

use l9_store::{PacketFilter, Page};
use serde::Serialize;

use crate::config::Config;
use crate::{Engine, EngineError, Result, jsonl};

/// What a check or a salvage found.
#[derive(Debug, Clone, Serialize)]
pub struct DbReport {
    /// `sqlite PATH` or the PostgreSQL URL (password masked).
    pub store: String,
    /// The database's own integrity check (SQLite): empty when sound.
    pub integrity: Vec<String>,
    /// Packets read whole with a verified hash (and, salvaging, written).
    pub packets: u64,
    /// Packets that could not be read or do not verify: how many, and the first of them.
    pub unreadable_count: u64,
    pub unreadable: Vec<String>,
    /// Readable packets left out because a parent or a blob of theirs is lost.
    pub orphaned_count: u64,
    pub orphaned: Vec<String>,
    /// The world model's seed items (left out of a salvage: `l9 init` brings them back).
    pub seed_items: u64,
    pub sound: bool,
}

/// The SQLite file the project's store is, if it is one.
fn sqlite_file(root: &Path, db: Option<&str>) -> Result<(Config, Option<PathBuf>)> {
    let mut config = Config::load(root, &|v| std::env::var(v).ok())?;
    if let Some(db) = db {
        config.store_url = db.to_owned();
    }
    let url = config.store_url.clone();
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    Ok((config, path.map(|p| root.join(p))))
}

fn report_of(store: String, r: l9_store_sqlite::salvage::ScanReport, seeds: u64) -> DbReport {
    DbReport {
        store,
        sound: r.sound(),
        integrity: r.integrity,
        packets: r.packets,
        unreadable_count: r.unreadable_count,
        unreadable: r.unreadable,
        orphaned_count: r.orphaned_count,
        orphaned: r.orphaned,
        seed_items: seeds,
    }
}

/// Checks the project's store: the database's own check (SQLite), then every packet read
/// and its hash verified, every parent and blob present.
pub async fn check(root: &Path, db: Option<&str>) -> Result<DbReport> {
    let (config, file) = sqlite_file(root, db)?;
    if let Some(path) = file {
        let r = l9_store_sqlite::salvage::scan(&path, |_| Ok(()))?;
        return Ok(report_of(format!("sqlite {}", path.display()), r, 0));
    }
    let engine = Engine::open_existing(root, db).await?;
    let mut report = DbReport {
        store: l9_store_postgres::redact_url(&config.store_url),
        integrity: Vec::new(),
        packets: 0,
        unreadable_count: 0,
        unreadable: Vec::new(),
        orphaned_count: 0,
        orphaned: Vec::new(),
        seed_items: 0,
        sound: true,
    };
    let mut page = Page { after: None, limit: 1000 };
    loop {
        let res = engine.store().list_packets(&PacketFilter::default(), &page).await?;
        for p in &res.packets {
            match p.verify() {
                Ok(()) => report.packets += 1,
                Err(e) => {
                    report.unreadable_count += 1;
                    if report.unreadable.len() < l9_store_sqlite::salvage::LISTED {
                        report.unreadable.push(format!("{}: {e}", p.id));
                    }
                }
            }
        }
        match res.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    report.sound = report.unreadable_count == 0;
    Ok(report)
}

/// Writes every sound packet of a damaged SQLite store to `out` as `l9 memory export` would
/// (parents before children, blobs inline), so `l9 memory import` can load it into a new
/// store. The world model's seed items are left out (`l9 init` stores them).
pub async fn salvage(root: &Path, db: Option<&str>, out: &mut dyn Write) -> Result<DbReport> {
    let (_, file) = sqlite_file(root, db)?;
    let Some(path) = file else {
        return Err(EngineError::Config(
            "l9 db salvage reads a damaged SQLite file; a PostgreSQL server keeps its own pages: use `l9 memory export` (and pg_dump)".into(),
        ));
    };
    let mut seeds = 0;
    let mut failed: Option<EngineError> = None;
    let r = l9_store_sqlite::salvage::scan(&path, |s| {
        if !jsonl::exported(&s.packet) {
            seeds += 1;
            return Ok(());
        }
        let line = jsonl::export_line(&s.packet, &s.blobs)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        writeln!(out, "{line}").inspect_err(|e| {
            failed = Some(EngineError::io(
                Path::new("<salvage output>"),
                std::io::Error::other(e.to_string()),
            ));
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let mut report = report_of(format!("sqlite {}", path.display()), r?, seeds);
    report.packets -= seeds;
    Ok(report)
}
