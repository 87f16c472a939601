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
        let end = r.buf[r.pos..]
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| r.err("unterminated word"))?;
        let word = String::from_utf8_lossy(r.bytes(end)?).into_owned();
        r.bytes(1)?;
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

/// A pruned (quantized) model's bucket index: which buckets were kept (a bit set) and the row
/// each maps to.
pub(super) fn read_prune_index(
    r: &mut Reader<'_>,
    prune_size: i64,
    bucket: i32,
) -> Result<(Vec<u64>, FxHashMap<u32, u32>)> {
    let mut bits = vec![0u64; (bucket.max(0) as usize).div_ceil(64)];
    let mut rows = FxHashMap::default();
    for _ in 0..prune_size {
        let (k, v) = (r.i32()?, r.i32()?);
        if !(0..bucket).contains(&k) || v < 0 {
            return Err(r.err(format!("prune index entry {k} -> {v} outside the {bucket} buckets")));
        }
        bits[k as usize / 64] |= 1 << (k % 64);
        rows.insert(k as u32, v as u32);
    }
    Ok((bits, rows))
}
