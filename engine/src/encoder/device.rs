//! The encoder's forward pass over the [`Backend`] trait: one implementation for the CPU
//! reference backend, the CUDA emulator and a GPU.
//!
//! The layout is the CPU path's (`forward.rs`): sequences packed without padding into one
//! `[tokens, c]` matrix, query, key and value in one fused product, attention per sequence over
//! its own rows, and in the last layer only each sequence's first row finished. Token ids,
//! positions and the packing offsets are computed on the host and uploaded with the batch.
//!
//! In fp16 or bf16 ([`Precision`]), the matrices of every linear layer (query/key/value, the
//! attention output, the feed-forward pair, the pooler and the classifier) are uploaded in that
//! format and their products run as [`Backend::matmul_bt_half`] (inputs rounded, `f32` sums and
//! outputs); the embeddings, biases, LayerNorms, activations, softmax and the attention's own
//! products (inside the packed attention kernel) stay in `f32`.

use super::config::{Activation, EncoderConfig};
use super::forward::{positions, transpose};
use super::weights::{Linear, Norm, Weights};
use crate::backend::{Backend, PackedShape, Pointwise};
use crate::error::Result;
use crate::precision::Precision;

/// A linear layer's matrix on the device, `[out, in]`, in the products' input format.
#[derive(Debug)]
enum Matrix<B: Backend> {
    F32(B::Buf),
    Half(B::Half),
}

/// A linear layer on the device.
#[derive(Debug)]
struct DevLinear<B: Backend> {
    weight: Matrix<B>,
    bias: B::Buf,
    inputs: usize,
    outputs: usize,
}

/// A LayerNorm on the device.
#[derive(Debug)]
struct DevNorm<B: Backend> {
    weight: B::Buf,
    bias: B::Buf,
}

#[derive(Debug)]
struct DevLayer<B: Backend> {
    qkv: DevLinear<B>,
    attn_out: DevLinear<B>,
    attn_norm: DevNorm<B>,
    up: DevLinear<B>,
    down: DevLinear<B>,
    ffn_norm: DevNorm<B>,
}

/// An encoder classifier whose weights live on a backend, with that backend: built by
/// [`super::Encoder::into_device`].
#[derive(Debug)]
pub struct DeviceEncoder<B: Backend> {
    be: B,
    config: EncoderConfig,
    precision: Precision,
    word: B::Buf,
    position: B::Buf,
    token_type: B::Buf,
    embed_norm: DevNorm<B>,
    layers: Vec<DevLayer<B>>,
    pool: DevLinear<B>,
    out: DevLinear<B>,
}

/// Uploads a linear layer whose matrix the [`super::Encoder`] keeps as `[in, out]`, as the
/// `[out, in]` that [`Backend::matmul_bt`] takes, in `precision`.
fn linear<B: Backend>(be: &B, l: &Linear, precision: Precision) -> Result<DevLinear<B>> {
    let matrix = transpose(&l.weight, l.inputs, l.outputs);
    let weight = match precision.half() {
        None => Matrix::F32(be.upload(&matrix)?),
        Some(format) => Matrix::Half(be.upload_half(&matrix, format)?),
    };
    Ok(DevLinear { weight, bias: be.upload(&l.bias)?, inputs: l.inputs, outputs: l.outputs })
}

fn norm<B: Backend>(be: &B, n: &Norm) -> Result<DevNorm<B>> {
    Ok(DevNorm { weight: be.upload(&n.weight)?, bias: be.upload(&n.bias)? })
}

/// The host-side description of one batch, uploaded once and used by every layer.
#[derive(Debug)]
struct Batch<B: Backend> {
    tokens: usize,
    seqs: usize,
    max_len: usize,
    offsets: B::Ids,
    /// Every row queries its own sequence (`rows`, `seqs` of each row).
    all_rows: B::Ids,
    all_seqs: B::Ids,
    /// Each sequence's first row, and `0..seqs`: the last layer's queries.
    firsts: B::Ids,
    first_seqs: B::Ids,
}

impl<B: Backend> DeviceEncoder<B> {
    /// Copies the weights (linear layers `[in, out]`, as the encoder keeps them) to `be`, the
    /// linear layers' matrices in `precision`.
    pub(super) fn new(
        be: B,
        config: EncoderConfig,
        w: &Weights,
        precision: Precision,
    ) -> Result<Self> {
        let linear = |l: &Linear| linear(&be, l, precision);
        let layers = w
            .layers
            .iter()
            .map(|l| {
                Ok(DevLayer {
                    qkv: linear(&l.qkv)?,
                    attn_out: linear(&l.attn_out)?,
                    attn_norm: norm(&be, &l.attn_norm)?,
                    up: linear(&l.up)?,
                    down: linear(&l.down)?,
                    ffn_norm: norm(&be, &l.ffn_norm)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word: be.upload(&w.word)?,
            position: be.upload(&w.position)?,
            token_type: be.upload(&w.token_type)?,
            embed_norm: norm(&be, &w.embed_norm)?,
            layers,
            pool: linear(&w.pool)?,
            out: linear(&w.out)?,
            config,
            precision,
            be,
        })
    }

    /// The backend the encoder runs on.
    pub fn backend(&self) -> &B {
        &self.be
    }

    /// The backend back (the weights on it are freed).
    pub fn into_backend(self) -> B {
        self.be
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The format of the linear layers' products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// `out[rows, outputs] = x @ weight^T + bias`.
    fn linear(&self, out: &mut B::Buf, x: &B::Buf, l: &DevLinear<B>, rows: usize) -> Result<()> {
        match &l.weight {
            Matrix::F32(w) => self.be.matmul_bt(out, x, w, rows, l.inputs, l.outputs)?,
            Matrix::Half(w) => self.be.matmul_bt_half(out, x, w, rows, l.inputs, l.outputs)?,
        }
        self.be.bias_forward(out, &l.bias, rows, l.outputs)
    }

    fn batch(&self, seqs: &[&[u32]]) -> Result<Batch<B>> {
        let mut offsets = vec![0u32];
        let (mut all_rows, mut all_seqs, mut firsts) = (Vec::new(), Vec::new(), Vec::new());
        for (s, ids) in seqs.iter().enumerate() {
            let start = *offsets.last().unwrap_or(&0);
            firsts.push(start);
            all_rows.extend(start..start + ids.len() as u32);
            all_seqs.extend(std::iter::repeat_n(s as u32, ids.len()));
            offsets.push(start + ids.len() as u32);
        }
        let be = &self.be;
        Ok(Batch {
            tokens: all_rows.len(),
            seqs: seqs.len(),
            max_len: seqs.iter().map(|s| s.len()).max().unwrap_or(1),
            offsets: be.upload_ids(&offsets)?,
            all_rows: be.upload_ids(&all_rows)?,
            all_seqs: be.upload_ids(&all_seqs)?,
            firsts: be.upload_ids(&firsts)?,
            first_seqs: be.upload_ids(&(0..seqs.len() as u32).collect::<Vec<_>>())?,
        })
    }

    /// `LayerNorm(word + position + token type)` of every token, `[tokens, c]`.
    fn embed(&self, seqs: &[&[u32]], tokens: usize) -> Result<B::Buf> {
        let (be, c) = (&self.be, self.config.hidden_size);
        let (mut ids, mut pos, mut p) = (Vec::with_capacity(tokens), Vec::new(), Vec::new());
        for s in seqs {
            ids.extend_from_slice(s);
            positions(&self.config, s, &mut p);
            pos.extend(p.iter().map(|&x| x as u32));
        }
        let (ids, pos) = (be.upload_ids(&ids)?, be.upload_ids(&pos)?);
        let (mut x, mut pe, mut h) =
            (be.zeros(tokens * c)?, be.zeros(tokens * c)?, be.zeros(tokens * c)?);
        be.embedding_forward(&mut x, &ids, &self.word, tokens, c)?;
        be.bias_forward(&mut x, &self.token_type, tokens, c)?;
        be.embedding_forward(&mut pe, &pos, &self.position, tokens, c)?;
        let n = &self.embed_norm;
        let eps = self.config.layer_norm_eps;
        be.add_layernorm_forward(&mut h, &x, &pe, &n.weight, &n.bias, tokens, c, eps)?;
        Ok(h)
    }

    /// One layer; on the last, `h` comes back with one row per sequence (its first token).
    fn layer(&self, h: B::Buf, l: &DevLayer<B>, b: &Batch<B>, last: bool) -> Result<B::Buf> {
        let (be, cfg) = (&self.be, &self.config);
        let (c, f, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let mut qkv = be.zeros(b.tokens * 3 * c)?;
        self.linear(&mut qkv, &h, &l.qkv, b.tokens)?;
        let (rows, qrows, qseqs) = if last {
            (b.seqs, &b.firsts, &b.first_seqs)
        } else {
            (b.tokens, &b.all_rows, &b.all_seqs)
        };
        let (mut ctx, mut att) = (be.zeros(rows * c)?, be.zeros(rows * cfg.num_heads * b.max_len)?);
        let shape = PackedShape {
            tokens: b.tokens,
            sequences: b.seqs,
            queries: rows,
            c,
            heads: cfg.num_heads,
            max_len: b.max_len,
        };
        be.packed_attention_forward(&mut ctx, &mut att, &qkv, &b.offsets, qrows, qseqs, shape)?;
        let h = if last { self.firsts(&h, b)? } else { h };
        let mut attn = be.zeros(rows * c)?;
        self.linear(&mut attn, &ctx, &l.attn_out, rows)?;
        let mut a = be.zeros(rows * c)?;
        be.add_layernorm_forward(
            &mut a,
            &attn,
            &h,
            &l.attn_norm.weight,
            &l.attn_norm.bias,
            rows,
            c,
            eps,
        )?;
        let (mut up, mut act) = (be.zeros(rows * f)?, be.zeros(rows * f)?);
        self.linear(&mut up, &a, &l.up, rows)?;
        be.pointwise_forward(&mut act, &up, rows * f, pointwise(cfg.activation))?;
        self.linear(&mut attn, &act, &l.down, rows)?;
        let mut out = be.zeros(rows * c)?;
        let n = &l.ffn_norm;
        be.add_layernorm_forward(&mut out, &attn, &a, &n.weight, &n.bias, rows, c, eps)?;
        Ok(out)
    }

    /// Each sequence's first row of `h[tokens, c]` (a gather, as an embedding lookup).
    fn firsts(&self, h: &B::Buf, b: &Batch<B>) -> Result<B::Buf> {
        let c = self.config.hidden_size;
        let mut out = self.be.zeros(b.seqs * c)?;
        self.be.embedding_forward(&mut out, &b.firsts, h, b.seqs, c)?;
        Ok(out)
    }

    /// As [`super::Encoder::logits`], on this backend.
    ///
    /// # Errors
    /// As [`super::Encoder::logits`]; backend errors (out of device memory, a failed launch).
    pub fn logits(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        super::check_inputs(&self.config, seqs)?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let batch = self.batch(seqs)?;
        let mut h = self.embed(seqs, batch.tokens)?;
        for (i, l) in self.layers.iter().enumerate() {
            h = self.layer(h, l, &batch, i + 1 == self.layers.len())?;
        }
        if self.layers.is_empty() {
            h = self.firsts(&h, &batch)?;
        }
        let (be, b, c) = (&self.be, batch.seqs, self.config.hidden_size);
        let (mut pre, mut pooled) = (be.zeros(b * c)?, be.zeros(b * c)?);
        self.linear(&mut pre, &h, &self.pool, b)?;
        be.pointwise_forward(&mut pooled, &pre, b * c, Pointwise::Tanh)?;
        let labels = self.config.num_labels;
        let mut logits = be.zeros(b * labels)?;
        self.linear(&mut logits, &pooled, &self.out, b)?;
        let host = be.download(&logits)?;
        Ok(host.chunks_exact(labels).map(<[f32]>::to_vec).collect())
    }
}

/// The backend's form of a configured activation.
fn pointwise(a: Activation) -> Pointwise {
    match a {
        Activation::Gelu => Pointwise::GeluErf,
        Activation::GeluTanh => Pointwise::GeluTanh,
        Activation::Relu => Pointwise::Relu,
    }
}
