//! What the kernel backend needs of a device: buffers, copies, kernel launches and `sgemm`.
//! [`CudaDriver`] is a GPU through cudarc; `emulator.rs` runs the same kernels on the CPU.

use std::fmt;
use std::sync::Arc;

use cudarc::cublas::{CudaBlas, Gemm as _};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use super::blas::BlasCall;
use super::kernels::{KERNEL_NAMES, compile_kernels, nvrtc_arch};
use super::{cuda_err, probe_cuda};
use crate::device::Device;
use crate::error::{Error, Result};

/// One kernel of `kernels.cu`: its position in [`KERNEL_NAMES`] and its name.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    pub(super) index: usize,
    pub(super) name: &'static str,
}

/// One launch argument, by the kind its kernel declares (see `param!` in kernels.rs).
#[derive(Debug)]
pub enum Arg<'a, D: Driver> {
    /// An `f32` buffer the kernel writes (`float*`).
    Out(&'a mut D::F32s),
    /// An `f32` buffer the kernel only reads (`const float*`).
    In(&'a D::F32s),
    /// A `u32` buffer the kernel reads (`const unsigned*`).
    Ids(&'a D::U32s),
    /// `int`.
    I32(i32),
    /// `long long`.
    I64(i64),
    /// `float`.
    F32(f32),
}

/// A device the kernel backend can run on. Lengths are in elements; every operation may be
/// queued, and [`Driver::download`] waits for all earlier work.
pub trait Driver: fmt::Debug + Sized {
    /// An owned `f32` buffer on the device.
    type F32s: fmt::Debug;
    /// An owned `u32` buffer on the device.
    type U32s: fmt::Debug;

    /// What [`crate::backend::Backend::device`] reports.
    fn device(&self) -> Device;
    /// `n` zeros.
    fn zeros(&self, n: usize) -> Result<Self::F32s>;
    /// `n` elements of any value, for results written before they are read.
    fn scratch(&self, n: usize) -> Result<Self::F32s>;
    /// A copy of host data.
    fn upload(&self, data: &[f32]) -> Result<Self::F32s>;
    /// A copy of host ids.
    fn upload_ids(&self, ids: &[u32]) -> Result<Self::U32s>;
    /// Overwrites `dst`, of the same length, with host ids.
    fn write_ids(&self, dst: &mut Self::U32s, ids: &[u32]) -> Result<()>;
    /// The buffer's elements on the host.
    fn download(&self, buf: &Self::F32s) -> Result<Vec<f32>>;
    /// Elements in an `f32` buffer.
    fn len(buf: &Self::F32s) -> usize;
    /// Elements in a `u32` buffer.
    fn ids_len(ids: &Self::U32s) -> usize;
    /// Sets every element to zero.
    fn fill_zero(&self, buf: &mut Self::F32s) -> Result<()>;
    /// Waits for all queued work.
    fn synchronize(&self) -> Result<()>;
    /// Runs one cuBLAS-style call whose matrices are `a`, `b` and `c` in cuBLAS's naming.
    fn gemm(
        &self,
        call: &BlasCall,
        a: &Self::F32s,
        b: &Self::F32s,
        c: &mut Self::F32s,
    ) -> Result<()>;
    /// Launches `kernel` with `args`, which the caller built from the kernel's declaration and
    /// checked against the dimensions it passes.
    fn launch(&self, kernel: Kernel, cfg: LaunchConfig, args: &mut [Arg<'_, Self>]) -> Result<()>;
}

/// An NVIDIA GPU through cudarc: one context, its default stream (all work in order; cudarc's
/// cross-stream event tracking stays idle because no second stream is ever created), a cuBLAS
/// handle and the kernels compiled with NVRTC for the GPU's architecture.
pub struct CudaDriver {
    ordinal: usize,
    pub(super) description: String,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    functions: Vec<CudaFunction>,
}

impl fmt::Debug for CudaDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaDriver")
            .field("ordinal", &self.ordinal)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl CudaDriver {
    /// Opens GPU `ordinal` (see [`super::CudaBackend::new`]).
    pub(super) fn new(ordinal: usize) -> Result<Self> {
        let description = probe_cuda(ordinal).map_err(|reason| Error::Device {
            request: format!("cuda:{ordinal}"),
            reason: format!("{reason}; use the device `cpu` or `auto` instead"),
        })?;
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("context"))?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(cuda_err("cublas init"))?;
        let ptx = compile_kernels(nvrtc_arch(
            ctx.compute_capability().map_err(cuda_err("compute capability"))?,
        ))?;
        let module = ctx.load_module(ptx).map_err(cuda_err("load module"))?;
        let functions = KERNEL_NAMES
            .iter()
            .map(|&name| module.load_function(name).map_err(cuda_err(name)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { ordinal, description, stream, blas, functions })
    }
}

impl Driver for CudaDriver {
    type F32s = CudaSlice<f32>;
    type U32s = CudaSlice<u32>;

    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }
    fn zeros(&self, n: usize) -> Result<CudaSlice<f32>> {
        self.stream.alloc_zeros::<f32>(n).map_err(cuda_err("alloc"))
    }
    fn scratch(&self, n: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: f32 has no invalid bit patterns, and callers write the scratch before reading.
        unsafe { self.stream.alloc::<f32>(n.max(1)) }.map_err(cuda_err("alloc"))
    }
    fn upload(&self, data: &[f32]) -> Result<CudaSlice<f32>> {
        self.stream.clone_htod(data).map_err(cuda_err("upload"))
    }
    fn upload_ids(&self, ids: &[u32]) -> Result<CudaSlice<u32>> {
        self.stream.clone_htod(ids).map_err(cuda_err("upload"))
    }
    fn write_ids(&self, dst: &mut CudaSlice<u32>, ids: &[u32]) -> Result<()> {
        self.stream.memcpy_htod(ids, dst).map_err(cuda_err("upload"))
    }
    fn download(&self, buf: &CudaSlice<f32>) -> Result<Vec<f32>> {
        self.stream.clone_dtoh(buf).map_err(cuda_err("download"))
    }
    fn len(buf: &CudaSlice<f32>) -> usize {
        buf.len()
    }
    fn ids_len(ids: &CudaSlice<u32>) -> usize {
        ids.len()
    }
    fn fill_zero(&self, buf: &mut CudaSlice<f32>) -> Result<()> {
        self.stream.memset_zeros(buf).map_err(cuda_err("memset"))
    }
    fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(cuda_err("synchronize"))
    }
    fn gemm(
        &self,
        call: &BlasCall,
        a: &CudaSlice<f32>,
        b: &CudaSlice<f32>,
        c: &mut CudaSlice<f32>,
    ) -> Result<()> {
        // SAFETY: the backend checked the buffers' lengths against every batch's extent, and
        // `blas_call`'s leading dimensions and strides are those extents (tested against a
        // reference BLAS in tests.rs).
        let res = unsafe {
            match *call {
                BlasCall::Single(cfg) => self.blas.gemm(cfg, a, b, c),
                BlasCall::Batched(cfg) => self.blas.gemm_strided_batched(cfg, a, b, c),
            }
        };
        res.map_err(cuda_err("gemm"))
    }
    fn launch(&self, kernel: Kernel, cfg: LaunchConfig, args: &mut [Arg<'_, Self>]) -> Result<()> {
        let mut launch = self.stream.launch_builder(&self.functions[kernel.index]);
        for arg in args.iter_mut() {
            match arg {
                Arg::Out(x) => launch.arg(&mut **x),
                Arg::In(x) => launch.arg(*x),
                Arg::Ids(x) => launch.arg(*x),
                Arg::I32(v) => launch.arg(&*v),
                Arg::I64(v) => launch.arg(&*v),
                Arg::F32(v) => launch.arg(&*v),
            };
        }
        // SAFETY: the arguments are those of the kernel's declaration (the typed launch methods
        // are generated from it and tests check it against kernels.cu), and every caller checked
        // each buffer's length against the dimensions it passes.
        unsafe { launch.launch(cfg) }.map(|_| ()).map_err(cuda_err(kernel.name))
    }
}
