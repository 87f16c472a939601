//! tokenmill's small tensor engine: CPU reference kernels (forward and backward), a CUDA backend
//! checked against them, and two models built on them, a fastText-style quality classifier and a small GPT for verifying token shards.
//!
//! - [`ops`]: matmul, linear and bias, GELU, layer norm, causal self-attention, softmax
//!   cross-entropy, embedding lookup and bag; each backward checked by finite differences; the
//!   encoders' forward-only kernels (post-LN with residual, packed bidirectional attention).
//! - [`optim`]: AdamW (dense and lazy row-wise) and SGD over flat parameter buffers.
//! - [`classifier`]: hashed word n-gram classifier: train, evaluate (accuracy, macro F1),
//!   batch scoring, a versioned binary model file.
//! - [`encoder`]: BERT / RoBERTa / XLM-R classifiers from Hugging Face checkpoints
//!   (`config.json`, `model.safetensors`), scored on the CPU (a fast path on the calling
//!   thread) or on any backend (`Encoder::into_device`: the CUDA backend on a GPU).
//! - [`gpt`]: a pre-LN GPT: train on token windows, held-out loss, generation, perplexity.
//! - [`backend`]: the [`backend::Backend`] trait over device buffers, with the CPU reference
//!   and a CUDA backend (cudarc, loaded at run time: no CUDA needed to build or run on a CPU).
//! - [`device`]: `auto|cpu|cuda[:N]` parsing and resolution (probes for a usable GPU).
//!
//! Everything random takes a seed; libraries never print (training reports through a callback).
//!
//! ```
//! use tokenmill_engine::Tensor;
//! use tokenmill_engine::classifier::{Classifier, ClassifierConfig};
//!
//! let a = Tensor::from_vec(&[1, 2], vec![1.0, 2.0])?;
//! let b = Tensor::from_vec(&[2, 1], vec![3.0, 4.0])?;
//! assert_eq!(a.matmul(&b)?.data(), &[11.0]);
//!
//! let data = [("good clean text", 0), ("buy cheap pills now", 1)];
//! let config = ClassifierConfig { buckets: 1024, epochs: 50, ..ClassifierConfig::default() };
//! let model = Classifier::train(&config, vec!["keep".into(), "spam".into()], &data)?;
//! assert_eq!(model.predict("cheap pills").0, 1);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```
#![warn(missing_docs)]
// Tests may unwrap: a panic there is a test failure with a backtrace, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod classifier;
pub mod device;
pub mod encoder;
pub mod error;
mod file;
pub mod gpt;
pub mod ops;
pub mod optim;
pub mod rng;
pub mod tensor;

pub use device::{Device, DeviceRequest};
pub use error::{Error, Result};
pub use file::cache_dir;
pub use tensor::Tensor;
