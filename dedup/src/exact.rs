//! Exact dedup: XXH3-128 of the normalized text.
//!
//! Two documents are exact duplicates when their texts are equal after [`NormalizeOptions`];
//! a 128-bit hash makes an accidental collision negligible (about 2^-64 at 2^32 documents).

use xxhash_rust::xxh3::xxh3_128;

use crate::normalize::{NormalizeOptions, normalize_into};

/// Hashes documents for exact dedup. Reuses a buffer, so keep one per thread.
#[derive(Debug, Clone, Default)]
pub struct ExactHasher {
    opts: NormalizeOptions,
    buf: String,
}

impl ExactHasher {
    /// A hasher with the given normalization.
    pub fn new(opts: NormalizeOptions) -> Self {
        ExactHasher { opts, buf: String::new() }
    }

    /// The normalization this hasher applies.
    pub fn options(&self) -> &NormalizeOptions {
        &self.opts
    }

    /// XXH3-128 of `text` after normalization.
    pub fn hash(&mut self, text: &str) -> u128 {
        normalize_into(text, &self.opts, &mut self.buf);
        xxh3_128(self.buf.as_bytes())
    }
}

/// XXH3-128 of `text` after normalization (allocates; prefer [`ExactHasher`] in loops).
pub fn exact_hash(text: &str, opts: &NormalizeOptions) -> u128 {
    ExactHasher::new(*opts).hash(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_decides_equality() {
        let d = NormalizeOptions::default();
        assert_eq!(exact_hash("a  b\n", &d), exact_hash("a b", &d));
        assert_ne!(exact_hash("A b", &d), exact_hash("a b", &d));
        let a = NormalizeOptions::aggressive();
        assert_eq!(exact_hash("A, b!", &a), exact_hash("a b", &a));
    }

    #[test]
    fn golden_hash_is_plain_xxh3_128_of_normalized_bytes() {
        // Pinned so that persistent indexes stay valid across releases.
        assert_eq!(
            exact_hash(" hello   world ", &NormalizeOptions::default()),
            xxh3_128(b"hello world")
        );
        assert_eq!(xxh3_128(b""), 0x99aa_06d3_0147_98d8_6001_c324_468d_497f);
    }
}
