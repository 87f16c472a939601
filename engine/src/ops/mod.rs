//! CPU reference kernels, forward and backward, on flat `f32` slices with explicit dimensions.
//!
//! Each backward function *accumulates* into its gradient buffers (`+=`), so gradients of a
//! parameter used twice (tied embeddings) simply add up; callers zero gradients once per step.
//! Every backward is checked against central finite differences in this module's tests.

pub mod activation;
pub mod attention;
pub mod embedding;
pub mod encoder;
pub mod loss;
pub mod matmul;
pub mod norm;

#[cfg(test)]
pub(crate) mod testutil {
    use crate::rng::Rng;

    /// `n` values from `N(0, 1)`, seeded.
    pub fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| rng.normal()).collect()
    }

    /// Checks `analytic` against central differences of `f` around `x`, element by element.
    pub fn check_grad(name: &str, x: &[f32], analytic: &[f32], f: impl Fn(&[f32]) -> f64) {
        assert_eq!(x.len(), analytic.len(), "{name}: gradient length");
        let eps = 1e-2f32;
        let mut p = x.to_vec();
        for i in 0..x.len() {
            p[i] = x[i] + eps;
            let up = f(&p);
            p[i] = x[i] - eps;
            let down = f(&p);
            p[i] = x[i];
            let numeric = (up - down) / (2.0 * eps as f64);
            let a = analytic[i] as f64;
            let tol = 5e-3 + 2e-2 * numeric.abs().max(a.abs());
            assert!((a - numeric).abs() <= tol, "{name}[{i}]: analytic {a} vs numeric {numeric}");
        }
    }
}
