//! Hashed word n-gram features (part of the model file format: changing anything here needs a
//! new format version).
//!
//! Words are maximal runs of non-ASCII-whitespace bytes (`str::split_ascii_whitespace`), taken
//! as they are (no case folding, as fastText). Each word hashes to `h = xxh3_64(word bytes)`;
//! with `word_ngrams = 2` each pair of adjacent words also gives
//! `fmix64(h_prev * 0x9E3779B97F4A7C15 ^ h)` (wrapping multiply; `fmix64` is MurmurHash3's
//! finaliser). A 64-bit hash `x` maps to bucket `((x >> 32) * buckets) >> 32` (multiply-shift,
//! no division). Features are emitted in text order: unigram of word i, then bigram (i-1, i).

use xxhash_rust::xxh3::xxh3_64;

/// MurmurHash3's 64-bit finaliser.
#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The bucket of a 64-bit hash.
#[inline]
fn bucket(x: u64, buckets: u32) -> u32 {
    (((x >> 32) * buckets as u64) >> 32) as u32
}

/// Calls `f` with the bucket of every feature of `text`, in order.
#[inline]
pub fn for_each_feature(text: &str, buckets: u32, word_ngrams: u32, mut f: impl FnMut(u32)) {
    let mut prev: Option<u64> = None;
    for word in text.split_ascii_whitespace() {
        let h = xxh3_64(word.as_bytes());
        f(bucket(h, buckets));
        if word_ngrams >= 2
            && let Some(p) = prev
        {
            f(bucket(fmix64(p.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ h), buckets));
        }
        prev = Some(h);
    }
}

/// The feature buckets of `text`, in order.
pub fn features(text: &str, buckets: u32, word_ngrams: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for_each_feature(text, buckets, word_ngrams, |b| out.push(b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unigrams_and_bigrams() {
        let uni = features("the cat  sat", 1 << 20, 1);
        assert_eq!(uni.len(), 3);
        let bi = features("the cat\tsat\n", 1 << 20, 2);
        assert_eq!(bi.len(), 5);
        assert_eq!((bi[0], bi[1], bi[3]), (uni[0], uni[1], uni[2]));
        // Order matters for bigrams only.
        let rev = features("cat the", 1 << 20, 2);
        assert_ne!(rev[2], bi[2]);
        assert!(features("   ", 7, 2).is_empty());
        assert!(features("a b c d e f g h", 7, 2).iter().all(|&b| b < 7));
        // Pinned: these bucket numbers are part of the model format.
        assert_eq!(features("hello world", 1000, 2), PINNED);
    }

    const PINNED: [u32; 3] = [583, 837, 467];
}
