//! Layer normalisation over the last dimension, forward and backward.

use rayon::prelude::*;

const EPS: f32 = 1e-5;

/// `out[m, c] = (x - mean) * rstd * weight + bias` per row; saves `mean[m]` and `rstd[m]` for
/// the backward pass.
#[allow(clippy::too_many_arguments)] // Explicit buffers, llm.c style.
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    m: usize,
    c: usize,
) {
    out[..m * c]
        .par_chunks_mut(c)
        .zip(x[..m * c].par_chunks(c))
        .zip(mean[..m].par_iter_mut().zip(rstd[..m].par_iter_mut()))
        .for_each(|((o, x), (mu, rs))| {
            let mean = x.iter().sum::<f32>() / c as f32;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
            let r = 1.0 / (var + EPS).sqrt();
            for i in 0..c {
                o[i] = (x[i] - mean) * r * weight[i] + bias[i];
            }
            *mu = mean;
            *rs = r;
        });
}

/// Gradients of [`layernorm_forward`], accumulated into `dx`, `dweight`, `dbias`.
#[allow(clippy::too_many_arguments)] // Explicit buffers, llm.c style.
pub fn layernorm_backward(
    dx: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    dout: &[f32],
    x: &[f32],
    weight: &[f32],
    mean: &[f32],
    rstd: &[f32],
    m: usize,
    c: usize,
) {
    dx[..m * c].par_chunks_mut(c).enumerate().for_each(|(row, dx)| {
        let (d, x, mu, rs) =
            (&dout[row * c..(row + 1) * c], &x[row * c..(row + 1) * c], mean[row], rstd[row]);
        let (mut dnorm_mean, mut dnorm_norm_mean) = (0.0f32, 0.0f32);
        for i in 0..c {
            let dnorm = weight[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * (x[i] - mu) * rs;
        }
        dnorm_mean /= c as f32;
        dnorm_norm_mean /= c as f32;
        for i in 0..c {
            let norm = (x[i] - mu) * rs;
            dx[i] += (weight[i] * d[i] - dnorm_mean - norm * dnorm_norm_mean) * rs;
        }
    });
    // Parameter gradients are a reduction over rows; they cost O(m*c), negligible next to matmuls.
    for row in 0..m {
        let (d, x) = (&dout[row * c..(row + 1) * c], &x[row * c..(row + 1) * c]);
        for i in 0..c {
            dbias[i] += d[i];
            dweight[i] += (x[i] - mean[row]) * rstd[row] * d[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rand_vec};

    #[test]
    fn layernorm_normalises_and_gradients_match() {
        let (m, c) = (4, 9);
        let x = rand_vec(m * c, 1);
        let w = rand_vec(c, 2);
        let b = rand_vec(c, 3);
        let r = rand_vec(m * c, 4);
        let (mut mean, mut rstd) = (vec![0.0; m], vec![0.0; m]);
        let mut out = vec![0.0; m * c];
        layernorm_forward(&mut out, &mut mean, &mut rstd, &x, &vec![1.0; c], &vec![0.0; c], m, c);
        for row in out.chunks(c) {
            let mu = row.iter().sum::<f32>() / c as f32;
            let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f32>() / c as f32;
            assert!(mu.abs() < 1e-5 && (var - 1.0).abs() < 1e-3);
        }
        let f = |x: &[f32], w: &[f32], b: &[f32]| {
            let (mut mean, mut rstd, mut out) = (vec![0.0; m], vec![0.0; m], vec![0.0; m * c]);
            layernorm_forward(&mut out, &mut mean, &mut rstd, x, w, b, m, c);
            out.iter().zip(&r).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
        };
        layernorm_forward(&mut out, &mut mean, &mut rstd, &x, &w, &b, m, c);
        let (mut dx, mut dw, mut db) = (vec![0.0; m * c], vec![0.0; c], vec![0.0; c]);
        layernorm_backward(&mut dx, &mut dw, &mut db, &r, &x, &w, &mean, &rstd, m, c);
        check_grad("layernorm dx", &x, &dx, |p| f(p, &w, &b));
        check_grad("layernorm dw", &w, &dw, |p| f(&x, p, &b));
        check_grad("layernorm db", &b, &db, |p| f(&x, &w, p));
    }
}
