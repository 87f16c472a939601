//! The crate's error type.

/// Everything that can fail in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor or buffer did not have the shape an operation needs.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    Shape {
        /// The operation that checked the shape.
        op: &'static str,
        /// What it expected, in words.
        expected: String,
        /// What it was given.
        got: String,
    },
    /// A configuration value is out of range.
    #[error("invalid config: {0}")]
    Config(String),
    /// A device string could not be parsed or the device is not usable.
    #[error("device {request:?}: {reason}")]
    Device {
        /// The device string as given.
        request: String,
        /// Why it cannot be used, and what to do.
        reason: String,
    },
    /// A GPU operation failed (driver, NVRTC or cuBLAS error).
    #[error("CUDA {op}: {reason}")]
    Cuda {
        /// The operation or kernel.
        op: String,
        /// The error the CUDA library reported.
        reason: String,
    },
    /// A model file is malformed, truncated, of another version or fails its checksum.
    #[error("model file {context}: {reason}")]
    Format {
        /// Where: the path or "bytes", and the offset when known.
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// Input data is unusable (empty training set, label out of range, token out of vocabulary).
    #[error("invalid input: {0}")]
    Input(String),
    /// Reading or writing a file failed.
    #[error("i/o on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
