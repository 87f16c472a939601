//! Per-thread state of the fast path: a bounded cache of merged pre-tokens, and the merge
//! buffers.
//!
//! Natural text repeats a few thousand words most of the time, so remembering their ids skips
//! most merging. Each thread keeps its own cache (no locks on the hot path); it serves one
//! tokenizer at a time and is emptied when another tokenizer uses the thread, or when full.
//! The buffers are kept too, so short documents do not pay for allocating them.

use std::cell::RefCell;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::merge::Scratch;

/// Only pre-tokens up to this many bytes are cached: longer ones rarely repeat.
pub(crate) const MAX_PIECE: usize = 32;
const _: () = assert!(MAX_PIECE <= u8::MAX as usize, "entry lengths are u8");

/// Entries before the cache is emptied; with their bytes and ids, about 6 MB per thread.
const MAX_ENTRIES: usize = 1 << 17;

/// A cached piece: its hash, and where its bytes and ids lie in the arenas.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    key_start: u32,
    ids_start: u32,
    key_len: u8,
    ids_len: u8,
}

/// Pre-token bytes to ids, for one tokenizer. Keys and ids live in two arenas, so inserting
/// allocates nothing per entry and emptying is three `clear`s.
#[derive(Debug, Default)]
pub(crate) struct PieceCache {
    owner: u64,
    table: HashTable<Entry>,
    keys: Vec<u8>,
    ids: Vec<u32>,
}

/// What a thread keeps between calls.
#[derive(Debug, Default)]
struct Local {
    cache: PieceCache,
    scratch: Scratch,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// Owner ids start at 1, so a fresh thread's cache (owner 0) belongs to no tokenizer.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// A new owner id, one per fast tokenizer.
pub(crate) fn new_owner() -> u64 {
    NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f` with this thread's cache (emptied first if it held another owner's pieces) and
/// merge buffers.
pub(crate) fn with<R>(owner: u64, f: impl FnOnce(&mut PieceCache, &mut Scratch) -> R) -> R {
    LOCAL.with(|cell| match cell.try_borrow_mut() {
        Ok(mut local) => {
            let Local { cache, scratch } = &mut *local;
            if cache.owner != owner {
                cache.clear();
                cache.owner = owner;
            }
            let result = f(cache, scratch);
            scratch.trim();
            result
        }
        // Only reachable if `f` re-entered encoding on this thread; private state will do.
        Err(_) => f(&mut PieceCache { owner, ..PieceCache::default() }, &mut Scratch::default()),
    })
}

/// The hash of a piece, for this cache and the whole-token table alike, so a piece is hashed
/// once for both.
#[inline]
pub(crate) fn piece_hash(piece: &[u8]) -> u64 {
    FxBuildHasher.hash_one(piece)
}

/// `a == b` for slices of equal length (short pieces, mostly): eight bytes at a time, inline,
/// where `==` calls `memcmp`, which costs more than the comparison itself at these sizes.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let word = |s: &[u8], i: usize| {
        u64::from_le_bytes([
            s[i],
            s[i + 1],
            s[i + 2],
            s[i + 3],
            s[i + 4],
            s[i + 5],
            s[i + 6],
            s[i + 7],
        ])
    };
    let mut i = 0;
    while i + 8 <= a.len() {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    a[i..].iter().zip(&b[i..]).all(|(x, y)| x == y)
}

impl PieceCache {
    fn clear(&mut self) {
        self.table.clear();
        self.keys.clear();
        self.ids.clear();
    }

    /// Appends the cached ids of `piece` (at most [`MAX_PIECE`] bytes, whose [`piece_hash`] is
    /// `hash`) to `out`; false if it is not cached.
    #[inline]
    pub(crate) fn extend_from(&self, piece: &[u8], hash: u64, out: &mut Vec<u32>) -> bool {
        let found = self.table.find(hash, |e| {
            e.hash == hash
                && usize::from(e.key_len) == piece.len()
                && same_bytes(&self.keys[e.key_start as usize..][..piece.len()], piece)
        });
        match found {
            // Most words are one token: skip the `memmove` call of a one-element copy.
            Some(e) if e.ids_len == 1 => out.push(self.ids[e.ids_start as usize]),
            Some(e) => {
                out.extend_from_slice(&self.ids[e.ids_start as usize..][..usize::from(e.ids_len)])
            }
            None => return false,
        }
        true
    }

    /// Remembers that `piece` (at most [`MAX_PIECE`] bytes, so at most as many ids; its
    /// [`piece_hash`] is `hash`) merges to `ids`.
    pub(crate) fn insert(&mut self, piece: &[u8], hash: u64, ids: &[u32]) {
        if self.table.len() >= MAX_ENTRIES {
            self.clear();
        }
        // All fit: pieces and their ids are at most MAX_PIECE long, the arenas below 2^32.
        let entry = Entry {
            hash,
            key_start: self.keys.len() as u32,
            ids_start: self.ids.len() as u32,
            key_len: piece.len() as u8,
            ids_len: ids.len() as u8,
        };
        self.keys.extend_from_slice(piece);
        self.ids.extend_from_slice(ids);
        self.table.insert_unique(entry.hash, entry, |e| e.hash);
    }
}
