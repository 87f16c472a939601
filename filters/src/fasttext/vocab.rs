//! The words of a fastText model.

use rustc_hash::FxHashMap;

use super::hash;
use super::scan::Key;

/// A slot of the open-addressing table: 32 bytes, two to a cache line. A word of at most
/// [`super::scan::INLINE`] bytes is compared in the slot itself (its key is its bytes).
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The word's [`Key`] ...
    a: u64,
    b: u64,
    len: u32,
    /// ... its id ...
    id: u32,
    /// ... fastText's hash of it (for word n-grams) ...
    ft_hash: u32,
    /// ... and how many input rows it adds (set by [`Vocab::set_rows`]).
    rows: u32,
}

/// No word is empty: a length of 0 marks an empty slot.
const EMPTY: Slot = Slot { a: 0, b: 0, len: 0, id: 0, ft_hash: 0, rows: 0 };

/// A word of the model as a lookup finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) id: u32,
    /// fastText's hash of the word.
    pub(super) ft_hash: u32,
    /// The input rows it adds (its own and its character n-grams').
    pub(super) rows: u32,
}

/// The model's words, found by their [`Key`] (the one the word caches use too, so that a word
/// is keyed once) in a table at most half full; a long word is then compared with its text,
/// which lies with the others in one buffer. Runs for every token of every line.
#[derive(Debug)]
pub(super) struct Vocab {
    /// Each word by its id.
    pub(super) words: Vec<String>,
    /// Linear probing by [`Key::hash`]; a power of two long.
    slots: Vec<Slot>,
    /// The words end to end ...
    text: Vec<u8>,
    /// ... and where each word starts, by id.
    starts: Vec<u32>,
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
        for (id, w) in words.iter().enumerate() {
            starts.push(text.len() as u32);
            text.extend_from_slice(w.as_bytes());
            if w.is_empty() {
                continue; // no token is empty: never looked up
            }
            let key = Key::of(w.as_bytes());
            let mut i = key.hash() as usize & mask;
            while slots[i].len != 0 {
                i = (i + 1) & mask;
            }
            let (a, b, len) = (key.a, key.b, key.len);
            slots[i] = Slot { a, b, len, id: id as u32, ft_hash: hash(w.as_bytes()), rows: 1 };
        }
        starts.push(text.len() as u32);
        Self { words, slots, text, starts }
    }

    /// Starts bringing the slot of the word of hash `h` ([`Key::hash`]) into the cache.
    pub(super) fn prefetch(&self, h: u64) {
        super::exact_cache::prefetch(&self.slots[h as usize & (self.slots.len() - 1)]);
    }

    /// Records how many input rows each word adds (`rows(id)`).
    pub(super) fn set_rows(&mut self, rows: impl Fn(usize) -> usize) {
        for s in self.slots.iter_mut().filter(|s| s.len != 0) {
            s.rows = rows(s.id as usize) as u32;
        }
    }

    /// The id of `word` (of key `key`, whose hash is `h`), if it is a word of the model.
    pub(super) fn id(&self, word: &[u8], key: &Key, h: u64) -> Option<usize> {
        self.find(word, key, h).map(|f| f.id as usize)
    }

    /// `word` (of key `key`, whose hash is `h`), if it is a word of the model.
    pub(super) fn find(&self, word: &[u8], key: &Key, h: u64) -> Option<Found> {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = &self.slots[i];
            if s.len == 0 {
                return None;
            }
            if s.len == key.len
                && s.a == key.a
                && s.b == key.b
                && (key.inline() || {
                    let id = s.id as usize;
                    self.text.get(self.starts[id] as usize..self.starts[id + 1] as usize)
                        == Some(word)
                })
            {
                return Some(Found { id: s.id, ft_hash: s.ft_hash, rows: s.rows });
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(v: &Vocab, w: &str) -> Option<(usize, u32)> {
        let k = Key::of(w.as_bytes());
        v.find(w.as_bytes(), &k, k.hash()).map(|f| (f.id as usize, f.ft_hash))
    }

    #[test]
    fn vocab_finds_words_by_key_then_text() {
        let long = "x".repeat(40);
        let ids: FxHashMap<String, usize> = [
            ("the".to_string(), 0),
            ("of".to_string(), 1),
            ("théâtre".to_string(), 2),
            (long.clone(), 3),
        ]
        .into_iter()
        .collect();
        let v = Vocab::new(ids);
        assert_eq!(
            (find(&v, "the"), find(&v, "of").map(|f| f.0), find(&v, "and")),
            (Some((0, hash(b"the"))), Some(1), None)
        );
        assert_eq!(find(&v, "théâtre"), Some((2, hash("théâtre".as_bytes()))));
        assert_eq!(find(&v, &long).map(|f| f.0), Some(3));
        // Neither a prefix nor an extension of a word is that word.
        for miss in ["th", "thee", "the\0", &long[1..], &format!("{long}x")] {
            assert_eq!(find(&v, miss), None, "{miss}");
        }
        // A long word under another long word's key (an xxh3 collision) is compared as text.
        let other = "y".repeat(40);
        let k = Key::of(long.as_bytes());
        assert_eq!(v.find(other.as_bytes(), &k, k.hash()), None);
        let mut v = v;
        v.set_rows(|id| id + 7);
        let k = Key::of(b"of");
        assert_eq!(v.find(b"of", &k, k.hash()).map(|f| f.rows), Some(8));
    }

    #[test]
    fn every_word_is_found_in_a_full_table() {
        let ids: FxHashMap<String, usize> =
            (0..5000).map(|i| (format!("w{i}{}", "z".repeat(i % 30)), i)).collect();
        let v = Vocab::new(ids);
        for i in 0..5000 {
            let w = format!("w{i}{}", "z".repeat(i % 30));
            assert_eq!(find(&v, &w).map(|f| f.0), Some(i));
            assert_eq!(find(&v, &format!("x{i}")), None);
        }
    }
}
