//! A pure-Rust reader and predictor for fastText supervised models (`.bin` and quantized
//! `.ftz`): language identification (`lid.176.ftz`) and the classifiers teams filter with
//! (DCLM's quality model, FineWeb-Edu-style and toxicity classifiers, their own).
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
//! Prediction is fastText's `predict` on one line (Python's `model.predict(text, k, threshold)`
//! with the text's newlines replaced by spaces): the text is split on `' '`, `\n`, `\r`, `\t`,
//! `\v`, `\f` and NUL, and `</s>` is appended. A token that is not a word of the model and
//! starts with `__label__` is skipped, as fastText skips labels in its input. Each word
//! contributes its row (if known) plus its hashed character n-grams (`minn..=maxn` of
//! `<word>`, FNV-1a with sign-extended bytes, mapped through the prune index of a quantized
//! model); with `wordNgrams > 1` the hashed n-grams of consecutive word hashes follow. The
//! hidden vector is the mean of these rows, and [`Loss`] turns it into label probabilities:
//! softmax, hierarchical softmax, or a table sigmoid per label (one-vs-all and negative
//! sampling), the k best kept with fastText's own tie order.
//!
//! [`FastText::load`] adds rows in fastText's order ([`Summation::Exact`]), so that
//! probabilities and label order are fastText's (parity tests against the `fasttext` Python
//! package). A dense model's rows are read from its matrix by id (a known word's ids listed at
//! load), four lanes at a time with the sum in registers; a quantized input matrix is decoded
//! at load when its floats fit in [`DECODED_INPUT_MAX_BYTES`] (the same products, so the same
//! sums), and read as a dense one. Each thread keeps the row ids of the unknown words it sees
//! more than once (for a quantized matrix too large to decode, the decoded rows of every word),
//! within a budget ([`FastText::set_word_cache_bytes`]). Words are split eight bytes at a time
//! and a word of up to 16 bytes is looked up by its bytes. [`Summation::PerWord`] (language
//! id; the `fasttext_classifier` stage's default for softmax and hierarchical-softmax models,
//! [`Summation::Auto`]) adds one sum per word instead (at load for known words, in the
//! thread's cache for the others), so a repeated word costs one lookup and one add, and
//! probabilities differ from fastText's by float rounding; lines over [`PER_WORD_MAX_BYTES`],
//! where that rounding grows, are added in fastText's order.

use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;

mod exact_cache;
mod hash;
mod hidden;
mod load;
mod loss;
mod matrix;
mod reader;
mod rows;
mod scan;
mod sums;
mod vocab;
mod write;

pub use exact_cache::DEFAULT_WORD_CACHE_BYTES;
use exact_cache::{LANES, Lane};
use hash::{FNV_OFFSET, FastMod, FastMod64, fnv_step, hash};
pub use hidden::PER_WORD_MAX_BYTES;
pub use loss::Loss;
use loss::{TreeSearch, find_k_best, sigmoid, sigmoid_table, softmax, sort_heap, std_log};
use matrix::Matrix;
use reader::Reader;
use vocab::Vocab;
pub use write::{Dictionary, ModelArgs, write_model};

const MAGIC: i32 = 793_712_314;
const EOS: &str = "</s>";
/// The prefix fastText gives labels (its default `-label`; the prefix is not stored in a model).
pub const LABEL_PREFIX: &str = "__label__";

/// How the input rows of a line are added up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summation {
    /// Row by row in fastText's order: the same `f32` roundings, so the same probabilities as
    /// fastText (within the last bit of `exp`) and the same label order, ties included.
    Exact,
    /// A word's rows summed once (known words at load, unknown ones in the thread's word
    /// cache), then added per word; lines over [`PER_WORD_MAX_BYTES`] row by row as
    /// [`Summation::Exact`] does. Faster; probabilities differ from fastText's by float
    /// rounding (within 4e-5 on the parity set's softmax and hierarchical-softmax models), but
    /// a one-vs-all model's table sigmoid can turn that into a step of 1/64 of its range, and
    /// so another label. The results do not depend on what the thread predicted before. A
    /// dense model without character n-grams adds its rows in fastText's order either way
    /// (a word's sum is its one row).
    PerWord,
    /// [`Summation::PerWord`] for softmax and hierarchical-softmax models, [`Summation::Exact`]
    /// for one-vs-all and negative-sampling ones (table sigmoids): resolved at load.
    Auto,
}

impl Summation {
    /// What `self` means for a model with `loss`.
    fn resolve(self, loss: Loss) -> Self {
        match (self, loss) {
            (Summation::Auto, Loss::Softmax | Loss::HierarchicalSoftmax) => Summation::PerWord,
            (Summation::Auto, Loss::OneVsAll | Loss::NegativeSampling) => Summation::Exact,
            (s, _) => s,
        }
    }
}

/// A quantized model's input matrix is decoded at load when its floats take at most this
/// much (lid.176.ftz: about 6 MB): its rows are then read as a dense model's are, with the same
/// sums to the bit. Larger ones are decoded row by row as words need them.
pub const DECODED_INPUT_MAX_BYTES: usize = 256 << 20;

/// Numbers models, so that a thread's caches know whose words they hold.
static NEXT_MODEL: AtomicU64 = AtomicU64::new(1);

/// fastText's sigmoid table, shared by every one-vs-all model.
static SIGMOID: LazyLock<Vec<f32>> = LazyLock::new(sigmoid_table);

/// The non-empty words of `line`, split on fastText's separators (ASCII, so the words are whole
/// UTF-8).
fn words(line: &str) -> impl Iterator<Item = &str> {
    scan::Words::new(line.as_bytes()).map(move |(s, e)| &line[s..e])
}

/// A loaded fastText supervised model.
#[derive(Debug)]
pub struct FastText {
    /// Tells this model's cached word sums from another's.
    id: u64,
    dim: usize,
    minn: usize,
    maxn: usize,
    /// `x % bucket` (once per character n-gram of every new word).
    bucket_mod: FastMod,
    /// `x % bucket` for 64-bit word n-gram hashes.
    ngram_mod: FastMod64,
    nwords: usize,
    word_ngrams: usize,
    vocab: Vocab,
    summation: Summation,
    /// [`Summation::Exact`]: most bytes of rows a thread caches for this model.
    word_cache_bytes: usize,
    /// [`Summation::PerWord`]: per known word, the sum of its input rows (lanes, as the
    /// word caches keep them; the count is its span in `word_ids`); none where rows are
    /// listed by id ([`FastText::rows_by_id`]).
    word_vecs: Vec<Lane>,
    /// [`Summation::Exact`]: per known word, its rows in fastText's order (its id, then its
    /// character n-grams), end to end ...
    word_ids: Vec<u32>,
    /// ... and each word's range in `word_ids`.
    word_spans: Vec<(u32, u32)>,
    labels: Vec<String>,
    /// Pruned models: which buckets were kept and their rows.
    prune: Option<load::PruneIndex>,
    input: Matrix,
    output: Matrix,
    loss: Loss,
    /// Hierarchical softmax: the label tree (children of internal nodes).
    tree: Option<Vec<(usize, usize)>>,
}

impl FastText {
    /// Loads a model file that predicts exactly as fastText does ([`Summation::Exact`]).
    ///
    /// # Errors
    /// The file cannot be read, or is not a fastText supervised model.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, Summation::Exact)
    }

    /// Loads a model file, adding input rows as `summation` says.
    ///
    /// # Errors
    /// The file cannot be read, or is not a fastText supervised model.
    pub fn load_with(path: &Path, summation: Summation) -> Result<Self> {
        Self::load_decoding(path, summation, DECODED_INPUT_MAX_BYTES)
    }

    /// [`FastText::load_with`], decoding a quantized input matrix of at most `decode_max`
    /// bytes of floats.
    fn load_decoding(path: &Path, summation: Summation, decode_max: usize) -> Result<Self> {
        let mut r = Reader::open(path)?;
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
        let (word_ids, labels, label_counts) =
            load::read_dictionary(&mut r, size, nwords, nlabels)?;
        let vocab = Vocab::new(word_ids);
        let prune = if prune_size >= 0 {
            Some(load::read_prune_index(&mut r, prune_size, bucket)?)
        } else {
            None
        };
        let qin = r.u8()? != 0;
        let input = Matrix::load(&mut r, qin)?.decoded(decode_max);
        let qout = r.u8()? != 0;
        let output = Matrix::load(&mut r, qin && qout)?;
        let dim = r.usize_of(dim.into(), "dim")?;
        if input.cols() != dim || output.cols() != dim {
            return Err(r.err("matrix width differs from dim"));
        }
        let loss = Loss::from_code(loss).ok_or_else(|| r.err(format!("unknown loss {loss}")))?;
        let tree = (loss == Loss::HierarchicalSoftmax).then(|| load::build_tree(&label_counts));
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
            bucket_mod: FastMod::new(bucket.max(1) as u32),
            ngram_mod: FastMod64::new(bucket.max(1) as u32),
            nwords: nwords as usize,
            word_ngrams: a[5].max(1) as usize,
            vocab,
            summation: summation.resolve(loss),
            word_cache_bytes: DEFAULT_WORD_CACHE_BYTES,
            word_vecs: Vec::new(),
            word_ids: Vec::new(),
            word_spans: Vec::new(),
            labels,
            prune,
            input,
            output,
            loss,
            tree,
        };
        model.precompute_words();
        Ok(model)
    }

    /// Sets how many bytes each thread may use to cache what repeated words add for this
    /// model (default [`DEFAULT_WORD_CACHE_BYTES`]; 0 caches nothing): decoded rows (quantized
    /// model), row ids (dense model) or per-word sums ([`Summation::PerWord`], which splits
    /// the budget with the exact cache of long lines). The predictions are the same with any
    /// budget.
    pub fn set_word_cache_bytes(&mut self, bytes: usize) {
        self.word_cache_bytes = bytes;
    }

    /// The labels, e.g. `__label__en`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// How this model adds input rows ([`Summation::Auto`] resolved).
    pub fn summation(&self) -> Summation {
        self.summation
    }

    /// The model's loss, which decides how labels are scored.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The model's `wordNgrams` (1: words only).
    pub fn word_ngrams(&self) -> usize {
        self.word_ngrams
    }

    /// Pushes the input row of hash bucket `bucket` (below the bucket count), if the model
    /// kept it.
    fn push_bucket(&self, ids: &mut Vec<u32>, bucket: u32) {
        match &self.prune {
            Some(index) => {
                if let Some(v) = index.row(bucket) {
                    ids.push(self.nwords as u32 + v);
                }
            }
            None => ids.push(self.nwords as u32 + bucket),
        }
    }

    fn subwords(&self, word: &[u8], ids: &mut Vec<u32>, buf: &mut Vec<u8>) {
        if self.maxn == 0 || word == EOS.as_bytes() {
            return;
        }
        buf.clear();
        buf.push(b'<');
        buf.extend_from_slice(word);
        buf.push(b'>');
        let b = &buf[..];
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
                    self.push_bucket(ids, self.bucket_mod.of(h));
                }
                n += 1;
            }
        }
    }

    /// The input rows of each in-vocabulary word (its id and its character n-grams), and for
    /// [`Summation::PerWord`] their sum: computed once at load, so known words cost one
    /// lookup.
    fn precompute_words(&mut self) {
        let mut buf = Vec::new();
        let mut ids = Vec::new();
        let mut spans = Vec::with_capacity(self.nwords);
        let mut flat = Vec::new();
        for (id, w) in self.vocab.words.iter().enumerate() {
            ids.clear();
            ids.push(id as u32);
            self.subwords(w.as_bytes(), &mut ids, &mut buf);
            let start = flat.len() as u32;
            flat.extend_from_slice(&ids);
            spans.push((start, flat.len() as u32));
        }
        self.vocab.set_rows(|id| (spans[id].1 - spans[id].0) as usize);
        self.word_ids = flat;
        self.word_spans = spans;
        // (Rows listed by id need no sums: a large model's word rows are hundreds of MB.)
        if self.summation == Summation::PerWord && !self.rows_by_id() {
            let width = self.dim.div_ceil(LANES).max(1);
            let mut vecs = vec![[0f32; LANES]; self.nwords * width];
            for (id, v) in vecs.chunks_exact_mut(width).enumerate() {
                let (a, b) = self.word_spans[id];
                self.add_ids(v, &self.word_ids[a as usize..b as usize]);
            }
            self.word_vecs = vecs;
        }
    }

    /// Whether a line's rows are listed by id and added in one pass ([`FastText::hidden`]): a
    /// dense model without character n-grams, where a known word adds its own row only (its
    /// per-word sum is that row).
    fn rows_by_id(&self) -> bool {
        self.maxn == 0 && self.input.dense_data().is_some()
    }

    /// The `k` most likely labels of one line with their probabilities, best first (fastText's
    /// `predict(line, k)`; a threshold of 0).
    pub fn predict(&self, line: &str, k: usize) -> Vec<(&str, f32)> {
        self.predict_with(line, Some(k), 0.0)
    }

    /// fastText's `predict(line, k, threshold)`: at most `k` labels (`None`: every label, as
    /// `k = -1`) whose probability is at least `threshold`, best first, with their
    /// probabilities (fastText's, which add 1e-5 to the model's own). Empty when the line has
    /// nothing the model knows (no rows).
    pub fn predict_with(&self, line: &str, k: Option<usize>, threshold: f32) -> Vec<(&str, f32)> {
        self.predict_ids(line, k, threshold)
            .into_iter()
            .filter_map(|(i, p)| Some((self.labels.get(i)?.as_str(), p)))
            .collect()
    }

    /// [`FastText::predict_with`] with labels as indices into [`FastText::labels`].
    pub fn predict_ids(&self, line: &str, k: Option<usize>, threshold: f32) -> Vec<(usize, f32)> {
        let k = k.unwrap_or(self.labels.len());
        if k == 0 {
            return Vec::new();
        }
        let Some(hidden) = self.hidden(line) else { return Vec::new() };
        let mut heap = Vec::with_capacity(k + 1);
        match (&self.tree, self.loss) {
            (Some(tree), _) => {
                let osz = self.labels.len();
                let search = TreeSearch {
                    tree,
                    output: &self.output,
                    hidden: &hidden,
                    osz,
                    k,
                    min_score: std_log(threshold),
                };
                search.dfs((2 * osz).saturating_sub(2), 0.0, &mut heap);
            }
            (None, Loss::Softmax) => {
                let mut out = self.logits(&hidden);
                softmax(&mut out);
                find_k_best(k, threshold, &out, &mut heap);
            }
            (None, _) => {
                let mut out = self.logits(&hidden);
                out.iter_mut().for_each(|o| *o = sigmoid(&SIGMOID, *o));
                find_k_best(k, threshold, &out, &mut heap);
            }
        }
        sort_heap(&mut heap);
        heap.into_iter()
            .filter(|&(_, i)| i < self.labels.len())
            .map(|(s, i)| (i, s.exp()))
            .collect()
    }

    /// One score per label: the output rows times the hidden vector.
    fn logits(&self, hidden: &[f32]) -> Vec<f32> {
        (0..self.labels.len()).map(|i| self.output.dot_row(hidden, i)).collect()
    }
}

#[cfg(test)]
mod tests;
