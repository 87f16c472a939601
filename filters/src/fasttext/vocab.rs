//! The words of a fastText model.

use rustc_hash::FxHashMap;

use super::hash;

/// A slot of the open-addressing table: 16 bytes, so that four share a cache line.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// xxh3 of the word (0: an empty slot; a word whose xxh3 is 0 is found by text).
    key: u64,
    /// The word's id ...
    id: u32,
    /// ... and fastText's hash of it (for word n-grams).
    ft_hash: u32,
}

const EMPTY: Slot = Slot { key: 0, id: 0, ft_hash: 0 };

/// The model's words, found by the 64-bit hash the word caches also use (so a word is hashed
/// once) in a table at most half full, then compared with the word's text, which lies with
/// the others in one buffer. Runs for every token of every line.
#[derive(Debug)]
pub(super) struct Vocab {
    /// Each word by its id.
    pub(super) words: Vec<String>,
    /// Linear probing by xxh3; a power of two long.
    slots: Vec<Slot>,
    /// The words end to end, each followed by 0xFF (no UTF-8 byte), so that one comparison
    /// checks the length too ...
    text: Vec<u8>,
    /// ... and where each word starts, by id.
    starts: Vec<u32>,
    /// Words whose xxh3 is 0 (no slot can hold them).
    zero: FxHashMap<String, u32>,
}

impl Vocab {
    /// From word -> id, ids below the number of words.
    pub(super) fn new(ids: FxHashMap<String, usize>) -> Self {
        let mut words = vec![String::new(); ids.len()];
        for (w, &id) in &ids {
            words[id] = w.clone();
        }
        let mut slots = vec![EMPTY; (2 * words.len()).next_power_of_two().max(2)];
        let mask = slots.len() - 1;
        let mut text = Vec::new();
        let mut starts = Vec::with_capacity(words.len());
        let mut zero = FxHashMap::default();
        for (id, w) in words.iter().enumerate() {
            starts.push(text.len() as u32);
            text.extend_from_slice(w.as_bytes());
            text.push(0xFF);
            let key = xxhash_rust::xxh3::xxh3_64(w.as_bytes());
            if key == 0 {
                zero.insert(w.clone(), id as u32);
                continue;
            }
            let mut i = key as usize & mask;
            while slots[i].key != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = Slot { key, id: id as u32, ft_hash: hash(w.as_bytes()) };
        }
        Self { words, slots, text, starts, zero }
    }

    /// Starts bringing the slot of the word of xxh3 `h` into the cache.
    pub(super) fn prefetch(&self, h: u64) {
        super::exact_cache::prefetch(&self.slots[h as usize & (self.slots.len() - 1)]);
    }

    /// The id of `word` (whose xxh3 is `hash`), if it is a word of the model.
    pub(super) fn id(&self, word: &str, hash: u64) -> Option<usize> {
        self.find(word, hash).map(|(id, _)| id)
    }

    /// The id of `word` (whose xxh3 is `hash`) and fastText's hash of it, if it is a word of
    /// the model.
    pub(super) fn find(&self, word: &str, hash: u64) -> Option<(usize, u32)> {
        if hash == 0 {
            let id = *self.zero.get(word)?;
            return Some((id as usize, super::hash(word.as_bytes())));
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s.key == 0 {
                return None;
            }
            if s.key == hash {
                let start = self.starts[s.id as usize] as usize;
                let stored = self.text.get(start..start + word.len() + 1)?;
                if &stored[..word.len()] == word.as_bytes() && stored[word.len()] == 0xFF {
                    return Some((s.id as usize, s.ft_hash));
                }
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_finds_words_by_hash_then_text() {
        let h = |w: &str| xxhash_rust::xxh3::xxh3_64(w.as_bytes());
        let ids: FxHashMap<String, usize> =
            [("the".to_string(), 0), ("of".to_string(), 1), ("théâtre".to_string(), 2)]
                .into_iter()
                .collect();
        let v = Vocab::new(ids);
        assert_eq!(
            (v.id("the", h("the")), v.id("of", h("of")), v.id("and", h("and"))),
            (Some(0), Some(1), None)
        );
        assert_eq!(v.find("théâtre", h("théâtre")), Some((2, hash("théâtre".as_bytes()))));
        // A word that is not the model's, under a model word's hash, is not that word, nor
        // is a prefix of it.
        assert_eq!(v.id("and", h("the")), None);
        assert_eq!(v.id("th", h("the")), None);
        assert_eq!(v.id("thee", h("the")), None);
        // Under the hash 0 (no slot), words are found by text.
        let zero = Vocab { zero: [("of".to_string(), 1)].into_iter().collect(), ..v };
        assert_eq!((zero.find("of", 0), zero.id("the", 0)), (Some((1, hash(b"of"))), None));
    }

    #[test]
    fn every_word_is_found_in_a_full_table() {
        let ids: FxHashMap<String, usize> = (0..5000).map(|i| (format!("w{i}"), i)).collect();
        let v = Vocab::new(ids);
        for i in 0..5000 {
            let w = format!("w{i}");
            assert_eq!(v.find(&w, xxhash_rust::xxh3::xxh3_64(w.as_bytes())).map(|f| f.0), Some(i));
            let miss = format!("x{i}");
            assert_eq!(v.id(&miss, xxhash_rust::xxh3::xxh3_64(miss.as_bytes())), None);
        }
    }
}
