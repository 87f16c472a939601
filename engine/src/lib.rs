//! tokenmill's small tensor engine: CPU reference kernels (forward and backward), a CUDA backend
//! checked against them, and models built on them: fastText's supervised model on feature ids
//! and a small GPT for verifying token shards.
//!
//! - [`ops`]: matmul, linear and bias, GELU, layer norm, causal self-attention, softmax
//!   cross-entropy, embedding lookup and bag; each backward checked by finite differences; the
//!   encoders' forward-only kernels (post-LN with residual, packed bidirectional attention).
//! - [`optim`]: AdamW (dense and lazy row-wise) and SGD over flat parameter buffers.
//! - [`classifier`]: fastText's supervised model on caller-computed feature ids
//!   ([`classifier::Bag`], what `tokenmill train-classifier` trains): training, evaluation
//!   (accuracy, macro F1), batch scoring on any backend.
//! - [`encoder`]: BERT / RoBERTa / XLM-R classifiers from Hugging Face checkpoints
//!   (`config.json`, `model.safetensors`), scored on the CPU (a fast path on the calling
//!   thread) or on any backend (`Encoder::into_device`: the CUDA backend on a GPU, its linear
//!   layers in fp32, fp16 or bf16).
//! - [`gpt`]: a pre-LN GPT: train on token windows, held-out loss, generation, perplexity.
//! - [`backend`]: the [`backend::Backend`] trait over device buffers, with the CPU reference
//!   and a CUDA backend (cudarc, loaded at run time: no CUDA needed to build or run on a CPU).
//! - [`device`]: `auto|cpu|cuda[:N]` parsing and resolution (probes for a usable GPU).
//! - [`precision`]: fp32, or fp16 / bf16 inputs with f32 accumulation for a backend's matrix
//!   products (the encoder's linear layers on a GPU), and the 16-bit formats' rounding.
//!
//! Everything random takes a seed; libraries never print (training reports through a callback).
//!
//! ```
//! use tokenmill_engine::Tensor;
//! use tokenmill_engine::classifier::{Bag, BagConfig};
//!
//! let a = Tensor::from_vec(&[1, 2], vec![1.0, 2.0])?;
//! let b = Tensor::from_vec(&[2, 1], vec![3.0, 4.0])?;
//! assert_eq!(a.matmul(&b)?.data(), &[11.0]);
//!
//! // Feature ids as a fastText dictionary gives them: rows 0-1 "keep" words, 2-3 "spam" words.
//! let data: [(&[u32], u32); 2] = [(&[0, 1], 0), (&[2, 3], 1)];
//! let model = Bag::train(&BagConfig { dim: 8, epochs: 50, ..BagConfig::default() }, 4, 2, &data)?;
//! assert!(model.probs(&[3])[1] > 0.5);
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
pub mod precision;
pub mod rng;
pub mod tensor;

pub use device::{Device, DeviceRequest};
pub use error::{Error, Result};
pub use file::cache_dir;
pub use precision::{HalfFormat, Precision};
pub use tensor::Tensor;
