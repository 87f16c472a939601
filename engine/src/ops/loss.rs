//! Softmax and softmax cross-entropy, forward and backward.

use rayon::prelude::*;

/// Row-wise softmax of `logits[m, v]` into `probs` (max-subtracted, so it never overflows).
pub fn softmax(probs: &mut [f32], logits: &[f32], m: usize, v: usize) {
    probs[..m * v]
        .par_chunks_mut(v)
        .zip(logits[..m * v].par_chunks(v))
        .for_each(|(p, l)| softmax_row(p, l));
}

/// Softmax of one row. The normaliser is summed in `f64`: summed in order in `f32`, a row of a
/// large vocabulary (GPT-2's 50,257) drops its many tiny terms and is off by about 1e-4.
#[inline]
pub fn softmax_row(p: &mut [f32], l: &[f32]) {
    let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for (p, &l) in p.iter_mut().zip(l) {
        *p = (l - max).exp();
        sum += f64::from(*p);
    }
    let inv = (1.0 / sum) as f32;
    p.iter_mut().for_each(|p| *p *= inv);
}

/// Cross-entropy of `softmax(logits[m, v])` against `targets[m]`: writes `probs` (kept for the
/// backward pass) and per-row `losses` in nats. Targets must be `< v`.
pub fn cross_entropy_forward(
    probs: &mut [f32],
    losses: &mut [f32],
    logits: &[f32],
    targets: &[u32],
    m: usize,
    v: usize,
) {
    probs[..m * v]
        .par_chunks_mut(v)
        .zip(logits[..m * v].par_chunks(v))
        .zip(losses[..m].par_iter_mut().zip(&targets[..m]))
        .for_each(|((p, l), (loss, &tgt))| {
            // log-softmax directly, so a tiny probability does not become -inf.
            let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = l.iter().map(|x| f64::from((x - max).exp())).sum();
            let log_z = max + sum.ln() as f32;
            *loss = log_z - l[tgt as usize];
            for (p, &x) in p.iter_mut().zip(l) {
                *p = (x - log_z).exp();
            }
        });
}

/// Gradient of [`cross_entropy_forward`] for a loss `sum_i dloss[i] * losses[i]`:
/// `dlogits[i] += (probs[i] - onehot(targets[i])) * dloss[i]`.
pub fn cross_entropy_backward(
    dlogits: &mut [f32],
    probs: &[f32],
    targets: &[u32],
    dloss: &[f32],
    m: usize,
    v: usize,
) {
    dlogits[..m * v].par_chunks_mut(v).enumerate().for_each(|(i, d)| {
        let p = &probs[i * v..(i + 1) * v];
        for (d, &p) in d.iter_mut().zip(p) {
            *d += p * dloss[i];
        }
        d[targets[i] as usize] -= dloss[i];
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rand_vec};

    #[test]
    fn cross_entropy_values_and_gradient() {
        let (m, v) = (4, 7);
        let logits = rand_vec(m * v, 1);
        let targets = [0u32, 6, 3, 3];
        let dloss = [0.25f32, 0.5, -1.0, 2.0];
        let loss = |l: &[f32]| {
            let (mut p, mut losses) = (vec![0.0; m * v], vec![0.0; m]);
            cross_entropy_forward(&mut p, &mut losses, l, &targets, m, v);
            losses.iter().zip(&dloss).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
        };
        let (mut p, mut losses) = (vec![0.0; m * v], vec![0.0; m]);
        cross_entropy_forward(&mut p, &mut losses, &logits, &targets, m, v);
        let mut probs = vec![0.0; m * v];
        softmax(&mut probs, &logits, m, v);
        assert!(p.iter().zip(&probs).all(|(a, b)| (a - b).abs() < 1e-6));
        assert!((losses[0] + probs[0].ln()).abs() < 1e-5);
        let mut d = vec![0.0; m * v];
        cross_entropy_backward(&mut d, &p, &targets, &dloss, m, v);
        check_grad("cross entropy", &logits, &d, loss);
        // Uniform logits give ln(v).
        cross_entropy_forward(&mut p, &mut losses, &vec![0.0; m * v], &targets, m, v);
        assert!((losses[1] - (v as f32).ln()).abs() < 1e-6);
    }
}
