//! Forward-only kernels of the encoder classifiers (BERT, RoBERTa, XLM-R): post-LN with its
//! residual, pointwise activations, and bidirectional attention over packed sequences.
//!
//! These are the plain reference that [`crate::backend::CpuBackend`] runs and the CUDA kernels
//! are tested against; the encoder's own CPU path (`encoder/forward.rs`) computes the same
//! values with fused, cache-blocked loops.

use super::activation::erf;

/// A pointwise function applied by [`pointwise_forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointwise {
    /// `0.5 x (1 + erf(x / sqrt 2))`: BERT's exact `gelu`.
    GeluErf,
    /// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`: `gelu_new`.
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)`: the pooler's activation.
    Tanh,
}

impl Pointwise {
    /// The value at `x`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Self::GeluErf => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
            Self::GeluTanh => {
                const K: f32 = 0.797_884_6; // sqrt(2 / pi)
                0.5 * x * (1.0 + (K * (x + 0.044_715 * x * x * x)).tanh())
            }
            Self::Relu => x.max(0.0),
            Self::Tanh => x.tanh(),
        }
    }

    /// The code the CUDA kernel `pointwise` takes for this function.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// `out = f(x)` elementwise.
pub fn pointwise_forward(out: &mut [f32], x: &[f32], f: Pointwise) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f.apply(v);
    }
}

/// `out = LayerNorm(x + residual)` per row of width `c`, with `eps` added to the variance.
pub fn add_layernorm_forward(
    out: &mut [f32],
    x: &[f32],
    residual: &[f32],
    weight: &[f32],
    bias: &[f32],
    c: usize,
    eps: f32,
) {
    let mut row = vec![0.0f32; c];
    for ((o, xr), rr) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(residual.chunks(c)) {
        for ((s, a), b) in row.iter_mut().zip(xr).zip(rr) {
            *s = a + b;
        }
        let mean = row.iter().sum::<f32>() / c as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
        let rstd = 1.0 / (var + eps).sqrt();
        for (((o, v), w), b) in o.iter_mut().zip(&row).zip(weight).zip(bias) {
            *o = (v - mean) * rstd * w + b;
        }
    }
}

/// The layout of a packed attention call: which sequences the fused `qkv` rows belong to and
/// which rows ask queries.
#[derive(Debug, Clone, Copy)]
pub struct Packed<'a> {
    /// `offsets[s]..offsets[s + 1]` are the rows of sequence `s` (`sequences + 1` entries).
    pub offsets: &'a [u32],
    /// The `qkv` row of each query.
    pub query_rows: &'a [u32],
    /// The sequence of each query (whose keys and values it attends to).
    pub query_seqs: &'a [u32],
    /// Model width `c` (the three projections are `3c` wide).
    pub c: usize,
    /// Heads; each is `c / heads` wide.
    pub heads: usize,
}

/// Bidirectional softmax attention: for query `r` and head `h`, `ctx[r, h]` is the
/// `softmax(q k^T / sqrt(hs))`-weighted sum of the values of its sequence's rows, where
/// `qkv[tokens, 3c]` holds each row's query, key and value side by side (heads of `hs = c /
/// heads` within each). Padding never enters: each query sees exactly its sequence's rows.
pub fn packed_attention_forward(ctx: &mut [f32], qkv: &[f32], p: &Packed<'_>) {
    let (c, hs) = (p.c, p.c / p.heads);
    let scale = 1.0 / (hs as f32).sqrt();
    let mut scores = Vec::new();
    for (r, (&qrow, &s)) in p.query_rows.iter().zip(p.query_seqs).enumerate() {
        let (start, end) = (p.offsets[s as usize] as usize, p.offsets[s as usize + 1] as usize);
        for h in 0..p.heads {
            let q = &qkv[qrow as usize * 3 * c + h * hs..][..hs];
            scores.clear();
            for j in start..end {
                let k = &qkv[j * 3 * c + c + h * hs..][..hs];
                scores.push(scale * q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>());
            }
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            scores.iter_mut().for_each(|v| *v = (*v - max).exp());
            let inv = 1.0 / scores.iter().sum::<f32>();
            let out = &mut ctx[r * c + h * hs..][..hs];
            out.fill(0.0);
            for (j, w) in (start..end).zip(&scores) {
                let v = &qkv[j * 3 * c + 2 * c + h * hs..][..hs];
                out.iter_mut().zip(v).for_each(|(o, v)| *o += w * inv * v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_of_a_one_token_sequence_is_its_value() {
        // Two sequences: [row 0] and [rows 1, 2]; c = 2, one head.
        let qkv = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, /* row 1 */ 0.0, 0.0, 1.0, 0.0, 7.0, 8.0];
        let qkv: Vec<f32> = qkv.iter().chain(&[0.0, 0.0, -1.0, 0.0, 9.0, 10.0]).copied().collect();
        let p = Packed {
            offsets: &[0, 1, 3],
            query_rows: &[0, 1],
            query_seqs: &[0, 1],
            c: 2,
            heads: 1,
        };
        let mut ctx = vec![0.0; 4];
        packed_attention_forward(&mut ctx, &qkv, &p);
        assert_eq!(&ctx[..2], &[5.0, 6.0]);
        // Row 1's query is zero: equal weights on rows 1 and 2.
        assert_eq!(&ctx[2..], &[8.0, 9.0]);
    }

    #[test]
    fn add_layernorm_normalises_the_sum() {
        let mut out = vec![0.0; 4];
        add_layernorm_forward(
            &mut out,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0; 4],
            &[1.0; 4],
            &[0.5; 4],
            4,
            0.0,
        );
        let mean = out.iter().sum::<f32>() / 4.0;
        let var = out.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 4.0;
        assert!((mean - 0.5).abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{mean} {var}");
    }

    #[test]
    fn pointwise_functions_at_known_points() {
        let mut out = vec![0.0; 2];
        pointwise_forward(&mut out, &[1.0, -1.0], Pointwise::GeluErf);
        assert!((out[0] - 0.841_344_7).abs() < 1e-6 && (out[1] + 0.158_655_3).abs() < 1e-6);
        pointwise_forward(&mut out, &[1.0, -1.0], Pointwise::Relu);
        assert_eq!(out, [1.0, 0.0]);
        pointwise_forward(&mut out, &[0.5, -2.0], Pointwise::Tanh);
        assert_eq!(out, [0.5f32.tanh(), (-2.0f32).tanh()]);
    }
}
