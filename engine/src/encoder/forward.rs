//! The CPU forward pass of a post-LN encoder and its classification head, on packed sequences.
//!
//! Sequences are not padded: their tokens are stacked into one `[tokens, c]` matrix for the
//! linear layers, and attention runs per sequence over its own tokens only. This computes what
//! a padded batch with an attention mask computes for the real tokens (the masked positions
//! get zero weight there), without the padding's work. The last layer only finishes the first
//! token of each sequence, the only one the head reads.

use super::config::{Activation, EncoderConfig, Family};
use super::gemm::{Mat, gemm, vectorized};
use super::weights::{Layer, Linear, Norm, Weights};
pub use crate::ops::activation::erf;

/// Positions of a sequence's tokens: from 0 for BERT; RoBERTa counts non-pad tokens from
/// `pad + 1` and gives pad tokens the position `pad`, as `create_position_ids_from_input_ids`.
pub(super) fn positions(config: &EncoderConfig, ids: &[u32], out: &mut Vec<usize>) {
    out.clear();
    match config.family {
        Family::Bert => out.extend(0..ids.len()),
        Family::Roberta => {
            let pad = config.pad_token_id as usize;
            let mut seen = 0;
            for &id in ids {
                if id as usize == pad {
                    out.push(pad);
                } else {
                    seen += 1;
                    out.push(pad + seen);
                }
            }
        }
    }
}

/// `[rows, cols]` row-major to `[cols, rows]` row-major.
pub(super) fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    // In 32 x 32 tiles, so that both sides stay in cache.
    const TILE: usize = 32;
    let mut t = vec![0.0; rows * cols];
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    t[j * rows + i] = m[i * cols + j];
                }
            }
        }
    }
    t
}

/// Transposes every linear layer's matrix from PyTorch's `[out, in]` to `[in, out]`, the layout
/// [`linear`] reads: the product packs its right operand in panels of consecutive output
/// columns, a contiguous copy from `[in, out]` but a strided gather from `[out, in]` (which cost
/// a sixth of a forward pass).
pub(super) fn to_inputs_major(w: &mut Weights) {
    let lins =
        w.layers.iter_mut().flat_map(|l| [&mut l.qkv, &mut l.attn_out, &mut l.up, &mut l.down]);
    for lin in lins.chain([&mut w.pool, &mut w.out]) {
        lin.weight = transpose(&lin.weight, lin.outputs, lin.inputs);
    }
}

/// Rows of `out` = `x @ lin.weight + lin.bias` with `lin.weight` `[in, out]` (the bias is
/// written first, then accumulated).
fn linear(out: &mut [f32], x: &[f32], lin: &Linear, rows: usize) {
    for row in out[..rows * lin.outputs].chunks_exact_mut(lin.outputs) {
        row.copy_from_slice(&lin.bias);
    }
    let (a, b) = (Mat::rows(x, lin.inputs), Mat::rows(&lin.weight, lin.outputs));
    gemm(rows, lin.inputs, lin.outputs, 1.0, a, b, 1.0, out, lin.outputs);
}

/// `x = LayerNorm(x + residual)` per row of width `c` (`residual` may be empty: none).
fn add_norm(x: &mut [f32], residual: &[f32], norm: &Norm, eps: f32, c: usize) {
    vectorized(|| add_norm_rows(x, residual, norm, eps, c));
}

#[inline(always)]
fn add_norm_rows(x: &mut [f32], residual: &[f32], norm: &Norm, eps: f32, c: usize) {
    for (i, row) in x.chunks_exact_mut(c).enumerate() {
        if !residual.is_empty() {
            for (v, r) in row.iter_mut().zip(&residual[i * c..(i + 1) * c]) {
                *v += r;
            }
        }
        let mean = row.iter().sum::<f32>() / c as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - mean) * rstd * w + b;
        }
    }
}

/// `exp(x)` to ~2 ulp for `x` in `[-87, 88]` (clamped outside): a Cephes-style polynomial after
/// reduction by powers of two, without a call, so a softmax row's loop vectorises (512 x 512
/// scores per head and layer at 512 tokens).
#[inline]
pub(super) fn exp(x: f32) -> f32 {
    const P: [f32; 6] =
        [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (|x / ln 2| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - k * 0.693_359_4 + k * 2.121_944_4e-4;
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    (p * r * r + r + 1.0) * scale
}

fn activate(x: &mut [f32], act: Activation) {
    vectorized(|| match act {
        Activation::Gelu => {
            for v in x {
                *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
        Activation::GeluTanh => {
            const K: f32 = 0.797_884_6; // sqrt(2 / pi)
            for v in x {
                *v = 0.5 * *v * (1.0 + (K * (*v + 0.044_715 * *v * *v * *v)).tanh());
            }
        }
        Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
    })
}

/// Scratch buffers of one forward pass, reused across layers.
#[derive(Debug, Default)]
struct Scratch {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    attn: Vec<f32>,
    ff: Vec<f32>,
    scores: Vec<f32>,
}

/// Attention of one sequence (its rows of the fused `qkv`, `[t, 3c]`) for its first `queries`
/// positions, written into `ctx` (`[queries, c]`).
fn attend(
    ctx: &mut [f32],
    qkv: &[f32],
    scores: &mut Vec<f32>,
    t: usize,
    queries: usize,
    config: &EncoderConfig,
) {
    let (c, hs) = (config.hidden_size, config.head_size());
    let scale = 1.0 / (hs as f32).sqrt();
    scores.resize(queries * t, 0.0);
    for h in 0..config.num_heads {
        let q = Mat { data: &qkv[h * hs..], rs: 3 * c, cs: 1 };
        let kt = Mat { data: &qkv[c + h * hs..], rs: 1, cs: 3 * c };
        gemm(queries, hs, t, scale, q, kt, 0.0, scores, t);
        vectorized(|| softmax_rows(scores, t));
        let v = Mat { data: &qkv[2 * c + h * hs..], rs: 3 * c, cs: 1 };
        gemm(queries, t, hs, 1.0, Mat::rows(scores, t), v, 0.0, &mut ctx[h * hs..], c);
    }
}

/// Softmax of each row of width `t`.
#[inline(always)]
fn softmax_rows(scores: &mut [f32], t: usize) {
    for row in scores.chunks_exact_mut(t) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // Two loops: the exponentials vectorise once the (ordered) sum is out of theirs.
        row.iter_mut().for_each(|v| *v = exp(*v - max));
        let inv = 1.0 / row.iter().sum::<f32>();
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// One layer over the packed hidden states `h` (`[sum lens, c]`); on the last layer `h` comes
/// back with one row per sequence (its first token).
fn layer(
    h: &mut Vec<f32>,
    l: &Layer,
    lens: &[usize],
    last: bool,
    config: &EncoderConfig,
    s: &mut Scratch,
) {
    let (c, f) = (config.hidden_size, config.intermediate_size);
    let tokens: usize = lens.iter().sum();
    s.qkv.resize(tokens * 3 * c, 0.0);
    linear(&mut s.qkv, h, &l.qkv, tokens);
    let rows = if last { lens.len() } else { tokens };
    s.ctx.resize(rows * c, 0.0);
    let (mut start, mut out_row) = (0, 0);
    for &t in lens {
        let queries = if last { 1 } else { t };
        let ctx = &mut s.ctx[out_row * c..(out_row + queries) * c];
        attend(ctx, &s.qkv[start * 3 * c..(start + t) * 3 * c], &mut s.scores, t, queries, config);
        start += t;
        out_row += queries;
    }
    if last {
        // Keep only each sequence's first row for the residual.
        let mut start = 0;
        for (i, &t) in lens.iter().enumerate() {
            h.copy_within(start * c..(start + 1) * c, i * c);
            start += t;
        }
        h.truncate(rows * c);
    }
    s.attn.resize(rows * c, 0.0);
    linear(&mut s.attn, &s.ctx, &l.attn_out, rows);
    add_norm(&mut s.attn, h, &l.attn_norm, config.layer_norm_eps, c);
    s.ff.resize(rows * f, 0.0);
    linear(&mut s.ff, &s.attn, &l.up, rows);
    activate(&mut s.ff, config.activation);
    linear(h, &s.ff, &l.down, rows);
    add_norm(h, &s.attn, &l.ffn_norm, config.layer_norm_eps, c);
}

/// Logits (`[num_labels]` per sequence) of already-checked token ids.
pub(super) fn forward(config: &EncoderConfig, w: &Weights, seqs: &[&[u32]]) -> Vec<Vec<f32>> {
    let c = config.hidden_size;
    let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    let tokens: usize = lens.iter().sum();
    let mut h = Vec::with_capacity(tokens * c);
    let mut pos = Vec::new();
    for ids in seqs {
        positions(config, ids, &mut pos);
        for (&id, &p) in ids.iter().zip(&pos) {
            let (word, posv) = (&w.word[id as usize * c..][..c], &w.position[p * c..][..c]);
            h.extend(word.iter().zip(posv).zip(&w.token_type).map(|((a, b), t)| a + b + t));
        }
    }
    add_norm(&mut h, &[], &w.embed_norm, config.layer_norm_eps, c);
    let mut s = Scratch::default();
    for (i, l) in w.layers.iter().enumerate() {
        layer(&mut h, l, &lens, i + 1 == w.layers.len(), config, &mut s);
    }
    if w.layers.is_empty() {
        let mut start = 0;
        for (i, &t) in lens.iter().enumerate() {
            h.copy_within(start * c..(start + 1) * c, i * c);
            start += t;
        }
        h.truncate(seqs.len() * c);
    }
    let b = seqs.len();
    let mut pooled = vec![0.0; b * c];
    linear(&mut pooled, &h, &w.pool, b);
    pooled.iter_mut().for_each(|v| *v = v.tanh());
    let mut logits = vec![0.0; b * config.num_labels];
    linear(&mut logits, &pooled, &w.out, b);
    logits.chunks_exact(config.num_labels).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // math.erf in Python.
        let known = [
            (0.0, 0.0),
            (0.1, 0.112_462_916),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-1.5, -0.966_105_15),
            (2.5, 0.999_593),
            (6.0, 1.0),
        ];
        for (x, want) in known {
            assert!((erf(x) - want).abs() < 3e-7, "erf({x}) = {} != {want}", erf(x));
        }
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            assert!((got - want).abs() <= 4e-7 * want, "exp({x}) = {got} != {want}");
            x += 0.013;
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
    }

    #[test]
    fn roberta_positions_skip_pad_tokens() {
        let json = br#"{"model_type": "xlm-roberta", "architectures": ["XLMRobertaForSequenceClassification"],
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 514, "pad_token_id": 1}"#;
        let config = EncoderConfig::from_json(json, "c").unwrap();
        let mut pos = Vec::new();
        positions(&config, &[0, 5, 1, 7], &mut pos);
        assert_eq!(pos, [2, 3, 1, 4]);
        assert_eq!(config.max_tokens(), 512);
    }
}
