//! Causal multi-head self-attention, forward and backward.
//!
//! The kernels take queries, keys and values head-major, `[b * nh, t, hs]`, so every (batch,
//! head) pair owns contiguous slices and rayon can split work and gradients without sharing.
//! [`split_qkv`] / [`merge_heads`] convert from and to the `[b, t, 3c]` / `[b, t, c]` layouts
//! of the surrounding linear layers, and their `_backward` twins move gradients the other way.

use rayon::prelude::*;

use crate::ops::matmul::{axpy, dot};

#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
/// Splits `qkv[b, t, 3c]` into head-major `q`, `k`, `v`, each `[b, nh, t, c / nh]`.
pub fn split_qkv(
    q: &mut [f32],
    k: &mut [f32],
    v: &mut [f32],
    qkv: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = c / nh;
    for bi in 0..b {
        for ti in 0..t {
            let src = &qkv[(bi * t + ti) * 3 * c..][..3 * c];
            for h in 0..nh {
                let dst = ((bi * nh + h) * t + ti) * hs;
                q[dst..dst + hs].copy_from_slice(&src[h * hs..][..hs]);
                k[dst..dst + hs].copy_from_slice(&src[c + h * hs..][..hs]);
                v[dst..dst + hs].copy_from_slice(&src[2 * c + h * hs..][..hs]);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
/// Gradient of [`split_qkv`]: `dqkv += interleave(dq, dk, dv)`.
pub fn split_qkv_backward(
    dqkv: &mut [f32],
    dq: &[f32],
    dk: &[f32],
    dv: &[f32],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = c / nh;
    for bi in 0..b {
        for ti in 0..t {
            let dst = &mut dqkv[(bi * t + ti) * 3 * c..][..3 * c];
            for h in 0..nh {
                let src = ((bi * nh + h) * t + ti) * hs;
                axpy(&mut dst[h * hs..][..hs], 1.0, &dq[src..src + hs]);
                axpy(&mut dst[c + h * hs..][..hs], 1.0, &dk[src..src + hs]);
                axpy(&mut dst[2 * c + h * hs..][..hs], 1.0, &dv[src..src + hs]);
            }
        }
    }
}

/// Merges head-major `y[b, nh, t, hs]` into `out[b, t, nh * hs]`.
pub fn merge_heads(out: &mut [f32], y: &[f32], b: usize, t: usize, c: usize, nh: usize) {
    let hs = c / nh;
    for bi in 0..b {
        for h in 0..nh {
            for ti in 0..t {
                let src = ((bi * nh + h) * t + ti) * hs;
                out[(bi * t + ti) * c + h * hs..][..hs].copy_from_slice(&y[src..src + hs]);
            }
        }
    }
}

/// Gradient of [`merge_heads`]: `dy = split(dout)` (overwrites `dy`).
pub fn merge_heads_backward(dy: &mut [f32], dout: &[f32], b: usize, t: usize, c: usize, nh: usize) {
    let hs = c / nh;
    for bi in 0..b {
        for h in 0..nh {
            for ti in 0..t {
                let dst = ((bi * nh + h) * t + ti) * hs;
                dy[dst..dst + hs].copy_from_slice(&dout[(bi * t + ti) * c + h * hs..][..hs]);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
/// Causal attention per head: `y = softmax(q k^T / sqrt(hs), masked) v`; saves the attention
/// weights `att[bh, t, t]` (zero above the diagonal) for the backward pass.
pub fn attention_forward(
    y: &mut [f32],
    att: &mut [f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bh: usize,
    t: usize,
    hs: usize,
) {
    let scale = 1.0 / (hs as f32).sqrt();
    y[..bh * t * hs]
        .par_chunks_mut(t * hs)
        .zip(att[..bh * t * t].par_chunks_mut(t * t))
        .enumerate()
        .for_each(|(i, (y, att))| {
            let (q, k, v) = (
                &q[i * t * hs..][..t * hs],
                &k[i * t * hs..][..t * hs],
                &v[i * t * hs..][..t * hs],
            );
            for ti in 0..t {
                let row = &mut att[ti * t..(ti + 1) * t];
                let qt = &q[ti * hs..(ti + 1) * hs];
                let mut max = f32::NEG_INFINITY;
                for t2 in 0..=ti {
                    row[t2] = dot(qt, &k[t2 * hs..(t2 + 1) * hs]) * scale;
                    max = max.max(row[t2]);
                }
                let mut sum = 0.0;
                for r in &mut row[..=ti] {
                    *r = (*r - max).exp();
                    sum += *r;
                }
                row[ti + 1..].fill(0.0);
                let yt = &mut y[ti * hs..(ti + 1) * hs];
                yt.fill(0.0);
                for t2 in 0..=ti {
                    row[t2] /= sum;
                    axpy(yt, row[t2], &v[t2 * hs..(t2 + 1) * hs]);
                }
            }
        });
}

/// Gradients of [`attention_forward`], accumulated into `dq`, `dk`, `dv`.
#[allow(clippy::too_many_arguments)] // Explicit buffers, llm.c style.
pub fn attention_backward(
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
    dy: &[f32],
    att: &[f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bh: usize,
    t: usize,
    hs: usize,
) {
    let scale = 1.0 / (hs as f32).sqrt();
    let n = t * hs;
    dq[..bh * n]
        .par_chunks_mut(n)
        .zip(dk[..bh * n].par_chunks_mut(n))
        .zip(dv[..bh * n].par_chunks_mut(n))
        .enumerate()
        .for_each(|(i, ((dq, dk), dv))| {
            let (q, k, v, dy, att) = (
                &q[i * n..][..n],
                &k[i * n..][..n],
                &v[i * n..][..n],
                &dy[i * n..][..n],
                &att[i * t * t..][..t * t],
            );
            let mut datt = vec![0.0f32; t];
            for ti in 0..t {
                let (row, dyt) = (&att[ti * t..ti * t + ti + 1], &dy[ti * hs..(ti + 1) * hs]);
                let mut weighted = 0.0;
                for t2 in 0..=ti {
                    datt[t2] = dot(dyt, &v[t2 * hs..(t2 + 1) * hs]);
                    weighted += datt[t2] * row[t2];
                    axpy(&mut dv[t2 * hs..(t2 + 1) * hs], row[t2], dyt);
                }
                for t2 in 0..=ti {
                    let dpre = row[t2] * (datt[t2] - weighted) * scale;
                    axpy(&mut dq[ti * hs..(ti + 1) * hs], dpre, &k[t2 * hs..(t2 + 1) * hs]);
                    axpy(&mut dk[t2 * hs..(t2 + 1) * hs], dpre, &q[ti * hs..(ti + 1) * hs]);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rand_vec};

    #[test]
    fn attention_is_causal_and_gradients_match() {
        let (b, t, c, nh) = (2, 5, 6, 2);
        let hs = c / nh;
        let qkv = rand_vec(b * t * 3 * c, 1);
        let r = rand_vec(b * t * c, 2);
        let run = |qkv: &[f32]| {
            let n = b * t * c;
            let (mut q, mut k, mut v, mut y) =
                (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            let mut att = vec![0.0; b * nh * t * t];
            split_qkv(&mut q, &mut k, &mut v, qkv, b, t, c, nh);
            attention_forward(&mut y, &mut att, &q, &k, &v, b * nh, t, hs);
            let mut out = vec![0.0; n];
            merge_heads(&mut out, &y, b, t, c, nh);
            (out, att, q, k, v)
        };
        let loss = |qkv: &[f32]| {
            run(qkv).0.iter().zip(&r).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
        };

        let (out, att, q, k, v) = run(&qkv);
        // Changing the last position must not change any earlier output.
        let mut later = qkv.clone();
        for x in &mut later[(t - 1) * 3 * c..t * 3 * c] {
            *x += 1.0;
        }
        assert_eq!(run(&later).0[..(t - 1) * c], out[..(t - 1) * c]);

        let n = b * t * c;
        let mut dy = vec![0.0; n];
        merge_heads_backward(&mut dy, &r, b, t, c, nh);
        let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        attention_backward(&mut dq, &mut dk, &mut dv, &dy, &att, &q, &k, &v, b * nh, t, hs);
        let mut dqkv = vec![0.0; qkv.len()];
        split_qkv_backward(&mut dqkv, &dq, &dk, &dv, b, t, c, nh);
        check_grad("attention dqkv", &qkv, &dqkv, loss);
    }
}
