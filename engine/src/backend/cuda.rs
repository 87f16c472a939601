//! The CUDA backend through `cudarc`: the driver API for memory and launches, kernels in CUDA C
//! (`kernels.cu`, compiled once per backend with NVRTC), cuBLAS `sgemm` for matrix products.
//!
//! Everything is loaded at run time (`dynamic-loading`), so this module builds without CUDA.
//! cudarc *panics* when it first touches a library that is absent, so [`probe_cuda`] checks that
//! libcuda, libnvrtc and libcublas can be loaded before any other call, and every constructor
//! goes through it. All work is queued on the context's default stream, in order; cudarc's
//! cross-stream event tracking stays idle because no second stream is ever created.
//!
//! cuBLAS is column-major: a row-major `[r, c]` matrix is, to cuBLAS, its `[c, r]` transpose,
//! so `C = op(A) @ op(B)` in row-major is computed as `C^T = op(B)^T @ op(A)^T` (see [`Gemm`]).
//!
//! Kernel declarations and launch grids are in `kernels.rs`, the cuBLAS mapping in `blas.rs`;
//! `tests.rs` checks both without a GPU, `tests/cuda.rs` every operation against the CPU on one.
// Kernel launches, cuBLAS calls and the library probes are `unsafe` in cudarc; each use checks
// buffer lengths first (shape errors, never out-of-bounds launches).
#![allow(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use cudarc::cublas::{CudaBlas, Gemm as _};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, LaunchConfig};

use super::{AdamWStep, Backend};
use crate::device::Device;
use crate::error::{Error, Result};

mod blas;
mod kernels;
#[cfg(test)]
mod tests;

use blas::{BlasCall, Gemm, attention_backward_gemms, attention_forward_gemms};
use kernels::{BLOCK, Kernels, col_chunks, compile_kernels, elementwise, nvrtc_arch, warp_rows};

/// Checks that a usable GPU `ordinal` and the CUDA libraries this backend needs are present,
/// without letting cudarc panic; returns a one-line description of the GPU.
///
/// # Errors
/// Why the GPU cannot be used, in words (no driver, no device, no NVRTC or cuBLAS, ...).
pub fn probe_cuda(ordinal: usize) -> std::result::Result<String, String> {
    // SAFETY: these only try to dlopen the library by its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("libcuda (the NVIDIA driver library) was not found: no NVIDIA driver is installed on this machine".into());
    }
    let count = CudaContext::device_count().map_err(|e| format!("the CUDA driver failed to initialise: {e}"))?;
    if count <= 0 {
        return Err("the NVIDIA driver reports no GPU".into());
    }
    if ordinal >= count as usize {
        return Err(format!("there is no GPU {ordinal}: the driver reports {count} (cuda:0 to cuda:{})", count - 1));
    }
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(
            "libnvrtc (CUDA's run-time compiler) was not found: install the CUDA toolkit or put its lib directory on LD_LIBRARY_PATH"
                .into(),
        );
    }
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err("libcublas was not found: install the CUDA toolkit or put its lib directory on LD_LIBRARY_PATH".into());
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| format!("creating a context on GPU {ordinal} failed: {e}"))?;
    let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
    let (major, minor) = ctx.compute_capability().unwrap_or((0, 0));
    Ok(format!("{name}, compute capability {major}.{minor}, {count} GPU(s) visible"))
}

/// Maps a cudarc error to [`Error::Cuda`].
fn cuda_err<E: fmt::Display>(op: &str) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Cuda { op: op.to_string(), reason: e.to_string() }
}

/// Checks `(have, need)` element counts of an operation's buffers.
fn check(op: &'static str, lens: &[(usize, usize)]) -> Result<()> {
    for (i, &(have, need)) in lens.iter().enumerate() {
        if have < need {
            return Err(Error::Shape { op, expected: format!("buffer {i} with at least {need} elements"), got: have.to_string() });
        }
    }
    Ok(())
}

/// CUDA cannot allocate zero bytes portably (some drivers refuse), so an empty buffer is a shape
/// error here rather than a driver error; callers pad (see the classifier's scorer).
fn not_empty(op: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Shape { op, expected: "at least one element (a GPU buffer cannot be empty)".into(), got: "0".into() });
    }
    Ok(())
}

fn int(x: usize, op: &'static str) -> Result<i32> {
    i32::try_from(x).map_err(|_| Error::Shape { op, expected: "a dimension below 2^31".into(), got: x.to_string() })
}

/// A CUDA GPU: one context, its default stream, a cuBLAS handle and the compiled kernels.
pub struct CudaBackend {
    ordinal: usize,
    description: String,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    k: Kernels,
}

impl fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaBackend").field("ordinal", &self.ordinal).field("description", &self.description).finish_non_exhaustive()
    }
}

impl CudaBackend {
    /// Opens GPU `ordinal`: probes the libraries, creates the context and cuBLAS handle, and
    /// compiles the kernels with NVRTC (a few hundred milliseconds, once).
    ///
    /// # Errors
    /// [`Error::Device`] when the GPU or a CUDA library is not usable (see [`probe_cuda`]);
    /// [`Error::Cuda`] when compiling or loading the kernels fails.
    pub fn new(ordinal: usize) -> Result<Self> {
        let description = probe_cuda(ordinal).map_err(|reason| Error::Device {
            request: format!("cuda:{ordinal}"),
            reason: format!("{reason}; use the device `cpu` or `auto` instead"),
        })?;
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("context"))?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(cuda_err("cublas init"))?;
        let ptx = compile_kernels(nvrtc_arch(ctx.compute_capability().map_err(cuda_err("compute capability"))?))?;
        let module = ctx.load_module(ptx).map_err(cuda_err("load module"))?;
        let k = Kernels::load(&module)?;
        Ok(Self { ordinal, description, stream, blas, k })
    }

    /// The GPU's name and compute capability, as probed.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Row-major (batched) matrix product on cuBLAS; see [`Gemm`].
    fn gemm(&self, out: &mut CudaSlice<f32>, a: &CudaSlice<f32>, b: &CudaSlice<f32>, g: Gemm) -> Result<()> {
        const OP: &str = "gemm";
        let (m, k, n, batch) = (g.m, g.k, g.n, g.batch);
        if batch == 0 {
            return Ok(());
        }
        let last = |stride: usize, size: usize| (batch - 1) * stride + size;
        check(OP, &[(a.len(), last(g.strides.0, m * k)), (b.len(), last(g.strides.1, k * n)), (out.len(), last(g.strides.2, m * n))])?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        let call = g.blas_call()?;
        // SAFETY: the lengths of a, b and out were checked against every batch's extent above,
        // and `blas_call`'s leading dimensions and strides are those extents (tested against a
        // reference BLAS in cuda/tests.rs).
        let res = unsafe {
            match call {
                BlasCall::Single(cfg) => self.blas.gemm(cfg, b, a, out),
                BlasCall::Batched(cfg) => self.blas.gemm_strided_batched(cfg, b, a, out),
            }
        };
        res.map_err(cuda_err(OP))
    }

    /// A fresh uninitialised scratch buffer (stream-ordered allocation, freed on drop).
    fn scratch(&self, n: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: every caller overwrites the scratch before reading it.
        unsafe { self.stream.alloc::<f32>(n.max(1)) }.map_err(cuda_err("alloc"))
    }
}

impl Backend for CudaBackend {
    type Buf = CudaSlice<f32>;
    type Ids = CudaSlice<u32>;

    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }
    fn zeros(&self, n: usize) -> Result<CudaSlice<f32>> {
        not_empty("zeros", n)?;
        self.stream.alloc_zeros::<f32>(n).map_err(cuda_err("alloc"))
    }
    fn upload(&self, data: &[f32]) -> Result<CudaSlice<f32>> {
        not_empty("upload", data.len())?;
        self.stream.clone_htod(data).map_err(cuda_err("upload"))
    }
    fn upload_ids(&self, ids: &[u32]) -> Result<CudaSlice<u32>> {
        not_empty("upload_ids", ids.len())?;
        self.stream.clone_htod(ids).map_err(cuda_err("upload"))
    }
    fn write_ids(&self, dst: &mut CudaSlice<u32>, ids: &[u32]) -> Result<()> {
        if dst.len() != ids.len() {
            return Err(Error::Shape { op: "write_ids", expected: format!("{} ids", dst.len()), got: ids.len().to_string() });
        }
        self.stream.memcpy_htod(ids, dst).map_err(cuda_err("upload"))
    }
    fn download(&self, buf: &CudaSlice<f32>) -> Result<Vec<f32>> {
        self.stream.clone_dtoh(buf).map_err(cuda_err("download"))
    }
    fn len(&self, buf: &CudaSlice<f32>) -> usize {
        buf.len()
    }
    fn fill_zero(&self, buf: &mut CudaSlice<f32>) -> Result<()> {
        self.stream.memset_zeros(buf).map_err(cuda_err("memset"))
    }
    fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(cuda_err("synchronize"))
    }

    fn matmul_bt(&self, out: &mut CudaSlice<f32>, a: &CudaSlice<f32>, b: &CudaSlice<f32>, m: usize, k: usize, n: usize) -> Result<()> {
        self.gemm(out, a, b, Gemm::matmul_bt(m, k, n))
    }
    fn matmul_acc(&self, out: &mut CudaSlice<f32>, a: &CudaSlice<f32>, b: &CudaSlice<f32>, m: usize, k: usize, n: usize) -> Result<()> {
        self.gemm(out, a, b, Gemm::matmul_acc(m, k, n))
    }
    fn matmul_at_acc(&self, out: &mut CudaSlice<f32>, a: &CudaSlice<f32>, b: &CudaSlice<f32>, m: usize, k: usize, n: usize) -> Result<()> {
        self.gemm(out, a, b, Gemm::matmul_at_acc(m, k, n))
    }
    fn bias_forward(&self, out: &mut CudaSlice<f32>, bias: &CudaSlice<f32>, m: usize, n: usize) -> Result<()> {
        check("bias_forward", &[(out.len(), m * n), (bias.len(), n)])?;
        self.k.bias_forward(&self.stream, elementwise(m * n), out, bias, &(m as i64), &(n as i64))
    }
    fn bias_backward(&self, dbias: &mut CudaSlice<f32>, dout: &CudaSlice<f32>, m: usize, n: usize) -> Result<()> {
        check("bias_backward", &[(dbias.len(), n), (dout.len(), m * n)])?;
        let (cfg, rows) = col_chunks(m, n);
        self.k.col_sum_acc(&self.stream, cfg, dbias, dout, &int(m, "bias_backward")?, &int(n, "bias_backward")?, &rows)
    }
    fn axpy(&self, y: &mut CudaSlice<f32>, alpha: f32, x: &CudaSlice<f32>, n: usize) -> Result<()> {
        check("axpy", &[(y.len(), n), (x.len(), n)])?;
        self.k.axpy(&self.stream, elementwise(n), y, &alpha, x, &(n as i64))
    }

    fn gelu_forward(&self, out: &mut CudaSlice<f32>, x: &CudaSlice<f32>, n: usize) -> Result<()> {
        check("gelu_forward", &[(out.len(), n), (x.len(), n)])?;
        self.k.gelu_forward(&self.stream, elementwise(n), out, x, &(n as i64))
    }
    fn gelu_backward(&self, dx: &mut CudaSlice<f32>, x: &CudaSlice<f32>, dout: &CudaSlice<f32>, n: usize) -> Result<()> {
        check("gelu_backward", &[(dx.len(), n), (x.len(), n), (dout.len(), n)])?;
        self.k.gelu_backward(&self.stream, elementwise(n), dx, x, dout, &(n as i64))
    }

    fn layernorm_forward(
        &self,
        out: &mut CudaSlice<f32>,
        mean: &mut CudaSlice<f32>,
        rstd: &mut CudaSlice<f32>,
        x: &CudaSlice<f32>,
        weight: &CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        m: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "layernorm_forward";
        check(OP, &[(out.len(), m * c), (mean.len(), m), (rstd.len(), m), (x.len(), m * c), (weight.len(), c), (bias.len(), c)])?;
        self.k.layernorm_forward(&self.stream, warp_rows(m), out, mean, rstd, x, weight, bias, &int(m, OP)?, &int(c, OP)?)
    }
    fn layernorm_backward(
        &self,
        dx: &mut CudaSlice<f32>,
        dweight: &mut CudaSlice<f32>,
        dbias: &mut CudaSlice<f32>,
        dout: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        weight: &CudaSlice<f32>,
        mean: &CudaSlice<f32>,
        rstd: &CudaSlice<f32>,
        m: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "layernorm_backward";
        check(OP, &[(dx.len(), m * c), (dweight.len(), c), (dbias.len(), c), (dout.len(), m * c), (x.len(), m * c), (weight.len(), c)])?;
        check(OP, &[(mean.len(), m), (rstd.len(), m)])?;
        let (mi, ci) = (int(m, OP)?, int(c, OP)?);
        self.k.layernorm_backward_dx(&self.stream, warp_rows(m), dx, dout, x, weight, mean, rstd, &mi, &ci)?;
        let (cfg, rows) = col_chunks(m, c);
        self.k.layernorm_backward_params(&self.stream, cfg, dweight, dbias, dout, x, mean, rstd, &mi, &ci, &rows)
    }

    fn split_qkv(
        &self,
        q: &mut CudaSlice<f32>,
        k: &mut CudaSlice<f32>,
        v: &mut CudaSlice<f32>,
        qkv: &CudaSlice<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        const OP: &str = "split_qkv";
        let n = b * t * c;
        check(OP, &[(q.len(), n), (k.len(), n), (v.len(), n), (qkv.len(), 3 * n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.k.split_qkv(&self.stream, elementwise(3 * n), q, k, v, qkv, &d[0], &d[1], &d[2], &d[3])
    }
    fn split_qkv_backward(
        &self,
        dqkv: &mut CudaSlice<f32>,
        dq: &CudaSlice<f32>,
        dk: &CudaSlice<f32>,
        dv: &CudaSlice<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        const OP: &str = "split_qkv_backward";
        let n = b * t * c;
        check(OP, &[(dq.len(), n), (dk.len(), n), (dv.len(), n), (dqkv.len(), 3 * n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.k.split_qkv_backward(&self.stream, elementwise(3 * n), dqkv, dq, dk, dv, &d[0], &d[1], &d[2], &d[3])
    }
    fn merge_heads(&self, out: &mut CudaSlice<f32>, y: &CudaSlice<f32>, b: usize, t: usize, c: usize, nh: usize) -> Result<()> {
        const OP: &str = "merge_heads";
        let n = b * t * c;
        check(OP, &[(out.len(), n), (y.len(), n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.k.merge_heads(&self.stream, elementwise(n), out, y, &d[0], &d[1], &d[2], &d[3])
    }
    fn merge_heads_backward(&self, dy: &mut CudaSlice<f32>, dout: &CudaSlice<f32>, b: usize, t: usize, c: usize, nh: usize) -> Result<()> {
        const OP: &str = "merge_heads_backward";
        let n = b * t * c;
        check(OP, &[(dy.len(), n), (dout.len(), n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.k.merge_heads_backward(&self.stream, elementwise(n), dy, dout, &d[0], &d[1], &d[2], &d[3])
    }
    fn attention_forward(
        &self,
        y: &mut CudaSlice<f32>,
        att: &mut CudaSlice<f32>,
        q: &CudaSlice<f32>,
        k: &CudaSlice<f32>,
        v: &CudaSlice<f32>,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()> {
        let (n, tt) = (t * hs, t * t);
        check("attention_forward", &[(y.len(), bh * n), (att.len(), bh * tt), (q.len(), bh * n), (k.len(), bh * n), (v.len(), bh * n)])?;
        let [scores, mix] = attention_forward_gemms(bh, t, hs);
        self.gemm(att, q, k, scores)?;
        self.k.causal_softmax(&self.stream, warp_rows(bh * t), &mut *att, &((bh * t) as i64), &int(t, "attention_forward")?)?;
        self.gemm(y, att, v, mix)
    }
    fn attention_backward(
        &self,
        dq: &mut CudaSlice<f32>,
        dk: &mut CudaSlice<f32>,
        dv: &mut CudaSlice<f32>,
        dy: &CudaSlice<f32>,
        att: &CudaSlice<f32>,
        q: &CudaSlice<f32>,
        k: &CudaSlice<f32>,
        v: &CudaSlice<f32>,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()> {
        let (n, tt) = (t * hs, t * t);
        check(
            "attention_backward",
            &[(dq.len(), bh * n), (dk.len(), bh * n), (dv.len(), bh * n), (dy.len(), bh * n), (att.len(), bh * tt)],
        )?;
        check("attention_backward", &[(q.len(), bh * n), (k.len(), bh * n), (v.len(), bh * n)])?;
        let scale = 1.0 / (hs as f32).sqrt();
        let mut datt = self.scratch(bh * tt)?;
        let [d_att, d_v, d_q, d_k] = attention_backward_gemms(bh, t, hs);
        self.gemm(&mut datt, dy, v, d_att)?;
        self.gemm(dv, att, dy, d_v)?;
        self.k.causal_softmax_backward(
            &self.stream,
            warp_rows(bh * t),
            &mut datt,
            att,
            &((bh * t) as i64),
            &int(t, "attention_backward")?,
            &scale,
        )?;
        self.gemm(dq, &datt, k, d_q)?;
        self.gemm(dk, &datt, q, d_k)
    }

    fn softmax(&self, probs: &mut CudaSlice<f32>, logits: &CudaSlice<f32>, m: usize, v: usize) -> Result<()> {
        check("softmax", &[(probs.len(), m * v), (logits.len(), m * v)])?;
        if m == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig { grid_dim: (int(m, "softmax")? as u32, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 };
        self.k.softmax_forward(&self.stream, cfg, probs, logits, &int(v, "softmax")?)
    }
    fn cross_entropy_forward(
        &self,
        probs: &mut CudaSlice<f32>,
        losses: &mut CudaSlice<f32>,
        logits: &CudaSlice<f32>,
        targets: &CudaSlice<u32>,
        m: usize,
        v: usize,
    ) -> Result<()> {
        const OP: &str = "cross_entropy_forward";
        check(OP, &[(probs.len(), m * v), (losses.len(), m), (logits.len(), m * v), (targets.len(), m)])?;
        if m == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig { grid_dim: (int(m, OP)? as u32, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 };
        self.k.softmax_xent_forward(&self.stream, cfg, probs, losses, logits, targets, &int(v, OP)?)
    }
    fn cross_entropy_backward(
        &self,
        dlogits: &mut CudaSlice<f32>,
        probs: &CudaSlice<f32>,
        targets: &CudaSlice<u32>,
        dloss: f32,
        m: usize,
        v: usize,
    ) -> Result<()> {
        const OP: &str = "cross_entropy_backward";
        check(OP, &[(dlogits.len(), m * v), (probs.len(), m * v), (targets.len(), m)])?;
        self.k.cross_entropy_backward(&self.stream, elementwise(m * v), dlogits, probs, targets, &dloss, &(m as i64), &int(v, OP)?)
    }

    fn embedding_forward(&self, out: &mut CudaSlice<f32>, ids: &CudaSlice<u32>, table: &CudaSlice<f32>, n: usize, c: usize) -> Result<()> {
        check("embedding_forward", &[(out.len(), n * c), (ids.len(), n)])?;
        self.k.embedding_forward(&self.stream, elementwise(n * c), out, ids, table, &(n as i64), &int(c, "embedding_forward")?)
    }
    fn embedding_backward(
        &self,
        dtable: &mut CudaSlice<f32>,
        dout: &CudaSlice<f32>,
        ids: &CudaSlice<u32>,
        n: usize,
        c: usize,
    ) -> Result<()> {
        check("embedding_backward", &[(dout.len(), n * c), (ids.len(), n)])?;
        self.k.embedding_backward(&self.stream, elementwise(n * c), dtable, dout, ids, &(n as i64), &int(c, "embedding_backward")?)
    }
    fn embedding_bag_mean_forward(
        &self,
        out: &mut CudaSlice<f32>,
        ids: &CudaSlice<u32>,
        offsets: &CudaSlice<u32>,
        table: &CudaSlice<f32>,
        bags: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "embedding_bag_mean_forward";
        check(OP, &[(out.len(), bags * c), (offsets.len(), bags + 1)])?;
        self.k.embedding_bag_mean_forward(&self.stream, warp_rows(bags), out, ids, offsets, table, &int(bags, OP)?, &int(c, OP)?)
    }
    fn embedding_bag_mean_backward(
        &self,
        dtable: &mut CudaSlice<f32>,
        dout: &CudaSlice<f32>,
        ids: &CudaSlice<u32>,
        offsets: &CudaSlice<u32>,
        bags: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "embedding_bag_mean_backward";
        check(OP, &[(dout.len(), bags * c), (offsets.len(), bags + 1)])?;
        self.k.embedding_bag_mean_backward(&self.stream, warp_rows(bags), dtable, dout, ids, offsets, &int(bags, OP)?, &int(c, OP)?)
    }

    fn sum_squares_acc(&self, acc: &mut CudaSlice<f32>, x: &CudaSlice<f32>) -> Result<()> {
        check("sum_squares_acc", &[(acc.len(), 1)])?;
        let n = x.len();
        // Few blocks, each reducing many elements, so the atomics on `acc` stay rare.
        let blocks = n.div_ceil(BLOCK as usize * 16).clamp(1, 1024) as u32;
        let cfg = LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 };
        self.k.sum_squares_acc(&self.stream, cfg, acc, x, &(n as i64))
    }
    fn adamw_step(
        &self,
        params: &mut CudaSlice<f32>,
        grads: &CudaSlice<f32>,
        m: &mut CudaSlice<f32>,
        v: &mut CudaSlice<f32>,
        step: &AdamWStep,
    ) -> Result<()> {
        let n = params.len();
        check("adamw_step", &[(grads.len(), n), (m.len(), n), (v.len(), n)])?;
        let c = step.config;
        let (bc1, bc2) = (1.0 - c.beta1.powi(step.t as i32), 1.0 - c.beta2.powi(step.t as i32));
        let s = [c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, bc1, bc2, step.grad_scale];
        self.k.adamw(&self.stream, elementwise(n), params, grads, m, v, &(n as i64), &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7])
    }
}
