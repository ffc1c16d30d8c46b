//! Where the vector cache keeps its vectors: a file beside the database (`<db>-vectors`),
//! memory-mapped and shared by every process that opens the store. A million 384-dimension
//! vectors (1.5 GB) are then held once, in the kernel's page cache (which pages out what no
//! search touches), not copied into each process's heap; and a process that opens the store
//! reads from the table only the vectors the file lacks.
//!
//! The file is a cache of the `embeddings` table, never the truth. A 64-byte header names the
//! store instance (`l9_meta` key `store.instance`) and the dimension; then fixed-size records
//! `[embeddings rowid i64][packet id 16 bytes][unit vector f32 × dims]` in rowid order, which
//! is the cache's slot order. Records are only appended, under an exclusive lock on the file,
//! and never changed in place. A file that disagrees with the table (another store's, other
//! dimensions, a restored database, a torn header) is replaced whole: a new file is written
//! and renamed over the old one, so a process that mapped the old file keeps reading what it
//! checked. Records are adopted only after their keys (rowid and packet id; the first, the
//! last and every [`SAMPLE`]-th) match what the table says the slots hold: embeddings are
//! never deleted or changed and packet ids are unique, so two histories that part never meet
//! again and a sample finds where they part.
//!
//! Vectors not yet in the file live in a heap tail until the next [`Vectors::flush`]. When the
//! file cannot be used (read-only directory, full disk) the cache keeps every vector in memory
//! and records why ([`Vectors::file_error`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use l9_types::PacketId;
use memmap2::Mmap;

use crate::hnsw::Vecs;

const MAGIC: &[u8; 8] = b"L9VECS\x00\x01";
const HEADER: usize = 64;
/// Bytes before a record's vector: rowid and packet id.
const KEY: usize = 24;
/// Adopted records are checked against the table's keys at this stride (plus the last).
const SAMPLE: usize = 64;

/// An embeddings row's identity: its rowid and its packet's id.
pub(crate) type Key = (i64, PacketId);

/// The cache's vectors, slot by slot: `[0, mapped)` from the file, the rest in the heap.
#[derive(Debug)]
pub(crate) struct Vectors {
    dims: usize,
    /// Bytes per record.
    rec: usize,
    map: Option<Mmap>,
    /// The file `map` maps (its inode tells whether the path was replaced since).
    mapped_file: Option<File>,
    mapped: usize,
    tail: Vec<f32>,
    tail_keys: Vec<Key>,
    side: Option<Side>,
    file_error: Option<String>,
}

#[derive(Debug)]
struct Side {
    path: PathBuf,
    header: [u8; HEADER],
}

impl Vectors {
    /// Vectors held in memory only.
    pub(crate) fn in_memory(dims: usize) -> Self {
        Vectors {
            dims,
            rec: KEY + 4 * dims,
            map: None,
            mapped_file: None,
            mapped: 0,
            tail: Vec::new(),
            tail_keys: Vec::new(),
            side: None,
            file_error: None,
        }
    }

    /// Keeps the vectors in the file at `path` from now on (for the store `instance`).
    pub(crate) fn use_file(&mut self, path: PathBuf, instance: [u8; 16]) {
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&(self.dims as u32).to_le_bytes());
        // Records hold native-endian floats: a file from a machine of the other order differs here.
        header[12..16].copy_from_slice(&1.0f32.to_ne_bytes());
        header[16..32].copy_from_slice(&instance);
        sweep_stale(&path);
        self.side = Some(Side { path, header });
    }

    /// How many vectors are read from the shared file (the rest are in this process's heap).
    pub(crate) fn mapped(&self) -> usize {
        self.mapped
    }

    /// Why the file is not used, when it is not.
    pub(crate) fn file_error(&self) -> Option<&str> {
        self.file_error.as_deref()
    }

    /// Whether vectors wait in memory for [`Vectors::flush`].
    pub(crate) fn has_tail(&self) -> bool {
        !self.tail_keys.is_empty() && self.side.is_some()
    }

    pub(crate) fn push(&mut self, key: Key, unit: &[f32]) {
        self.tail_keys.push(key);
        self.tail.extend_from_slice(unit);
    }

    fn vector_bytes(&self, slot: usize) -> &[u8] {
        let at = HEADER + slot * self.rec + KEY;
        match &self.map {
            Some(m) => &m[at..at + 4 * self.dims],
            None => &[],
        }
    }

    /// Takes, from the file, the vectors of the next slots, whose keys are `keys`, as far as
    /// the file holds them and they check out. Returns how many it took (the caller reads
    /// the others from the table and [`Vectors::push`]es them).
    pub(crate) fn adopt_from_file(&mut self, keys: &[Key]) -> usize {
        if !self.tail_keys.is_empty() || keys.is_empty() || self.side.is_none() {
            return 0;
        }
        match self.try_adopt(keys) {
            Ok(n) => n,
            Err(e) => {
                self.give_up(e);
                0
            }
        }
    }

    fn try_adopt(&mut self, keys: &[Key]) -> io::Result<usize> {
        let Some(side) = &self.side else { return Ok(0) };
        let Some(file) = open_locked(&side.path, false)? else { return Ok(0) };
        if !self.header_ok(&file)? || !self.prefix_ok(&file)? {
            return Ok(0); // the next flush replaces it
        }
        let count = self.count(&file)?;
        let n = count.saturating_sub(self.mapped).min(keys.len());
        if n == 0 || !self.keys_match(&file, self.mapped, &keys[..n])? {
            return Ok(0);
        }
        self.remap(file)?;
        self.mapped += n;
        Ok(n)
    }

    /// Moves the heap tail into the file (appending, or replacing a file that disagrees).
    pub(crate) fn flush(&mut self) {
        if self.tail_keys.is_empty() || self.side.is_none() {
            return;
        }
        if let Err(e) = self.try_flush() {
            self.give_up(e);
        }
    }

    fn try_flush(&mut self) -> io::Result<()> {
        let Some(side) = &self.side else { return Ok(()) };
        let path = side.path.clone();
        let Some(file) = open_locked(&path, true)? else { return Ok(()) };
        let usable = self.header_ok(&file)? && self.prefix_ok(&file)?;
        let count = if usable { self.count(&file)? } else { 0 };
        if !usable || count < self.mapped {
            return self.replace(&path);
        }
        // Records other processes appended since: ours too, or the file went another way.
        let theirs = (count - self.mapped).min(self.tail_keys.len());
        if theirs > 0 {
            if !self.keys_match(&file, self.mapped, &self.tail_keys[..theirs])? {
                return self.replace(&path);
            }
            self.tail_keys.drain(..theirs);
            self.tail.drain(..theirs * self.dims);
            self.mapped += theirs;
        }
        if !self.tail_keys.is_empty() {
            let at = HEADER + count * self.rec;
            if file.metadata()?.len() != at as u64 {
                file.set_len(at as u64)?; // a record torn by a crash
            }
            self.write_tail(&file, at)?;
        }
        self.tail_written();
        self.remap(file)
    }

    /// Writes every vector to a new file and renames it over `path`.
    fn replace(&mut self, path: &Path) -> io::Result<()> {
        let Some(side) = &self.side else { return Ok(()) };
        let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
        let written = (|| {
            let f = options().create(true).truncate(true).open(&tmp)?;
            // Held while it is written: `sweep_stale` removes only files nobody holds.
            f.lock()?;
            f.write_all_at(&side.header, 0)?;
            let kept = self.mapped * self.rec;
            if let Some(m) = &self.map {
                f.write_all_at(&m[HEADER..HEADER + kept], HEADER as u64)?;
            }
            self.write_tail(&f, HEADER + kept)?;
            std::fs::rename(&tmp, path)?;
            Ok::<_, io::Error>(f)
        })();
        let f = match written {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.tail_written();
        self.remap(f)
    }

    /// Writes the tail's records to `f` from byte `at`.
    fn write_tail(&self, f: &File, at: usize) -> io::Result<()> {
        let vecs = self.tail.chunks_exact(self.dims);
        write_records(f, at, self.rec, self.tail_keys.iter().copied().zip(vecs))
    }

    /// The tail is in the file now: slots up to `len` are read from the map.
    fn tail_written(&mut self) {
        self.mapped += self.tail_keys.len();
        // Give the memory back: a large load's tail is not needed again.
        self.tail_keys = Vec::new();
        self.tail = Vec::new();
    }

    fn remap(&mut self, file: File) -> io::Result<()> {
        file.unlock()?;
        self.map = Some(map(&file)?);
        self.mapped_file = Some(file);
        Ok(())
    }

    fn give_up(&mut self, e: io::Error) {
        let path = self.side.take().map(|s| s.path.display().to_string()).unwrap_or_default();
        self.file_error = Some(format!("{path}: {e}; vectors are kept in memory"));
    }

    fn header_ok(&self, file: &File) -> io::Result<bool> {
        let Some(side) = &self.side else { return Ok(false) };
        let mut h = [0u8; HEADER];
        Ok(file.metadata()?.len() >= HEADER as u64
            && file.read_exact_at(&mut h, 0).is_ok()
            && h == side.header)
    }

    /// Whether `file` holds what this process mapped: the same file, or one whose records
    /// agree with the mapped ones.
    fn prefix_ok(&self, file: &File) -> io::Result<bool> {
        let Some(mine) = &self.mapped_file else { return Ok(true) };
        if mine.metadata()?.ino() == file.metadata()?.ino() {
            return Ok(true);
        }
        if self.count(file)? < self.mapped {
            return Ok(false);
        }
        let keys: Vec<(usize, Key)> =
            samples(self.mapped).map(|s| (s, self.mapped_key(s))).collect();
        for (s, k) in keys {
            if read_key(file, self.rec, s)? != k {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn mapped_key(&self, slot: usize) -> Key {
        let at = HEADER + slot * self.rec;
        let m = self.map.as_deref().unwrap_or(&[]);
        key_from(&m[at..at + KEY])
    }

    /// Whether the records from `first` carry `keys` (sampled).
    fn keys_match(&self, file: &File, first: usize, keys: &[Key]) -> io::Result<bool> {
        for s in samples(keys.len()) {
            if read_key(file, self.rec, first + s)? != keys[s] {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whole records in `file`.
    fn count(&self, file: &File) -> io::Result<usize> {
        let len = file.metadata()?.len() as usize;
        Ok(len.saturating_sub(HEADER) / self.rec)
    }
}

/// Appends the records of rows a load has written but not yet committed (see
/// `Store::write_parts`), so that when it commits every cache takes their vectors from the
/// file instead of reading a million rows back from the table. Made only when the file holds
/// exactly the committed records; the load holds the write lock, so nobody commits others
/// meanwhile. While records of uncommitted rows are in the file its header is marked
/// [`PENDING`]: no cache adopts from such a file, and the next flush replaces it. The mark is
/// taken off when the load commits ([`Appender::committed`]); when it rolls back the records
/// are cut first ([`Appender::undo`]); after a crash the mark stays, so records of rows that
/// never committed are never taken for the rows that later get their rowids.
#[derive(Debug)]
pub(crate) struct Appender {
    path: PathBuf,
    header: [u8; HEADER],
    dims: usize,
    rec: usize,
    /// Records in the file before the load.
    start: usize,
    /// Records in the file now, and the rowid of the last.
    count: usize,
    last_rowid: i64,
    /// Set once an append could not be made: the rest of the load goes to the table only.
    stopped: bool,
}

/// Marks a header whose file holds records of rows not (yet) committed.
const PENDING: &[u8; 8] = b"PENDING\x00";

impl Vectors {
    /// An [`Appender`] for rows after `last_rowid`, when every one of `slots` is in the file
    /// and the last record is that row's.
    pub(crate) fn appender(&self, slots: usize, last_rowid: i64) -> Option<Appender> {
        let side = self.side.as_ref()?;
        if !self.tail_keys.is_empty() || self.mapped != slots {
            return None;
        }
        if slots > 0 && self.mapped_key(slots - 1).0 != last_rowid {
            return None;
        }
        Some(Appender {
            path: side.path.clone(),
            header: side.header,
            dims: self.dims,
            rec: self.rec,
            start: slots,
            count: slots,
            last_rowid,
            stopped: false,
        })
    }
}

impl Appender {
    /// The header while the load's records are pending.
    fn pending(&self) -> [u8; HEADER] {
        let mut h = self.header;
        h[32..40].copy_from_slice(PENDING);
        h
    }

    /// The file, locked, when it is still as this appender left it (`None`: it is not).
    fn ours(&self) -> io::Result<Option<File>> {
        let Some(file) = open_locked(&self.path, false)? else { return Ok(None) };
        let mut h = [0u8; HEADER];
        file.read_exact_at(&mut h, 0)?;
        let expected = if self.count == self.start { self.header } else { self.pending() };
        let len = file.metadata()?.len() as usize;
        let same = h == expected
            && len.saturating_sub(HEADER) / self.rec == self.count
            && (self.count == 0 || read_key(&file, self.rec, self.count - 1)?.0 == self.last_rowid);
        Ok(same.then_some(file))
    }

    /// Whether appends are still taken (none is once one could not be made).
    pub(crate) fn open(&self) -> bool {
        !self.stopped
    }

    /// Appends `rows` — (rowid, packet id, unit vector), rowids following the last record's
    /// one by one. Anything unexpected (the file changed, a gap in rowids, an I/O error) stops
    /// the appender: the rows then reach caches through the table, as before.
    pub(crate) fn append(&mut self, rows: &[(i64, PacketId, Vec<f32>)]) {
        if self.stopped || rows.is_empty() {
            return;
        }
        if !matches!(self.try_append(rows), Ok(true)) {
            self.stopped = true;
        }
    }

    fn try_append(&mut self, rows: &[(i64, PacketId, Vec<f32>)]) -> io::Result<bool> {
        if rows[0].0 != self.last_rowid + 1
            || rows.windows(2).any(|w| w[1].0 != w[0].0 + 1)
            || rows.iter().any(|r| r.2.len() != self.dims)
        {
            return Ok(false);
        }
        let Some(file) = self.ours()? else { return Ok(false) };
        let at = HEADER + self.count * self.rec;
        if file.metadata()?.len() != at as u64 {
            file.set_len(at as u64)?; // a record torn by a crash
        }
        if self.count == self.start {
            file.write_all_at(&self.pending(), 0)?;
            file.sync_data()?; // the mark is on disk before any record it covers
        }
        write_records(&file, at, self.rec, rows.iter().map(|(r, id, v)| ((*r, *id), &v[..])))?;
        self.count += rows.len();
        self.last_rowid = rows[rows.len() - 1].0;
        file.unlock()?;
        Ok(true)
    }

    /// The load committed: its records are those of committed rows now.
    pub(crate) fn committed(&mut self) {
        self.end(true);
    }

    /// The load is about to roll back (it still holds the write lock, so no other row can
    /// have taken its rowids): its records go.
    pub(crate) fn undo(&mut self) {
        self.end(false);
    }

    /// Unmarks the file, first cutting the load's records unless `keep`. Left marked on
    /// failure: the next flush replaces the file.
    fn end(&mut self, keep: bool) {
        if self.count == self.start {
            return;
        }
        let end = || -> io::Result<()> {
            if let Some(file) = self.ours()? {
                if !keep {
                    file.set_len((HEADER + self.start * self.rec) as u64)?;
                }
                file.write_all_at(&self.header, 0)?;
                file.unlock()?;
            }
            Ok(())
        };
        let _ = end();
        if keep {
            self.start = self.count;
        } else {
            self.count = self.start;
        }
        self.stopped = true;
    }
}

impl Vecs for Vectors {
    fn vec(&self, node: u32) -> &[f32] {
        let slot = node as usize;
        if slot < self.mapped {
            bytemuck::cast_slice(self.vector_bytes(slot))
        } else {
            let i = (slot - self.mapped) * self.dims;
            &self.tail[i..i + self.dims]
        }
    }
}

/// Writes `records` (`[rowid][packet id][vector]`, `rec` bytes each) to `f` from byte `at`, a
/// few thousand at a time (never a second copy of a large batch in memory).
fn write_records<'a>(
    f: &File,
    at: usize,
    rec: usize,
    records: impl Iterator<Item = (Key, &'a [f32])>,
) -> io::Result<()> {
    const CHUNK: usize = 2048;
    let mut buf = Vec::with_capacity(records.size_hint().0.min(CHUNK) * rec);
    let mut at = at as u64;
    let mut records = records.peekable();
    while records.peek().is_some() {
        buf.clear();
        for ((rowid, id), v) in records.by_ref().take(CHUNK) {
            buf.extend_from_slice(&rowid.to_le_bytes());
            buf.extend_from_slice(id.0.as_bytes());
            for x in v {
                buf.extend_from_slice(&x.to_ne_bytes());
            }
        }
        f.write_all_at(&buf, at)?;
        at += buf.len() as u64;
    }
    Ok(())
}

/// Slots checked among `n`: every `SAMPLE`-th and the last.
fn samples(n: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by(SAMPLE).chain((n > 0 && !(n - 1).is_multiple_of(SAMPLE)).then(|| n - 1))
}

fn read_key(file: &File, rec: usize, slot: usize) -> io::Result<Key> {
    let mut b = [0u8; KEY];
    file.read_exact_at(&mut b, (HEADER + slot * rec) as u64)?;
    Ok(key_from(&b))
}

fn key_from(b: &[u8]) -> Key {
    let mut rowid = [0u8; 8];
    rowid.copy_from_slice(&b[..8]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&b[8..KEY]);
    (i64::from_le_bytes(rowid), PacketId(uuid::Uuid::from_bytes(id)))
}

/// Opens the file at `path` (creating it when `create`) and locks it exclusively, making sure
/// the lock is on the file the path names now (a replacement may rename another over it
/// while this process waits). `None`: there is no file and none was to be created.
fn open_locked(path: &Path, create: bool) -> io::Result<Option<File>> {
    loop {
        let f = match options().create(create).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
            Err(e) => return Err(e),
        };
        f.lock()?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == f.metadata()?.ino() => return Ok(Some(f)),
            // Replaced (renamed over, or removed) while this process waited: the new one.
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes new files a crashed process left half written (`<path>.<pid>.tmp`, unlocked).
fn sweep_stale(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) =
        std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
    else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = n.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp")) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(f) = File::open(e.path())
            && f.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Read and write, and the owner's alone when created (the vectors say what the store holds).
fn options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.read(true).write(true).mode(0o600);
    o
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapping is read-only and only the bytes of whole records that existed when
    // they were checked are ever read. L9 never changes or truncates those bytes: records are
    // appended, a torn record past them is cut, and a disagreeing file is replaced by rename
    // (the old inode, and this mapping of it, stay valid). Another program truncating the
    // file under a running l9 would fault the process, as with SQLite's own memory mapping.
    unsafe { Mmap::map(file) }
}
