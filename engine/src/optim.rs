//! Optimizers over flat parameter buffers: AdamW (decoupled weight decay) and plain SGD.
//!
//! Models keep all their parameters in one `Vec<f32>`, so one optimizer instance updates the
//! whole model in one pass. AdamW also has a sparse, row-wise variant ("lazy Adam") for large
//! embedding tables of which a step touches only a few rows.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
    /// Decoupled weight decay, multiplied by `lr`.
    pub weight_decay: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// AdamW state for a parameter buffer of fixed length.
#[derive(Debug, Clone)]
pub struct AdamW {
    /// Hyper-parameters; `lr` may be changed between steps (schedules).
    pub config: AdamWConfig,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u32,
}

impl AdamW {
    /// State for `n` parameters.
    pub fn new(config: AdamWConfig, n: usize) -> Self {
        Self { config, m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// One update of all `params` from `grads` (same length as at construction).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.t += 1;
        let c = self.config;
        let (bc1, bc2) = (1.0 - c.beta1.powi(self.t as i32), 1.0 - c.beta2.powi(self.t as i32));
        params
            .par_chunks_mut(4096)
            .zip(grads.par_chunks(4096))
            .zip(self.m.par_chunks_mut(4096).zip(self.v.par_chunks_mut(4096)))
            .for_each(|((p, g), (m, v))| {
                for i in 0..p.len() {
                    update(&mut p[i], g[i], &mut m[i], &mut v[i], &c, bc1, bc2);
                }
            });
    }

    /// Lazy (sparse) update: only the rows `rows[j]` of a `[_, width]` table, with gradient row
    /// `grads[j * width..]`. The step counter advances once per call.
    pub fn step_rows(&mut self, params: &mut [f32], grads: &[f32], rows: &[u32], width: usize) {
        self.t += 1;
        let c = self.config;
        let (bc1, bc2) = (1.0 - c.beta1.powi(self.t as i32), 1.0 - c.beta2.powi(self.t as i32));
        for (j, &r) in rows.iter().enumerate() {
            let base = r as usize * width;
            for i in 0..width {
                update(
                    &mut params[base + i],
                    grads[j * width + i],
                    &mut self.m[base + i],
                    &mut self.v[base + i],
                    &c,
                    bc1,
                    bc2,
                );
            }
        }
    }
}

/// One AdamW update of one parameter (`bc1`, `bc2`: the bias corrections `1 - beta^t`).
#[inline]
pub(crate) fn update(
    p: &mut f32,
    g: f32,
    m: &mut f32,
    v: &mut f32,
    c: &AdamWConfig,
    bc1: f32,
    bc2: f32,
) {
    *m = c.beta1 * *m + (1.0 - c.beta1) * g;
    *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
    let (mh, vh) = (*m / bc1, *v / bc2);
    *p -= c.lr * (mh / (vh.sqrt() + c.eps) + c.weight_decay * *p);
}

/// Plain SGD: `params -= lr * grads`.
pub fn sgd_step(params: &mut [f32], grads: &[f32], lr: f32) {
    for (p, g) in params.iter_mut().zip(grads) {
        *p -= lr * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_lr() {
        // With bias correction the first Adam step is lr * sign(g) (eps aside).
        let mut opt =
            AdamW::new(AdamWConfig { lr: 0.1, weight_decay: 0.0, ..Default::default() }, 3);
        let mut p = vec![1.0, 1.0, 1.0];
        opt.step(&mut p, &[2.0, -0.5, 0.0]);
        assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] - 1.1).abs() < 1e-6 && p[2] == 1.0);
        // Decoupled decay shrinks parameters even with zero gradient.
        let mut opt =
            AdamW::new(AdamWConfig { lr: 0.1, weight_decay: 0.5, ..Default::default() }, 1);
        let mut p = vec![2.0];
        opt.step(&mut p, &[0.0]);
        assert!((p[0] - 1.9).abs() < 1e-6);
    }

    #[test]
    fn adamw_minimises_a_quadratic_and_rows_match_dense() {
        let target = [3.0f32, -2.0, 0.5, 1.0];
        let mut opt = AdamW::new(AdamWConfig { lr: 0.05, ..Default::default() }, 4);
        let mut p = vec![0.0f32; 4];
        for _ in 0..2000 {
            let g: Vec<f32> = p.iter().zip(&target).map(|(p, t)| 2.0 * (p - t)).collect();
            opt.step(&mut p, &g);
        }
        assert!(p.iter().zip(&target).all(|(p, t)| (p - t).abs() < 1e-2), "{p:?}");

        let (mut dense, mut sparse) =
            (AdamW::new(AdamWConfig::default(), 6), AdamW::new(AdamWConfig::default(), 6));
        let (mut pd, mut ps) = (vec![1.0f32; 6], vec![1.0f32; 6]);
        dense.step(&mut pd, &[0.0, 0.0, 1.0, 2.0, 0.0, 0.0]);
        sparse.step_rows(&mut ps, &[1.0, 2.0], &[1], 2);
        assert_eq!(pd, ps);
        sgd_step(&mut ps, &[1.0; 6], 0.5);
        assert_eq!(ps[0], 0.5);
    }
}
