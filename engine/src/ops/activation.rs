//! GELU (tanh approximation, as in GPT-2), forward and backward.

use rayon::prelude::*;

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const CHUNK: usize = 4096;

/// `out = gelu(x)` elementwise.
pub fn gelu_forward(out: &mut [f32], x: &[f32]) {
    out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| {
        for (o, &x) in o.iter_mut().zip(x) {
            let cube = 0.044_715 * x * x * x;
            *o = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + cube)).tanh());
        }
    });
}

/// `dx += gelu'(x) * dout` elementwise.
pub fn gelu_backward(dx: &mut [f32], x: &[f32], dout: &[f32]) {
    dx.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).zip(dout.par_chunks(CHUNK)).for_each(
        |((dx, x), d)| {
            for ((dx, &x), &d) in dx.iter_mut().zip(x).zip(d) {
                let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
                let t = u.tanh();
                let sech2 = 1.0 - t * t;
                let local = 0.5 * (1.0 + t)
                    + 0.5 * x * sech2 * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x);
                *dx += local * d;
            }
        },
    );
}

/// `erf(x)` to ~1e-7: a rational approximation on `[-4, 4]` (erf is +-1 to f32 precision
/// beyond); no `exp`, so the loop over a whole activation vectorises.
#[inline]
pub fn erf(x: f32) -> f32 {
    const A: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600_1e-3,
        -1.609_603_3e-2,
    ];
    const B: [f32; 5] =
        [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329_3e-3, -1.426_474e-2];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = A[0];
    for a in &A[1..] {
        p = p * x2 + a;
    }
    let mut q = B[0];
    for b in &B[1..] {
        q = q * x2 + b;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rand_vec};

    #[test]
    fn gelu_values_and_gradient() {
        let mut out = [0.0; 3];
        gelu_forward(&mut out, &[0.0, 1.0, -1.0]);
        assert_eq!(out[0], 0.0);
        assert!((out[1] - 0.841_192).abs() < 1e-4 && (out[2] + 0.158_808).abs() < 1e-4);

        let x = rand_vec(50, 1).iter().map(|v| v * 2.0).collect::<Vec<_>>();
        let r = rand_vec(50, 2);
        let f = |x: &[f32]| {
            let mut o = vec![0.0; x.len()];
            gelu_forward(&mut o, x);
            o.iter().zip(&r).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
        };
        let mut dx = vec![0.0; 50];
        gelu_backward(&mut dx, &x, &r);
        check_grad("gelu", &x, &dx, f);
    }
}
