//! The kernels of `kernels.cu` as the backend launches them: launch grids, one typed launch
//! method per kernel (declared once, in `kernels!`), and their NVRTC compilation.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use super::cuda_err;
use crate::error::Result;

/// The CUDA C source of every kernel.
pub(super) const KERNELS: &str = include_str!("kernels.cu");

/// Threads per block for all kernels (a multiple of 32; warp-per-row kernels handle 8 rows).
pub(super) const BLOCK: u32 = 256;

/// Grid for a grid-stride elementwise kernel over `n` elements.
pub(super) fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 1 << 20) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// Grid for a kernel with one warp per row.
pub(super) fn warp_rows(rows: usize) -> LaunchConfig {
    let blocks = rows.div_ceil((BLOCK / 32) as usize).max(1) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// Grid for a column reduction of `[m, n]`: blocks of columns by chunks of rows.
pub(super) fn col_chunks(m: usize, n: usize) -> (LaunchConfig, i32) {
    let rows = m.div_ceil(65_535).max(64);
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(BLOCK as usize).max(1) as u32, m.div_ceil(rows).max(1) as u32, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    (cfg, rows as i32)
}

/// How a launch argument's Rust type is declared in CUDA C: the kernel signature tests compare
/// these with `kernels.cu` (pointers by constness and element type, scalars by width).
#[cfg(test)]
mod c_types {
    use cudarc::driver::CudaSlice;

    pub(super) trait CParam {
        const C: &'static str;
    }
    impl CParam for &CudaSlice<f32> {
        const C: &'static str = "const float*";
    }
    impl CParam for &mut CudaSlice<f32> {
        const C: &'static str = "float*";
    }
    impl CParam for &CudaSlice<u32> {
        const C: &'static str = "const unsigned*";
    }
    impl CParam for &i32 {
        const C: &'static str = "int";
    }
    impl CParam for &i64 {
        const C: &'static str = "long long";
    }
    impl CParam for &f32 {
        const C: &'static str = "float";
    }
}
#[cfg(test)]
use c_types::CParam;

/// Declares every kernel of `kernels.cu` with its parameters' Rust types: `Kernels` loads them
/// from the compiled module and has one typed launch method per kernel (so a launch cannot pass
/// an argument of the wrong kind or count), and [`launch_signatures`] lists the declarations for
/// the tests that check them against the CUDA source and the compiled PTX.
macro_rules! kernels {
    ($($name:ident($($arg:ident: $ty:ty),* $(,)?);)*) => {
        /// Every kernel of `kernels.cu`, loaded from the compiled module.
        pub(super) struct Kernels { $($name: CudaFunction,)* }
        impl Kernels {
            pub(super) fn load(module: &Arc<cudarc::driver::CudaModule>) -> Result<Self> {
                Ok(Self { $($name: module.load_function(stringify!($name)).map_err(cuda_err(stringify!($name)))?,)* })
            }
            $(
                #[allow(clippy::too_many_arguments)]
                pub(super) fn $name(&self, stream: &Arc<CudaStream>, cfg: LaunchConfig, $($arg: $ty),*) -> Result<()> {
                    let mut launch = stream.launch_builder(&self.$name);
                    $(launch.arg($arg);)*
                    // SAFETY: the argument kinds and count are those of the kernel's declaration
                    // (checked against kernels.cu by tests); every caller checked each buffer's
                    // length against the dimensions it passes.
                    unsafe { launch.launch(cfg) }.map(|_| ()).map_err(cuda_err(stringify!($name)))
                }
            )*
        }
        /// Each kernel's name and parameters as the launches pass them, in CUDA C.
        #[cfg(test)]
        pub(super) fn launch_signatures() -> Vec<(&'static str, Vec<&'static str>)> {
            vec![$((stringify!($name), vec![$(<$ty as CParam>::C),*]),)*]
        }
    };
}

/// Short names for the declarations below.
pub(super) type F32s = CudaSlice<f32>;
pub(super) type U32s = CudaSlice<u32>;

kernels! {
    axpy(y: &mut F32s, alpha: &f32, x: &F32s, n: &i64);
    gelu_forward(out: &mut F32s, x: &F32s, n: &i64);
    gelu_backward(dx: &mut F32s, x: &F32s, dout: &F32s, n: &i64);
    bias_forward(out: &mut F32s, bias: &F32s, m: &i64, n: &i64);
    col_sum_acc(dst: &mut F32s, src: &F32s, m: &i32, n: &i32, rows: &i32);
    layernorm_forward(out: &mut F32s, mean: &mut F32s, rstd: &mut F32s, x: &F32s, w: &F32s, b: &F32s, m: &i32, c: &i32);
    layernorm_backward_dx(dx: &mut F32s, dout: &F32s, x: &F32s, w: &F32s, mean: &F32s, rstd: &F32s, m: &i32, c: &i32);
    layernorm_backward_params(dw: &mut F32s, db: &mut F32s, dout: &F32s, x: &F32s, mean: &F32s, rstd: &F32s, m: &i32, c: &i32, rows: &i32);
    split_qkv(q: &mut F32s, k: &mut F32s, v: &mut F32s, qkv: &F32s, b: &i32, t: &i32, c: &i32, nh: &i32);
    split_qkv_backward(dqkv: &mut F32s, dq: &F32s, dk: &F32s, dv: &F32s, b: &i32, t: &i32, c: &i32, nh: &i32);
    merge_heads(out: &mut F32s, y: &F32s, b: &i32, t: &i32, c: &i32, nh: &i32);
    merge_heads_backward(dy: &mut F32s, dout: &F32s, b: &i32, t: &i32, c: &i32, nh: &i32);
    causal_softmax(att: &mut F32s, rows: &i64, t: &i32);
    causal_softmax_backward(datt: &mut F32s, att: &F32s, rows: &i64, t: &i32, scale: &f32);
    softmax_forward(probs: &mut F32s, logits: &F32s, v: &i32);
    softmax_xent_forward(probs: &mut F32s, losses: &mut F32s, logits: &F32s, targets: &U32s, v: &i32);
    cross_entropy_backward(dlogits: &mut F32s, probs: &F32s, targets: &U32s, dloss: &f32, m: &i64, v: &i32);
    embedding_forward(out: &mut F32s, ids: &U32s, table: &F32s, n: &i64, c: &i32);
    embedding_backward(dtable: &mut F32s, dout: &F32s, ids: &U32s, n: &i64, c: &i32);
    embedding_bag_mean_forward(out: &mut F32s, ids: &U32s, offsets: &U32s, table: &F32s, bags: &i32, c: &i32);
    embedding_bag_mean_backward(dtable: &mut F32s, dout: &F32s, ids: &U32s, offsets: &U32s, bags: &i32, c: &i32);
    sum_squares_acc(acc: &mut F32s, x: &F32s, n: &i64);
    adamw(
        p: &mut F32s, g: &F32s, m: &mut F32s, v: &mut F32s, n: &i64,
        lr: &f32, b1: &f32, b2: &f32, eps: &f32, wd: &f32, bc1: &f32, bc2: &f32, gscale: &f32,
    );
}

/// The NVRTC target for a GPU of compute capability `(major, minor)`: its own virtual
/// architecture where this build knows it, else NVRTC's default (the driver JIT-compiles that
/// PTX for the GPU).
pub(super) fn nvrtc_arch((major, minor): (i32, i32)) -> Option<&'static str> {
    SUPPORTED_ARCHS.iter().find(|&&(cc, _)| cc == (major, minor)).map(|&(_, arch)| arch)
}

/// Compute capabilities with a named NVRTC target (Turing to Blackwell).
pub(super) const SUPPORTED_ARCHS: [((i32, i32), &str); 7] = [
    ((7, 5), "compute_75"),
    ((8, 0), "compute_80"),
    ((8, 6), "compute_86"),
    ((8, 9), "compute_89"),
    ((9, 0), "compute_90"),
    ((10, 0), "compute_100"),
    ((12, 0), "compute_120"),
];

/// Compiles `kernels.cu` to PTX with NVRTC (needs libnvrtc only, no GPU).
pub(super) fn compile_kernels(arch: Option<&'static str>) -> Result<cudarc::nvrtc::Ptx> {
    let opts = CompileOptions { arch, name: Some("tokenmill_kernels.cu".into()), ..CompileOptions::default() };
    compile_ptx_with_opts(KERNELS, opts).map_err(cuda_err("NVRTC compile of kernels.cu"))
}
