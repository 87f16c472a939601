//! The weights of an encoder from `model.safetensors`, converted to `f32` and laid out for the
//! forward pass (query, key and value fused into one `[3c, c]` matrix per layer).
//!
//! Names are those `save_pretrained` writes: `bert.` or `roberta.` before the encoder's
//! tensors (some exports drop the prefix; both are accepted), `classifier.*` for the head.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::config::{EncoderConfig, Family};
use crate::error::{Error, Result};

/// A linear layer, PyTorch layout: `weight[out, in]`, `bias[out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
}

/// A LayerNorm's scale and shift.
#[derive(Debug, Clone)]
pub struct Norm {
    /// Scale.
    pub weight: Vec<f32>,
    /// Shift.
    pub bias: Vec<f32>,
}

/// One transformer layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Query, key and value projections stacked: `[3c, c]`.
    pub qkv: Linear,
    /// Attention output projection.
    pub attn_out: Linear,
    /// LayerNorm after the attention block.
    pub attn_norm: Norm,
    /// Feed-forward up projection.
    pub up: Linear,
    /// Feed-forward down projection.
    pub down: Linear,
    /// LayerNorm after the feed-forward block.
    pub ffn_norm: Norm,
}

/// All the weights of an encoder with its classification head.
#[derive(Debug, Clone)]
pub struct Weights {
    /// `[vocab, c]`.
    pub word: Vec<f32>,
    /// `[max_positions, c]`.
    pub position: Vec<f32>,
    /// Row 0 of the token type table (inputs are single segments), `[c]`.
    pub token_type: Vec<f32>,
    /// LayerNorm of the embeddings.
    pub embed_norm: Norm,
    /// The layers.
    pub layers: Vec<Layer>,
    /// BERT's pooler / RoBERTa's `classifier.dense`: dense + tanh on the first token.
    pub pool: Linear,
    /// The classifier (`classifier` / `classifier.out_proj`).
    pub out: Linear,
}

struct Reader<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
    origin: String,
}

impl Reader<'_> {
    fn err(&self, reason: String) -> Error {
        Error::Format { context: self.origin.clone(), reason }
    }

    /// The tensor `name` (under the encoder prefix unless `head`), as `f32`, checked to have
    /// `shape`.
    fn get(&self, name: &str, shape: &[usize], head: bool) -> Result<Vec<f32>> {
        let full = if head { name.to_string() } else { format!("{}{name}", self.prefix) };
        let t = self.st.tensor(&full).map_err(|e| self.err(e.to_string()))?;
        if t.shape() != shape {
            return Err(
                self.err(format!("tensor {full} has shape {:?}, expected {shape:?}", t.shape()))
            );
        }
        let data = t.data();
        let out: Vec<f32> = match t.dtype() {
            Dtype::F32 => {
                data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            }
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(
                    self.err(format!("tensor {full} is {other:?}; expected F32, F16 or BF16"))
                );
            }
        };
        Ok(out)
    }

    fn linear(&self, name: &str, outputs: usize, inputs: usize, head: bool) -> Result<Linear> {
        Ok(Linear {
            weight: self.get(&format!("{name}.weight"), &[outputs, inputs], head)?,
            bias: self.get(&format!("{name}.bias"), &[outputs], head)?,
            inputs,
            outputs,
        })
    }

    fn norm(&self, name: &str, c: usize) -> Result<Norm> {
        Ok(Norm {
            weight: self.get(&format!("{name}.weight"), &[c], false)?,
            bias: self.get(&format!("{name}.bias"), &[c], false)?,
        })
    }

    fn layer(&self, i: usize, config: &EncoderConfig) -> Result<Layer> {
        let (c, f) = (config.hidden_size, config.intermediate_size);
        let p = format!("encoder.layer.{i}");
        let (q, k, v) = (
            self.linear(&format!("{p}.attention.self.query"), c, c, false)?,
            self.linear(&format!("{p}.attention.self.key"), c, c, false)?,
            self.linear(&format!("{p}.attention.self.value"), c, c, false)?,
        );
        let qkv = Linear {
            weight: [q.weight, k.weight, v.weight].concat(),
            bias: [q.bias, k.bias, v.bias].concat(),
            inputs: c,
            outputs: 3 * c,
        };
        Ok(Layer {
            qkv,
            attn_out: self.linear(&format!("{p}.attention.output.dense"), c, c, false)?,
            attn_norm: self.norm(&format!("{p}.attention.output.LayerNorm"), c)?,
            up: self.linear(&format!("{p}.intermediate.dense"), f, c, false)?,
            down: self.linear(&format!("{p}.output.dense"), c, f, false)?,
            ffn_norm: self.norm(&format!("{p}.output.LayerNorm"), c)?,
        })
    }
}

impl Weights {
    /// Reads `model.safetensors` (fp32, fp16 or bf16 tensors) for `config`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Format`] naming the file and the
    /// tensor if the header is malformed, a tensor is missing, has another shape or dtype.
    pub fn from_file(path: &Path, config: &EncoderConfig) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes, config, &path.display().to_string())
    }

    /// Reads the bytes of a safetensors file; `origin` names it in errors.
    ///
    /// # Errors
    /// As for [`Weights::from_file`].
    pub fn from_bytes(bytes: &[u8], config: &EncoderConfig, origin: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Format { context: origin.to_string(), reason: e.to_string() })?;
        let base = match config.family {
            Family::Bert => "bert.",
            Family::Roberta => "roberta.",
        };
        let has = |n: &str| st.tensor(n).is_ok();
        let prefix =
            if has(&format!("{base}embeddings.word_embeddings.weight")) { base } else { "" };
        let r = Reader { st, prefix, origin: origin.to_string() };
        let c = config.hidden_size;
        let layers = (0..config.num_layers).map(|i| r.layer(i, config)).collect::<Result<_>>()?;
        let types =
            r.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, c], false)?;
        let (pool, out) = match config.family {
            Family::Bert => (
                r.linear("pooler.dense", c, c, false)?,
                r.linear("classifier", config.num_labels, c, true)?,
            ),
            Family::Roberta => (
                r.linear("classifier.dense", c, c, true)?,
                r.linear("classifier.out_proj", config.num_labels, c, true)?,
            ),
        };
        Ok(Self {
            word: r.get("embeddings.word_embeddings.weight", &[config.vocab_size, c], false)?,
            position: r.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, c],
                false,
            )?,
            token_type: types[..c].to_vec(),
            embed_norm: r.norm("embeddings.LayerNorm", c)?,
            layers,
            pool,
            out,
        })
    }
}
