//! Choosing where kernels run: `auto`, `cpu` or `cuda[:N]`.
//!
//! `cuda[:N]` resolves to that GPU when the NVIDIA driver, the GPU and the CUDA libraries the
//! backend loads at run time (libcuda, libnvrtc, libcublas) are all usable, and is an error that
//! says which one is missing otherwise. `auto` takes GPU 0 when usable and otherwise falls back
//! to the CPU, returning the reason, so the caller can log what it chose and why. (On a machine
//! without a GPU, the example below takes the CPU.)
//!
//! ```
//! use tokenmill_engine::device::{Device, DeviceRequest};
//!
//! let request: DeviceRequest = "auto".parse()?;
//! let (device, why) = request.resolve()?;
//! if device == Device::Cpu {
//!     assert!(why.contains("CPU"));
//!     assert!("cuda:1".parse::<DeviceRequest>()?.resolve().is_err());
//! }
//! assert!("tpu".parse::<DeviceRequest>().is_err());
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A device that kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// The rayon CPU backend.
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceRequest {
    /// A GPU if one is usable, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// A GPU by ordinal (`cuda` means `cuda:0`); an error when none is usable.
    Cuda(usize),
}

impl FromStr for DeviceRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad =
            |reason: &str| Error::Device { request: s.to_string(), reason: reason.to_string() };
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Self::Cuda).map_err(|_| {
                    bad("the GPU ordinal after `cuda:` must be a number, as in cuda:0")
                }),
                None => Err(bad("expected auto, cpu, cuda or cuda:N")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        assert_eq!("AUTO".parse::<DeviceRequest>().unwrap(), DeviceRequest::Auto);
        assert_eq!("cuda".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cuda(0));
        assert_eq!(" cuda:3 ".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cuda(3));
        assert!("cuda:x".parse::<DeviceRequest>().is_err());
        assert_eq!(DeviceRequest::Cpu.resolve().unwrap().0, Device::Cpu);
        // Without a usable GPU (as on CI), cuda is an error that says why and what to do.
        if let Err(e) = DeviceRequest::Cuda(0).resolve() {
            let err = e.to_string();
            assert!(err.contains("cuda:0") && err.contains("`cpu` or `auto`"), "{err}");
        }
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }
}
