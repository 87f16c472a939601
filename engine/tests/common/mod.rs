//! What the GPU tests share: the GPU backend and the CUDA emulator, each built once per test
//! binary (or `None`, saying why the test skips), and the macro that runs each check on both.

use std::sync::{Mutex, MutexGuard, OnceLock};

#[cfg(all(feature = "emulator", target_os = "linux"))]
use tokenmill_engine::backend::EmulatedCuda;
use tokenmill_engine::backend::{CudaBackend, probe_cuda};

/// The shared GPU backend (kernels compiled once), or `None` after printing why the test skips.
pub fn gpu(test: &str) -> Option<MutexGuard<'static, CudaBackend>> {
    static GPU: OnceLock<Result<Mutex<CudaBackend>, String>> = OnceLock::new();
    let gpu = GPU.get_or_init(|| match probe_cuda(0) {
        Ok(_) => Ok(Mutex::new(
            CudaBackend::new(0)
                .unwrap_or_else(|e| panic!("a GPU is present but the CUDA backend failed: {e}")),
        )),
        Err(why) => Err(why),
    });
    match gpu {
        Ok(m) => Some(m.lock().unwrap_or_else(|p| p.into_inner())),
        Err(why) => {
            eprintln!("SKIPPED {test}: no usable GPU: {why}");
            None
        }
    }
}

/// The CUDA emulator, built once per test binary: it must build where there is a C++ compiler;
/// where there is none, `None` after printing why the test skips.
#[cfg(all(feature = "emulator", target_os = "linux"))]
pub fn emulated(test: &str) -> Option<&'static EmulatedCuda> {
    static EMULATED: OnceLock<Result<EmulatedCuda, String>> = OnceLock::new();
    let emulated = EMULATED.get_or_init(|| {
        EmulatedCuda::compiler().map(|_| {
            EmulatedCuda::new()
                .unwrap_or_else(|e| panic!("the CUDA emulator could not be built: {e}"))
        })
    });
    match emulated {
        Ok(e) => Some(e),
        Err(why) => {
            eprintln!("SKIPPED {test}: no C++ compiler for the CUDA emulator: {why}");
            None
        }
    }
}

/// Each check twice: on the GPU (skipped, with the reason, where there is none) and on the CUDA
/// emulator, which runs the same kernels with the same launches on the CPU (every machine).
#[macro_export]
macro_rules! on_gpu_and_emulated {
    ($($name:ident),* $(,)?) => {
        mod on_gpu {
            $(#[test]
            fn $name() {
                if let Some(g) = super::gpu(stringify!($name)) {
                    super::$name(&*g);
                }
            })*
        }
        #[cfg(all(feature = "emulator", target_os = "linux"))]
        mod emulated {
            $(#[test]
            fn $name() {
                if let Some(e) = super::emulated(stringify!($name)) {
                    super::$name(e);
                }
            })*
        }
    };
}
