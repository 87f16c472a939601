//! fastText's hashing of words and character n-grams to buckets.

/// `x % d` for a fixed `d` by two multiplications instead of a division: exact for every
/// 32-bit `x` (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
#[derive(Debug, Clone, Copy)]
pub(super) struct FastMod {
    d: u32,
    m: u64,
}

impl FastMod {
    pub(super) fn new(d: u32) -> Self {
        let d = d.max(1);
        Self { d, m: (u64::MAX / u64::from(d)).wrapping_add(1) }
    }

    pub(super) fn of(self, x: u32) -> u32 {
        let low = self.m.wrapping_mul(u64::from(x));
        ((u128::from(low) * u128::from(self.d)) >> 64) as u32
    }
}

/// `x % d` for a fixed `d` and any 64-bit `x` (word n-grams' hashes): the quotient from a
/// multiplication by `2^64 / d`, which is at most one short, then one correction.
#[derive(Debug, Clone, Copy)]
pub(super) struct FastMod64 {
    d: u64,
    m: u64,
}

impl FastMod64 {
    pub(super) fn new(d: u32) -> Self {
        let d = u64::from(d.max(1));
        Self { d, m: u64::MAX / d }
    }

    pub(super) fn of(self, x: u64) -> u64 {
        let q = ((u128::from(x) * u128::from(self.m)) >> 64) as u64;
        let r = x - q * self.d;
        if r >= self.d { r - self.d } else { r }
    }
}

pub(super) const FNV_OFFSET: u32 = 2_166_136_261;

/// One step of fastText's FNV-1a: the byte is sign-extended to 32 bits before the XOR.
pub(super) fn fnv_step(h: u32, b: u8) -> u32 {
    (h ^ b as i8 as i32 as u32).wrapping_mul(16_777_619)
}

/// fastText's string hash.
pub(super) fn hash(s: &[u8]) -> u32 {
    s.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_sign_extends() {
        assert_eq!(hash(b""), 2_166_136_261);
        assert_eq!(hash(b"a"), 0xe40c292c);
        // A byte >= 0x80 is XORed as 0xFFFFFFxx, unlike plain FNV-1a.
        assert_ne!(hash("é".as_bytes()), {
            let mut h: u32 = 2_166_136_261;
            for &b in "é".as_bytes() {
                h = (h ^ b as u32).wrapping_mul(16_777_619);
            }
            h
        });
    }

    proptest::proptest! {
        #[test]
        fn fast_mod_is_the_remainder(x: u32, d in 1u32..) {
            proptest::prop_assert_eq!(FastMod::new(d).of(x), x % d);
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_mod64_is_the_remainder(x: u64, d in 1u32..) {
            proptest::prop_assert_eq!(FastMod64::new(d).of(x), x % u64::from(d));
        }
    }

    #[test]
    fn fast_mod_edges() {
        for d in [1u32, 2, 3, 7, 10_000, 2_000_000, 1 << 31, u32::MAX] {
            for x in [0, 1, u64::from(d) - 1, u64::from(d), u64::MAX - 1, u64::MAX, 1 << 63] {
                assert_eq!(FastMod64::new(d).of(x), x % u64::from(d), "{x} % {d}");
            }
        }
        for d in [1, 2, 3, 7, 2_000_000, u32::MAX - 1, u32::MAX] {
            for x in [0, 1, d - 1, d, d.wrapping_add(1), u32::MAX - 1, u32::MAX] {
                assert_eq!(FastMod::new(d).of(x), x % d, "{x} % {d}");
            }
        }
    }
}
