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

/// Whole-token pieces. A key's first [`INLINE`] bytes sit in its entry, so the common word is
/// found with one memory access past the table's control bytes; longer keys' other bytes lie
/// end to end in one buffer (no allocation per token).
#[derive(Debug, Default)]
pub(crate) struct Words {
    table: HashTable<Entry>,
    keys: Vec<u8>,
    /// No key is longer: longer pieces skip the hash.
    max_len: usize,
}

/// Key bytes kept in the entry itself (an entry is then 32 bytes, half a cache line).
const INLINE: usize = 20;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The key's first bytes, zero-padded.
    head: [u8; INLINE],
    /// Where the key's bytes past [`INLINE`] start in `keys`.
    rest: u32,
    len: u32,
    id: u32,
}

impl Entry {
    #[inline]
    fn holds(&self, piece: &[u8], keys: &[u8]) -> bool {
        if self.len as usize != piece.len() {
            return false;
        }
        let head = piece.len().min(INLINE);
        same_bytes(&self.head[..head], &piece[..head])
            && (piece.len() <= INLINE
                || same_bytes(
                    &keys[self.rest as usize..][..piece.len() - INLINE],
                    &piece[INLINE..],
                ))
    }

    /// The key's bytes.
    fn key(&self, keys: &[u8]) -> Vec<u8> {
        let len = self.len as usize;
        let mut key = self.head[..len.min(INLINE)].to_vec();
        if len > INLINE {
            key.extend_from_slice(&keys[self.rest as usize..][..len - INLINE]);
        }
        key
    }
}

impl Words {
    /// The table of `(bytes, id)` pairs; of two pairs with the same bytes the first is kept.
    pub(crate) fn new(words: &[(Vec<u8>, u32)]) -> Self {
        let mut this =
            Self { table: HashTable::with_capacity(words.len()), keys: Vec::new(), max_len: 0 };
        for (bytes, id) in words {
            if this.get(bytes).is_some() {
                continue;
            }
            let (Ok(rest), Ok(len)) = (u32::try_from(this.keys.len()), u32::try_from(bytes.len()))
            else {
                break;
            };
            let mut head = [0; INLINE];
            let inline = bytes.len().min(INLINE);
            head[..inline].copy_from_slice(&bytes[..inline]);
            this.keys.extend_from_slice(&bytes[inline..]);
            this.max_len = this.max_len.max(bytes.len());
            let Self { table, keys, .. } = &mut this;
            table.insert_unique(piece_hash(bytes), Entry { head, rest, len, id: *id }, |e| {
                piece_hash(&e.key(keys))
            });
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
        self.table.find(hash, |e| e.holds(piece, &self.keys)).map(|e| e.id)
    }

    /// Every `(bytes, id)` pair, in id order.
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, u32)> {
        let mut words: Vec<(Vec<u8>, u32)> =
            self.table.iter().map(|e| (e.key(&self.keys), e.id)).collect();
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

    #[test]
    fn keys_longer_than_the_inline_head_compare_in_full() {
        let long = b"================================".to_vec();
        let other = [&long[..INLINE], b"-=========="].concat();
        let words = Words::new(&[(long.clone(), 3), (b"==".to_vec(), 4), (other.clone(), 5)]);
        assert_eq!(words.get(&long), Some(3));
        assert_eq!(words.get(&other), Some(5));
        assert_eq!(words.get(&long[..INLINE + 1]), None);
        assert_eq!(words.get(&[&long[..], b"="].concat()), None);
        assert_eq!(words.entries(), [(long, 3), (b"==".to_vec(), 4), (other, 5)]);
    }
}
