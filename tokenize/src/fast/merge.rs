//! Byte-pair merging of one pre-token, with the same result as the reference's `Word::merge_all`.
//!
//! The reference pops the pair of lowest rank, the leftmost among equals, merges it and pushes
//! the pairs it forms with its neighbours. Each pair has one rank, so "lowest rank, leftmost" is
//! all that decides the result, and both algorithms here follow that rule:
//!
//! - [`Merges::merge_short`] rescans the pair ranks of a small symbol array after each merge
//!   (tiktoken's approach): quadratic, but fastest on the few bytes of a typical word.
//! - [`Merges::merge_long`] keeps a linked list of symbols and a min-heap of `(rank, position)`,
//!   so a 10 MB run of Chinese without spaces (one pre-token) costs O(n log n), not O(n²).
//!   When the merge list is *monotone* (every merge uses only tokens that earlier merges made,
//!   as BPE training always produces), a merge can only create pairs of higher rank, so the
//!   heap becomes one bucket of positions per rank, emptied in rank order, each in position
//!   order: the same order, with appends instead of heap operations.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// A pair's merge, packed as `rank << 32 | new_id` so comparing two packs compares ranks.
type Packed = u64;

/// No merge for this pair; larger than every real pack.
const NONE: Packed = u64::MAX;

/// End of the symbol list, or a removed symbol's marker.
const NIL: u32 = u32::MAX;

/// The merge table: `(left id, right id) -> (rank, merged id)`.
#[derive(Debug, Default)]
pub(crate) struct Merges {
    map: FxHashMap<u64, Packed>,
    /// One past the highest rank in `map`.
    ranks: usize,
    /// Whether every merge's rank is above those of all the merges making its two tokens.
    monotone: bool,
}

/// Buffers reused across the pieces of one text, so merging allocates nothing per word.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    ids: Vec<u32>,
    packs: Vec<Packed>,
    next: Vec<u32>,
    prev: Vec<u32>,
    heap: Vec<Reverse<u64>>,
    queue: RankQueue,
}

/// Positions to merge, bucketed by rank, for a monotone merge list: ranks only grow while
/// merging, so the lowest non-empty bucket is taken whole. A bitset of non-empty buckets finds
/// it, so a piece costs its length plus `ranks / 64` words, not a visit to every rank.
#[derive(Debug, Default)]
struct RankQueue {
    buckets: Vec<Vec<u32>>,
    occupied: Vec<u64>,
    /// No bucket below this word of `occupied` is non-empty.
    word: usize,
}

impl RankQueue {
    fn reset(&mut self, ranks: usize) {
        // Every bucket is handed back empty, so only the first call sizes them.
        self.buckets.resize_with(ranks, Vec::new);
        self.occupied.clear();
        self.occupied.resize(ranks.div_ceil(64), 0);
        self.word = 0;
    }

    #[inline]
    fn push(&mut self, pack: Packed, pos: u32) {
        if pack != NONE {
            let rank = (pack >> 32) as usize;
            self.buckets[rank].push(pos);
            self.occupied[rank / 64] |= 1 << (rank % 64);
        }
    }

    /// Makes the buckets from `rank` on findable again after a bucket below them was taken
    /// (a merge list that is not monotone can create a pair ranked below the current one).
    fn rewind(&mut self, rank: usize) {
        self.word = self.word.min(rank / 64);
    }

    /// Takes the lowest non-empty bucket; give it back with [`RankQueue::recycle`].
    fn pop(&mut self) -> Option<(usize, Vec<u32>)> {
        while self.word < self.occupied.len() {
            let bits = self.occupied[self.word];
            if bits == 0 {
                self.word += 1;
                continue;
            }
            self.occupied[self.word] &= bits - 1;
            let rank = self.word * 64 + bits.trailing_zeros() as usize;
            return Some((rank, std::mem::take(&mut self.buckets[rank])));
        }
        None
    }

    /// Puts back the unprocessed `positions` of bucket `rank` (ascending), taken by
    /// [`RankQueue::pop`] and left when a lower-ranked pair appeared.
    fn requeue(&mut self, rank: usize, positions: Vec<u32>) {
        self.buckets[rank] = positions;
        self.occupied[rank / 64] |= 1 << (rank % 64);
    }

    /// Returns a processed bucket's allocation, emptied.
    fn recycle(&mut self, rank: usize, mut bucket: Vec<u32>) {
        bucket.clear();
        self.buckets[rank] = bucket;
    }
}

impl Merges {
    /// Makes room for `additional` more merges, so a known-size table is built without rehashing.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Adds merge number `rank`; a later duplicate of a pair replaces the earlier, as in the
    /// reference's `HashMap` built in merge order.
    pub(crate) fn insert(&mut self, left: u32, right: u32, rank: u32, new_id: u32) {
        self.map.insert(key(left, right), (u64::from(rank) << 32) | u64::from(new_id));
        self.ranks = self.ranks.max(rank as usize + 1);
        self.monotone = false;
    }

    /// Decides which long-piece algorithm applies; call once all merges are in.
    pub(crate) fn finish(&mut self) {
        // The last rank making each token (a token can be made by several merges).
        let mut made_at: FxHashMap<u32, u64> = FxHashMap::default();
        for &pack in self.map.values() {
            let made = made_at.entry(pack as u32).or_insert(0);
            *made = (*made).max((pack >> 32) + 1);
        }
        let made = |id: u32| made_at.get(&id).copied().unwrap_or(0);
        self.monotone = self.map.iter().all(|(&pair, &pack)| {
            let rank = (pack >> 32) + 1;
            made((pair >> 32) as u32) < rank && made(pair as u32) < rank
        });
    }

    /// Every merge in the table as `[left, right, rank, new_id]`, in rank order: inserting them
    /// in this order and calling [`Merges::finish`] rebuilds this table.
    pub(crate) fn entries(&self) -> Vec<[u32; 4]> {
        let mut entries: Vec<[u32; 4]> = self
            .map
            .iter()
            .map(|(&pair, &pack)| {
                [(pair >> 32) as u32, pair as u32, (pack >> 32) as u32, pack as u32]
            })
            .collect();
        entries.sort_unstable_by_key(|entry| entry[2]);
        entries
    }

    /// Whether long pieces merge by rank buckets rather than with a heap.
    #[cfg(test)]
    pub(crate) fn is_monotone(&self) -> bool {
        self.monotone
    }

    /// The rank of the merge of `left` then `right`, and the token it makes, if they merge.
    pub(crate) fn pair(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        let pack = self.get(left, right);
        (pack != NONE).then_some(((pack >> 32) as u32, pack as u32))
    }

    #[inline]
    fn get(&self, left: u32, right: u32) -> Packed {
        self.map.get(&key(left, right)).copied().unwrap_or(NONE)
    }

    /// Appends the merged ids of the symbols `ids` (one per byte, at first) to `out`.
    pub(crate) fn merge_short(&self, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let Scratch { ids, packs, .. } = scratch;
        packs.clear();
        packs.extend(ids.windows(2).map(|w| self.get(w[0], w[1])));
        loop {
            // The first minimum: ties go to the leftmost pair.
            let mut best = 0;
            let mut best_pack = NONE;
            for (i, &pack) in packs.iter().enumerate() {
                if pack < best_pack {
                    best = i;
                    best_pack = pack;
                }
            }
            if best_pack == NONE {
                break;
            }
            ids[best] = best_pack as u32;
            ids.remove(best + 1);
            packs.remove(best);
            if best < packs.len() {
                packs[best] = self.get(ids[best], ids[best + 1]);
            }
            if best > 0 {
                packs[best - 1] = self.get(ids[best - 1], ids[best]);
            }
        }
        out.extend_from_slice(ids);
    }

    /// Like [`Merges::merge_short`], in O(n log n) for pieces of any length.
    pub(crate) fn merge_long(&self, scratch: &mut Scratch, out: &mut Vec<u32>) {
        // The rank buckets cost a pass over one bit per rank (the merge list's length) per
        // piece: worth it only when the piece is long enough to pay for it. A heap of millions
        // of entries is slow from memory, so very long pieces take the buckets even when the
        // merge list is not monotone.
        if scratch.ids.len() >= self.ranks / 16 && (self.monotone || scratch.ids.len() >= 1 << 16) {
            self.merge_by_rank(scratch, out);
        } else {
            self.merge_with_heap(scratch, out);
        }
    }

    /// [`Merges::merge_long`] with buckets of positions per rank, taken in rank order. A merge
    /// list that is not monotone can make a pair ranked below the bucket being worked through;
    /// the rest of that bucket then waits until the lower ranks are done.
    fn merge_by_rank(&self, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let Scratch { ids, next, prev, queue, .. } = scratch;
        let n32 = link(ids.len(), next, prev);
        queue.reset(self.ranks);
        for (i, w) in ids.windows(2).enumerate() {
            queue.push(self.get(w[0], w[1]), i as u32);
        }
        while let Some((rank, mut bucket)) = queue.pop() {
            // Appended in runs of ascending positions (see below); a stable sort merges runs.
            bucket.sort();
            let mut done = 0;
            let mut lowest_made = usize::MAX;
            for &pos in &bucket {
                done += 1;
                let pos = pos as usize;
                let right = next[pos];
                if ids[pos] == NIL || right == NIL {
                    continue;
                }
                let right = right as usize;
                let pack = self.get(ids[pos], ids[right]);
                if pack == NONE || (pack >> 32) as usize != rank {
                    continue;
                }
                ids[pos] = pack as u32;
                ids[right] = NIL;
                let after = next[right];
                next[pos] = after;
                // New pairs rank above `rank` when the list is monotone. Pushing the left pair
                // first keeps each bucket's appends from this rank in ascending position order.
                let before = prev[pos];
                if before != NIL {
                    let pack = self.get(ids[before as usize], ids[pos]);
                    lowest_made = lowest_made.min((pack >> 32) as usize);
                    queue.push(pack, before);
                }
                if after != NIL {
                    prev[after as usize] = pos as u32;
                    let pack = self.get(ids[pos], ids[after as usize]);
                    lowest_made = lowest_made.min((pack >> 32) as usize);
                    queue.push(pack, pos as u32);
                }
                if lowest_made < rank {
                    // A pair below this rank now exists: it merges before the rest of this
                    // bucket (lowest rank first). No merge makes a pair of this same rank, so
                    // the rest goes back alone, in order, and is taken up again after it.
                    break;
                }
            }
            if done < bucket.len() {
                queue.requeue(rank, bucket.split_off(done));
                queue.rewind(lowest_made);
            } else {
                queue.recycle(rank, bucket);
            }
        }
        collect(ids, next, n32, out);
    }

    /// [`Merges::merge_long`] for any merge list: a min-heap of `(rank, position)`.
    fn merge_with_heap(&self, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let Scratch { ids, next, prev, heap, .. } = scratch;
        let n32 = link(ids.len(), next, prev);
        heap.clear();
        heap.extend(
            ids.windows(2).enumerate().filter_map(|(i, w)| entry(self.get(w[0], w[1]), i as u32)),
        );
        let mut queue = BinaryHeap::from(std::mem::take(heap));

        while let Some(Reverse(top)) = queue.pop() {
            let pos = (top & 0xFFFF_FFFF) as usize;
            let rank = top >> 32;
            let right = next[pos];
            // Skip entries made stale by an earlier merge: the left symbol was absorbed, it is
            // now last, or the pair at `pos` changed (ranks are unique, so equal rank, same pair).
            if ids[pos] == NIL || right == NIL {
                continue;
            }
            let right = right as usize;
            let pack = self.get(ids[pos], ids[right]);
            if pack == NONE || pack >> 32 != rank {
                continue;
            }
            ids[pos] = pack as u32;
            ids[right] = NIL;
            let after = next[right];
            next[pos] = after;
            if after != NIL {
                prev[after as usize] = pos as u32;
                queue.extend(entry(self.get(ids[pos], ids[after as usize]), pos as u32));
            }
            let before = prev[pos];
            if before != NIL {
                queue.extend(entry(self.get(ids[before as usize], ids[pos]), before));
            }
        }
        *heap = queue.into_vec();
        collect(ids, next, n32, out);
    }
}

/// Links `n` symbols in a list; returns `n` as u32.
fn link(n: usize, next: &mut Vec<u32>, prev: &mut Vec<u32>) -> u32 {
    // Positions fit in u32: a piece longer than 4 GiB is not a document.
    let n32 = u32::try_from(n).unwrap_or(NIL - 1);
    next.clear();
    next.extend((1..=n32).map(|i| if i == n32 { NIL } else { i }));
    prev.clear();
    prev.extend((0..n32).map(|i| if i == 0 { NIL } else { i - 1 }));
    n32
}

/// Appends the ids left in the list to `out`.
fn collect(ids: &[u32], next: &[u32], n: u32, out: &mut Vec<u32>) {
    let mut pos = if n == 0 { NIL } else { 0 };
    while pos != NIL {
        out.push(ids[pos as usize]);
        pos = next[pos as usize];
    }
}

/// Symbols whose buffers a thread keeps after a piece; a longer piece's are freed.
const KEPT_SYMBOLS: usize = 1 << 16;

impl Scratch {
    /// Frees the buffers if a long piece grew them past [`KEPT_SYMBOLS`], so a thread does not
    /// hold a 10 MB document's worth of them for good.
    pub(crate) fn trim(&mut self) {
        if self.ids.capacity() > KEPT_SYMBOLS {
            *self = Self::default();
        }
    }

    /// Loads the symbols `fill` pushes.
    #[inline]
    pub(crate) fn load_with(&mut self, fill: impl FnOnce(&mut Vec<u32>)) {
        self.ids.clear();
        fill(&mut self.ids);
    }

    /// Number of symbols loaded.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Loads the symbols of `bytes`, one id per byte.
    #[inline]
    pub(crate) fn load(&mut self, bytes: &[u8], byte_ids: &[u32; 256]) {
        self.ids.clear();
        self.ids.extend(bytes.iter().map(|&b| byte_ids[usize::from(b)]));
    }
}

#[inline]
fn key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// The heap entry `(rank, pos)` for a pair at `pos`, if the pair merges.
#[inline]
fn entry(pack: Packed, pos: u32) -> Option<Reverse<u64>> {
    (pack != NONE).then(|| Reverse((pack & !0xFFFF_FFFF) | u64::from(pos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merges over ids 0..=3 (`a b c d`): `ab`=4 (rank 0), `bc`=5 (1), `aa`=6 (2), `4 5`... etc.
    fn toy() -> Merges {
        let mut m = Merges::default();
        m.insert(0, 1, 0, 4); // a b -> ab
        m.insert(1, 2, 1, 5); // b c -> bc
        m.insert(0, 0, 2, 6); // a a -> aa
        m.insert(4, 2, 3, 7); // ab c -> abc
        m.insert(6, 6, 4, 8); // aa aa -> aaaa
        m.finish();
        assert!(m.monotone);
        m
    }

    /// The results of the short, heap and bucket algorithms.
    fn all(m: &Merges, ids: &[u32]) -> Vec<Vec<u32>> {
        let mut scratch = Scratch::default();
        let mut run = |f: fn(&Merges, &mut Scratch, &mut Vec<u32>)| {
            let mut out = Vec::new();
            scratch.ids = ids.to_vec();
            f(m, &mut scratch, &mut out);
            out
        };
        vec![run(Merges::merge_short), run(Merges::merge_with_heap), run(Merges::merge_by_rank)]
    }

    #[test]
    fn short_and_long_agree_and_prefer_low_rank_then_left() {
        let m = toy();
        let cases: [(&[u32], &[u32]); 6] = [
            (&[], &[]),
            (&[3], &[3]),
            (&[0, 1, 2], &[7]),
            (&[1, 2, 0, 1], &[5, 4]),
            (&[0, 0, 0], &[6, 0]),
            (&[0, 0, 0, 0, 0], &[8, 0]),
        ];
        for (ids, want) in cases {
            for (algorithm, got) in all(&m, ids).into_iter().enumerate() {
                assert_eq!(got, want, "algorithm {algorithm} on {ids:?}");
            }
        }
    }

    /// `ab` at rank 1 but `ab c` at rank 0: a merge that uses a token made later.
    fn backwards() -> Merges {
        let mut m = Merges::default();
        m.insert(4, 2, 0, 5); // ab c -> abc
        m.insert(0, 1, 1, 4); // a b -> ab
        m.insert(2, 2, 2, 6); // c c -> cc
        m.finish();
        m
    }

    #[test]
    fn a_merge_using_a_later_token_is_not_monotone() {
        let m = backwards();
        assert!(!m.monotone);
        for got in all(&m, &[0, 1, 2, 2]) {
            assert_eq!(
                got,
                [5, 2],
                "a b (rank 1) goes first, then ab c (rank 0) before c c (rank 2)"
            );
        }
    }

    #[test]
    fn entries_rebuild_the_table() {
        let mut m = toy();
        m.insert(0, 1, 5, 9); // a later duplicate of `a b` replaces rank 0
        m.finish();
        let entries = m.entries();
        assert_eq!(entries, [[1, 2, 1, 5], [0, 0, 2, 6], [4, 2, 3, 7], [6, 6, 4, 8], [0, 1, 5, 9]]);
        let mut rebuilt = Merges::default();
        for [left, right, rank, new_id] in entries {
            rebuilt.insert(left, right, rank, new_id);
        }
        rebuilt.finish();
        assert_eq!((&rebuilt.map, rebuilt.ranks, rebuilt.monotone), (&m.map, m.ranks, m.monotone));
    }

    proptest::proptest! {
        #[test]
        fn all_algorithms_agree(ids in proptest::collection::vec(0u32..4, 0..64)) {
            let results = all(&toy(), &ids);
            for other in &results[1..] {
                proptest::prop_assert_eq!(&results[0], other);
            }
        }

        #[test]
        fn all_algorithms_agree_on_random_merge_lists(
            pairs in proptest::collection::vec((0u32..1000, 0u32..1000), 1..40),
            ids in proptest::collection::vec(0u32..4, 0..200),
        ) {
            // Merge `rank` joins two tokens that exist by then (ids 0..4, or made by any merge,
            // earlier or later: most such lists are not monotone) into token 4 + rank.
            let mut m = Merges::default();
            let made = 4 + pairs.len() as u32;
            for (rank, (left, right)) in pairs.iter().enumerate() {
                m.insert(left % made, right % made, rank as u32, 4 + rank as u32);
            }
            m.finish();
            let results = all(&m, &ids);
            proptest::prop_assert_eq!(&results[0], &results[1]);
            proptest::prop_assert_eq!(&results[0], &results[2]);
        }

        #[test]
        fn heap_and_buckets_agree_on_non_monotone_merges(ids in proptest::collection::vec(0u32..3, 0..64)) {
            let results = all(&backwards(), &ids);
            proptest::prop_assert_eq!(&results[0], &results[1]);
            proptest::prop_assert_eq!(&results[0], &results[2]);
        }
    }
}
