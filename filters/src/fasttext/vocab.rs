//! The words of a fastText model.

use rustc_hash::FxHashMap;

/// The model's words, found by the 64-bit hash the word cache also uses (so a word is hashed
/// once), then compared. Should two words of the model share a hash, they are found by text.
#[derive(Debug)]
pub(super) struct Vocab {
    /// Each word by its id.
    pub(super) words: Vec<String>,
    by_hash: FxHashMap<u64, u32>,
    by_text: Option<FxHashMap<String, usize>>,
}

impl Vocab {
    /// From word -> id, ids below the number of words.
    pub(super) fn new(ids: FxHashMap<String, usize>) -> Self {
        let mut words = vec![String::new(); ids.len()];
        let mut by_hash = FxHashMap::default();
        let mut collided = false;
        for (w, &id) in &ids {
            collided |=
                by_hash.insert(xxhash_rust::xxh3::xxh3_64(w.as_bytes()), id as u32).is_some();
            words[id] = w.clone();
        }
        Self { words, by_hash, by_text: collided.then_some(ids) }
    }

    /// The id of `word` (whose xxh3 is `hash`), if it is a word of the model.
    pub(super) fn id(&self, word: &str, hash: u64) -> Option<usize> {
        if let Some(by_text) = &self.by_text {
            return by_text.get(word).copied();
        }
        let id = *self.by_hash.get(&hash)? as usize;
        (self.words[id] == word).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_finds_words_by_hash_or_text() {
        let h = |w: &str| xxhash_rust::xxh3::xxh3_64(w.as_bytes());
        let ids: FxHashMap<String, usize> =
            [("the".to_string(), 0), ("of".to_string(), 1)].into_iter().collect();
        let v = Vocab::new(ids.clone());
        assert!(v.by_text.is_none());
        assert_eq!(
            (v.id("the", h("the")), v.id("of", h("of")), v.id("and", h("and"))),
            (Some(0), Some(1), None)
        );
        // A word that is not the model's, under a model word's hash, is not that word.
        assert_eq!(v.id("and", h("the")), None);
        // Found by text when two words of the model share a hash.
        let by_text = Vocab { by_text: Some(ids), ..v };
        assert_eq!((by_text.id("of", 0), by_text.id("and", h("the"))), (Some(1), None));
    }
}
