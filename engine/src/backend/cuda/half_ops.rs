//! Half-precision products on the kernel backend: weights rounded to fp16 / bf16 on the host
//! and uploaded as 16-bit patterns, activations rounded by the `to_half` kernel (the same
//! rounding, to nearest even, in integer operations: `kernels.cu`), and cuBLAS `GemmEx` over
//! the two with `f32` output and `CUBLAS_COMPUTE_32F` (`driver.rs`; on the emulator a reference
//! product over the exact values of the 16-bit inputs, summed in `f32`).

use super::blas::Gemm;
use super::driver::Driver;
use super::kernels::elementwise;
use super::{KernelBackend, check, not_empty};
use crate::backend::HalfBuf;
use crate::error::Result;
use crate::precision::HalfFormat;

impl<D: Driver> KernelBackend<D> {
    /// [`crate::backend::Backend::upload_half`]: rounded on the host, copied as bits.
    pub(super) fn upload_half_bits(
        &self,
        data: &[f32],
        format: HalfFormat,
    ) -> Result<HalfBuf<D::U16s>> {
        not_empty("upload_half", data.len())?;
        let host: Vec<u16> = data.iter().map(|&x| format.to_bits(x)).collect();
        Ok(HalfBuf { bits: self.driver.upload_u16(&host)?, format })
    }

    /// [`crate::backend::Backend::round_half`]: the `to_half` kernel into a new 16-bit buffer.
    pub(super) fn round_half_on_device(
        &self,
        x: &D::F32s,
        n: usize,
        format: HalfFormat,
    ) -> Result<HalfBuf<D::U16s>> {
        check("round_half", &[(D::len(x), n)])?;
        let mut bits = self.driver.scratch_u16(n)?;
        self.to_half(elementwise(n), &mut bits, x, n as i64, format.code())?;
        Ok(HalfBuf { bits, format })
    }

    /// [`crate::backend::Backend::matmul_bt_half`]: `out[m, n] = round(a)[m, k] @ b[n, k]^T`,
    /// `a` rounded to `b`'s format into scratch first.
    pub(super) fn gemm_half(
        &self,
        out: &mut D::F32s,
        a: &D::F32s,
        b: &HalfBuf<D::U16s>,
        (m, k, n): (usize, usize, usize),
    ) -> Result<()> {
        const OP: &str = "matmul_bt_half";
        check(OP, &[(D::len(a), m * k), (D::u16_len(&b.bits), n * k), (D::len(out), m * n)])?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        let rounded = self.round_half_on_device(a, m * k, b.format)?;
        // cuBLAS's A is our b, its B our a (see Gemm::blas_call).
        let call = Gemm::matmul_bt(m, k, n).blas_call()?;
        self.driver.gemm_half(&call, b.format, &b.bits, &rounded.bits, out)
    }
}
