//! Union-find (disjoint sets) over compact `u32` ids, with path halving and union by rank,
//! and [`CompactIds`] to map sparse `u64` document ids onto them.

use std::collections::HashMap;

/// Disjoint sets over `0..len`.
#[derive(Debug, Clone, Default)]
pub struct UnionFind {
    parent: Vec<u32>,
    rank: Vec<u8>,
}

impl UnionFind {
    /// `len` singleton sets.
    pub fn new(len: usize) -> Self {
        let mut uf = UnionFind::default();
        uf.grow(len);
        uf
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Adds singletons until there are `len` elements.
    ///
    /// # Panics
    ///
    /// If `len` exceeds `u32::MAX`.
    pub fn grow(&mut self, len: usize) {
        assert!(len <= u32::MAX as usize, "union-find holds at most 2^32 - 1 elements");
        let start = self.parent.len();
        self.parent.extend(start as u32..len as u32);
        self.rank.resize(len.max(start), 0);
    }

    /// The representative of `x`'s set; halves the path on the way.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Merges the sets of `a` and `b`; returns whether they were apart.
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (hi, lo) =
            if self.rank[ra as usize] >= self.rank[rb as usize] { (ra, rb) } else { (rb, ra) };
        self.parent[lo as usize] = hi;
        if self.rank[hi as usize] == self.rank[lo as usize] {
            self.rank[hi as usize] += 1;
        }
        true
    }
}

/// Maps sparse `u64` ids to dense `u32` indices in first-seen order, and back.
#[derive(Debug, Clone, Default)]
pub struct CompactIds {
    index: HashMap<u64, u32>,
    ids: Vec<u64>,
}

impl CompactIds {
    /// The index of `id`, assigning the next one if new.
    ///
    /// # Panics
    ///
    /// After 2^32 - 1 distinct ids.
    pub fn get_or_insert(&mut self, id: u64) -> u32 {
        let next = self.ids.len();
        *self.index.entry(id).or_insert_with(|| {
            assert!(next < u32::MAX as usize, "more than 2^32 - 1 documents in duplicate edges");
            self.ids.push(id);
            next as u32
        })
    }

    /// The index of `id`, if it was added.
    pub fn lookup(&self, id: u64) -> Option<u32> {
        self.index.get(&id).copied()
    }

    /// The id with index `i`.
    pub fn id(&self, i: u32) -> u64 {
        self.ids[i as usize]
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id was added.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Union-find agrees with a naive relabelling, whatever the order of unions.
        #[test]
        fn matches_naive_components(n in 1usize..60, edges in prop::collection::vec((0u32..60, 0u32..60), 0..80)) {
            let mut uf = UnionFind::new(n);
            let mut label: Vec<usize> = (0..n).collect();
            for &(a, b) in &edges {
                let (a, b) = (a % n as u32, b % n as u32);
                let merged = uf.union(a, b);
                let (la, lb) = (label[a as usize], label[b as usize]);
                prop_assert_eq!(merged, la != lb);
                for l in label.iter_mut() {
                    if *l == lb { *l = la; }
                }
            }
            for a in 0..n as u32 {
                for b in 0..n as u32 {
                    prop_assert_eq!(uf.find(a) == uf.find(b), label[a as usize] == label[b as usize]);
                }
            }
        }
    }

    #[test]
    fn compact_ids_round_trip() {
        let mut c = CompactIds::default();
        assert_eq!(c.get_or_insert(1 << 40), 0);
        assert_eq!(c.get_or_insert(7), 1);
        assert_eq!(c.get_or_insert(1 << 40), 0);
        assert_eq!((c.id(1), c.len()), (7, 2));
    }

    #[test]
    fn grow_adds_singletons() {
        let mut uf = UnionFind::new(2);
        uf.union(0, 1);
        uf.grow(4);
        assert_eq!(uf.find(3), 3);
        assert_eq!(uf.find(1), uf.find(0));
    }
}
