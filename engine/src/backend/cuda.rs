//! The CUDA backend through `cudarc`: the driver API for memory and launches, kernels in CUDA C
//! (`kernels.cu`, compiled once per backend with NVRTC), cuBLAS `sgemm` for matrix products, and
//! `GemmEx` with fp16 / bf16 inputs and `f32` accumulation for the half-precision ones
//! (`half_ops.rs`).
//!
//! Everything is loaded at run time (`dynamic-loading`), so this module builds without CUDA.
//! cudarc *panics* when it first touches a library that is absent, so [`probe_cuda`] checks that
//! libcuda, libnvrtc and libcublas can be loaded before any other call (`probe.rs`), and every
//! constructor goes through it. All work is queued on the context's default stream, in order; cudarc's
//! cross-stream event tracking stays idle because no second stream is ever created.
//!
//! cuBLAS is column-major: a row-major `[r, c]` matrix is, to cuBLAS, its `[c, r]` transpose,
//! so `C = op(A) @ op(B)` in row-major is computed as `C^T = op(B)^T @ op(A)^T` (see [`Gemm`]).
//!
//! The backend ([`KernelBackend`]) is written once over a [`Driver`]: the GPU through cudarc
//! (`driver.rs`), or the CPU emulation of the same kernels (`emulator.rs`). Kernel declarations
//! and launch grids are in `kernels.rs`, the cuBLAS mapping in `blas.rs`; `tests.rs` checks both
//! against `kernels.cu`, NVRTC's PTX and a reference BLAS, and `tests/cuda.rs` every operation
//! against the CPU backend, on the GPU where there is one and on the emulator everywhere.
// Kernel launches and cuBLAS calls are `unsafe` in cudarc; each use checks buffer lengths first (shape errors, never out-of-bounds launches).
// Over 600 lines on purpose: it is the `Backend` trait's one implementation for kernels, each
// method a length check and a launch, read side by side with `kernels.cu`; split by operation
// it would scatter the checks from the launches they guard.
#![allow(unsafe_code)]

use std::fmt;

use cudarc::driver::LaunchConfig;

use super::{AdamWStep, Backend, HalfBuf, PackedShape, Pointwise};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::precision::HalfFormat;

mod blas;
mod driver;
#[cfg(all(feature = "emulator", target_os = "linux"))]
mod emulator;
mod half_ops;
mod kernels;
mod probe;
#[cfg(test)]
mod tests;

use blas::{Gemm, attention_backward_gemms, attention_forward_gemms};
use driver::{CudaDriver, Driver};
#[cfg(all(feature = "emulator", target_os = "linux"))]
use emulator::Emulator;
use kernels::{BLOCK, col_chunks, elementwise, query_heads, warp_rows};
pub use probe::probe_cuda;

/// Maps a cudarc error to [`Error::Cuda`].
fn cuda_err<E: fmt::Display>(op: &str) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Cuda { op: op.to_string(), reason: e.to_string() }
}

/// Checks `(have, need)` element counts of an operation's buffers.
fn check(op: &'static str, lens: &[(usize, usize)]) -> Result<()> {
    for (i, &(have, need)) in lens.iter().enumerate() {
        if have < need {
            return Err(Error::Shape {
                op,
                expected: format!("buffer {i} with at least {need} elements"),
                got: have.to_string(),
            });
        }
    }
    Ok(())
}

/// CUDA cannot allocate zero bytes portably (some drivers refuse), so an empty buffer is a shape
/// error on every driver, the emulator included, rather than a driver error on some GPUs;
/// callers pad (see the classifier's scorer).
fn not_empty(op: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Shape {
            op,
            expected: "at least one element (a GPU buffer cannot be empty)".into(),
            got: "0".into(),
        });
    }
    Ok(())
}

fn int(x: usize, op: &'static str) -> Result<i32> {
    i32::try_from(x).map_err(|_| Error::Shape {
        op,
        expected: "a dimension below 2^31".into(),
        got: x.to_string(),
    })
}

/// The CUDA kernels of `kernels.cu` and cuBLAS-style products on a [`Driver`]: a GPU
/// ([`CudaBackend`]) or the CPU emulation of the same kernels (`EmulatedCuda`, for tests).
pub struct KernelBackend<D: Driver> {
    driver: D,
}

/// The CUDA backend: an NVIDIA GPU through cudarc.
pub type CudaBackend = KernelBackend<CudaDriver>;

/// The CUDA backend with its kernels compiled for the CPU by the system C++ compiler (CUDA's
/// threads as fibers, a reference BLAS for cuBLAS, canaries around every buffer): slow, for
/// testing the backend's launches and kernels on machines without a GPU. Behind the `emulator`
/// feature, on Linux.
#[cfg(all(feature = "emulator", target_os = "linux"))]
pub type EmulatedCuda = KernelBackend<Emulator>;

impl<D: Driver> fmt::Debug for KernelBackend<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelBackend").field("driver", &self.driver).finish()
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
        Ok(Self { driver: CudaDriver::new(ordinal)? })
    }

    /// The GPU's name and compute capability, as probed.
    pub fn description(&self) -> &str {
        &self.driver.description
    }

    /// The GPU's compute capability, `(major, minor)`.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.driver.capability
    }
}

#[cfg(all(feature = "emulator", target_os = "linux"))]
impl EmulatedCuda {
    /// Compiles `kernels.cu` for the CPU with the system C++ compiler (`$CXX`, else `c++`; a
    /// few seconds, cached by source) and loads it.
    ///
    /// # Errors
    /// [`Error::Device`] when there is no C++20 compiler or the build fails.
    pub fn new() -> Result<Self> {
        Ok(Self { driver: Emulator::new()? })
    }

    /// The C++ compiler the emulator would use and its version line, or why there is none: a
    /// test without a compiler skips, saying this, instead of failing.
    ///
    /// # Errors
    /// Why the compiler (`$CXX`, else `c++`) cannot run.
    pub fn compiler() -> std::result::Result<String, String> {
        emulator::compiler()
            .map(|(cxx, version)| format!("{cxx}: {}", version.lines().next().unwrap_or("")))
    }
}

impl<D: Driver> KernelBackend<D> {
    /// Row-major (batched) matrix product; see [`Gemm`].
    fn gemm(&self, out: &mut D::F32s, a: &D::F32s, b: &D::F32s, g: Gemm) -> Result<()> {
        const OP: &str = "gemm";
        let (m, k, n, batch) = (g.m, g.k, g.n, g.batch);
        if batch == 0 {
            return Ok(());
        }
        let last = |stride: usize, size: usize| (batch - 1) * stride + size;
        let (la, lb, lo) = (D::len(a), D::len(b), D::len(out));
        check(
            OP,
            &[
                (la, last(g.strides.0, m * k)),
                (lb, last(g.strides.1, k * n)),
                (lo, last(g.strides.2, m * n)),
            ],
        )?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        // cuBLAS's A is our b, its B our a (see Gemm::blas_call).
        self.driver.gemm(&g.blas_call()?, b, a, out)
    }
}

impl<D: Driver> Backend for KernelBackend<D> {
    type Buf = D::F32s;
    type Ids = D::U32s;
    type Half = HalfBuf<D::U16s>;

    fn device(&self) -> Device {
        self.driver.device()
    }
    fn zeros(&self, n: usize) -> Result<D::F32s> {
        not_empty("zeros", n)?;
        self.driver.zeros(n)
    }
    fn upload(&self, data: &[f32]) -> Result<D::F32s> {
        not_empty("upload", data.len())?;
        self.driver.upload(data)
    }
    fn upload_ids(&self, ids: &[u32]) -> Result<D::U32s> {
        not_empty("upload_ids", ids.len())?;
        self.driver.upload_ids(ids)
    }
    fn write_ids(&self, dst: &mut D::U32s, ids: &[u32]) -> Result<()> {
        if D::ids_len(dst) != ids.len() {
            return Err(Error::Shape {
                op: "write_ids",
                expected: format!("{} ids", D::ids_len(dst)),
                got: ids.len().to_string(),
            });
        }
        self.driver.write_ids(dst, ids)
    }
    fn download(&self, buf: &D::F32s) -> Result<Vec<f32>> {
        self.driver.download(buf)
    }
    fn len(&self, buf: &D::F32s) -> usize {
        D::len(buf)
    }
    fn fill_zero(&self, buf: &mut D::F32s) -> Result<()> {
        self.driver.fill_zero(buf)
    }
    fn synchronize(&self) -> Result<()> {
        self.driver.synchronize()
    }
    fn upload_half(&self, data: &[f32], format: HalfFormat) -> Result<Self::Half> {
        self.upload_half_bits(data, format)
    }
    fn round_half(&self, x: &D::F32s, n: usize, format: HalfFormat) -> Result<Self::Half> {
        self.round_half_on_device(x, n, format)
    }
    fn download_half(&self, buf: &Self::Half) -> Result<Vec<u16>> {
        self.driver.download_u16(&buf.bits)
    }

    fn matmul_bt(
        &self,
        out: &mut D::F32s,
        a: &D::F32s,
        b: &D::F32s,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        self.gemm(out, a, b, Gemm::matmul_bt(m, k, n))
    }
    fn matmul_bt_half(
        &self,
        out: &mut D::F32s,
        a: &D::F32s,
        b: &Self::Half,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        self.gemm_half(out, a, b, (m, k, n))
    }
    fn matmul_acc(
        &self,
        out: &mut D::F32s,
        a: &D::F32s,
        b: &D::F32s,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        self.gemm(out, a, b, Gemm::matmul_acc(m, k, n))
    }
    fn matmul_at_acc(
        &self,
        out: &mut D::F32s,
        a: &D::F32s,
        b: &D::F32s,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        self.gemm(out, a, b, Gemm::matmul_at_acc(m, k, n))
    }
    fn bias_forward(&self, out: &mut D::F32s, bias: &D::F32s, m: usize, n: usize) -> Result<()> {
        check("bias_forward", &[(D::len(out), m * n), (D::len(bias), n)])?;
        self.bias_forward(elementwise(m * n), out, bias, m as i64, n as i64)
    }
    fn bias_backward(&self, dbias: &mut D::F32s, dout: &D::F32s, m: usize, n: usize) -> Result<()> {
        check("bias_backward", &[(D::len(dbias), n), (D::len(dout), m * n)])?;
        let (cfg, rows) = col_chunks(m, n);
        self.col_sum_acc(cfg, dbias, dout, int(m, "bias_backward")?, int(n, "bias_backward")?, rows)
    }
    fn axpy(&self, y: &mut D::F32s, alpha: f32, x: &D::F32s, n: usize) -> Result<()> {
        check("axpy", &[(D::len(y), n), (D::len(x), n)])?;
        self.axpy(elementwise(n), y, alpha, x, n as i64)
    }

    fn gelu_forward(&self, out: &mut D::F32s, x: &D::F32s, n: usize) -> Result<()> {
        check("gelu_forward", &[(D::len(out), n), (D::len(x), n)])?;
        self.gelu_forward(elementwise(n), out, x, n as i64)
    }
    fn gelu_backward(&self, dx: &mut D::F32s, x: &D::F32s, dout: &D::F32s, n: usize) -> Result<()> {
        check("gelu_backward", &[(D::len(dx), n), (D::len(x), n), (D::len(dout), n)])?;
        self.gelu_backward(elementwise(n), dx, x, dout, n as i64)
    }

    fn layernorm_forward(
        &self,
        out: &mut D::F32s,
        mean: &mut D::F32s,
        rstd: &mut D::F32s,
        x: &D::F32s,
        weight: &D::F32s,
        bias: &D::F32s,
        m: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "layernorm_forward";
        check(
            OP,
            &[
                (D::len(out), m * c),
                (D::len(mean), m),
                (D::len(rstd), m),
                (D::len(x), m * c),
                (D::len(weight), c),
                (D::len(bias), c),
            ],
        )?;
        self.layernorm_forward(
            warp_rows(m),
            out,
            mean,
            rstd,
            x,
            weight,
            bias,
            int(m, OP)?,
            int(c, OP)?,
        )
    }
    fn layernorm_backward(
        &self,
        dx: &mut D::F32s,
        dweight: &mut D::F32s,
        dbias: &mut D::F32s,
        dout: &D::F32s,
        x: &D::F32s,
        weight: &D::F32s,
        mean: &D::F32s,
        rstd: &D::F32s,
        m: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "layernorm_backward";
        check(
            OP,
            &[
                (D::len(dx), m * c),
                (D::len(dweight), c),
                (D::len(dbias), c),
                (D::len(dout), m * c),
                (D::len(x), m * c),
                (D::len(weight), c),
            ],
        )?;
        check(OP, &[(D::len(mean), m), (D::len(rstd), m)])?;
        let (mi, ci) = (int(m, OP)?, int(c, OP)?);
        self.layernorm_backward_dx(warp_rows(m), dx, dout, x, weight, mean, rstd, mi, ci)?;
        let (cfg, rows) = col_chunks(m, c);
        self.layernorm_backward_params(cfg, dweight, dbias, dout, x, mean, rstd, mi, ci, rows)
    }

    fn split_qkv(
        &self,
        q: &mut D::F32s,
        k: &mut D::F32s,
        v: &mut D::F32s,
        qkv: &D::F32s,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        const OP: &str = "split_qkv";
        let n = b * t * c;
        check(OP, &[(D::len(q), n), (D::len(k), n), (D::len(v), n), (D::len(qkv), 3 * n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.split_qkv(elementwise(3 * n), q, k, v, qkv, d[0], d[1], d[2], d[3])
    }
    fn split_qkv_backward(
        &self,
        dqkv: &mut D::F32s,
        dq: &D::F32s,
        dk: &D::F32s,
        dv: &D::F32s,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        const OP: &str = "split_qkv_backward";
        let n = b * t * c;
        check(OP, &[(D::len(dq), n), (D::len(dk), n), (D::len(dv), n), (D::len(dqkv), 3 * n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.split_qkv_backward(elementwise(3 * n), dqkv, dq, dk, dv, d[0], d[1], d[2], d[3])
    }
    fn merge_heads(
        &self,
        out: &mut D::F32s,
        y: &D::F32s,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        const OP: &str = "merge_heads";
        let n = b * t * c;
        check(OP, &[(D::len(out), n), (D::len(y), n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.merge_heads(elementwise(n), out, y, d[0], d[1], d[2], d[3])
    }
    fn merge_heads_backward(
        &self,
        dy: &mut D::F32s,
        dout: &D::F32s,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        const OP: &str = "merge_heads_backward";
        let n = b * t * c;
        check(OP, &[(D::len(dy), n), (D::len(dout), n)])?;
        let d = [int(b, OP)?, int(t, OP)?, int(c, OP)?, int(nh, OP)?];
        self.merge_heads_backward(elementwise(n), dy, dout, d[0], d[1], d[2], d[3])
    }
    fn attention_forward(
        &self,
        y: &mut D::F32s,
        att: &mut D::F32s,
        q: &D::F32s,
        k: &D::F32s,
        v: &D::F32s,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()> {
        let (n, tt) = (t * hs, t * t);
        check(
            "attention_forward",
            &[
                (D::len(y), bh * n),
                (D::len(att), bh * tt),
                (D::len(q), bh * n),
                (D::len(k), bh * n),
                (D::len(v), bh * n),
            ],
        )?;
        let [scores, mix] = attention_forward_gemms(bh, t, hs);
        self.gemm(att, q, k, scores)?;
        self.causal_softmax(
            warp_rows(bh * t),
            &mut *att,
            (bh * t) as i64,
            int(t, "attention_forward")?,
        )?;
        self.gemm(y, att, v, mix)
    }
    fn attention_backward(
        &self,
        dq: &mut D::F32s,
        dk: &mut D::F32s,
        dv: &mut D::F32s,
        dy: &D::F32s,
        att: &D::F32s,
        q: &D::F32s,
        k: &D::F32s,
        v: &D::F32s,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()> {
        let (n, tt) = (t * hs, t * t);
        check(
            "attention_backward",
            &[
                (D::len(dq), bh * n),
                (D::len(dk), bh * n),
                (D::len(dv), bh * n),
                (D::len(dy), bh * n),
                (D::len(att), bh * tt),
            ],
        )?;
        check(
            "attention_backward",
            &[(D::len(q), bh * n), (D::len(k), bh * n), (D::len(v), bh * n)],
        )?;
        let scale = 1.0 / (hs as f32).sqrt();
        let mut datt = self.driver.scratch(bh * tt)?;
        let [d_att, d_v, d_q, d_k] = attention_backward_gemms(bh, t, hs);
        self.gemm(&mut datt, dy, v, d_att)?;
        self.gemm(dv, att, dy, d_v)?;
        self.causal_softmax_backward(
            warp_rows(bh * t),
            &mut datt,
            att,
            (bh * t) as i64,
            int(t, "attention_backward")?,
            scale,
        )?;
        self.gemm(dq, &datt, k, d_q)?;
        self.gemm(dk, &datt, q, d_k)
    }

    fn softmax(&self, probs: &mut D::F32s, logits: &D::F32s, m: usize, v: usize) -> Result<()> {
        check("softmax", &[(D::len(probs), m * v), (D::len(logits), m * v)])?;
        if m == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig {
            grid_dim: (int(m, "softmax")? as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        self.softmax_forward(cfg, probs, logits, int(v, "softmax")?)
    }
    fn cross_entropy_forward(
        &self,
        probs: &mut D::F32s,
        losses: &mut D::F32s,
        logits: &D::F32s,
        targets: &D::U32s,
        m: usize,
        v: usize,
    ) -> Result<()> {
        const OP: &str = "cross_entropy_forward";
        check(
            OP,
            &[
                (D::len(probs), m * v),
                (D::len(losses), m),
                (D::len(logits), m * v),
                (D::ids_len(targets), m),
            ],
        )?;
        if m == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig {
            grid_dim: (int(m, OP)? as u32, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        self.softmax_xent_forward(cfg, probs, losses, logits, targets, int(v, OP)?)
    }
    fn cross_entropy_backward(
        &self,
        dlogits: &mut D::F32s,
        probs: &D::F32s,
        targets: &D::U32s,
        dloss: f32,
        m: usize,
        v: usize,
    ) -> Result<()> {
        const OP: &str = "cross_entropy_backward";
        check(OP, &[(D::len(dlogits), m * v), (D::len(probs), m * v), (D::ids_len(targets), m)])?;
        self.cross_entropy_backward(
            elementwise(m * v),
            dlogits,
            probs,
            targets,
            dloss,
            m as i64,
            int(v, OP)?,
        )
    }

    fn embedding_forward(
        &self,
        out: &mut D::F32s,
        ids: &D::U32s,
        table: &D::F32s,
        n: usize,
        c: usize,
    ) -> Result<()> {
        check("embedding_forward", &[(D::len(out), n * c), (D::ids_len(ids), n)])?;
        self.embedding_forward(
            elementwise(n * c),
            out,
            ids,
            table,
            n as i64,
            int(c, "embedding_forward")?,
        )
    }
    fn embedding_backward(
        &self,
        dtable: &mut D::F32s,
        dout: &D::F32s,
        ids: &D::U32s,
        n: usize,
        c: usize,
    ) -> Result<()> {
        check("embedding_backward", &[(D::len(dout), n * c), (D::ids_len(ids), n)])?;
        self.embedding_backward(
            elementwise(n * c),
            dtable,
            dout,
            ids,
            n as i64,
            int(c, "embedding_backward")?,
        )
    }
    fn embedding_bag_mean_forward(
        &self,
        out: &mut D::F32s,
        ids: &D::U32s,
        offsets: &D::U32s,
        table: &D::F32s,
        bags: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "embedding_bag_mean_forward";
        check(OP, &[(D::len(out), bags * c), (D::ids_len(offsets), bags + 1)])?;
        self.embedding_bag_mean_forward(
            warp_rows(bags),
            out,
            ids,
            offsets,
            table,
            int(bags, OP)?,
            int(c, OP)?,
        )
    }
    fn embedding_bag_mean_backward(
        &self,
        dtable: &mut D::F32s,
        dout: &D::F32s,
        ids: &D::U32s,
        offsets: &D::U32s,
        bags: usize,
        c: usize,
    ) -> Result<()> {
        const OP: &str = "embedding_bag_mean_backward";
        check(OP, &[(D::len(dout), bags * c), (D::ids_len(offsets), bags + 1)])?;
        self.embedding_bag_mean_backward(
            warp_rows(bags),
            dtable,
            dout,
            ids,
            offsets,
            int(bags, OP)?,
            int(c, OP)?,
        )
    }

    fn sum_squares_acc(&self, acc: &mut D::F32s, x: &D::F32s) -> Result<()> {
        check("sum_squares_acc", &[(D::len(acc), 1)])?;
        let n = D::len(x);
        // Few blocks, each reducing many elements, so the atomics on `acc` stay rare.
        let blocks = n.div_ceil(BLOCK as usize * 16).clamp(1, 1024) as u32;
        let cfg = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        self.sum_squares_acc(cfg, acc, x, n as i64)
    }
    fn adamw_step(
        &self,
        params: &mut D::F32s,
        grads: &D::F32s,
        m: &mut D::F32s,
        v: &mut D::F32s,
        step: &AdamWStep,
    ) -> Result<()> {
        let n = D::len(params);
        check("adamw_step", &[(D::len(grads), n), (D::len(m), n), (D::len(v), n)])?;
        let c = step.config;
        let (bc1, bc2) = (1.0 - c.beta1.powi(step.t as i32), 1.0 - c.beta2.powi(step.t as i32));
        let s = [c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, bc1, bc2, step.grad_scale];
        self.adamw(
            elementwise(n),
            params,
            grads,
            m,
            v,
            n as i64,
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            s[6],
            s[7],
        )
    }

    fn add_layernorm_forward(
        &self,
        out: &mut D::F32s,
        x: &D::F32s,
        residual: &D::F32s,
        weight: &D::F32s,
        bias: &D::F32s,
        m: usize,
        c: usize,
        eps: f32,
    ) -> Result<()> {
        const OP: &str = "add_layernorm_forward";
        let (lo, lx, lr) = (D::len(out), D::len(x), D::len(residual));
        check(
            OP,
            &[(lo, m * c), (lx, m * c), (lr, m * c), (D::len(weight), c), (D::len(bias), c)],
        )?;
        let (mi, ci) = (int(m, OP)?, int(c, OP)?);
        self.add_layernorm(warp_rows(m), out, x, residual, weight, bias, mi, ci, eps)
    }
    fn pointwise_forward(
        &self,
        out: &mut D::F32s,
        x: &D::F32s,
        n: usize,
        f: Pointwise,
    ) -> Result<()> {
        check("pointwise_forward", &[(D::len(out), n), (D::len(x), n)])?;
        self.pointwise(elementwise(n), out, x, n as i64, f.code())
    }
    fn packed_attention_forward(
        &self,
        ctx: &mut D::F32s,
        att: &mut D::F32s,
        qkv: &D::F32s,
        offsets: &D::U32s,
        query_rows: &D::U32s,
        query_seqs: &D::U32s,
        shape: PackedShape,
    ) -> Result<()> {
        const OP: &str = "packed_attention_forward";
        let PackedShape { tokens, sequences, queries, c, heads, max_len } = shape;
        if heads == 0 || c % heads != 0 {
            let got = format!("c = {c}, heads = {heads}");
            return Err(Error::Shape { op: OP, expected: "heads dividing c".into(), got });
        }
        check(
            OP,
            &[
                (D::len(ctx), queries * c),
                (D::len(att), queries * heads * max_len),
                (D::len(qkv), tokens * 3 * c),
                (D::ids_len(offsets), sequences + 1),
                (D::ids_len(query_rows), queries),
                (D::ids_len(query_seqs), queries),
            ],
        )?;
        if queries == 0 {
            return Ok(());
        }
        let scale = 1.0 / (c as f32 / heads as f32).sqrt();
        let (ci, hi, ti) = (int(c, OP)?, int(heads, OP)?, int(max_len, OP)?);
        let cfg = query_heads(queries, heads);
        self.packed_attention(
            cfg, ctx, att, qkv, offsets, query_rows, query_seqs, ci, hi, ti, scale,
        )
    }
}
