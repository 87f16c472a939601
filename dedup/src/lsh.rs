//! LSH banding: a signature of `bands * rows` values is cut into bands; documents that agree
//! on every row of some band are candidate duplicates.
//!
//! The key of band `b` is XXH3-64, seeded with `b`, of its `rows` values as little-endian
//! bytes. Seeding by band keeps keys of different bands apart, so they can share one table.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The key of band `band` of `sig`.
///
/// # Panics
///
/// If `sig` is shorter than `(band + 1) * rows`.
pub fn band_key(sig: &[u64], band: usize, rows: usize) -> u64 {
    let mut bytes = [0u8; 8 * 64];
    let vals = &sig[band * rows..(band + 1) * rows];
    if rows <= 64 {
        for (chunk, v) in bytes.chunks_exact_mut(8).zip(vals) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        xxh3_64_with_seed(&bytes[..8 * rows], band as u64)
    } else {
        let v: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        xxh3_64_with_seed(&v, band as u64)
    }
}

/// The keys of all `bands` bands of `sig`.
pub fn band_keys(sig: &[u64], bands: usize, rows: usize) -> Vec<u64> {
    (0..bands).map(|b| band_key(sig, b, rows)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_rows_and_band() {
        let a: Vec<u64> = (0..16).collect();
        let mut b = a.clone();
        b[9] = 99;
        let (ka, kb) = (band_keys(&a, 2, 8), band_keys(&b, 2, 8));
        assert_eq!(ka[0], kb[0]);
        assert_ne!(ka[1], kb[1]);
        // Same rows in different bands give different keys.
        let c = [1u64, 2, 1, 2];
        assert_ne!(band_key(&c, 0, 2), band_key(&c, 1, 2));
    }

    #[test]
    fn golden_key() {
        let sig = [1u64, 2];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&2u64.to_le_bytes());
        assert_eq!(band_key(&sig, 0, 2), xxh3_64_with_seed(&bytes, 0));
    }
}
