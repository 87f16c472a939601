//! The sections of a model file: dictionary, prune index; the label tree built from them.

use rustc_hash::FxHashMap;

use super::reader::Reader;
use crate::error::Result;

/// fastText's Huffman tree over label counts (sorted by decreasing count): children of each
/// internal node `osz + i`, stored at index `i`.
pub(super) fn build_tree(counts: &[i64]) -> Vec<(usize, usize)> {
    let osz = counts.len();
    let mut count: Vec<i64> = counts.to_vec();
    count.resize(2 * osz.max(1) - 1, 1_000_000_000_000_000);
    let mut children = Vec::with_capacity(osz.saturating_sub(1));
    let (mut leaf, mut node) = (osz as isize - 1, osz);
    for i in osz..2 * osz - 1 {
        let mut mini = [0usize; 2];
        for m in &mut mini {
            if leaf >= 0 && count[leaf as usize] < count[node] {
                *m = leaf as usize;
                leaf -= 1;
            } else {
                *m = node;
                node += 1;
            }
        }
        count[i] = count[mini[0]] + count[mini[1]];
        children.push((mini[0], mini[1]));
    }
    children
}

/// A model's dictionary: word ids by word, then the labels and their counts.
pub(super) type Dictionary = (FxHashMap<String, usize>, Vec<String>, Vec<i64>);

/// Reads the model's dictionary section.
pub(super) fn read_dictionary(
    r: &mut Reader<'_>,
    size: i32,
    nwords: i32,
    nlabels: i32,
) -> Result<Dictionary> {
    let mut word_ids = FxHashMap::default();
    let mut labels = Vec::new();
    let mut label_counts = Vec::new();
    for i in 0..r.usize_of(size.into(), "dictionary size")? {
        let word = String::from_utf8_lossy(r.until_nul()?).into_owned();
        let count = r.i64()?;
        match r.u8()? {
            0 => {
                word_ids.insert(word, i);
            }
            1 => {
                labels.push(word);
                label_counts.push(count);
            }
            t => return Err(r.err(format!("bad entry type {t}"))),
        }
    }
    if labels.len() != nlabels as usize || word_ids.len() != nwords as usize {
        return Err(r.err("dictionary counts do not match its header"));
    }
    if word_ids.values().any(|&id| id >= nwords as usize) {
        return Err(r.err("word id beyond nwords"));
    }
    Ok((word_ids, labels, label_counts))
}

/// A pruned (quantized) model's bucket index: which buckets were kept, a bit each, with the
/// count of kept buckets before each group of 64, so that a kept bucket's rank among them finds
/// its row. Runs for every character n-gram of every new word: the usual answer (not kept)
/// reads one 16-byte block (256 KiB of blocks per million buckets), a kept one a row besides.
#[derive(Debug)]
pub(super) struct PruneIndex {
    blocks: Vec<Block>,
    /// The row of each kept bucket, in bucket order.
    rows: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Block {
    bits: u64,
    /// Kept buckets in the blocks before this one.
    before: u32,
}

impl PruneIndex {
    /// From (bucket, row) pairs, a later pair of a bucket replacing an earlier one (as
    /// fastText's map does); buckets below `bucket`.
    fn new(pairs: FxHashMap<u32, u32>, bucket: u32) -> Self {
        let mut pairs: Vec<(u32, u32)> = pairs.into_iter().collect();
        pairs.sort_unstable();
        let mut blocks = vec![Block::default(); (bucket as usize).div_ceil(64)];
        for &(k, _) in &pairs {
            blocks[k as usize / 64].bits |= 1 << (k % 64);
        }
        let mut before = 0;
        for b in &mut blocks {
            b.before = before;
            before += b.bits.count_ones();
        }
        Self { blocks, rows: pairs.into_iter().map(|(_, v)| v).collect() }
    }

    /// The row of bucket `k`, if the model kept it.
    pub(super) fn row(&self, k: u32) -> Option<u32> {
        let b = self.blocks.get(k as usize / 64)?;
        let bit = 1u64 << (k % 64);
        if b.bits & bit == 0 {
            return None;
        }
        self.rows.get((b.before + (b.bits & (bit - 1)).count_ones()) as usize).copied()
    }
}

/// Reads a pruned (quantized) model's bucket index.
pub(super) fn read_prune_index(
    r: &mut Reader<'_>,
    prune_size: i64,
    bucket: i32,
) -> Result<PruneIndex> {
    let mut rows = FxHashMap::default();
    for _ in 0..prune_size {
        let (k, v) = (r.i32()?, r.i32()?);
        if !(0..bucket).contains(&k) || v < 0 {
            return Err(r.err(format!("prune index entry {k} -> {v} outside the {bucket} buckets")));
        }
        rows.insert(k as u32, v as u32);
    }
    Ok(PruneIndex::new(rows, bucket.max(0) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn prune_index_finds_the_row_of_every_kept_bucket(
            pairs in proptest::collection::vec((0u32..5000, 0u32..100_000), 0..300),
            probes in proptest::collection::vec(0u32..5200, 50),
        ) {
            let map: FxHashMap<u32, u32> = pairs.iter().copied().collect();
            let index = PruneIndex::new(map.clone(), 5000);
            for k in (0..5000).chain(probes) {
                proptest::prop_assert_eq!(index.row(k), map.get(&k).copied(), "bucket {}", k);
            }
        }
    }
}
