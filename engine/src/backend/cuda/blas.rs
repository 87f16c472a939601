//! The cuBLAS calls of the backend: row-major products mapped onto column-major `sgemm`.

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{GemmConfig, StridedBatchedConfig};

use super::int;
use crate::error::Result;

/// A row-major matrix product for cuBLAS: `out[m, n] = alpha * op(a)[m, k] @ op(b)[k, n] +
/// beta * out`, where `op(a)` is `a` stored `[m, k]`, or `a^T` with `a` stored `[k, m]` when
/// `ta`; likewise `b` (`[k, n]`, or `[n, k]` when `tb`). `batch` repeats it with element strides
/// `(a, b, out)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gemm {
    pub(super) ta: bool,
    pub(super) tb: bool,
    pub(super) m: usize,
    pub(super) k: usize,
    pub(super) n: usize,
    pub(super) alpha: f32,
    pub(super) beta: f32,
    pub(super) batch: usize,
    pub(super) strides: (usize, usize, usize),
}

impl Gemm {
    pub(super) fn plain(ta: bool, tb: bool, m: usize, k: usize, n: usize, beta: f32) -> Self {
        Self { ta, tb, m, k, n, alpha: 1.0, beta, batch: 1, strides: (0, 0, 0) }
    }

    /// [`Backend::matmul_bt`]: `out[m, n] = a[m, k] @ b[n, k]^T`.
    pub(super) fn matmul_bt(m: usize, k: usize, n: usize) -> Self {
        Self::plain(false, true, m, k, n, 0.0)
    }

    /// [`Backend::matmul_acc`]: `out[m, n] += a[m, k] @ b[k, n]`.
    pub(super) fn matmul_acc(m: usize, k: usize, n: usize) -> Self {
        Self::plain(false, false, m, k, n, 1.0)
    }

    /// [`Backend::matmul_at_acc`]: `out[k, n] += a[m, k]^T @ b[m, n]`.
    pub(super) fn matmul_at_acc(m: usize, k: usize, n: usize) -> Self {
        Self::plain(true, false, k, m, n, 1.0)
    }

    /// The cuBLAS call for this product, whose matrix A is our `b` and B our `a`. cuBLAS is
    /// column-major, where a row-major `[r, c]` matrix reads as its `[c, r]` transpose, so
    /// `out[m, n] = op(a) @ op(b)` is computed as `out^T[n, m] = op(b)^T[n, k] @ op(a)^T[k, m]`.
    pub(super) fn blas_call(&self) -> Result<BlasCall> {
        const OP: &str = "gemm";
        let op = |t: bool| {
            if t { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N }
        };
        // Leading dimensions are at least 1 even for empty matrices, as BLAS requires.
        let ld = |x: usize| int(x.max(1), OP);
        let cfg = GemmConfig {
            transa: op(self.tb),
            transb: op(self.ta),
            m: int(self.n, OP)?,
            n: int(self.m, OP)?,
            k: int(self.k, OP)?,
            alpha: self.alpha,
            lda: ld(if self.tb { self.k } else { self.n })?,
            ldb: ld(if self.ta { self.m } else { self.k })?,
            beta: self.beta,
            ldc: ld(self.n)?,
        };
        if self.batch == 1 {
            return Ok(BlasCall::Single(cfg));
        }
        Ok(BlasCall::Batched(StridedBatchedConfig {
            gemm: cfg,
            batch_size: int(self.batch, OP)?,
            stride_a: self.strides.1 as i64,
            stride_b: self.strides.0 as i64,
            stride_c: self.strides.2 as i64,
        }))
    }
}

/// The products of causal attention over `bh` heads of `[t, hs]`: `att = q @ k^T / sqrt(hs)`
/// (the causal softmax then runs in place on `att`) and `y = att @ v`.
pub(super) fn attention_forward_gemms(bh: usize, t: usize, hs: usize) -> [Gemm; 2] {
    let (n, tt) = (t * hs, t * t);
    let scale = 1.0 / (hs as f32).sqrt();
    [
        Gemm {
            alpha: scale,
            batch: bh,
            strides: (n, n, tt),
            ..Gemm::plain(false, true, t, hs, t, 0.0)
        },
        Gemm { batch: bh, strides: (tt, n, n), ..Gemm::plain(false, false, t, t, hs, 0.0) },
    ]
}

/// The products of attention's backward pass, in order: `datt = dy @ v^T`, `dv += att^T @ dy`,
/// then (after the softmax gradient turns `datt` into `dpre` in place) `dq += dpre @ k` and
/// `dk += dpre^T @ q`.
pub(super) fn attention_backward_gemms(bh: usize, t: usize, hs: usize) -> [Gemm; 4] {
    let (n, tt) = (t * hs, t * t);
    let batched = |ta, tb, m, k, n, beta, strides| Gemm {
        batch: bh,
        strides,
        ..Gemm::plain(ta, tb, m, k, n, beta)
    };
    [
        batched(false, true, t, hs, t, 0.0, (n, n, tt)),
        batched(true, false, t, t, hs, 1.0, (tt, n, n)),
        batched(false, false, t, t, hs, 1.0, (tt, n, n)),
        batched(true, false, t, t, hs, 1.0, (tt, n, n)),
    ]
}

/// One cuBLAS `sgemm` or strided-batched `sgemm` (see [`Gemm::blas_call`]).
#[derive(Debug, Clone, Copy)]
pub enum BlasCall {
    Single(GemmConfig<f32>),
    Batched(StridedBatchedConfig<f32>),
}

/// `sgemm` as BLAS defines it, column-major: `C = alpha * op(A) @ op(B) + beta * C` with `op(A)`
/// `[m, k]`, `op(B)` `[k, n]`, `C` `[m, n]`; `C` is not read when `beta` is 0. Refuses, as
/// cuBLAS does, leading dimensions below the rows stored, and any access beyond a slice.
///
/// # Errors
/// Which rule the call breaks.
#[cfg_attr(not(all(feature = "emulator", target_os = "linux")), allow(dead_code))] // the emulator's cuBLAS, and the tests'
pub(super) fn reference_sgemm(
    cfg: &GemmConfig<f32>,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) -> std::result::Result<(), String> {
    let dims = [cfg.m, cfg.n, cfg.k, cfg.lda, cfg.ldb, cfg.ldc];
    if dims.iter().any(|&d| d < 0) {
        return Err(format!("negative dimension in {dims:?}"));
    }
    let [m, n, k, lda, ldb, ldc] = dims.map(|d| d as usize);
    let ta = cfg.transa == cublasOperation_t::CUBLAS_OP_T;
    let tb = cfg.transb == cublasOperation_t::CUBLAS_OP_T;
    let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
    let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
    if lda < a_rows.max(1) || ldb < b_rows.max(1) || ldc < m.max(1) {
        return Err(format!(
            "leading dimensions (lda {lda}, ldb {ldb}, ldc {ldc}) below the rows stored ({a_rows}, {b_rows}, {m})"
        ));
    }
    // Elements a column-major [rows, cols] matrix with leading dimension ld spans.
    let extent = |rows: usize, cols: usize, ld: usize| {
        if rows == 0 || cols == 0 { 0 } else { (cols - 1) * ld + rows }
    };
    for (name, need, have) in
        [("A", extent(a_rows, a_cols, lda), a.len()), ("B", extent(b_rows, b_cols, ldb), b.len())]
    {
        if need > have {
            return Err(format!("{name} spans {need} elements but has {have}"));
        }
    }
    if extent(m, n, ldc) > c.len() {
        return Err(format!("C spans {} elements but has {}", extent(m, n, ldc), c.len()));
    }
    for j in 0..n {
        for i in 0..m {
            let mut dot = 0.0f32;
            for l in 0..k {
                let x = if ta { a[l + i * lda] } else { a[i + l * lda] };
                let y = if tb { b[j + l * ldb] } else { b[l + j * ldb] };
                dot += x * y;
            }
            let out = &mut c[i + j * ldc];
            *out =
                if cfg.beta == 0.0 { cfg.alpha * dot } else { cfg.alpha * dot + cfg.beta * *out };
        }
    }
    Ok(())
}
