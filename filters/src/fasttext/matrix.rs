//! Dense and product-quantized matrices of a fastText model (read-only).

use super::reader::Reader;
use crate::error::Result;

/// fastText's product quantizer: `nsubq` sub-vectors, each coded by one byte into 256
/// centroids of `dsub` floats (the last sub-vector has `lastdsub`).
#[derive(Debug)]
pub(crate) struct ProductQuantizer {
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

const KSUB: usize = 256;

impl ProductQuantizer {
    fn load(r: &mut Reader<'_>) -> Result<Self> {
        let dim = r.count32("PQ dim")?;
        let nsubq = r.count32("PQ nsubq")?;
        let dsub = r.count32("PQ dsub")?;
        let lastdsub = r.count32("PQ lastdsub")?;
        if nsubq == 0 || (nsubq - 1) * dsub + lastdsub != dim {
            return Err(r.err(format!(
                "inconsistent PQ shape: dim {dim}, nsubq {nsubq}, dsub {dsub}, lastdsub {lastdsub}"
            )));
        }
        let centroids = r.f32s(dim * KSUB, 0)?;
        Ok(Self { nsubq, dsub, lastdsub, centroids })
    }

    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let i = code as usize;
        if m == self.nsubq - 1 {
            let s = m * KSUB * self.dsub + i * self.lastdsub;
            &self.centroids[s..s + self.lastdsub]
        } else {
            let s = (m * KSUB + i) * self.dsub;
            &self.centroids[s..s + self.dsub]
        }
    }
}

/// Zeros after a dense matrix's last row, so that any row can be read as whole groups of 4
/// floats (the lanes of the exact sum; the floats past the row land in lanes that are dropped).
pub(crate) const DENSE_TAIL: usize = 3;

/// A model matrix.
#[derive(Debug)]
pub(crate) enum Matrix {
    /// `m × n` floats, row-major, then [`DENSE_TAIL`] zeros.
    Dense { m: usize, n: usize, data: Vec<f32> },
    Quant {
        m: usize,
        n: usize,
        codes: Vec<u8>,
        pq: ProductQuantizer,
        norms: Option<(Vec<u8>, ProductQuantizer)>,
    },
}

impl Matrix {
    pub(crate) fn load(r: &mut Reader<'_>, quant: bool) -> Result<Self> {
        if !quant {
            let m = r.count64("rows")?;
            let n = r.count64("cols")?;
            let data =
                r.f32s(m.checked_mul(n).ok_or_else(|| r.err("matrix too large"))?, DENSE_TAIL)?;
            return Ok(Matrix::Dense { m, n, data });
        }
        let qnorm = r.u8()? != 0;
        let m = r.count64("rows")?;
        let n = r.count64("cols")?;
        let codesize = r.count32("code size")?;
        let codes = r.bytes(codesize)?.to_vec();
        let pq = ProductQuantizer::load(r)?;
        if codes.len() < m * pq.nsubq {
            return Err(r.err("fewer PQ codes than rows × sub-quantizers"));
        }
        let norms = if qnorm {
            let nc = r.bytes(m)?.to_vec();
            Some((nc, ProductQuantizer::load(r)?))
        } else {
            None
        };
        Ok(Matrix::Quant { m, n, codes, pq, norms })
    }

    /// The same matrix with every row decoded (`alpha × centroid`, the products
    /// [`Matrix::add_row`] adds, so sums are unchanged to the bit) when the floats take at most
    /// `max_bytes`; otherwise `self` as it is. Dense rows are read by id, four lanes at a
    /// time, and summed ahead per word; decoding a row costs a lookup per sub-vector.
    pub(crate) fn decoded(self, max_bytes: usize) -> Self {
        let Matrix::Quant { m, n, .. } = self else { return self };
        let Some(bytes) = m.checked_mul(n).and_then(|f| f.checked_mul(size_of::<f32>())) else {
            return self;
        };
        if bytes > max_bytes {
            return self;
        }
        let mut data = vec![0f32; m * n + DENSE_TAIL];
        for (i, row) in data.chunks_exact_mut(n.max(1)).take(m).enumerate() {
            self.row_into(row, i);
        }
        Matrix::Dense { m, n, data }
    }

    /// A dense matrix's floats, tail included ([`DENSE_TAIL`]); `None` when quantized.
    pub(crate) fn dense_data(&self) -> Option<&[f32]> {
        match self {
            Matrix::Dense { data, .. } => Some(data),
            Matrix::Quant { .. } => None,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        match self {
            Matrix::Dense { m, .. } | Matrix::Quant { m, .. } => *m,
        }
    }

    pub(crate) fn cols(&self) -> usize {
        match self {
            Matrix::Dense { n, .. } | Matrix::Quant { n, .. } => *n,
        }
    }

    /// `x += row(i)`; rows past the end (a corrupt id) are ignored.
    pub(crate) fn add_row(&self, x: &mut [f32], i: usize) {
        match self {
            Matrix::Dense { m, n, data } => {
                if i < *m {
                    x.iter_mut().zip(&data[i * n..(i + 1) * n]).for_each(|(a, b)| *a += b);
                }
            }
            Matrix::Quant { m, codes, pq, norms, .. } => {
                if i >= *m {
                    return;
                }
                let alpha = norms.as_ref().map_or(1.0, |(nc, npq)| npq.centroid(0, nc[i])[0]);
                let code = &codes[i * pq.nsubq..(i + 1) * pq.nsubq];
                if pq.dsub == 2 && pq.lastdsub == 2 && x.len() == 2 * pq.nsubq {
                    // The usual shape (lid.176: 8 sub-vectors of 2): one pair per code byte.
                    for ((pair, &c), block) in
                        x.chunks_exact_mut(2).zip(code).zip(pq.centroids.chunks_exact(2 * KSUB))
                    {
                        let cent = &block[2 * c as usize..2 * c as usize + 2];
                        pair[0] += alpha * cent[0];
                        pair[1] += alpha * cent[1];
                    }
                    return;
                }
                for (s, &c) in code.iter().enumerate() {
                    let cent = pq.centroid(s, c);
                    let off = s * pq.dsub;
                    x[off..off + cent.len()]
                        .iter_mut()
                        .zip(cent)
                        .for_each(|(a, b)| *a += alpha * b);
                }
            }
        }
    }

    /// Writes row `i` into `out[..cols]` as [`Matrix::add_row`] would add it (a quantized row
    /// as `alpha × centroid`, the same products); rows past the end leave `out` as it is.
    pub(crate) fn row_into(&self, out: &mut [f32], i: usize) {
        match self {
            Matrix::Dense { m, n, data } => {
                if i < *m {
                    out[..*n].copy_from_slice(&data[i * n..(i + 1) * n]);
                }
            }
            Matrix::Quant { m, codes, pq, norms, .. } => {
                if i >= *m {
                    return;
                }
                let alpha = norms.as_ref().map_or(1.0, |(nc, npq)| npq.centroid(0, nc[i])[0]);
                let code = &codes[i * pq.nsubq..(i + 1) * pq.nsubq];
                for (s, &c) in code.iter().enumerate() {
                    let cent = pq.centroid(s, c);
                    let off = s * pq.dsub;
                    out[off..off + cent.len()]
                        .iter_mut()
                        .zip(cent)
                        .for_each(|(a, b)| *a = alpha * b);
                }
            }
        }
    }

    /// `row(i) · x`.
    pub(crate) fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match self {
            Matrix::Dense { m, n, data } => {
                if i >= *m {
                    return 0.0;
                }
                data[i * n..(i + 1) * n].iter().zip(x).map(|(a, b)| a * b).sum()
            }
            Matrix::Quant { m, codes, pq, norms, .. } => {
                if i >= *m {
                    return 0.0;
                }
                let alpha = norms.as_ref().map_or(1.0, |(nc, npq)| npq.centroid(0, nc[i])[0]);
                let code = &codes[i * pq.nsubq..(i + 1) * pq.nsubq];
                // One running sum over every sub-vector, in fastText's order (`mulcode`).
                let mut res = 0f32;
                for (s, &c) in code.iter().enumerate() {
                    let off = s * pq.dsub;
                    for (a, b) in pq.centroid(s, c).iter().zip(&x[off..]) {
                        res += b * a;
                    }
                }
                res * alpha
            }
        }
    }
}
