//! Single-threaded strided `f32` matrix products for the encoder, on `matrixmultiply`'s packed,
//! cache-blocked kernels (AVX-512 16x16, else AVX2/FMA 8x8, chosen at run time: the crate's
//! `avx512` feature is on).
//!
//! The encoder runs one batch per pipeline worker, so these products stay on the calling
//! thread: the per-core throughput is what they are tuned for. Strides let a product read an
//! attention head straight out of the fused `[t, 3c]` query/key/value buffer, and its keys as
//! their transpose, without copies.
// The `unsafe` calls below are `matrixmultiply::sgemm` on raw pointers (`gemm` checks every
// extent against its slices first, and `&mut c` cannot alias `a` or `b`) and a function
// compiled for AVX2 and FMA, called after checking that the CPU has them.
#![allow(unsafe_code)]

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: cols, cs: 1 }
    }
}

/// Runs `f` compiled for AVX2 and FMA where the CPU has them (8 lanes instead of the baseline's
/// 4 for the elementwise passes: softmax, GELU, LayerNorm), else as is. `f` is inlined into the
/// AVX2 function, so its loops are vectorised for it; results are the same bit for bit (Rust
/// never fuses a multiply and an add by itself).
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features `avx2` is compiled for (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Elements a `rows x cols` matrix with strides `rs`, `cs` reaches.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 }
}

/// `c[m, n] = alpha * a[m, k] @ b[k, n] + beta * c`, with `c` row-major with row stride `rsc`.
///
/// # Panics
/// If a matrix's extent exceeds its slice or `rsc < n` (a caller's bug, as for slicing).
#[allow(clippy::too_many_arguments)] // BLAS-style explicit dimensions.
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: Mat<'_>,
    b: Mat<'_>,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
) {
    assert!(extent(m, k, a.rs, a.cs) <= a.data.len(), "gemm: a is too short");
    assert!(extent(k, n, b.rs, b.cs) <= b.data.len(), "gemm: b is too short");
    assert!(extent(m, n, rsc, 1) <= c.len() && (m <= 1 || rsc >= n), "gemm: bad c");
    if m == 0 || n == 0 {
        return;
    }
    let s = |x: usize| x as isize;
    // SAFETY: every index sgemm touches, (i * rs + j * cs) for i, j in range, lies inside the
    // slices (checked above); rows of c do not overlap (rsc >= n); c is exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            s(a.rs),
            s(a.cs),
            b.data.as_ptr(),
            s(b.rs),
            s(b.cs),
            beta,
            c.as_mut_ptr(),
            s(rsc),
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::rand_vec;

    #[test]
    fn strided_products_match_the_reference() {
        let (m, k, n) = (37, 19, 23);
        let a = rand_vec(m * k, 1);
        let w = rand_vec(n * k, 2); // [n, k]
        let mut want = vec![0.0; m * n];
        crate::ops::matmul::matmul_bt(&mut want, &a, &w, m, k, n);
        let mut c = vec![1.0; m * (n + 3)];
        gemm(m, k, n, 1.0, Mat::rows(&a, k), Mat { data: &w, rs: 1, cs: k }, 0.0, &mut c, n + 3);
        for i in 0..m {
            for j in 0..n {
                assert!((c[i * (n + 3) + j] - want[i * n + j]).abs() < 1e-4);
            }
            assert_eq!(c[i * (n + 3) + n], 1.0, "padding columns untouched");
        }
    }
}
