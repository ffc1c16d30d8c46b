//! `l9 db check` and `l9 db salvage`: whether the store is sound, and what of a damaged one
//! can be read back.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use l9_engine::db::DbReport;

use crate::error::CliError;
use crate::output::Out;

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Check the store: the database's own integrity check (SQLite), then every packet read
    /// and its hash verified with its parents and blobs present. Exit 0 sound, 1 not. Works on
    /// a SQLite file too damaged to open otherwise (read-only, nothing is changed).
    Check,
    /// Read every sound packet of a damaged SQLite store into FILE (JSON Lines, as `l9 memory
    /// export` writes), so `l9 memory import FILE` loads it into a new store; says what was
    /// lost. The file is not overwritten if it exists.
    Salvage {
        /// Where to write (a new file).
        file: PathBuf,
    },
}

fn render(r: &DbReport, verb: &str) -> String {
    let mut s = format!("{}: {} packet(s) {verb}", r.store, r.packets);
    if r.seed_items > 0 {
        s.push_str(&format!(
            " ({} world-model seed items left out: `l9 init` stores them)",
            r.seed_items
        ));
    }
    if r.integrity.is_empty() {
        s.push_str("\ndatabase integrity check: ok");
    } else {
        s.push_str(&format!("\ndatabase integrity check: {} problem(s)", r.integrity.len()));
        for p in r.integrity.iter().take(20) {
            s.push_str(&format!("\n  {p}"));
        }
    }
    let list = |s: &mut String, n: u64, what: &str, items: &[String]| {
        if n > 0 {
            s.push_str(&format!("\n{n} packet(s) {what}"));
            for i in items.iter().take(20) {
                s.push_str(&format!("\n  {i}"));
            }
            if n > 20 {
                s.push_str(&format!("\n  … {} more (--json lists up to {})", n - 20, items.len()));
            }
        }
    };
    list(&mut s, r.unreadable_count, "unreadable or failing their hash", &r.unreadable);
    list(&mut s, r.orphaned_count, "left out: a parent or blob of theirs is lost", &r.orphaned);
    s
}

pub(crate) async fn run_db(
    cmd: DbCommand,
    root: &Path,
    db: Option<&str>,
    out: &mut Out,
) -> Result<(), CliError> {
    if db.is_none() && !l9_engine::Engine::is_project(root) {
        return Err(CliError::not_project(root));
    }
    match cmd {
        DbCommand::Check => {
            let r = l9_engine::db::check(root, db).await?;
            out.value(&r, || {
                let mut s = render(&r, "read and verified");
                s.push_str(if r.sound {
                    "\nsound"
                } else {
                    "\nNOT sound: `l9 db salvage FILE.jsonl` exports what is readable"
                });
                s
            })?;
            if r.sound { Ok(()) } else { Err(CliError::findings()) }
        }
        DbCommand::Salvage { file } => {
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).open(&file).map_err(
                    |e| CliError::input(format!("{}: {e} (give a new file)", file.display())),
                )?;
            let r = {
                let mut w = std::io::BufWriter::new(&mut f);
                let r = l9_engine::db::salvage(root, db, &mut w).await?;
                std::io::Write::flush(&mut w)
                    .map_err(|e| CliError::input(format!("{}: {e}", file.display())))?;
                r
            };
            out.value(&r, || {
                format!(
                    "{}\nwritten to {}: load it into a new store with `l9 memory import {}`",
                    render(&r, "salvaged"),
                    file.display(),
                    file.display()
                )
            })
        }
    }
}
