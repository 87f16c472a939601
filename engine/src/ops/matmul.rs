//! Matrix products, linear layers and bias, forward and backward.
//!
//! Layout conventions (all row-major): activations are `[m, c]`; a linear layer's weight is
//! `[oc, c]` (one row per output channel, as in PyTorch and llm.c), so `y = x @ w^T + b`.
//! Each kernel parallelises over blocks of output rows with rayon, and its inner loop walks
//! contiguous memory: either a dot product of two rows (with eight independent accumulators so
//! the compiler can vectorise it) or an `axpy` over an output row.

use rayon::prelude::*;

/// Rows of output per rayon task, so each task does at least ~64k multiply-adds.
fn rows_per_task(k: usize, n: usize) -> usize {
    (65_536 / (k * n).max(1)).clamp(1, 256)
}

/// Dot product with eight accumulators (vectorises; order differs from a naive sum by rounding).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `y += alpha * x`.
#[inline]
pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

/// `out[m, n] += a[m, k] @ b[k, n]` (i-k-j order: the inner loop is an axpy over a row of `b`).
pub fn matmul_acc(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    debug_assert!(out.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    let rows = rows_per_task(k, n);
    out[..m * n].par_chunks_mut(rows * n).zip(a[..m * k].par_chunks(rows * k)).for_each(
        |(o, a)| {
            for (orow, arow) in o.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
                for (kk, &av) in arow.iter().enumerate() {
                    if av != 0.0 {
                        axpy(orow, av, &b[kk * n..(kk + 1) * n]);
                    }
                }
            }
        },
    );
}

/// `out[m, n] = a[m, k] @ b[k, n]`.
pub fn matmul(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    out[..m * n].fill(0.0);
    matmul_acc(out, a, b, m, k, n);
}

/// `out[m, n] = a[m, k] @ b[n, k]^T`: every output is a dot product of two contiguous rows.
pub fn matmul_bt(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    debug_assert!(out.len() >= m * n && a.len() >= m * k && b.len() >= n * k);
    // Small row blocks so a block of `a` stays in L1 while all of `b` streams past it.
    let rows = rows_per_task(k, n).min(16);
    out[..m * n].par_chunks_mut(rows * n).zip(a[..m * k].par_chunks(rows * k)).for_each(
        |(o, a)| {
            let r = o.len() / n;
            for j in 0..n {
                let bj = &b[j * k..(j + 1) * k];
                for i in 0..r {
                    o[i * n + j] = dot(&a[i * k..(i + 1) * k], bj);
                }
            }
        },
    );
}

/// `out[k, n] += a[m, k]^T @ b[m, n]` (weight gradients): parallel over blocks of output rows.
pub fn matmul_at_acc(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
    debug_assert!(out.len() >= k * n && a.len() >= m * k && b.len() >= m * n);
    let rows = (rows_per_task(m, n)).clamp(4, 64);
    out[..k * n].par_chunks_mut(rows * n).enumerate().for_each(|(blk, o)| {
        let k0 = blk * rows;
        let r = o.len() / n;
        for mi in 0..m {
            let brow = &b[mi * n..(mi + 1) * n];
            let arow = &a[mi * k + k0..mi * k + k0 + r];
            for (i, &av) in arow.iter().enumerate() {
                if av != 0.0 {
                    axpy(&mut o[i * n..(i + 1) * n], av, brow);
                }
            }
        }
    });
}

/// `out[m, n] += bias[n]` on every row.
pub fn bias_forward(out: &mut [f32], bias: &[f32], m: usize, n: usize) {
    for row in out[..m * n].chunks_exact_mut(n) {
        for (o, b) in row.iter_mut().zip(bias) {
            *o += b;
        }
    }
}

/// `dbias[n] += sum over rows of dout[m, n]`.
pub fn bias_backward(dbias: &mut [f32], dout: &[f32], m: usize, n: usize) {
    for row in dout[..m * n].chunks_exact(n) {
        for (d, g) in dbias.iter_mut().zip(row) {
            *d += g;
        }
    }
}

/// Linear layer: `out[m, oc] = x[m, c] @ w[oc, c]^T + bias[oc]`.
pub fn linear_forward(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    c: usize,
    oc: usize,
) {
    matmul_bt(out, x, w, m, c, oc);
    if let Some(b) = bias {
        bias_forward(out, b, m, oc);
    }
}

/// Gradients of [`linear_forward`], accumulated: `dx += dout @ w`, `dw += dout^T @ x`,
/// `dbias += colsum(dout)`.
#[allow(clippy::too_many_arguments)] // The llm.c-style explicit signature is the point.
pub fn linear_backward(
    dx: &mut [f32],
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    x: &[f32],
    w: &[f32],
    m: usize,
    c: usize,
    oc: usize,
) {
    matmul_acc(dx, dout, w, m, oc, c);
    matmul_at_acc(dw, dout, x, m, oc, c);
    if let Some(db) = dbias {
        bias_backward(db, dout, m, oc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rand_vec};

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|kk| a[i * k + kk] as f64 * b[kk * n + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    fn transpose(x: &[f32], r: usize, c: usize) -> Vec<f32> {
        let mut t = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                t[j * r + i] = x[i * c + j];
            }
        }
        t
    }

    #[test]
    fn all_products_agree_with_naive() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (37, 19, 23), (130, 64, 70)] {
            let a = rand_vec(m * k, 1);
            let b = rand_vec(k * n, 2);
            let want = naive(&a, &b, m, k, n);
            let mut out = vec![0.0; m * n];
            matmul(&mut out, &a, &b, m, k, n);
            assert!(out.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4), "matmul {m}x{k}x{n}");
            matmul_bt(&mut out, &a, &transpose(&b, k, n), m, k, n);
            assert!(
                out.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4),
                "matmul_bt {m}x{k}x{n}"
            );
            let mut out2 = vec![0.0; m * n];
            matmul_at_acc(&mut out2, &transpose(&a, m, k), &b, k, m, n);
            assert!(
                out2.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4),
                "matmul_at {m}x{k}x{n}"
            );
        }
    }

    #[test]
    fn linear_backward_matches_finite_differences() {
        let (m, c, oc) = (5, 7, 4);
        let x = rand_vec(m * c, 3);
        let w = rand_vec(oc * c, 4);
        let b = rand_vec(oc, 5);
        let r = rand_vec(m * oc, 6);
        let fwd = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut out = vec![0.0; m * oc];
            linear_forward(&mut out, x, w, Some(b), m, c, oc);
            out.iter().zip(&r).map(|(o, r)| (*o as f64) * (*r as f64)).sum::<f64>()
        };
        let (mut dx, mut dw, mut db) = (vec![0.0; m * c], vec![0.0; oc * c], vec![0.0; oc]);
        linear_backward(&mut dx, &mut dw, Some(&mut db), &r, &x, &w, m, c, oc);
        check_grad("linear dx", &x, &dx, |p| fwd(p, &w, &b));
        check_grad("linear dw", &w, &dw, |p| fwd(&x, p, &b));
        check_grad("linear db", &b, &db, |p| fwd(&x, &w, p));
    }
}
