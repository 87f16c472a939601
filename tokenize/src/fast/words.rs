//! Pre-tokens that are one token: looked up whole before the piece cache and merging.
//!
//! With `ignore_merges` (Llama 3) the reference maps a pre-token that is in the vocabulary to
//! that token without merging, so every vocabulary token belongs here. Without it, a token
//! belongs here when merging its own bytes gives back just that token, which [`FastBpe::new`]
//! checks for each one (most tokens of a trained vocabulary). Either way a lookup gives exactly
//! the merge's result, and the common words of a text never reach the bounded piece cache.
//!
//! [`FastBpe::new`]: super::FastBpe::new

use super::cache::{piece_hash, same_bytes};
use hashbrown::HashTable;

/// Whole-token pieces, keys end to end in one buffer (no allocation per token).
#[derive(Debug, Default)]
pub(crate) struct Words {
    table: HashTable<Entry>,
    keys: Vec<u8>,
    /// No key is longer: longer pieces skip the hash.
    max_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    start: u32,
    len: u32,
    id: u32,
}

impl Words {
    /// The table of `(bytes, id)` pairs; of two pairs with the same bytes the first is kept.
    pub(crate) fn new(words: &[(Vec<u8>, u32)]) -> Self {
        let mut this = Self {
            table: HashTable::with_capacity(words.len()),
            keys: Vec::with_capacity(words.iter().map(|(bytes, _)| bytes.len()).sum()),
            max_len: 0,
        };
        for (bytes, id) in words {
            if this.get(bytes).is_some() {
                continue;
            }
            let (Ok(start), Ok(len)) = (u32::try_from(this.keys.len()), u32::try_from(bytes.len()))
            else {
                break;
            };
            let entry = Entry { hash: piece_hash(bytes), start, len, id: *id };
            this.keys.extend_from_slice(bytes);
            this.max_len = this.max_len.max(bytes.len());
            this.table.insert_unique(entry.hash, entry, |e| e.hash);
        }
        this
    }

    /// The token that `piece` is, if it is one.
    pub(crate) fn get(&self, piece: &[u8]) -> Option<u32> {
        self.get_hashed(piece, piece_hash(piece))
    }

    /// Whether a piece this long can be one of them (longer ones need no hash).
    #[inline]
    pub(crate) fn may_hold(&self, piece: &[u8]) -> bool {
        piece.len() <= self.max_len
    }

    /// [`Words::get`] of a piece whose [`piece_hash`] is `hash`.
    #[inline]
    pub(crate) fn get_hashed(&self, piece: &[u8], hash: u64) -> Option<u32> {
        if piece.len() > self.max_len {
            return None;
        }
        self.table
            .find(hash, |e| {
                e.hash == hash
                    && e.len as usize == piece.len()
                    && same_bytes(&self.keys[e.start as usize..][..piece.len()], piece)
            })
            .map(|e| e.id)
    }

    /// Every `(bytes, id)` pair, in id order.
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, u32)> {
        let mut words: Vec<(Vec<u8>, u32)> = self
            .table
            .iter()
            .map(|e| (self.keys[e.start as usize..][..e.len as usize].to_vec(), e.id))
            .collect();
        words.sort_unstable_by_key(|&(_, id)| id);
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_pieces_only_and_keeps_the_first_of_duplicates() {
        let words = Words::new(&[
            (b"the".to_vec(), 7),
            (b" the".to_vec(), 9),
            (b"the".to_vec(), 8),
            (Vec::new(), 1),
        ]);
        assert_eq!(words.get(b"the"), Some(7));
        assert_eq!(words.get(b" the"), Some(9));
        assert_eq!(words.get(b"th"), None);
        assert_eq!(words.get(b"their"), None);
        assert_eq!(words.entries(), [(Vec::new(), 1), (b"the".to_vec(), 7), (b" the".to_vec(), 9)]);
    }
}
