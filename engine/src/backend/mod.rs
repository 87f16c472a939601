//! Backends: where the kernels of [`crate::ops`] run, over buffers that live on that device.
//!
//! [`Backend`] is the set of operations the models need (matrix products, bias, GELU, layer
//! norm, causal attention, softmax cross-entropy, embedding and embedding bag, AdamW; for the
//! encoder classifiers, post-LN with its residual, erf GELU and tanh, and bidirectional
//! attention over packed sequences), each over
//! the backend's own buffer types, with the same layouts and the same *accumulate* convention
//! for gradients as [`crate::ops`] (backward ops add into their gradient buffers).
//!
//! - [`CpuBackend`] keeps buffers in `Vec`s and delegates to [`crate::ops`]: it is the reference,
//!   and the oracle the CUDA kernels are tested against (`tests/cuda.rs`).
//! - [`CudaBackend`] (through `cudarc`, loaded at run time, so the crate builds and runs without
//!   CUDA) keeps buffers in GPU memory; its kernels are CUDA C compiled once with NVRTC, matrix
//!   products go to cuBLAS (`sgemm`; [`Backend::matmul_bt_half`]: `GemmEx` over fp16 / bf16
//!   inputs with f32 accumulation).
//! - `EmulatedCuda` (feature `emulator`, Linux) is the same backend code over the same kernels
//!   compiled for the CPU (by the system C++ compiler, CUDA's threads as fibers) and a reference
//!   BLAS: slow, for testing the CUDA backend on machines without a GPU.
//!
//! What runs where: [`crate::gpt::Gpt::train_with`] runs a whole training step (forward,
//! backward, gradient norm and AdamW) on any backend, and
//! [`crate::classifier::Scorer`] scores precomputed features on any backend, and
//! [`crate::encoder::Encoder::into_device`] runs an encoder classifier's forward pass on any
//! backend. Feature hashing, window sampling, generation and perplexity stay on the CPU.
//!
//! ```
//! use tokenmill_engine::backend::{Backend, CpuBackend};
//!
//! let be = CpuBackend;
//! let (a, b) = (be.upload(&[1.0, 2.0])?, be.upload(&[3.0, 4.0])?);
//! let mut out = be.zeros(1)?;
//! be.matmul_bt(&mut out, &a, &b, 1, 2, 1)?; // [1, 2] @ [1, 2]^T
//! assert_eq!(be.download(&out)?, vec![11.0]);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

mod cpu;
mod cuda;

pub use cpu::CpuBackend;
#[cfg(all(feature = "emulator", target_os = "linux"))]
pub use cuda::EmulatedCuda;
pub use cuda::{CudaBackend, probe_cuda};

use std::fmt::Debug;

use crate::device::{Device, DeviceRequest};
use crate::error::{Error, Result};
pub use crate::ops::encoder::Pointwise;
use crate::optim::AdamWConfig;
use crate::precision::HalfFormat;

/// A buffer of fp16 or bf16 bit patterns on a backend, with its format: the weights of
/// [`Backend::matmul_bt_half`] (made by [`Backend::upload_half`]) or rounded activations
/// ([`Backend::round_half`]).
#[derive(Debug)]
pub struct HalfBuf<T> {
    pub(crate) bits: T,
    pub(crate) format: HalfFormat,
}

impl<T> HalfBuf<T> {
    /// The 16-bit format of the elements.
    pub fn format(&self) -> HalfFormat {
        self.format
    }
}

/// One AdamW update's scalars: the hyper-parameters, the step number (from 1, for the bias
/// correction) and a factor applied to every gradient first (global-norm clipping).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// Hyper-parameters, including this step's learning rate.
    pub config: AdamWConfig,
    /// Step number, from 1.
    pub t: u32,
    /// Gradient scale (1 without clipping).
    pub grad_scale: f32,
}

/// The dimensions of a [`Backend::packed_attention_forward`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedShape {
    /// Rows of `qkv` (all sequences' tokens).
    pub tokens: usize,
    /// Sequences (`offsets` has one more entry).
    pub sequences: usize,
    /// Query rows (rows of `ctx`).
    pub queries: usize,
    /// Model width.
    pub c: usize,
    /// Attention heads (`c / heads` wide each).
    pub heads: usize,
    /// The longest sequence's length (the row width of the `att` scratch).
    pub max_len: usize,
}

/// Device buffers and the operations the models need on them.
///
/// Dimensions are explicit, as in [`crate::ops`]; every buffer must hold at least the elements
/// an operation touches (the CUDA backend checks and returns [`crate::Error::Shape`]; the CPU
/// backend panics on a short slice, as the ops do). Operations may run asynchronously:
/// [`Backend::download`] waits for all earlier work.
pub trait Backend: Debug {
    /// An owned `f32` buffer on the device.
    type Buf: Debug;
    /// An owned `u32` buffer (token ids, feature buckets, offsets) on the device.
    type Ids: Debug;
    /// An owned buffer of fp16 or bf16 values on the device (see [`HalfBuf`]).
    type Half: Debug;

    /// The device this backend runs on.
    fn device(&self) -> crate::Device;
    /// A buffer of `n` zeros. (The CUDA backend refuses empty buffers with a shape error, as
    /// it does empty uploads: CUDA cannot allocate zero bytes portably.)
    fn zeros(&self, n: usize) -> Result<Self::Buf>;
    /// A copy of host data on the device.
    fn upload(&self, data: &[f32]) -> Result<Self::Buf>;
    /// A copy of host ids on the device.
    fn upload_ids(&self, ids: &[u32]) -> Result<Self::Ids>;
    /// Overwrites `dst` (of the same length) with host ids, reusing its memory.
    fn write_ids(&self, dst: &mut Self::Ids, ids: &[u32]) -> Result<()>;
    /// The buffer's elements, on the host (waits for pending work).
    fn download(&self, buf: &Self::Buf) -> Result<Vec<f32>>;
    /// Number of elements.
    fn len(&self, buf: &Self::Buf) -> usize;
    /// Sets every element to zero.
    fn fill_zero(&self, buf: &mut Self::Buf) -> Result<()>;
    /// Waits until all queued work is done (for timing).
    fn synchronize(&self) -> Result<()>;
    /// Host data rounded to `format` (to nearest, ties to even) and copied to the device.
    fn upload_half(&self, data: &[f32], format: HalfFormat) -> Result<Self::Half>;
    /// `x[..n]` rounded to `format` on the device, as [`Backend::matmul_bt_half`] rounds its
    /// activations (the same rounding as [`HalfFormat::to_bits`], bit for bit).
    fn round_half(&self, x: &Self::Buf, n: usize, format: HalfFormat) -> Result<Self::Half>;
    /// The bit patterns of a half buffer, on the host (waits for pending work).
    fn download_half(&self, buf: &Self::Half) -> Result<Vec<u16>>;

    /// `out[m, n] = a[m, k] @ b[n, k]^T` (a linear layer's forward, weights `[out, in]`).
    fn matmul_bt(
        &self,
        out: &mut Self::Buf,
        a: &Self::Buf,
        b: &Self::Buf,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()>;
    /// [`Backend::matmul_bt`] in half precision: `out[m, n] = round(a)[m, k] @ b[n, k]^T` with
    /// `b` stored in fp16 or bf16 and `a` rounded on the device to `b`'s format, products summed
    /// and written in `f32` (cuBLAS `GemmEx` with `CUBLAS_COMPUTE_32F` on a GPU).
    fn matmul_bt_half(
        &self,
        out: &mut Self::Buf,
        a: &Self::Buf,
        b: &Self::Half,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()>;
    /// `out[m, n] += a[m, k] @ b[k, n]` (a linear layer's input gradient).
    fn matmul_acc(
        &self,
        out: &mut Self::Buf,
        a: &Self::Buf,
        b: &Self::Buf,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()>;
    /// `out[k, n] += a[m, k]^T @ b[m, n]` (a linear layer's weight gradient).
    fn matmul_at_acc(
        &self,
        out: &mut Self::Buf,
        a: &Self::Buf,
        b: &Self::Buf,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()>;
    /// `out[m, n] += bias[n]` on every row (also adds position embeddings: `n = t * c`).
    fn bias_forward(&self, out: &mut Self::Buf, bias: &Self::Buf, m: usize, n: usize)
    -> Result<()>;
    /// `dbias[n] += sum over the m rows of dout[m, n]`.
    fn bias_backward(
        &self,
        dbias: &mut Self::Buf,
        dout: &Self::Buf,
        m: usize,
        n: usize,
    ) -> Result<()>;
    /// `y[..n] += alpha * x[..n]` (residual connections).
    fn axpy(&self, y: &mut Self::Buf, alpha: f32, x: &Self::Buf, n: usize) -> Result<()>;

    /// `out = gelu(x)` on the first `n` elements (tanh approximation).
    fn gelu_forward(&self, out: &mut Self::Buf, x: &Self::Buf, n: usize) -> Result<()>;
    /// `dx += gelu'(x) * dout` on the first `n` elements.
    fn gelu_backward(
        &self,
        dx: &mut Self::Buf,
        x: &Self::Buf,
        dout: &Self::Buf,
        n: usize,
    ) -> Result<()>;

    /// Layer norm of `x[m, c]` rows, saving `mean[m]` and `rstd[m]`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn layernorm_forward(
        &self,
        out: &mut Self::Buf,
        mean: &mut Self::Buf,
        rstd: &mut Self::Buf,
        x: &Self::Buf,
        weight: &Self::Buf,
        bias: &Self::Buf,
        m: usize,
        c: usize,
    ) -> Result<()>;
    /// Gradients of [`Backend::layernorm_forward`], accumulated into `dx`, `dweight`, `dbias`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn layernorm_backward(
        &self,
        dx: &mut Self::Buf,
        dweight: &mut Self::Buf,
        dbias: &mut Self::Buf,
        dout: &Self::Buf,
        x: &Self::Buf,
        weight: &Self::Buf,
        mean: &Self::Buf,
        rstd: &Self::Buf,
        m: usize,
        c: usize,
    ) -> Result<()>;

    /// Splits `qkv[b, t, 3c]` into head-major `q`, `k`, `v` (`[b, nh, t, c / nh]` each).
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn split_qkv(
        &self,
        q: &mut Self::Buf,
        k: &mut Self::Buf,
        v: &mut Self::Buf,
        qkv: &Self::Buf,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()>;
    /// Gradient of [`Backend::split_qkv`], accumulated into `dqkv`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn split_qkv_backward(
        &self,
        dqkv: &mut Self::Buf,
        dq: &Self::Buf,
        dk: &Self::Buf,
        dv: &Self::Buf,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()>;
    /// Merges head-major `y[b, nh, t, hs]` into `out[b, t, c]`.
    fn merge_heads(
        &self,
        out: &mut Self::Buf,
        y: &Self::Buf,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()>;
    /// Gradient of [`Backend::merge_heads`] (overwrites `dy`).
    fn merge_heads_backward(
        &self,
        dy: &mut Self::Buf,
        dout: &Self::Buf,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()>;
    /// Causal attention per head over `bh` heads of `[t, hs]`; saves `att[bh, t, t]` (zero above
    /// the diagonal).
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn attention_forward(
        &self,
        y: &mut Self::Buf,
        att: &mut Self::Buf,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()>;
    /// Gradients of [`Backend::attention_forward`], accumulated into `dq`, `dk`, `dv`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn attention_backward(
        &self,
        dq: &mut Self::Buf,
        dk: &mut Self::Buf,
        dv: &mut Self::Buf,
        dy: &Self::Buf,
        att: &Self::Buf,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()>;

    /// Row-wise softmax of `logits[m, v]`.
    fn softmax(&self, probs: &mut Self::Buf, logits: &Self::Buf, m: usize, v: usize) -> Result<()>;
    /// Softmax cross-entropy of `logits[m, v]` against `targets[m]`: `probs` and per-row `losses`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn cross_entropy_forward(
        &self,
        probs: &mut Self::Buf,
        losses: &mut Self::Buf,
        logits: &Self::Buf,
        targets: &Self::Ids,
        m: usize,
        v: usize,
    ) -> Result<()>;
    /// `dlogits += (probs - onehot(targets)) * dloss` for a loss `dloss * sum(losses)`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn cross_entropy_backward(
        &self,
        dlogits: &mut Self::Buf,
        probs: &Self::Buf,
        targets: &Self::Ids,
        dloss: f32,
        m: usize,
        v: usize,
    ) -> Result<()>;

    /// `out[i, :] = table[ids[i], :]` for `n` ids, rows of width `c`.
    fn embedding_forward(
        &self,
        out: &mut Self::Buf,
        ids: &Self::Ids,
        table: &Self::Buf,
        n: usize,
        c: usize,
    ) -> Result<()>;
    /// `dtable[ids[i], :] += dout[i, :]`.
    fn embedding_backward(
        &self,
        dtable: &mut Self::Buf,
        dout: &Self::Buf,
        ids: &Self::Ids,
        n: usize,
        c: usize,
    ) -> Result<()>;
    /// Mean of the table rows of each of `bags` bags; bag `j` is `ids[offsets[j]..offsets[j + 1]]`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn embedding_bag_mean_forward(
        &self,
        out: &mut Self::Buf,
        ids: &Self::Ids,
        offsets: &Self::Ids,
        table: &Self::Buf,
        bags: usize,
        c: usize,
    ) -> Result<()>;
    /// Gradient of [`Backend::embedding_bag_mean_forward`], accumulated into `dtable`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn embedding_bag_mean_backward(
        &self,
        dtable: &mut Self::Buf,
        dout: &Self::Buf,
        ids: &Self::Ids,
        offsets: &Self::Ids,
        bags: usize,
        c: usize,
    ) -> Result<()>;

    /// `out = LayerNorm(x + residual)` over the rows of `x[m, c]` and `residual[m, c]`, with
    /// `eps` added to the variance: the post-LN step of the encoders (forward only).
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn add_layernorm_forward(
        &self,
        out: &mut Self::Buf,
        x: &Self::Buf,
        residual: &Self::Buf,
        weight: &Self::Buf,
        bias: &Self::Buf,
        m: usize,
        c: usize,
        eps: f32,
    ) -> Result<()>;
    /// `out = f(x)` on the first `n` elements (erf GELU, tanh GELU, ReLU, tanh).
    fn pointwise_forward(
        &self,
        out: &mut Self::Buf,
        x: &Self::Buf,
        n: usize,
        f: Pointwise,
    ) -> Result<()>;
    /// Bidirectional attention over sequences packed without padding (see
    /// [`crate::ops::encoder::packed_attention_forward`]): `qkv[tokens, 3c]`, sequence `s` on rows
    /// `offsets[s]..offsets[s + 1]`; query `r` (`shape.queries` of them) is row `query_rows[r]`
    /// and attends to sequence `query_seqs[r]`; `ctx[queries, c]`. `att` is scratch of
    /// `queries * heads * max_len` elements; no sequence may be longer than `shape.max_len`.
    #[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
    fn packed_attention_forward(
        &self,
        ctx: &mut Self::Buf,
        att: &mut Self::Buf,
        qkv: &Self::Buf,
        offsets: &Self::Ids,
        query_rows: &Self::Ids,
        query_seqs: &Self::Ids,
        shape: PackedShape,
    ) -> Result<()>;

    /// `acc[0] += sum(x^2)` (for the global gradient norm without a copy to the host).
    fn sum_squares_acc(&self, acc: &mut Self::Buf, x: &Self::Buf) -> Result<()>;
    /// One AdamW update of `params` (whole buffer) with moments `m`, `v`.
    fn adamw_step(
        &self,
        params: &mut Self::Buf,
        grads: &Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
        step: &AdamWStep,
    ) -> Result<()>;
}

// Resolving a request probes the GPU, so it lives with the backends (the device types stay
// below them).
impl DeviceRequest {
    /// The device to use and a one-line reason for the choice (for the caller to log).
    ///
    /// Probing a GPU loads the CUDA libraries and creates a context (tens to hundreds of
    /// milliseconds); call this once per run.
    ///
    /// # Errors
    /// [`Error::Device`] for `cuda[:N]` when that GPU or a CUDA library it needs is not usable;
    /// the message says what is missing.
    pub fn resolve(self) -> Result<(Device, String)> {
        match self {
            Self::Cpu => Ok((Device::Cpu, "CPU requested".into())),
            Self::Auto => match probe_cuda(0) {
                Ok(gpu) => Ok((Device::Cuda(0), format!("auto: using cuda:0 ({gpu})"))),
                Err(why) => Ok((
                    Device::Cpu,
                    format!("auto: using the CPU because no usable GPU was found: {why}"),
                )),
            },
            Self::Cuda(n) => match probe_cuda(n) {
                Ok(gpu) => Ok((Device::Cuda(n), format!("cuda:{n} requested ({gpu})"))),
                Err(why) => Err(Error::Device {
                    request: format!("cuda:{n}"),
                    reason: format!("{why}; use the device `cpu` or `auto` instead"),
                }),
            },
        }
    }
}
