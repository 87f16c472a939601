//! Whether a GPU and the CUDA libraries the backend loads at run time are usable, asked without
//! letting cudarc panic on a missing library.
// The library probes are `unsafe` in cudarc (they only try to dlopen by the usual names).
#![allow(unsafe_code)]

use cudarc::driver::CudaContext;

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
    let count = CudaContext::device_count()
        .map_err(|e| format!("the CUDA driver failed to initialise: {e}"))?;
    if count <= 0 {
        return Err("the NVIDIA driver reports no GPU".into());
    }
    if ordinal >= count as usize {
        return Err(format!(
            "there is no GPU {ordinal}: the driver reports {count} (cuda:0 to cuda:{})",
            count - 1
        ));
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
    let ctx = CudaContext::new(ordinal)
        .map_err(|e| format!("creating a context on GPU {ordinal} failed: {e}"))?;
    let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
    let (major, minor) = ctx.compute_capability().unwrap_or((0, 0));
    Ok(format!("{name}, compute capability {major}.{minor}, {count} GPU(s) visible"))
}
