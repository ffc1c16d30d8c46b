//! The model file: `L9CLS1\n`, a JSON header (what the model is and what data made it), then
//! little-endian binary sections: the sorted hashes of the training texts, and each head as
//! its bias, its quantisation step and rows of (feature index, k signed bytes).

use super::{CATEGORIES, Head, Learned, ModelInfo};

const MAGIC: &[u8] = b"L9CLS1\n";

pub(super) fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

/// A count, then each text hash as a little-endian u64 (what [`Reader::hashes`] reads).
pub(super) fn put_hashes(out: &mut Vec<u8>, hashes: &[u64]) {
    put_u32(out, hashes.len() as u32);
    for h in hashes {
        out.extend_from_slice(&h.to_le_bytes());
    }
}

pub(super) fn put_head(out: &mut Vec<u8>, h: &Head) {
    put_u32(out, h.k as u32);
    for b in &h.bias {
        out.extend_from_slice(&b.to_le_bytes());
    }
    let step = h.step;
    out.extend_from_slice(&step.to_le_bytes());
    let mut rows: Vec<(u32, u32)> = h.rows.iter().map(|(i, off)| (*i, *off)).collect();
    rows.sort_unstable();
    put_u32(out, rows.len() as u32);
    for (i, off) in rows {
        put_u32(out, i);
        for x in &h.w[off as usize..off as usize + h.k] {
            out.push(((x / step).round().clamp(-127.0, 127.0) as i8) as u8);
        }
    }
}

/// The bytes of a model file.
pub fn to_bytes(m: &Learned) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let header = serde_json::to_vec(&m.info).unwrap_or_default();
    put_u32(&mut out, header.len() as u32);
    out.extend_from_slice(&header);
    put_hashes(&mut out, &m.seen);
    put_head(&mut out, &m.quality);
    put_head(&mut out, &m.category);
    out
}

pub(super) struct Reader<'b> {
    pub(super) b: &'b [u8],
    pub(super) at: usize,
}

impl<'b> Reader<'b> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'b [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len()).ok_or_else(|| {
            format!("the model file ends early (at byte {}, {} more expected)", self.at, n)
        })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(super) fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub(super) fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_bits(self.u32()?))
    }

    /// A count, then that many little-endian u64 text hashes.
    pub(super) fn hashes(&mut self) -> Result<Vec<u64>, String> {
        let n = self.u32()? as usize;
        let mut out = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let s = self.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            out.push(u64::from_le_bytes(a));
        }
        Ok(out)
    }

    pub(super) fn head(&mut self, want_k: usize, dims: usize) -> Result<Head, String> {
        let k = self.u32()? as usize;
        if k != want_k {
            return Err(format!("a head has {k} outputs, expected {want_k}"));
        }
        let bias = (0..k).map(|_| self.f32()).collect::<Result<Vec<_>, _>>()?;
        let step = self.f32()?;
        if !step.is_finite() || step <= 0.0 || bias.iter().any(|b| !b.is_finite()) {
            return Err("a head holds a number that is not finite".into());
        }
        let n = self.u32()? as usize;
        let mut rows = super::Rows::with_capacity_and_hasher(n.min(1 << 20), Default::default());
        let mut w = Vec::with_capacity(n.min(1 << 20) * k);
        for _ in 0..n {
            let i = self.u32()?;
            if i as usize >= dims {
                return Err(format!("feature index {i} is outside the model's {dims} features"));
            }
            let row = self.take(k)?;
            rows.insert(i, w.len() as u32);
            w.extend(row.iter().map(|q| f32::from(*q as i8) * step));
        }
        Ok(Head { k, bias, step, rows, w })
    }
}

/// Reads a model file, or says what is wrong with it.
pub fn from_bytes(b: &[u8]) -> Result<Learned, String> {
    if !b.starts_with(MAGIC) {
        return Err("not an L9 classifier model (it must start with L9CLS1)".into());
    }
    let mut r = Reader { b, at: MAGIC.len() };
    let len = r.u32()? as usize;
    let info: ModelInfo = serde_json::from_slice(r.take(len)?)
        .map_err(|e| format!("the model's header is not valid: {e}"))?;
    if info.features.bits > 24 || info.features.dense > 4096 {
        return Err("the model's feature sizes are out of range (bits ≤ 24, dense ≤ 4096)".into());
    }
    let seen = r.hashes()?;
    let dims = info.features.dims();
    let quality = r.head(1, dims)?;
    let category = r.head(CATEGORIES, dims)?;
    if r.at != b.len() {
        return Err(format!("{} unexpected bytes after the model", b.len() - r.at));
    }
    let prior = info.knobs.map(|k| Box::new(crate::classify::Classifier::with_knobs(k)));
    Ok(Learned { info, prior, quality, category, seen })
}
