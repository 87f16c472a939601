//! Row sums of out-of-vocabulary words, per thread: a repeated unknown word costs one lookup.

use std::cell::RefCell;
use std::sync::atomic::AtomicU64;

use rustc_hash::FxHashMap;

use super::FastText;

/// Distinct out-of-vocabulary words a thread keeps row sums for (per model; cleared when full)
/// ... Small on purpose: a cache that stays near the core serves its hits faster than a larger
/// one saves misses (16K words beat 64K and 128K on web text, side by side) ...
pub(super) const OOV_CACHE_WORDS: usize = 1 << 14;
/// ... and at most this many floats of sums (1 MiB; fewer words for wide models).
pub(super) const OOV_CACHE_FLOATS: usize = 1 << 18;
/// Longer out-of-vocabulary words (URLs, runs of CJK text) rarely repeat: not cached.
pub(super) const OOV_CACHE_MAX_BYTES: usize = 48;

/// Numbers models, so that a thread's cache knows whose sums it holds.
pub(super) static NEXT_MODEL: AtomicU64 = AtomicU64::new(1);

/// Row sums of out-of-vocabulary words seen by this thread. Words are kept end to end in one
/// buffer and found by their 64-bit hash (then compared), so caching a word allocates nothing
/// and clearing the cache frees nothing.
#[derive(Default)]
pub(super) struct OovCache {
    model: u64,
    /// xxh3 of the word -> its slot.
    index: FxHashMap<u64, u32>,
    /// The cached words, end to end ...
    text: String,
    /// ... each slot's word in `text` (start, end) ...
    spans: Vec<(u32, u32)>,
    /// ... its `dim` floats ...
    sums: Vec<f32>,
    /// ... and how many rows were summed.
    rows: Vec<u32>,
    /// The sum of a word that is not cached.
    scratch: Vec<f32>,
}

thread_local! {
    pub(super) static OOV: RefCell<OovCache> = RefCell::new(OovCache::default());
}

impl OovCache {
    /// This thread's cache for `model`: emptied when it held another model's sums.
    pub(super) fn for_model(&mut self, model: u64) {
        if self.model != model {
            *self = OovCache { model, ..OovCache::default() };
        }
    }
}

impl FastText {
    /// The row sum of an out-of-vocabulary word (its character n-grams) and how many rows that
    /// is, from the thread's cache or computed and cached.
    pub(super) fn oov_sum<'c>(
        &self,
        cache: &'c mut OovCache,
        word: &str,
        hash: u64,
        ids: &mut Vec<usize>,
        buf: &mut String,
    ) -> (&'c [f32], u32) {
        let d = self.dim;
        let cacheable = word.len() <= OOV_CACHE_MAX_BYTES;
        let mut slot = None;
        if cacheable {
            match cache.index.get(&hash) {
                Some(&s) => {
                    let (a, b) = cache.spans[s as usize];
                    if &cache.text[a as usize..b as usize] == word {
                        return (
                            &cache.sums[s as usize * d..(s as usize + 1) * d],
                            cache.rows[s as usize],
                        );
                    }
                    // Another word with the same hash holds the slot: computed, not cached.
                }
                None => {
                    if cache.index.len() >= OOV_CACHE_WORDS.min(OOV_CACHE_FLOATS / d.max(1)).max(1)
                    {
                        cache.index.clear();
                        cache.text.clear();
                        cache.spans.clear();
                        cache.sums.clear();
                        cache.rows.clear();
                    }
                    slot = Some(cache.rows.len());
                }
            }
        }
        ids.clear();
        self.subwords(word, ids, buf);
        let sum = match slot {
            Some(s) => {
                cache.index.insert(hash, s as u32);
                let start = cache.text.len() as u32;
                cache.text.push_str(word);
                cache.spans.push((start, cache.text.len() as u32));
                cache.rows.push(ids.len() as u32);
                cache.sums.resize((s + 1) * d, 0.0);
                &mut cache.sums[s * d..(s + 1) * d]
            }
            None => {
                cache.scratch.clear();
                cache.scratch.resize(d, 0.0);
                &mut cache.scratch[..]
            }
        };
        for &r in ids.iter() {
            self.input.add_row(sum, r);
        }
        (sum, ids.len() as u32)
    }
}
