//! Transformer encoder classifiers (BERT, RoBERTa, XLM-RoBERTa) from Hugging Face checkpoints:
//! the model-based quality filters of FineWeb-Edu, Chinese-FineWeb-Edu and CCI3-HQ.
//!
//! A checkpoint is a directory with `config.json` ([`EncoderConfig`]: `model_type` `bert`,
//! `roberta` or `xlm-roberta`, absolute positions, post-LN, GELU; anything else is refused by
//! name) and `model.safetensors` ([`Weights`]: fp32, fp16 or bf16 on disk, computed in `f32`).
//! The head is the one the checkpoint declares: `BertForSequenceClassification` (pooler dense +
//! tanh on `[CLS]`, then the classifier) or `(XLM)RobertaForSequenceClassification` (dense +
//! tanh on `<s>`, then `out_proj`). With `num_labels = 1` the output is a regression score.
//!
//! [`Encoder::logits`] takes token ids with the special tokens already in place
//! ([`Encoder::frame`] adds them and truncates, as the tokenizer's post-processor with
//! `truncation=True` does) and runs on the calling thread, on the CPU. Sequences of any lengths
//! go in one call without padding work (see `forward.rs`). [`Encoder::into_device`] runs the
//! same forward pass over any [`crate::backend::Backend`] (`device.rs`): on a GPU through the
//! CUDA backend (cuBLAS products, fused post-LN, GELU and packed attention kernels), the linear
//! layers' products in fp32, or in fp16 / bf16 with `f32` accumulation
//! ([`Encoder::into_device_with`]; everything else stays `f32`).
//!
//! ```no_run
//! use tokenmill_engine::encoder::Encoder;
//!
//! let model = Encoder::load(std::path::Path::new("fineweb-edu-classifier"))?;
//! let ids = model.frame(&[7592, 2088], 101, 102); // [CLS] hello world [SEP]
//! let score = model.logits(&[&ids])?[0][0];
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

mod config;
mod device;
mod forward;
mod gemm;
mod weights;

use std::path::Path;

pub use config::{Activation, EncoderConfig, Family, Problem, SUPPORTED_MODEL_TYPES};
pub use device::DeviceEncoder;
pub use forward::erf;
pub use weights::{Layer, Linear, Norm, Weights};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::precision::Precision;

/// An encoder with its classification head, ready to score.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    /// The weights with every linear layer's matrix transposed to `[in, out]` (see
    /// [`forward::to_inputs_major`]).
    weights: Weights,
}

impl Encoder {
    /// Loads `dir/config.json` and `dir/model.safetensors`.
    ///
    /// # Errors
    /// As [`EncoderConfig::from_file`] and [`Weights::from_file`].
    pub fn load(dir: &Path) -> Result<Self> {
        let config = EncoderConfig::from_file(&dir.join("config.json"))?;
        let weights = Weights::from_file(&dir.join("model.safetensors"), &config)?;
        Ok(Self::new(config, weights))
    }

    /// An encoder from parts already loaded.
    pub fn new(config: EncoderConfig, mut weights: Weights) -> Self {
        forward::to_inputs_major(&mut weights);
        Self { config, weights }
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// `[first] + ids + [last]`, with `ids` cut so the whole fits [`EncoderConfig::max_tokens`]
    /// (right truncation, as `truncation=True`).
    pub fn frame(&self, ids: &[u32], first: u32, last: u32) -> Vec<u32> {
        let keep = ids.len().min(self.config.max_tokens().saturating_sub(2));
        let mut out = Vec::with_capacity(keep + 2);
        out.push(first);
        out.extend_from_slice(&ids[..keep]);
        out.push(last);
        out
    }

    /// The head's outputs (`num_labels` logits, or the regression score) for each sequence.
    ///
    /// # Errors
    /// [`Error::Input`] if a sequence is empty, longer than [`EncoderConfig::max_tokens`] or
    /// holds an id outside the vocabulary (naming the sequence and the position).
    pub fn logits(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        check_inputs(&self.config, seqs)?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(forward::forward(&self.config, &self.weights, seqs))
    }

    /// Copies the weights to `backend` and moves it into a [`DeviceEncoder`] that runs the
    /// forward pass there (the same values as [`Encoder::logits`], within the backend's
    /// rounding): a GPU ([`crate::backend::CudaBackend`]), its CPU emulation, or
    /// [`crate::backend::CpuBackend`] (the reference; [`Encoder::logits`] is the fast CPU path).
    ///
    /// # Errors
    /// Backend errors (out of device memory).
    pub fn into_device<B: Backend>(&self, backend: B) -> Result<DeviceEncoder<B>> {
        self.into_device_with(backend, Precision::Fp32)
    }

    /// As [`Encoder::into_device`], with the linear layers' products in `precision`: in fp16 or
    /// bf16 their matrices are stored in that format and their inputs rounded to it, products
    /// summed in `f32` ([`crate::backend::Backend::matmul_bt_half`]); embeddings, LayerNorm,
    /// activations and attention stay in `f32`. The logits then differ from
    /// [`Encoder::logits`] by the rounding of those inputs (relative 2^-11 each in fp16, 2^-8
    /// in bf16), carried through the layers.
    ///
    /// # Errors
    /// Backend errors (out of device memory).
    pub fn into_device_with<B: Backend>(
        &self,
        backend: B,
        precision: Precision,
    ) -> Result<DeviceEncoder<B>> {
        DeviceEncoder::new(backend, self.config.clone(), &self.weights, precision)
    }
}

/// Checks a batch's sequences against the model: 1 to `max_tokens` ids inside the vocabulary.
fn check_inputs(config: &EncoderConfig, seqs: &[&[u32]]) -> Result<()> {
    let max = config.max_tokens();
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() || s.len() > max {
            return Err(Error::Input(format!(
                "sequence {i} has {} tokens; the encoder takes 1 to {max}",
                s.len()
            )));
        }
        if let Some(p) = s.iter().position(|&id| id as usize >= config.vocab_size) {
            return Err(Error::Input(format!(
                "sequence {i} position {p}: token id {} is outside the vocabulary of {}",
                s[p], config.vocab_size
            )));
        }
    }
    Ok(())
}
