//! A dense, row-major, owned `f32` tensor on the CPU.
//!
//! The kernels in [`crate::ops`] work on slices with explicit dimensions (as in llm.c), so that a
//! model can keep all its parameters in one flat buffer and an optimizer can update them in one
//! pass. `Tensor` is the typed, shape-checked face of those buffers for callers.

use crate::error::{Error, Result};
use crate::rng::Rng;

/// A dense row-major `f32` tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    /// A tensor with elements drawn from `N(0, std^2)`.
    pub fn randn(shape: &[usize], std: f32, rng: &mut Rng) -> Self {
        let data = (0..shape.iter().product::<usize>()).map(|_| rng.normal() * std).collect();
        Self { shape: shape.to_vec(), data }
    }

    /// Wraps `data` as a tensor of `shape`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `data.len()` is not the product of `shape`.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Shape {
                op: "Tensor::from_vec",
                expected: format!("{n} elements for {shape:?}"),
                got: data.len().to_string(),
            });
        }
        Ok(Self { shape: shape.to_vec(), data })
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the tensor, returning its elements.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Same elements, new shape.
    ///
    /// # Errors
    /// [`Error::Shape`] if the element counts differ.
    pub fn reshape(self, shape: &[usize]) -> Result<Self> {
        Self::from_vec(shape, self.data)
    }

    /// Matrix product `self @ rhs` of a `[m, k]` and a `[k, n]` tensor.
    ///
    /// # Errors
    /// [`Error::Shape`] unless both are 2-D with matching inner dimension.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        match (self.shape.as_slice(), rhs.shape.as_slice()) {
            (&[m, k], &[k2, n]) if k == k2 => {
                let mut out = Tensor::zeros(&[m, n]);
                crate::ops::matmul::matmul(&mut out.data, &self.data, &rhs.data, m, k, n);
                Ok(out)
            }
            (a, b) => Err(Error::Shape {
                op: "Tensor::matmul",
                expected: "[m, k] @ [k, n]".into(),
                got: format!("{a:?} @ {b:?}"),
            }),
        }
    }

    /// Largest absolute elementwise difference to `other` (infinite if the shapes differ).
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        if self.shape != other.shape {
            return f32::INFINITY;
        }
        self.data.iter().zip(&other.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert!(Tensor::from_vec(&[2, 3], vec![0.0; 5]).is_err());
        let a = Tensor::from_vec(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let b = Tensor::from_vec(&[3, 1], vec![1.0, 0.0, -1.0]).unwrap();
        assert_eq!(a.matmul(&b).unwrap().data(), &[-2.0, -2.0]);
        assert!(b.matmul(&b).is_err());
        assert_eq!(a.clone().reshape(&[3, 2]).unwrap().shape(), &[3, 2]);
        assert_eq!(a.max_abs_diff(&a), 0.0);
    }
}
