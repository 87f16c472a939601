//! The CUDA kernels on the CPU, for testing without a GPU: `kernels.cu` itself is compiled by the
//! system C++ compiler together with `emulator.h` (CUDA's thread indices, `__syncthreads`, warp
//! shuffles and `atomicAdd`; a block's CUDA threads are fibers taking turns on one OS thread), and
//! the backend's launches call it through a generated entry point per kernel, with the very grids
//! and arguments they give the GPU. cuBLAS calls run on `blas::reference_sgemm`, written from the
//! BLAS definition. So everything of the CUDA backend except the driver, NVRTC's code generation
//! and cuBLAS itself can be tested here against the CPU backend.
//!
//! Every buffer has a canary on each side: a kernel or product that writes just outside its
//! buffer fails the launch, and one that reads just outside it reads NaN (which `fmaxf` ignores;
//! sums and products carry it). Accesses further out than the canaries are not caught: a write
//! there corrupts the process's memory, and an id read from a `u32` canary indexes so far that
//! it faults. A launch whose threads deadlock at barriers, reach a `__syncthreads` after others
//! exited, or shuffle with an exited lane fails with that reason (see emulator.h for what else
//! the emulation does not do). Linux only (glibc's ucontext, a `.so` loaded at run time).

use std::ffi::{CStr, c_char, c_void};
use std::fmt;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use cudarc::driver::LaunchConfig;
use xxhash_rust::xxh3::xxh3_64;

use super::blas::{BlasCall, reference_sgemm};
use super::driver::{Arg, Driver, Kernel};
use super::kernels::{KERNEL_NAMES, KERNELS, declared_kernels};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::precision::HalfFormat;

/// What `kernels.cu` needs of CUDA, for the C++ compiler.
const SHIM: &str = include_str!("emulator.h");

/// Elements of canary on each side of every buffer.
const PAD: usize = 16;
/// The `f32` canary: a NaN no arithmetic produces, so reading it poisons a result.
const F32_CANARY: u32 = 0x7fa0_dead;
/// The `u32` canary: an id far beyond any table.
const U32_CANARY: u32 = 0xdead_beef;
/// The 16-bit canary: a NaN both as fp16 and as bf16.
const U16_CANARY: u16 = 0x7fad;

/// A kernel's entry point in the compiled library: grid, block, a pointer to each argument, and
/// where to put the reason when a CUDA thread fails (status 3; a static C string).
type Entry = unsafe extern "C" fn(
    grid: *const u32,
    block: *const u32,
    args: *const *mut c_void,
    error: *mut *const c_char,
) -> i32;

/// The emulator's buffers: host memory between two canaries.
#[derive(Clone)]
pub struct EmuBuf<T> {
    data: Vec<T>,
}

impl<T> fmt::Debug for EmuBuf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmuBuf({} elements)", self.data.len() - 2 * PAD)
    }
}

/// Element types of [`EmuBuf`], with their canary.
pub trait Element: Copy {
    /// The canary value.
    fn canary() -> Self;
    /// Whether `self` is, bit for bit, the canary.
    fn is_canary(self) -> bool;
}
impl Element for f32 {
    fn canary() -> Self {
        f32::from_bits(F32_CANARY)
    }
    fn is_canary(self) -> bool {
        self.to_bits() == F32_CANARY
    }
}
impl Element for u32 {
    fn canary() -> Self {
        U32_CANARY
    }
    fn is_canary(self) -> bool {
        self == U32_CANARY
    }
}

impl Element for u16 {
    fn canary() -> Self {
        U16_CANARY
    }
    fn is_canary(self) -> bool {
        self == U16_CANARY
    }
}

impl<T: Element> EmuBuf<T> {
    fn from_slice(values: &[T]) -> Self {
        let mut data = vec![T::canary(); values.len() + 2 * PAD];
        data[PAD..PAD + values.len()].copy_from_slice(values);
        Self { data }
    }
    fn len(&self) -> usize {
        self.data.len() - 2 * PAD
    }
    fn values(&self) -> &[T] {
        &self.data[PAD..self.data.len() - PAD]
    }
    fn values_mut(&mut self) -> &mut [T] {
        let end = self.data.len() - PAD;
        &mut self.data[PAD..end]
    }
    /// The address of the first element, for a kernel argument.
    fn address(&self) -> u64 {
        self.values().as_ptr() as usize as u64
    }
    /// The address of the first element, for a kernel argument the kernel writes through.
    fn address_mut(&mut self) -> u64 {
        self.values_mut().as_mut_ptr() as usize as u64
    }
    /// Fails when something wrote over a canary.
    fn check_canaries(&self, op: &str) -> Result<()> {
        let (n, total) = (self.len(), self.data.len());
        let before = self.data[..PAD]
            .iter()
            .rposition(|x| !x.is_canary())
            .map(|i| format!("{} elements before", PAD - i));
        let after = self.data[total - PAD..]
            .iter()
            .position(|x| !x.is_canary())
            .map(|i| format!("element {}", n + i));
        match before.or(after) {
            Some(at) => Err(Error::Cuda {
                op: op.to_string(),
                reason: format!("wrote outside its buffer of {n} elements, at {at}"),
            }),
            None => Ok(()),
        }
    }
}

/// One kernel argument as the entry point reads it: 8 bytes, 8-aligned, the value at the start.
#[repr(C, align(8))]
struct Slot([u8; 8]);

impl Slot {
    fn new(bytes: &[u8]) -> Self {
        let mut slot = [0u8; 8];
        slot[..bytes.len()].copy_from_slice(bytes);
        Self(slot)
    }
}

/// `kernels.cu` compiled for the CPU and loaded.
pub struct Emulator {
    /// Keeps the entry points valid.
    _library: libloading::Library,
    entries: Vec<Entry>,
    path: PathBuf,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator").field("library", &self.path).finish_non_exhaustive()
    }
}

/// The C++ source: the shim, `kernels.cu`, and an entry point per kernel that reads each
/// argument from its slot with the type the kernel declares.
fn source() -> String {
    let mut src = format!("{SHIM}\n#line 1 \"kernels.cu\"\n{KERNELS}\n");
    for (name, params) in declared_kernels(KERNELS) {
        let args: Vec<String> =
            params.iter().enumerate().map(|(i, ty)| format!("*({ty}*)a[{i}]")).collect();
        src.push_str(&format!(
            "extern \"C\" int tm_emu_{name}(const unsigned* g, const unsigned* b, void** a, const char** e) {{\n    \
             return emu::launch(g, b, e, [=] {{ {name}({}); }});\n}}\n",
            args.join(", ")
        ));
    }
    src
}

/// The C++ compiler's flags for the library.
const CXX_FLAGS: [&str; 5] = ["-std=c++20", "-O2", "-shared", "-fPIC", "-pthread"];

/// A name no other build, in this process or another, uses at the same time.
fn unique_stem(key: u64) -> String {
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    format!("kernels-{key:016x}-{}-{}", std::process::id(), BUILDS.fetch_add(1, Ordering::Relaxed))
}

/// The C++ compiler (`$CXX`, else `c++`) and its `--version` output, or why it cannot run.
pub(super) fn compiler() -> std::result::Result<(String, String), String> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    match Command::new(&cxx).arg("--version").output() {
        Ok(out) if out.status.success() => {
            Ok((cxx, String::from_utf8_lossy(&out.stdout).into_owned()))
        }
        Ok(out) => Err(format!(
            "the C++ compiler `{cxx} --version` exited with {} (set CXX to choose another)",
            out.status
        )),
        Err(e) => Err(format!("running the C++ compiler `{cxx}` (set CXX to choose another): {e}")),
    }
}

/// Compiles [`source`] into a shared library and returns its path: once per source, compiler,
/// compiler version and flags in the cache directory (written under a unique name, then renamed
/// into place, so that concurrent builders never load a half-written file), else in a private
/// temporary directory.
///
/// Returns the library's path and whether it is a private copy, for the caller to delete once
/// loaded.
pub(super) fn build(cached: Option<PathBuf>) -> Result<(PathBuf, bool)> {
    let fail = |reason: String| Error::Device { request: "the CUDA emulator".into(), reason };
    let (cxx, version) = compiler().map_err(fail)?;
    let src = source();
    let key = xxh3_64(format!("{cxx}\n{version}\n{CXX_FLAGS:?}\n{src}").as_bytes());
    let dir = match &cached {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(unique_stem(key)),
    };
    let lib = dir.join(format!("kernels-{key:016x}.so"));
    if cached.is_some() && lib.is_file() {
        return Ok((lib, false));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
    let stem = unique_stem(key);
    let (cpp, tmp) = (dir.join(format!("{stem}.cpp")), dir.join(format!("{stem}.so")));
    std::fs::write(&cpp, &src).map_err(|e| fail(format!("writing {}: {e}", cpp.display())))?;
    let out =
        Command::new(&cxx).args(CXX_FLAGS).arg("-o").arg(&tmp).arg(&cpp).output().map_err(|e| {
            fail(format!("running the C++ compiler `{cxx}` (set CXX to choose another): {e}"))
        })?;
    let _ = std::fs::remove_file(&cpp);
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        return Err(fail(format!(
            "`{cxx}` failed on the kernels:\n{}",
            log.chars().take(4000).collect::<String>()
        )));
    }
    // Another builder may have put the same library in place first: either copy will do.
    if let Err(e) = std::fs::rename(&tmp, &lib) {
        let _ = std::fs::remove_file(&tmp);
        if !lib.is_file() {
            return Err(fail(format!("renaming {} to {}: {e}", tmp.display(), lib.display())));
        }
    }
    Ok((lib, cached.is_none()))
}

impl Emulator {
    /// Builds (or finds built) and loads the kernels (see [`super::EmulatedCuda::new`]).
    pub(super) fn new() -> Result<Self> {
        let (path, private) = build(crate::cache_dir("cuda-emulator"))?;
        let emulator = Self::load(path.clone());
        if private {
            // Loaded (or failed): the private copy is not needed any more.
            let _ = std::fs::remove_file(&path);
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        emulator
    }

    /// Loads a library made by [`build`].
    pub(super) fn load(path: PathBuf) -> Result<Self> {
        let fail = |reason: String| Error::Device { request: "the CUDA emulator".into(), reason };
        // SAFETY: the library is ours, built just now from kernels.cu and emulator.h; loading it
        // runs no initialisers beyond the C++ runtime's.
        let library = unsafe { libloading::Library::new(&path) }
            .map_err(|e| fail(format!("loading {}: {e}", path.display())))?;
        let mut entries = Vec::with_capacity(KERNEL_NAMES.len());
        for name in KERNEL_NAMES {
            let symbol = format!("tm_emu_{name}");
            // SAFETY: every tm_emu_* function is generated by `source` with the `Entry` signature.
            let entry = unsafe { library.get::<Entry>(symbol.as_bytes()) }
                .map_err(|e| fail(format!("kernels.cu has no kernel `{name}` ({e})")))?;
            entries.push(*entry);
        }
        Ok(Self { _library: library, entries, path })
    }
}

/// Runs one cuBLAS-style call on the reference BLAS, over plain slices.
fn reference_call(call: &BlasCall, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<()> {
    let bad = |reason: String| Error::Cuda { op: "gemm".into(), reason };
    match *call {
        BlasCall::Single(cfg) => reference_sgemm(&cfg, a, b, c).map_err(bad),
        BlasCall::Batched(s) => {
            for i in 0..s.batch_size.max(0) as usize {
                let from = |stride: i64| i * stride as usize;
                let (fa, fb, fc) = (from(s.stride_a), from(s.stride_b), from(s.stride_c));
                let (a, b) = (a.get(fa..).unwrap_or(&[]), b.get(fb..).unwrap_or(&[]));
                let c = c.get_mut(fc..).unwrap_or(&mut []);
                reference_sgemm(&s.gemm, a, b, c).map_err(|e| bad(format!("batch {i}: {e}")))?;
            }
            Ok(())
        }
    }
}

impl Driver for Emulator {
    type F32s = EmuBuf<f32>;
    type U32s = EmuBuf<u32>;
    type U16s = EmuBuf<u16>;

    fn device(&self) -> Device {
        Device::Cpu
    }
    fn zeros(&self, n: usize) -> Result<EmuBuf<f32>> {
        Ok(EmuBuf::from_slice(&vec![0.0; n]))
    }
    fn scratch(&self, n: usize) -> Result<EmuBuf<f32>> {
        // Uninitialised on a GPU: NaN here, so a read before the write shows.
        Ok(EmuBuf::from_slice(&vec![f32::NAN; n]))
    }
    fn upload(&self, data: &[f32]) -> Result<EmuBuf<f32>> {
        Ok(EmuBuf::from_slice(data))
    }
    fn upload_ids(&self, ids: &[u32]) -> Result<EmuBuf<u32>> {
        Ok(EmuBuf::from_slice(ids))
    }
    fn write_ids(&self, dst: &mut EmuBuf<u32>, ids: &[u32]) -> Result<()> {
        dst.values_mut().copy_from_slice(ids);
        Ok(())
    }
    fn download(&self, buf: &EmuBuf<f32>) -> Result<Vec<f32>> {
        Ok(buf.values().to_vec())
    }
    fn len(buf: &EmuBuf<f32>) -> usize {
        buf.len()
    }
    fn ids_len(ids: &EmuBuf<u32>) -> usize {
        ids.len()
    }
    fn scratch_u16(&self, n: usize) -> Result<EmuBuf<u16>> {
        // Uninitialised on a GPU: NaN here (as fp16 and bf16), so a read before the write shows.
        Ok(EmuBuf::from_slice(&vec![0x7fff; n]))
    }
    fn upload_u16(&self, data: &[u16]) -> Result<EmuBuf<u16>> {
        Ok(EmuBuf::from_slice(data))
    }
    fn download_u16(&self, buf: &EmuBuf<u16>) -> Result<Vec<u16>> {
        Ok(buf.values().to_vec())
    }
    fn u16_len(buf: &EmuBuf<u16>) -> usize {
        buf.len()
    }
    fn fill_zero(&self, buf: &mut EmuBuf<f32>) -> Result<()> {
        buf.values_mut().fill(0.0);
        Ok(())
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    fn gemm(
        &self,
        call: &BlasCall,
        a: &EmuBuf<f32>,
        b: &EmuBuf<f32>,
        c: &mut EmuBuf<f32>,
    ) -> Result<()> {
        reference_call(call, a.values(), b.values(), c.values_mut())?;
        c.check_canaries("gemm")
    }
    fn gemm_half(
        &self,
        call: &BlasCall,
        format: HalfFormat,
        a: &EmuBuf<u16>,
        b: &EmuBuf<u16>,
        c: &mut EmuBuf<f32>,
    ) -> Result<()> {
        // The exact value of every 16-bit input, so the reference's only rounding is the f32
        // accumulation's, as with CUBLAS_COMPUTE_32F.
        let exact =
            |x: &EmuBuf<u16>| x.values().iter().map(|&h| format.to_f32(h)).collect::<Vec<_>>();
        reference_call(call, &exact(a), &exact(b), c.values_mut())?;
        c.check_canaries("gemm_half")
    }
    fn launch(&self, kernel: Kernel, cfg: LaunchConfig, args: &mut [Arg<'_, Self>]) -> Result<()> {
        let bad = |reason: String| Error::Cuda { op: kernel.name.into(), reason };
        if cfg.shared_mem_bytes != 0 {
            return Err(bad("dynamic shared memory is not emulated".into()));
        }
        let mut slots: Vec<Slot> = args
            .iter_mut()
            .map(|arg| match arg {
                Arg::Out(buf) => Slot::new(&buf.address_mut().to_ne_bytes()),
                Arg::In(buf) => Slot::new(&buf.address().to_ne_bytes()),
                Arg::Ids(ids) => Slot::new(&ids.address().to_ne_bytes()),
                Arg::Half(buf) => Slot::new(&buf.address_mut().to_ne_bytes()),
                Arg::I32(v) => Slot::new(&v.to_ne_bytes()),
                Arg::I64(v) => Slot::new(&v.to_ne_bytes()),
                Arg::F32(v) => Slot::new(&v.to_ne_bytes()),
            })
            .collect();
        let pointers: Vec<*mut c_void> =
            slots.iter_mut().map(|slot| (slot as *mut Slot).cast()).collect();
        let grid = [cfg.grid_dim.0, cfg.grid_dim.1, cfg.grid_dim.2];
        let block = [cfg.block_dim.0, cfg.block_dim.1, cfg.block_dim.2];
        // SAFETY: the entry point reads one slot per parameter of the kernel as that parameter's
        // type; the slots hold the arguments of the kernel's declaration (checked against
        // kernels.cu by tests), buffer addresses point into buffers this call borrows (mutably
        // where the kernel writes), and the backend checked their lengths against the
        // dimensions passed. Writes beyond them land in the canaries, checked below.
        let mut error: *const c_char = std::ptr::null();
        let status = unsafe {
            (self.entries[kernel.index])(
                grid.as_ptr(),
                block.as_ptr(),
                pointers.as_ptr(),
                &raw mut error,
            )
        };
        match status {
            0 => {}
            1 => {
                return Err(bad(format!(
                    "block {block:?}: only 1-D blocks of 1 to 1024 threads are launched"
                )));
            }
            2 => return Err(bad(format!("grid {grid:?} is outside CUDA's limits"))),
            _ if error.is_null() => return Err(bad(format!("failed with status {status}"))),
            // SAFETY: a non-null `error` points to one of emulator.h's static, NUL-terminated messages.
            _ => return Err(bad(unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned())),
        }
        for arg in args.iter() {
            match arg {
                Arg::Out(buf) => buf.check_canaries(kernel.name)?,
                Arg::In(buf) => buf.check_canaries(kernel.name)?,
                Arg::Ids(ids) => ids.check_canaries(kernel.name)?,
                Arg::Half(buf) => buf.check_canaries(kernel.name)?,
                Arg::I32(_) | Arg::I64(_) | Arg::F32(_) => {}
            }
        }
        Ok(())
    }
}
