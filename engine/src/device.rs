//! Choosing where kernels run: `auto`, `cpu` or `cuda[:N]`.
//!
//! This build has only the CPU backend (the reference): `cuda` is parsed but resolving it is an
//! error that says so, and `auto` falls back to the CPU and returns the reason, so the caller can
//! log what it chose and why.
//!
//! ```
//! use tokenmill_engine::device::{Device, DeviceRequest};
//!
//! let request: DeviceRequest = "auto".parse()?;
//! let (device, why) = request.resolve()?;
//! assert_eq!(device, Device::Cpu);
//! assert!(why.contains("CPU"));
//! assert!("cuda:1".parse::<DeviceRequest>()?.resolve().is_err());
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
        let bad = |reason: &str| Error::Device { request: s.to_string(), reason: reason.to_string() };
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Self::Cuda).map_err(|_| bad("the GPU ordinal after `cuda:` must be a number, as in cuda:0")),
                None => Err(bad("expected auto, cpu, cuda or cuda:N")),
            },
        }
    }
}

/// Why this build cannot use a GPU.
const NO_CUDA: &str = "this build of tokenmill has no CUDA backend yet (only the CPU reference backend)";

impl DeviceRequest {
    /// The device to use and a one-line reason for the choice.
    ///
    /// # Errors
    /// [`Error::Device`] for `cuda[:N]` when no usable GPU backend is present.
    pub fn resolve(self) -> Result<(Device, String)> {
        match self {
            Self::Cpu => Ok((Device::Cpu, "CPU requested".into())),
            Self::Auto => Ok((Device::Cpu, format!("auto: using the CPU because {NO_CUDA}"))),
            Self::Cuda(n) => Err(Error::Device { request: format!("cuda:{n}"), reason: format!("{NO_CUDA}; use --device cpu or auto") }),
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
        let err = DeviceRequest::Cuda(0).resolve().unwrap_err().to_string();
        assert!(err.contains("no CUDA backend") && err.contains("cpu"), "{err}");
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }
}
