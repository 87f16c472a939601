//! Token element types of the Megatron indexed dataset format.
//!
//! Megatron identifies the element type of a `.bin` file by a one-byte code stored in the
//! `.idx` header. The codes, sizes and numpy names are:
//!
//! | code | variant | numpy name | bytes |
//! |---|---|---|---|
//! | 1 | [`DType::U8`] | `uint8` | 1 |
//! | 2 | [`DType::I8`] | `int8` | 1 |
//! | 3 | [`DType::I16`] | `int16` | 2 |
//! | 4 | [`DType::I32`] | `int32` | 4 |
//! | 5 | [`DType::I64`] | `int64` | 8 |
//! | 6 | [`DType::F64`] | `float64` | 8 |
//! | 7 | [`DType::F32`] | `float32` | 4 |
//! | 8 | [`DType::U16`] | `uint16` | 2 |
//!
//! There is no `uint32` code, so vocabularies of 65,500 tokens or more use `int32`.

use std::fmt;

/// Element type of the tokens in a `.bin` file, with its Megatron dtype code as discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// `uint8`, code 1.
    U8 = 1,
    /// `int8`, code 2.
    I8 = 2,
    /// `int16`, code 3.
    I16 = 3,
    /// `int32`, code 4.
    I32 = 4,
    /// `int64`, code 5.
    I64 = 5,
    /// `float64`, code 6.
    F64 = 6,
    /// `float32`, code 7.
    F32 = 7,
    /// `uint16`, code 8.
    U16 = 8,
}

/// All dtypes in code order.
const ALL: [DType; 8] =
    [DType::U8, DType::I8, DType::I16, DType::I32, DType::I64, DType::F64, DType::F32, DType::U16];

impl DType {
    /// The dtype Megatron uses for a vocabulary: `uint16` below 65,500 tokens, else `int32`.
    pub fn for_vocab(vocab_size: usize) -> DType {
        if vocab_size < 65_500 { DType::U16 } else { DType::I32 }
    }

    /// The Megatron dtype code stored in the `.idx` header.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The dtype for a Megatron code, or `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<DType> {
        ALL.into_iter().find(|d| d.code() == code)
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// The numpy name of the dtype (`"uint16"`, `"int32"`, ...), as stored in manifests.
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F64 => "float64",
            DType::F32 => "float32",
            DType::U16 => "uint16",
        }
    }

    /// The dtype with numpy name `name`, or `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<DType> {
        ALL.into_iter().find(|d| d.name() == name)
    }

    /// The largest token id the dtype stores exactly (floats: the largest exact integer range).
    pub fn max_token(self) -> u64 {
        match self {
            DType::U8 => u8::MAX.into(),
            DType::I8 => 127,
            DType::I16 => 32_767,
            DType::I32 => 2_147_483_647,
            DType::I64 => 9_223_372_036_854_775_807,
            DType::F64 => 1 << 53,
            DType::F32 => 1 << 24,
            DType::U16 => u16::MAX.into(),
        }
    }

    /// Appends `token` in little-endian form. The caller has checked it against
    /// [`max_token`](Self::max_token); values are truncated otherwise.
    pub(crate) fn encode(self, token: u32, out: &mut Vec<u8>) {
        match self {
            DType::U8 | DType::I8 => out.push(token as u8),
            DType::I16 | DType::U16 => out.extend_from_slice(&(token as u16).to_le_bytes()),
            DType::I32 => out.extend_from_slice(&token.to_le_bytes()),
            DType::I64 => out.extend_from_slice(&u64::from(token).to_le_bytes()),
            DType::F32 => out.extend_from_slice(&(token as f32).to_le_bytes()),
            DType::F64 => out.extend_from_slice(&f64::from(token).to_le_bytes()),
        }
    }

    /// Appends every token of `tokens` in little-endian form, like [`encode`](Self::encode)
    /// but in one pass the compiler can vectorize for the common `uint16` and `int32`.
    pub(crate) fn encode_all(self, tokens: &[u32], out: &mut Vec<u8>) {
        let start = out.len();
        match self {
            DType::I16 | DType::U16 => {
                out.resize(start + 2 * tokens.len(), 0);
                for (c, &t) in out[start..].chunks_exact_mut(2).zip(tokens) {
                    c.copy_from_slice(&(t as u16).to_le_bytes());
                }
            }
            DType::I32 => {
                out.resize(start + 4 * tokens.len(), 0);
                for (c, &t) in out[start..].chunks_exact_mut(4).zip(tokens) {
                    c.copy_from_slice(&t.to_le_bytes());
                }
            }
            _ => tokens.iter().for_each(|&t| self.encode(t, out)),
        }
    }

    /// Checks that every element of a little-endian array is a token id, without decoding:
    /// free for `uint8` and `uint16`, a sign-bit scan for `int32`.
    ///
    /// # Errors
    ///
    /// The element index of the first value that is not a token id, and why.
    pub(crate) fn check_all(self, bytes: &[u8]) -> Result<(), (usize, String)> {
        let bad = match self {
            DType::U8 | DType::U16 => None,
            DType::I32 => bytes.chunks_exact(4).position(|c| c[3] & 0x80 != 0),
            _ => bytes.chunks_exact(self.size()).position(|c| self.decode(c).is_err()),
        };
        match bad {
            None => Ok(()),
            Some(k) => {
                let at = k * self.size();
                Err((k, self.decode(&bytes[at..at + self.size()]).err().unwrap_or_default()))
            }
        }
    }

    /// Decodes a whole little-endian array (`bytes.len()` a multiple of [`size`](Self::size))
    /// and appends the token ids to `out`; fast paths for `uint8`, `uint16` and `int32`.
    ///
    /// # Errors
    ///
    /// The element index of the first value that is not a token id and why (see
    /// [`decode`](Self::decode)); `out` is then left as it was.
    pub(crate) fn decode_all(
        self,
        bytes: &[u8],
        out: &mut Vec<u32>,
    ) -> Result<(), (usize, String)> {
        let start = out.len();
        match self {
            DType::U8 => out.extend(bytes.iter().map(|&b| u32::from(b))),
            DType::U16 => out
                .extend(bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))),
            DType::I32 => {
                out.extend(
                    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                // Negative int32 values have the top bit set.
                if let Some(k) = out[start..].iter().position(|&t| t > i32::MAX as u32) {
                    out.truncate(start);
                    let message = self.decode(&bytes[4 * k..4 * k + 4]).err().unwrap_or_default();
                    return Err((k, message));
                }
            }
            _ => {
                for (k, c) in bytes.chunks_exact(self.size()).enumerate() {
                    match self.decode(c) {
                        Ok(t) => out.push(t),
                        Err(message) => {
                            out.truncate(start);
                            return Err((k, message));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Decodes one little-endian element (`bytes.len() == self.size()`) into a token id.
    ///
    /// # Errors
    ///
    /// A description of the value when it is not a token id: negative, above `u32::MAX`, or
    /// (for floats) not an integer.
    pub(crate) fn decode(self, bytes: &[u8]) -> Result<u32, String> {
        let int = |v: i64| u32::try_from(v).map_err(|_| format!("token id {v} is not in 0..2^32"));
        let float = |v: f64| {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(format!("token value {v} is not an integer id in 0..2^32"))
            }
        };
        let mut b = [0u8; 8];
        let n = self.size().min(bytes.len());
        b[..n].copy_from_slice(&bytes[..n]);
        match self {
            DType::U8 => Ok(b[0].into()),
            DType::I8 => int(i8::from_le_bytes([b[0]]).into()),
            DType::I16 => int(i16::from_le_bytes([b[0], b[1]]).into()),
            DType::U16 => Ok(u16::from_le_bytes([b[0], b[1]]).into()),
            DType::I32 => int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into()),
            DType::I64 => int(i64::from_le_bytes(b)),
            DType::F32 => float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]).into()),
            DType::F64 => float(f64::from_le_bytes(b)),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_sizes_round_trip() {
        for d in ALL {
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
            let mut buf = Vec::new();
            d.encode(7, &mut buf);
            assert_eq!(buf.len(), d.size(), "{d}");
            assert_eq!(d.decode(&buf), Ok(7), "{d}");
        }
        let codes: Vec<u8> = ALL.iter().map(|d| d.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(DType::from_code(0), None);
        assert_eq!(DType::from_code(9), None);
        assert_eq!(DType::from_name("uint32"), None);
    }

    #[test]
    fn vocab_threshold_matches_megatron() {
        assert_eq!(DType::for_vocab(50_257), DType::U16);
        assert_eq!(DType::for_vocab(65_499), DType::U16);
        assert_eq!(DType::for_vocab(65_500), DType::I32);
        assert_eq!(DType::for_vocab(128_256), DType::I32);
        assert_eq!(DType::U16.max_token(), 65_535);
        assert_eq!(DType::I32.max_token(), i32::MAX as u64);
    }

    proptest::proptest! {
        #[test]
        fn bulk_coding_matches_per_token(tokens in proptest::collection::vec(0u32..70_000, 0..64), code in 1u8..=8) {
            let d = DType::from_code(code).expect("valid code");
            let tokens: Vec<u32> = tokens.into_iter().map(|t| t.min(d.max_token() as u32)).collect();
            let (mut one, mut all) = (Vec::new(), Vec::new());
            tokens.iter().for_each(|&t| d.encode(t, &mut one));
            d.encode_all(&tokens, &mut all);
            proptest::prop_assert_eq!(&one, &all);
            proptest::prop_assert!(d.check_all(&all).is_ok());
            let mut back = vec![7];
            d.decode_all(&all, &mut back).expect("valid tokens decode");
            proptest::prop_assert_eq!(&back[1..], &tokens[..]);
        }
    }

    #[test]
    fn bulk_decode_reports_first_bad_element() {
        let mut bytes = Vec::new();
        for v in [1i32, 2, -3, -4] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let mut out = vec![9];
        let (k, message) = DType::I32.decode_all(&bytes, &mut out).expect_err("negative");
        assert_eq!((k, out), (2, vec![9]));
        assert!(message.contains("-3"), "{message}");
        assert_eq!(DType::I32.check_all(&bytes).map_err(|e| e.0), Err(2));
        let (k, _) = DType::F32
            .decode_all(&[0, 0, 0, 0, 0, 0, 0xc0, 0x3f], &mut Vec::new())
            .expect_err("1.5");
        assert_eq!(k, 1);
    }

    #[test]
    fn negative_and_fractional_values_are_rejected() {
        assert!(DType::I32.decode(&(-5i32).to_le_bytes()).is_err());
        assert!(DType::I8.decode(&[0xff]).is_err());
        assert!(DType::F32.decode(&1.5f32.to_le_bytes()).is_err());
        assert!(DType::I64.decode(&(1i64 << 40).to_le_bytes()).is_err());
        assert_eq!(DType::I32.decode(&i32::MAX.to_le_bytes()), Ok(i32::MAX as u32));
    }
}
