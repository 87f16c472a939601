//! A pure-Rust reader and predictor for fastText supervised models (`.bin` and quantized
//! `.ftz`), enough to run language identification such as `lid.176.ftz`.
//!
//! No maintained pure-Rust crate reads `.ftz` correctly (the `fasttext` 0.8 crate loads it but
//! its quantized inference is reported wrong), so this module implements inference only.
//!
//! File layout (little-endian, as written by fastText 0.9):
//! ```text
//! i32 magic = 793712314, i32 version (11 or 12)
//! args:  i32 dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn,
//!        lrUpdateRate; f64 t
//! dict:  i32 size, nwords, nlabels; i64 ntokens, pruneidx_size;
//!        size × (NUL-terminated word, i64 count, i8 type);  pruneidx_size × (i32, i32)
//! u8 quant_input; input matrix; u8 qout; output matrix
//! dense matrix:  i64 m, n; m·n × f32
//! quant matrix:  u8 qnorm; i64 m, n; i32 codesize; codesize × u8 codes; PQ;
//!                [qnorm: m × u8 norm codes; PQ]
//! PQ:            i32 dim, nsubq, dsub, lastdsub; dim·256 × f32 centroids
//! ```
//!
//! Prediction follows fastText: the line is split on ASCII whitespace, `</s>` is appended, each
//! word contributes its id (if known) plus hashed character n-grams (`minn..=maxn` of
//! `<word>`, FNV-1a with sign-extended bytes, mapped through the prune index), the hidden
//! vector is their mean row, and labels are scored by softmax or hierarchical softmax.
//!
//! Speed: a word's rows are summed once (at load for known words; on first sight, in a bounded
//! per-thread cache, for the others), so a repeated word costs one lookup. Sums are added in a
//! different order than fastText adds rows, so probabilities can differ from its own in the
//! last bits of an `f32`.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

mod hash;
mod matrix;
mod vocab;

use hash::{FNV_OFFSET, FastMod, fnv_step, hash};
use matrix::Matrix;
use vocab::Vocab;

const MAGIC: i32 = 793_712_314;
const EOS: &str = "</s>";

/// Distinct out-of-vocabulary words a thread keeps row sums for (per model; cleared when full)
/// ... Small on purpose: a cache that stays near the core serves its hits faster than a larger
/// one saves misses (16K words beat 64K and 128K on web text, side by side) ...
const OOV_CACHE_WORDS: usize = 1 << 14;
/// ... and at most this many floats of sums (1 MiB; fewer words for wide models).
const OOV_CACHE_FLOATS: usize = 1 << 18;
/// Longer out-of-vocabulary words (URLs, runs of CJK text) rarely repeat: not cached.
const OOV_CACHE_MAX_BYTES: usize = 48;

/// The bytes fastText splits words on: space, `\n`, `\r`, `\t`, `\v`, `\f`, NUL.
const IS_SEPARATOR: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 7 {
        t[[b' ', b'\n', b'\r', b'\t', 0x0b, 0x0c, 0][i] as usize] = true;
        i += 1;
    }
    t
};

/// The non-empty words of `line` (separators are ASCII, so splitting bytes keeps UTF-8 whole).
fn words(line: &str) -> impl Iterator<Item = &str> {
    let b = line.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i] < 128 && IS_SEPARATOR[b[i] as usize] {
            i += 1;
        }
        let start = i;
        while i < b.len() && !(b[i] < 128 && IS_SEPARATOR[b[i] as usize]) {
            i += 1;
        }
        (i > start).then(|| &line[start..i])
    })
}

/// Numbers models, so that a thread's cache knows whose sums it holds.
static NEXT_MODEL: AtomicU64 = AtomicU64::new(1);

/// Row sums of out-of-vocabulary words seen by this thread. Words are kept end to end in one
/// buffer and found by their 64-bit hash (then compared), so caching a word allocates nothing
/// and clearing the cache frees nothing.
#[derive(Default)]
struct OovCache {
    model: u64,
    /// xxh3 of the word -> its slot.
    index: FxHashMap<u64, u32>,
    /// The cached words, end to end ...
    text: String,
    /// ... each slot's word in `text` (start, end) ...
    spans: Vec<(u32, u32)>,
    /// ... its `dim` floats ...
    sums: Vec<f32>,
    /// ... and how many rows were summed.
    rows: Vec<u32>,
    /// The sum of a word that is not cached.
    scratch: Vec<f32>,
}

thread_local! {
    static OOV: RefCell<OovCache> = RefCell::new(OovCache::default());
}

/// A loaded fastText supervised model.
#[derive(Debug)]
pub struct FastText {
    /// Tells this model's cached word sums from another's.
    id: u64,
    dim: usize,
    minn: usize,
    maxn: usize,
    bucket: u32,
    /// `x % bucket` (once per character n-gram of every new word).
    bucket_mod: FastMod,
    nwords: usize,
    word_ngrams: usize,
    vocab: Vocab,
    /// Per known word: the sum of its input rows (`dim` floats each) ...
    word_vecs: Vec<f32>,
    /// ... and how many rows were summed.
    word_rows: Vec<u32>,
    labels: Vec<String>,
    /// Pruned models: which buckets were kept (a bitset, 256 KiB for 2M buckets, so the common
    /// miss stays in cache; this runs for every character n-gram) and their rows.
    prune: Option<(Vec<u64>, FxHashMap<u32, u32>)>,
    input: Matrix,
    output: Matrix,
    /// Hierarchical-softmax tree (children of internal nodes), or `None` for softmax.
    tree: Option<Vec<(usize, usize)>>,
}

/// A byte reader that remembers its offset for error messages.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) path: &'a Path,
}

impl<'a> Reader<'a> {
    pub(crate) fn err(&self, problem: impl Into<String>) -> Error {
        Error::BadModel {
            path: self.path.to_path_buf(),
            offset: self.pos as u64,
            problem: problem.into(),
        }
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err(format!("file ends, {n} more bytes expected")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn i32(&mut self) -> Result<i32> {
        let b = self.bytes(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        let b = self.bytes(n.checked_mul(4).ok_or_else(|| self.err("matrix too large"))?)?;
        Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    pub(crate) fn count32(&mut self, what: &str) -> Result<usize> {
        let v = self.i32()?;
        self.usize_of(v.into(), what)
    }
    pub(crate) fn count64(&mut self, what: &str) -> Result<usize> {
        let v = self.i64()?;
        self.usize_of(v, what)
    }
    pub(crate) fn usize_of(&self, v: i64, what: &str) -> Result<usize> {
        usize::try_from(v).map_err(|_| self.err(format!("negative {what}: {v}")))
    }
}

impl FastText {
    /// Loads a model file.
    ///
    /// # Errors
    /// The file cannot be read, or is not a fastText supervised model.
    pub fn load(path: &Path) -> Result<Self> {
        let buf = std::fs::read(path).map_err(|source| Error::Io {
            what: "fastText model",
            path: path.to_path_buf(),
            source,
        })?;
        let mut r = Reader { buf: &buf, pos: 0, path };
        if r.i32()? != MAGIC {
            return Err(r.err("not a fastText model (bad magic number)"));
        }
        let version = r.i32()?;
        if !(11..=12).contains(&version) {
            return Err(r.err(format!("unsupported version {version}")));
        }
        let a: Vec<i32> = (0..12).map(|_| r.i32()).collect::<Result<_>>()?;
        r.bytes(8)?; // t (sampling threshold, training only)
        let (dim, loss, model, bucket, minn, mut maxn) = (a[0], a[6], a[7], a[8], a[9], a[10]);
        if model != 3 {
            return Err(r.err(format!("model type {model} is not supervised (3)")));
        }
        if version == 11 {
            maxn = 0;
        }
        let size = r.i32()?;
        let nwords = r.i32()?;
        let nlabels = r.i32()?;
        r.i64()?; // ntokens
        let prune_size = r.i64()?;
        let (word_ids, labels, label_counts) = read_dictionary(&mut r, size, nwords, nlabels)?;
        let vocab = Vocab::new(word_ids);
        let prune = if prune_size >= 0 {
            Some(read_prune_index(&mut r, prune_size, bucket)?)
        } else {
            None
        };
        let qin = r.u8()? != 0;
        let input = Matrix::load(&mut r, qin)?;
        let qout = r.u8()? != 0;
        let output = Matrix::load(&mut r, qin && qout)?;
        let dim = r.usize_of(dim.into(), "dim")?;
        if input.cols() != dim || output.cols() != dim {
            return Err(r.err("matrix width differs from dim"));
        }
        let tree = (loss == 1).then(|| build_tree(&label_counts));
        let expected_rows =
            if tree.is_some() { labels.len().saturating_sub(1) } else { labels.len() };
        if output.rows() < expected_rows {
            return Err(r.err("output matrix has fewer rows than labels"));
        }
        let mut model = Self {
            id: NEXT_MODEL.fetch_add(1, Ordering::Relaxed),
            dim,
            minn: minn.max(0) as usize,
            maxn: maxn.max(0) as usize,
            bucket: bucket.max(0) as u32,
            bucket_mod: FastMod::new(bucket.max(1) as u32),
            nwords: nwords as usize,
            word_ngrams: a[5].max(1) as usize,
            vocab,
            word_vecs: Vec::new(),
            word_rows: Vec::new(),
            labels,
            prune,
            input,
            output,
            tree,
        };
        model.precompute_words();
        Ok(model)
    }

    /// The labels, e.g. `__label__en`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    fn push_bucket(&self, ids: &mut Vec<usize>, h: u32) {
        let id = self.bucket_mod.of(h) as i32;
        match &self.prune {
            Some((bits, rows)) => {
                let id = id as u32;
                if bits[id as usize / 64] & (1 << (id % 64)) != 0
                    && let Some(&v) = rows.get(&id)
                {
                    ids.push(self.nwords + v as usize);
                }
            }
            None => ids.push(self.nwords + id as usize),
        }
    }

    fn subwords(&self, word: &str, ids: &mut Vec<usize>, buf: &mut String) {
        if self.maxn == 0 || word == EOS {
            return;
        }
        buf.clear();
        buf.push('<');
        buf.push_str(word);
        buf.push('>');
        let b = buf.as_bytes();
        for i in 0..b.len() {
            if (b[i] & 0xC0) == 0x80 {
                continue;
            }
            // FNV-1a is incremental: extend the hash of b[i..j] as j grows.
            let (mut j, mut n, mut h) = (i, 1, FNV_OFFSET);
            while j < b.len() && n <= self.maxn {
                h = fnv_step(h, b[j]);
                j += 1;
                while j < b.len() && (b[j] & 0xC0) == 0x80 {
                    h = fnv_step(h, b[j]);
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == b.len())) {
                    self.push_bucket(ids, h);
                }
                n += 1;
            }
        }
    }

    /// Sum of the input rows of an in-vocabulary word (its id and its character n-grams) and
    /// how many rows that is: computed once at load, so known words cost one lookup.
    fn precompute_words(&mut self) {
        let words: Vec<(&String, usize)> =
            self.vocab.words.iter().enumerate().map(|(id, w)| (w, id)).collect();
        let mut vecs = vec![0f32; self.nwords * self.dim];
        let mut counts = vec![0u32; self.nwords];
        let mut ids = Vec::new();
        let mut buf = String::new();
        for (w, id) in words {
            ids.clear();
            ids.push(id);
            self.subwords(w, &mut ids, &mut buf);
            for &r in &ids {
                self.input.add_row(&mut vecs[id * self.dim..(id + 1) * self.dim], r);
            }
            counts[id] = ids.len() as u32;
        }
        self.word_vecs = vecs;
        self.word_rows = counts;
    }

    /// The row sum of an out-of-vocabulary word (its character n-grams) and how many rows that
    /// is, from the thread's cache or computed and cached.
    fn oov_sum<'c>(
        &self,
        cache: &'c mut OovCache,
        word: &str,
        hash: u64,
        ids: &mut Vec<usize>,
        buf: &mut String,
    ) -> (&'c [f32], u32) {
        let d = self.dim;
        let cacheable = word.len() <= OOV_CACHE_MAX_BYTES;
        let mut slot = None;
        if cacheable {
            match cache.index.get(&hash) {
                Some(&s) => {
                    let (a, b) = cache.spans[s as usize];
                    if &cache.text[a as usize..b as usize] == word {
                        return (
                            &cache.sums[s as usize * d..(s as usize + 1) * d],
                            cache.rows[s as usize],
                        );
                    }
                    // Another word with the same hash holds the slot: computed, not cached.
                }
                None => {
                    if cache.index.len() >= OOV_CACHE_WORDS.min(OOV_CACHE_FLOATS / d.max(1)).max(1)
                    {
                        cache.index.clear();
                        cache.text.clear();
                        cache.spans.clear();
                        cache.sums.clear();
                        cache.rows.clear();
                    }
                    slot = Some(cache.rows.len());
                }
            }
        }
        ids.clear();
        self.subwords(word, ids, buf);
        let sum = match slot {
            Some(s) => {
                cache.index.insert(hash, s as u32);
                let start = cache.text.len() as u32;
                cache.text.push_str(word);
                cache.spans.push((start, cache.text.len() as u32));
                cache.rows.push(ids.len() as u32);
                cache.sums.resize((s + 1) * d, 0.0);
                &mut cache.sums[s * d..(s + 1) * d]
            }
            None => {
                cache.scratch.clear();
                cache.scratch.resize(d, 0.0);
                &mut cache.scratch[..]
            }
        };
        for &r in ids.iter() {
            self.input.add_row(sum, r);
        }
        (sum, ids.len() as u32)
    }

    /// The `k` most likely labels of one line with their probabilities, best first.
    pub fn predict(&self, line: &str, k: usize) -> Vec<(&str, f32)> {
        let mut hidden = vec![0f32; self.dim];
        let mut rows = 0usize;
        let mut ids = Vec::new();
        let mut buf = String::new();
        let mut word_hashes: Vec<i32> = Vec::new();
        OOV.with_borrow_mut(|cache| {
            if cache.model != self.id {
                *cache = OovCache { model: self.id, ..OovCache::default() };
            }
            for word in words(line).chain([EOS]) {
                // One hash finds a known word and, failing that, the word's cached sum.
                let h = xxhash_rust::xxh3::xxh3_64(word.as_bytes());
                let (sum, n) = match self.vocab.id(word, h) {
                    Some(id) => {
                        (&self.word_vecs[id * self.dim..(id + 1) * self.dim], self.word_rows[id])
                    }
                    None => self.oov_sum(cache, word, h, &mut ids, &mut buf),
                };
                hidden.iter_mut().zip(sum).for_each(|(h, v)| *h += v);
                rows += n as usize;
                if self.word_ngrams > 1 {
                    word_hashes.push(hash(word.as_bytes()) as i32);
                }
            }
        });
        ids.clear();
        // Word n-grams: fastText mixes sign-extended 32-bit word hashes into a 64-bit hash.
        for i in 0..word_hashes.len() {
            let mut h = word_hashes[i] as i64 as u64;
            for &wh in word_hashes.iter().skip(i + 1).take(self.word_ngrams.saturating_sub(1)) {
                h = h.wrapping_mul(116_049_371).wrapping_add(wh as i64 as u64);
                self.push_bucket(&mut ids, (h % u64::from(self.bucket.max(1))) as u32);
            }
        }
        for &id in &ids {
            self.input.add_row(&mut hidden, id);
        }
        rows += ids.len();
        if rows == 0 {
            return Vec::new();
        }
        let inv = 1.0 / rows as f32;
        hidden.iter_mut().for_each(|x| *x *= inv);
        let mut scored: Vec<(f32, usize)> = match &self.tree {
            Some(tree) => {
                let mut out = Vec::new();
                self.dfs(tree, 2 * self.labels.len() - 2, 0.0, &hidden, k, &mut out);
                out
            }
            None => self.softmax(&hidden),
        };
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.truncate(k);
        scored.into_iter().map(|(s, i)| (self.labels[i].as_str(), s.exp())).collect()
    }

    fn softmax(&self, hidden: &[f32]) -> Vec<(f32, usize)> {
        let logits: Vec<f32> =
            (0..self.labels.len()).map(|i| self.output.dot_row(hidden, i)).collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = logits.iter().map(|l| (l - max).exp()).sum();
        logits.iter().enumerate().map(|(i, l)| (((l - max).exp() / z + 1e-5).ln(), i)).collect()
    }

    /// Best-first search of the Huffman tree, pruned once `k` leaves beat a branch.
    fn dfs(
        &self,
        tree: &[(usize, usize)],
        node: usize,
        score: f32,
        hidden: &[f32],
        k: usize,
        out: &mut Vec<(f32, usize)>,
    ) {
        let osz = self.labels.len();
        // fastText prunes below log(threshold + 1e-5); Python's default threshold is 0.
        if score < 1e-5f32.ln() {
            return;
        }
        if out.len() == k && out.iter().all(|&(s, _)| s > score) {
            return;
        }
        if node < osz {
            out.push((score, node));
            if out.len() > k {
                out.sort_by(|a, b| b.0.total_cmp(&a.0));
                out.truncate(k);
            }
            return;
        }
        let f = 1.0 / (1.0 + (-self.output.dot_row(hidden, node - osz)).exp());
        let (left, right) = tree[node - osz];
        self.dfs(tree, left, score + (1.0 - f + 1e-5).ln(), hidden, k, out);
        self.dfs(tree, right, score + (f + 1e-5).ln(), hidden, k, out);
    }
}

/// fastText's Huffman tree over label counts (sorted by decreasing count): children of each
/// internal node `osz + i`, stored at index `i`.
fn build_tree(counts: &[i64]) -> Vec<(usize, usize)> {
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
type Dictionary = (FxHashMap<String, usize>, Vec<String>, Vec<i64>);

/// Reads the model's dictionary section.
fn read_dictionary(r: &mut Reader<'_>, size: i32, nwords: i32, nlabels: i32) -> Result<Dictionary> {
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
fn read_prune_index(
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

#[cfg(test)]
mod tests;
