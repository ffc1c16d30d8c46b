//! Vectors embedded ahead of a write, held in an unnamed temporary file (removed when closed).
//!
//! A store that serialises its writers (SQLite) holds its write lock for the whole of a load
//! written in parts (one transaction). Embedding each part inside that transaction held the
//! lock for as long as a model took to embed the load (minutes for a large import with a local
//! or remote model): every other writer waited. Embedded ahead, the texts' vectors go to a
//! [`Spill`] first — the process still holds one part's vectors at a time — and the write reads
//! them back, holding the lock only for the write.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

/// Vectors of `dims` numbers, written in order and then read back in the same order.
#[derive(Debug)]
pub struct Spill {
    dims: usize,
    writer: Option<BufWriter<File>>,
    reader: Option<BufReader<File>>,
    written: usize,
    read: usize,
}

impl Spill {
    /// An empty spill in the system's temporary directory.
    pub fn new(dims: usize) -> std::io::Result<Spill> {
        Ok(Spill {
            dims,
            writer: Some(BufWriter::new(tempfile::tempfile()?)),
            reader: None,
            written: 0,
            read: 0,
        })
    }

    /// How many vectors were written.
    pub fn len(&self) -> usize {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Appends one vector (a zero vector too: it stands for a text with none).
    pub fn push(&mut self, v: &[f32]) -> std::io::Result<()> {
        let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        if v.len() != self.dims {
            return Err(bad(format!("a vector of {} numbers, not {}", v.len(), self.dims)));
        }
        let w = self.writer.as_mut().ok_or_else(|| bad("the spill is being read".into()))?;
        for x in v {
            w.write_all(&x.to_le_bytes())?;
        }
        self.written += 1;
        Ok(())
    }

    /// The next `n` vectors (fewer at the end), in the order they were pushed; the first call
    /// ends the writing.
    pub fn take(&mut self, n: usize) -> std::io::Result<Vec<Vec<f32>>> {
        if let Some(w) = self.writer.take() {
            let mut f = w.into_inner().map_err(|e| e.into_error())?;
            f.rewind()?;
            self.reader = Some(BufReader::new(f));
        }
        let Some(r) = self.reader.as_mut() else { return Ok(Vec::new()) };
        let n = n.min(self.written - self.read);
        let mut out = Vec::with_capacity(n);
        let mut buf = vec![0u8; self.dims * 4];
        for _ in 0..n {
            r.read_exact(&mut buf)?;
            out.push(
                buf.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            );
        }
        self.read += n;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_in_order_and_exactly() {
        let mut s = Spill::new(3).unwrap();
        let vs: Vec<Vec<f32>> =
            (0..1000).map(|i| vec![i as f32, -0.0, f32::MIN_POSITIVE * i as f32]).collect();
        for v in &vs {
            s.push(v).unwrap();
        }
        assert!(s.push(&[1.0]).is_err(), "a vector of the wrong size is refused");
        assert_eq!(s.len(), 1000);
        let mut back = Vec::new();
        loop {
            let part = s.take(333).unwrap();
            if part.is_empty() {
                break;
            }
            back.extend(part);
        }
        assert_eq!(back.len(), 1000);
        for (a, b) in back.iter().zip(&vs) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{a:?} {b:?}");
        }
        assert!(s.push(&[1.0, 2.0, 3.0]).is_err(), "no writing once read");
    }
}
