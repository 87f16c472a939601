//! The number formats of matrix products: `fp32`, or `fp16` / `bf16` inputs with `f32`
//! accumulation (cuBLAS `GemmEx` with `CUBLAS_COMPUTE_32F` on a GPU).
//!
//! A half-precision product rounds both of its inputs to the 16-bit format (to nearest, ties to
//! even, as the [`half`] crate and CUDA's `__float2half_rn` / `__float2bfloat16_rn` do), then
//! multiplies and sums them in `f32`: the rounding of the inputs is the only error over an fp32
//! product. `fp16` keeps 11 significant bits (relative rounding error at most 2^-11) over
//! 6e-5 to 65504, with subnormals down to 6e-8 and infinity beyond; `bf16` keeps 8 (2^-8) over
//! fp32's whole range.
//!
//! ```
//! use tokenmill_engine::precision::{HalfFormat, Precision};
//!
//! let p: Precision = "bf16".parse()?;
//! assert_eq!(p.half(), Some(HalfFormat::Bf16));
//! assert_eq!(HalfFormat::F16.round(1.0 + 1.0 / 2048.0), 1.0); // a tie: to even
//! assert_eq!(HalfFormat::F16.round(70_000.0), f32::INFINITY);
//! assert_eq!(HalfFormat::Bf16.to_f32(HalfFormat::Bf16.to_bits(3.0)), 3.0);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The inputs' format of a model's matrix products; in configs `"fp32"`, `"fp16"` or `"bf16"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// `f32` throughout.
    #[default]
    Fp32,
    /// IEEE binary16 inputs, `f32` accumulation and output.
    Fp16,
    /// bfloat16 inputs, `f32` accumulation and output.
    Bf16,
}

impl Precision {
    /// The 16-bit format of the products' inputs, or `None` for fp32.
    pub fn half(self) -> Option<HalfFormat> {
        match self {
            Self::Fp32 => None,
            Self::Fp16 => Some(HalfFormat::F16),
            Self::Bf16 => Some(HalfFormat::Bf16),
        }
    }

    /// The half precision to run on a GPU of compute capability `(major, minor)`: bf16 from
    /// 8.0 (Ampere) on, whose tensor cores take it as they take fp16; fp16 before (Turing and
    /// Volta have no bf16 tensor-core products).
    pub fn half_for_gpu(capability: (i32, i32)) -> Self {
        if capability >= (8, 0) { Self::Bf16 } else { Self::Fp16 }
    }

    /// The name as written in configs: `fp32`, `fp16` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Fp16 => "fp16",
            Self::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => Ok(Self::Fp32),
            "fp16" | "f16" | "float16" | "half" => Ok(Self::Fp16),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            _ => {
                Err(Error::Config(format!("unknown precision `{s}`: expected fp32, fp16 or bf16")))
            }
        }
    }
}

/// A 16-bit floating-point format, stored as its bit pattern (`u16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HalfFormat {
    /// IEEE 754 binary16: 1 sign, 5 exponent, 10 mantissa bits.
    F16,
    /// bfloat16: fp32's upper half (1 sign, 8 exponent, 7 mantissa bits).
    Bf16,
}

impl HalfFormat {
    /// The code the CUDA kernels take for this format (`to_half` in `kernels.cu`).
    pub(crate) fn code(self) -> i32 {
        match self {
            Self::F16 => 0,
            Self::Bf16 => 1,
        }
    }

    /// The bit pattern of `x` rounded to this format (to nearest, ties to even).
    pub fn to_bits(self, x: f32) -> u16 {
        match self {
            Self::F16 => f16::from_f32(x).to_bits(),
            Self::Bf16 => bf16::from_f32(x).to_bits(),
        }
    }

    /// The value of a bit pattern of this format (exact).
    pub fn to_f32(self, bits: u16) -> f32 {
        match self {
            Self::F16 => f16::from_bits(bits).to_f32(),
            Self::Bf16 => bf16::from_bits(bits).to_f32(),
        }
    }

    /// `x` rounded to this format, as an `f32` (exact).
    pub fn round(self, x: f32) -> f32 {
        self.to_f32(self.to_bits(x))
    }

    /// The relative rounding error bound (unit roundoff) for normal values: 2^-11 for fp16,
    /// 2^-8 for bf16.
    pub fn unit_roundoff(self) -> f32 {
        match self {
            Self::F16 => 1.0 / 2048.0,
            Self::Bf16 => 1.0 / 256.0,
        }
    }
}

impl fmt::Display for HalfFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F16 => "fp16",
            Self::Bf16 => "bf16",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for p in [Precision::Fp32, Precision::Fp16, Precision::Bf16] {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert_eq!(" BF16 ".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!(Precision::half_for_gpu((9, 0)), Precision::Bf16);
        assert_eq!(Precision::half_for_gpu((7, 5)), Precision::Fp16);
        let err = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("fp8") && err.contains("fp16"), "{err}");
    }

    #[test]
    fn rounding_keeps_the_formats_significant_bits() {
        // 1 + 2^-10 is fp16's next value after 1; 1 + 2^-7 is bf16's.
        assert_eq!(HalfFormat::F16.round(1.0 + 1.0 / 1024.0), 1.0 + 1.0 / 1024.0);
        assert_eq!(HalfFormat::Bf16.round(1.0 + 1.0 / 1024.0), 1.0);
        assert_eq!(HalfFormat::Bf16.round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0); // tie to even
        assert_eq!(HalfFormat::Bf16.round(1e30), bf16::from_f32(1e30).to_f32());
        assert!(HalfFormat::F16.round(f32::NAN).is_nan());
        for f in [HalfFormat::F16, HalfFormat::Bf16] {
            let u = f.unit_roundoff();
            for x in [0.1f32, 0.3, 1.7, 12.345, -0.77] {
                assert!((f.round(x) - x).abs() <= u * x.abs(), "{f} {x}");
            }
        }
    }
}
