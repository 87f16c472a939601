//! The kernels of `kernels.cu` as the backend launches them: launch grids, one typed launch
//! method per kernel (declared once, in `kernels!`), and their NVRTC compilation.

use cudarc::driver::LaunchConfig;
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use super::driver::{Arg, Driver, Kernel};
use super::{KernelBackend, cuda_err};
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

/// Grid with one block per (query, head) of an attention; 128 threads (a head is 64 wide in
/// BERT-base, and the scores of up to 512 keys take four passes).
pub(super) fn query_heads(queries: usize, heads: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (queries.max(1) as u32, heads.max(1) as u32, 1),
        block_dim: (BLOCK / 2, 1, 1),
        shared_mem_bytes: 0,
    }
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

/// The kinds of kernel parameter, as declared in [`kernels!`]: `out` (an `f32` buffer the kernel
/// writes, `float*`), `inp` (an `f32` buffer it only reads, `const float*`), `ids` (a `u32`
/// buffer it reads, `const unsigned*`), `h16` (a buffer of 16-bit patterns it writes,
/// `unsigned short*`), and the scalars `i32` (`int`), `i64` (`long long`) and
/// `f32` (`float`).
macro_rules! param {
    (ty $D:ident, out) => {
        &mut <$D as Driver>::F32s
    };
    (ty $D:ident, inp) => {
        &<$D as Driver>::F32s
    };
    (ty $D:ident, ids) => {
        &<$D as Driver>::U32s
    };
    (ty $D:ident, h16) => {
        &mut <$D as Driver>::U16s
    };
    (ty $D:ident, i32) => {
        i32
    };
    (ty $D:ident, i64) => {
        i64
    };
    (ty $D:ident, f32) => {
        f32
    };
    (arg out, $x:expr) => {
        Arg::Out($x)
    };
    (arg inp, $x:expr) => {
        Arg::In($x)
    };
    (arg ids, $x:expr) => {
        Arg::Ids($x)
    };
    (arg h16, $x:expr) => {
        Arg::Half($x)
    };
    (arg i32, $x:expr) => {
        Arg::I32($x)
    };
    (arg i64, $x:expr) => {
        Arg::I64($x)
    };
    (arg f32, $x:expr) => {
        Arg::F32($x)
    };
    (c out) => {
        "float*"
    };
    (c inp) => {
        "const float*"
    };
    (c ids) => {
        "const unsigned*"
    };
    (c h16) => {
        "unsigned short*"
    };
    (c i32) => {
        "int"
    };
    (c i64) => {
        "long long"
    };
    (c f32) => {
        "float"
    };
}

/// Declares every kernel of `kernels.cu` with the kinds of its parameters (see `param!`): the
/// backend gets one typed launch method per kernel (so a launch cannot pass an argument of the
/// wrong kind or count), drivers load the kernels by [`KERNEL_NAMES`], and [`launch_signatures`]
/// lists the declarations in CUDA C for the tests that check them against `kernels.cu` and the
/// PTX that NVRTC makes of it.
macro_rules! kernels {
    ($($name:ident($($arg:ident: $kind:ident),* $(,)?);)*) => {
        /// Every kernel's name, in the order of [`Kernel::index`].
        pub(super) const KERNEL_NAMES: &[&str] = &[$(stringify!($name)),*];

        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        enum Index { $($name),* }

        impl<D: Driver> KernelBackend<D> {
            $(
                #[allow(clippy::too_many_arguments)]
                pub(super) fn $name(&self, cfg: LaunchConfig, $($arg: param!(ty D, $kind)),*) -> Result<()> {
                    let kernel = Kernel { index: Index::$name as usize, name: stringify!($name) };
                    self.driver.launch(kernel, cfg, &mut [$(param!(arg $kind, $arg)),*])
                }
            )*
        }

        /// Each kernel's name and parameters as the launches pass them, in CUDA C.
        #[cfg(test)]
        pub(super) fn launch_signatures() -> Vec<(&'static str, Vec<&'static str>)> {
            vec![$((stringify!($name), vec![$(param!(c $kind)),*]),)*]
        }
    };
}

kernels! {
    axpy(y: out, alpha: f32, x: inp, n: i64);
    gelu_forward(out: out, x: inp, n: i64);
    gelu_backward(dx: out, x: inp, dout: inp, n: i64);
    bias_forward(out: out, bias: inp, m: i64, n: i64);
    col_sum_acc(dst: out, src: inp, m: i32, n: i32, rows: i32);
    layernorm_forward(out: out, mean: out, rstd: out, x: inp, w: inp, b: inp, m: i32, c: i32);
    layernorm_backward_dx(dx: out, dout: inp, x: inp, w: inp, mean: inp, rstd: inp, m: i32, c: i32);
    layernorm_backward_params(dw: out, db: out, dout: inp, x: inp, mean: inp, rstd: inp, m: i32, c: i32, rows: i32);
    split_qkv(q: out, k: out, v: out, qkv: inp, b: i32, t: i32, c: i32, nh: i32);
    split_qkv_backward(dqkv: out, dq: inp, dk: inp, dv: inp, b: i32, t: i32, c: i32, nh: i32);
    merge_heads(out: out, y: inp, b: i32, t: i32, c: i32, nh: i32);
    merge_heads_backward(dy: out, dout: inp, b: i32, t: i32, c: i32, nh: i32);
    causal_softmax(att: out, rows: i64, t: i32);
    causal_softmax_backward(datt: out, att: inp, rows: i64, t: i32, scale: f32);
    softmax_forward(probs: out, logits: inp, v: i32);
    softmax_xent_forward(probs: out, losses: out, logits: inp, targets: ids, v: i32);
    cross_entropy_backward(dlogits: out, probs: inp, targets: ids, dloss: f32, m: i64, v: i32);
    embedding_forward(out: out, ids: ids, table: inp, n: i64, c: i32);
    embedding_backward(dtable: out, dout: inp, ids: ids, n: i64, c: i32);
    embedding_bag_mean_forward(out: out, ids: ids, offsets: ids, table: inp, bags: i32, c: i32);
    embedding_bag_mean_backward(dtable: out, dout: inp, ids: ids, offsets: ids, bags: i32, c: i32);
    sum_squares_acc(acc: out, x: inp, n: i64);
    add_layernorm(out: out, x: inp, res: inp, w: inp, b: inp, m: i32, c: i32, eps: f32);
    pointwise(out: out, x: inp, n: i64, f: i32);
    to_half(out: h16, x: inp, n: i64, format: i32);
    packed_attention(
        ctx: out, att: out, qkv: inp, offsets: ids, qrows: ids, qseqs: ids,
        c: i32, nh: i32, tmax: i32, scale: f32,
    );
    adamw(
        p: out, g: inp, m: out, v: out, n: i64,
        lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, gscale: f32,
    );
}

/// `(name, parameter types)` of every `extern "C" __global__` function in `source`, each type
/// with single spaces and `*` attached (`const float*`).
pub(super) fn declared_kernels(source: &str) -> Vec<(String, Vec<String>)> {
    const HEAD: &str = "extern \"C\" __global__ void ";
    let mut kernels = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(HEAD) {
        rest = &rest[at + HEAD.len()..];
        let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else { break };
        let name = rest[..open].trim().to_string();
        let params = rest[open + 1..close]
            .split(',')
            .map(|param| {
                let spaced = param.replace('*', " * ");
                let words: Vec<&str> = spaced.split_whitespace().collect();
                words[..words.len().saturating_sub(1)].join(" ").replace(" *", "*")
            })
            .collect();
        kernels.push((name, params));
        rest = &rest[close..];
    }
    kernels
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
    let opts = CompileOptions {
        arch,
        name: Some("tokenmill_kernels.cu".into()),
        ..CompileOptions::default()
    };
    compile_ptx_with_opts(KERNELS, opts).map_err(cuda_err("NVRTC compile of kernels.cu"))
}
