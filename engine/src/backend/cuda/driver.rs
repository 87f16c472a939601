//! What the kernel backend needs of a device: buffers, copies, kernel launches, `sgemm` and the
//! half-precision `GemmEx`.
//! [`CudaDriver`] is a GPU through cudarc; `emulator.rs` runs the same kernels on the CPU.

use std::ffi::c_void;
use std::fmt;
use std::sync::Arc;

use cudarc::cublas::result::{self as blas_result, CublasError};
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasHandle_t, cudaDataType_t};
use cudarc::cublas::{CudaBlas, Gemm as _};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig,
    PushKernelArg,
};

use super::blas::BlasCall;
use super::kernels::{KERNEL_NAMES, compile_kernels, nvrtc_arch};
use super::{cuda_err, probe_cuda};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::precision::HalfFormat;

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
    /// A 16-bit buffer the kernel writes (`unsigned short*`: fp16 or bf16 bit patterns).
    Half(&'a mut D::U16s),
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
    /// An owned buffer of 16-bit patterns (fp16 or bf16) on the device.
    type U16s: fmt::Debug;

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
    /// `n` 16-bit elements of any value, for results written before they are read.
    fn scratch_u16(&self, n: usize) -> Result<Self::U16s>;
    /// A copy of host 16-bit patterns.
    fn upload_u16(&self, data: &[u16]) -> Result<Self::U16s>;
    /// A 16-bit buffer's elements on the host.
    fn download_u16(&self, buf: &Self::U16s) -> Result<Vec<u16>>;
    /// Elements in a 16-bit buffer.
    fn u16_len(buf: &Self::U16s) -> usize;
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
    /// Runs `call` as cuBLAS `GemmEx` (or its strided-batched form): `a` and `b` in `format`,
    /// `c` in `f32`, products summed in `f32` (`CUBLAS_COMPUTE_32F`).
    fn gemm_half(
        &self,
        call: &BlasCall,
        format: HalfFormat,
        a: &Self::U16s,
        b: &Self::U16s,
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
    pub(super) capability: (i32, i32),
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
        let capability = ctx.compute_capability().map_err(cuda_err("compute capability"))?;
        let ptx = compile_kernels(nvrtc_arch(capability))?;
        let module = ctx.load_module(ptx).map_err(cuda_err("load module"))?;
        let functions = KERNEL_NAMES
            .iter()
            .map(|&name| module.load_function(name).map_err(cuda_err(name)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { ordinal, description, capability, stream, blas, functions })
    }
}

impl Driver for CudaDriver {
    type F32s = CudaSlice<f32>;
    type U32s = CudaSlice<u32>;
    type U16s = CudaSlice<u16>;

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
    fn scratch_u16(&self, n: usize) -> Result<CudaSlice<u16>> {
        // SAFETY: u16 has no invalid bit patterns, and callers write the scratch before reading.
        unsafe { self.stream.alloc::<u16>(n.max(1)) }.map_err(cuda_err("alloc"))
    }
    fn upload_u16(&self, data: &[u16]) -> Result<CudaSlice<u16>> {
        self.stream.clone_htod(data).map_err(cuda_err("upload"))
    }
    fn download_u16(&self, buf: &CudaSlice<u16>) -> Result<Vec<u16>> {
        self.stream.clone_dtoh(buf).map_err(cuda_err("download"))
    }
    fn u16_len(buf: &CudaSlice<u16>) -> usize {
        buf.len()
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
    fn gemm_half(
        &self,
        call: &BlasCall,
        format: HalfFormat,
        a: &CudaSlice<u16>,
        b: &CudaSlice<u16>,
        c: &mut CudaSlice<f32>,
    ) -> Result<()> {
        let dtype = match format {
            HalfFormat::F16 => cudaDataType_t::CUDA_R_16F,
            HalfFormat::Bf16 => cudaDataType_t::CUDA_R_16BF,
        };
        let (pa, _record_a) = a.device_ptr(&self.stream);
        let (pb, _record_b) = b.device_ptr(&self.stream);
        let (pc, _record_c) = c.device_ptr_mut(&self.stream);
        let ptrs = (pa as *const c_void, pb as *const c_void, pc as *mut c_void);
        // SAFETY: as for `gemm`: the backend checked the buffers' lengths (in elements, of the
        // types named here) against every batch's extent, which `blas_call`'s leading dimensions
        // and strides describe; the pointers stay valid while the records above live.
        let res = unsafe { gemm_ex(*self.blas.handle(), call, dtype, ptrs) };
        res.map_err(cuda_err("gemm_half"))
    }
    fn launch(&self, kernel: Kernel, cfg: LaunchConfig, args: &mut [Arg<'_, Self>]) -> Result<()> {
        let mut launch = self.stream.launch_builder(&self.functions[kernel.index]);
        for arg in args.iter_mut() {
            match arg {
                Arg::Out(x) => launch.arg(&mut **x),
                Arg::In(x) => launch.arg(*x),
                Arg::Ids(x) => launch.arg(*x),
                Arg::Half(x) => launch.arg(&mut **x),
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

/// cuBLAS `GemmEx` (or `GemmStridedBatchedEx`) for `call`: A and B of `dtype`, C in f32, f32
/// accumulation (`CUBLAS_COMPUTE_32F`, whose alpha and beta are f32, as `call` holds them).
///
/// # Safety
/// `a`, `b` and `c` are device pointers, on the handle's stream, to at least the extents that
/// `call`'s dimensions, leading dimensions and strides describe.
unsafe fn gemm_ex(
    handle: cublasHandle_t,
    call: &BlasCall,
    dtype: cudaDataType_t,
    (a, b, c): (*const c_void, *const c_void, *mut c_void),
) -> std::result::Result<(), CublasError> {
    let (f32_out, compute) = (cudaDataType_t::CUDA_R_32F, cublasComputeType_t::CUBLAS_COMPUTE_32F);
    let algo = cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT;
    let (g, batched) = match call {
        BlasCall::Single(g) => (g, None),
        BlasCall::Batched(s) => (&s.gemm, Some(s)),
    };
    let (alpha, beta) = ((&raw const g.alpha).cast(), (&raw const g.beta).cast());
    let (m, n, k, ta, tb) = (g.m, g.n, g.k, g.transa, g.transb);
    // SAFETY: the caller's contract.
    unsafe {
        match batched {
            None => blas_result::gemm_ex(
                handle, ta, tb, m, n, k, alpha, a, dtype, g.lda, b, dtype, g.ldb, beta, c, f32_out,
                g.ldc, compute, algo,
            ),
            Some(s) => blas_result::gemm_strided_batched_ex(
                handle,
                ta,
                tb,
                m,
                n,
                k,
                alpha,
                a,
                dtype,
                g.lda,
                s.stride_a,
                b,
                dtype,
                g.ldb,
                s.stride_b,
                beta,
                c,
                f32_out,
                g.ldc,
                s.stride_c,
                s.batch_size,
                compute,
                algo,
            ),
        }
    }
}
