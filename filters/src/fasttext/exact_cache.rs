//! Per thread, what a repeated word adds, so that it costs one lookup: its input rows, decoded
//! and copied end to end ([`Mode::Rows`], a quantized model with [`super::Summation::Exact`]),
//! its row ids ([`Mode::Ids`], a dense model: its rows are read from the matrix) or the sum of
//! its rows ([`Mode::Sums`], [`super::Summation::PerWord`]).
//!
//! fastText's running sum rounds after every row, so rows cannot be summed ahead of time; but
//! the dimensions of a row are independent, so a word's rows can be added lane by lane from one
//! contiguous block, in fastText's order, with the same roundings. The block holds what
//! fastText adds (a dense row as stored; a quantized row as `alpha × centroid`, computed once),
//! each row padded with zeros to a multiple of [`LANES`] floats; the padding lanes of the hidden
//! vector are never read.
//!
//! Memory is bounded: the table and the blocks of a thread take at most the model's word cache
//! budget ([`super::FastText::set_word_cache_bytes`]; with per-word sums, half of it, the other
//! half going to the exact cache of long lines); when the next word does not fit, the cache is
//! emptied. A word is copied into the cache the second time the thread sees it (a 1 Mbit filter
//! of word hashes remembers the first time), so words seen once, most of a corpus's distinct
//! words, are added straight from the model's matrix and do not push frequent words out.

use std::cell::RefCell;

use super::scan::Key;
use super::{FastText, LABEL_PREFIX, hash};

/// Lanes of the hidden vector added together (one SSE register).
pub(super) const LANES: usize = 4;
/// One group of lanes.
pub(super) type Lane = [f32; LANES];
/// Default budget of a thread's cached rows per model (bytes).
pub const DEFAULT_WORD_CACHE_BYTES: usize = 16 << 20;
/// Longer words (URLs, runs of CJK text) rarely repeat: not cached.
pub(super) const MAX_WORD_BYTES: usize = 40;
/// Bits of the filter of words seen once (128 KiB).
const SEEN_BITS: usize = 1 << 20;

/// A cached word: one cache line, so that finding a word costs one memory access.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Entry {
    /// The word's [`Key::hash`] (0: an empty entry; a word whose hash is 0 is not cached).
    key: u64,
    /// Its rows in [`WordRows::data`] (in lanes) ...
    start: u32,
    /// ... how many ...
    rows: u32,
    /// ... fastText's hash of the word (for word n-grams) ...
    ft_hash: u32,
    /// ... and the word itself.
    len: u32,
    text: [u8; MAX_WORD_BYTES],
}

const EMPTY: Entry =
    Entry { key: 0, start: 0, rows: 0, ft_hash: 0, len: 0, text: [0; MAX_WORD_BYTES] };

/// One thread's cache of word rows for one model, and the scratch buffers of a prediction.
#[derive(Default)]
pub(super) struct WordRows {
    model: u64,
    /// The model's budget when the cache was made (bytes).
    budget: usize,
    /// Lanes per row.
    width: usize,
    /// What is cached of a word.
    mode: Mode,
    /// Most lanes [`WordRows::data`] (or ids [`WordRows::id_data`]) may hold.
    capacity: usize,
    /// Open addressing (linear probing) by word hash; a power of two long, at most half full.
    table: Vec<Entry>,
    words: usize,
    /// The cached rows ([`Mode::Rows`]) or sums ([`Mode::Sums`]), end to end, `width` lanes
    /// each ...
    data: Vec<Lane>,
    /// ... or the cached row ids, end to end ([`Mode::Ids`]).
    id_data: Vec<u32>,
    /// Words seen once (by word hash), since the cache was last emptied.
    seen: Vec<u64>,
    /// Row ids of the word being added ...
    ids: Vec<u32>,
    /// ... and their sum ([`Mode::Sums`], a word not cached).
    sum: Vec<Lane>,
    /// `<word>` for its character n-grams.
    buf: Vec<u8>,
    /// fastText hashes of the line's words (word n-grams) ...
    pub(super) word_hashes: Vec<i32>,
    /// ... and the rows of the line's word n-grams.
    pub(super) ngram_ids: Vec<u32>,
}

/// What a [`WordRows`] keeps of a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Mode {
    /// Its rows, decoded (exact summation, quantized model).
    #[default]
    Rows,
    /// Its row ids (exact summation, dense model: rows are read from the matrix, small
    /// enough to stay near the core).
    Ids,
    /// The sum of its rows ([`super::Summation::PerWord`]).
    Sums,
}

thread_local! {
    /// Exact summation's cache.
    pub(super) static WORD_ROWS: RefCell<WordRows> = RefCell::new(WordRows::default());
    /// Per-word sums' cache.
    pub(super) static WORD_SUMS: RefCell<WordRows> = RefCell::new(WordRows::default());
}

/// Adds rows of `width` lanes, one after the other, to `hidden` (`width` lanes).
pub(super) fn add_rows(hidden: &mut [Lane], rows: &[Lane]) {
    // Fixed widths let the compiler keep the hidden vector in registers across rows.
    match hidden.len() {
        1 => add_fixed::<1>(hidden, rows),
        2 => add_fixed::<2>(hidden, rows),
        3 => add_fixed::<3>(hidden, rows),
        4 => add_fixed::<4>(hidden, rows),
        5 => add_fixed::<5>(hidden, rows),
        6 => add_fixed::<6>(hidden, rows),
        7 => add_fixed::<7>(hidden, rows),
        8 => add_fixed::<8>(hidden, rows),
        w => {
            for row in rows.chunks_exact(w) {
                for (h, r) in hidden.iter_mut().zip(row) {
                    (0..LANES).for_each(|i| h[i] += r[i]);
                }
            }
        }
    }
}

/// Adds the rows `ids` of a dense matrix (`data`, rows of `dim` floats followed by at least
/// `LANES - 1` floats) to `hidden` (`width` lanes), one after the other. Each row is read as
/// whole lanes: the floats past its end (the next row's) go to the padding lanes of `hidden`,
/// which are dropped. Rows past the end of `data` (a corrupt id) are skipped.
pub(super) fn add_id_rows(hidden: &mut [Lane], data: &[f32], dim: usize, ids: &[u32]) {
    if hidden.len() > FAR_MIN_LANES && size_of_val(data) > FAR_BYTES {
        return add_id_rows_far(hidden, data, dim, ids);
    }
    match hidden.len() {
        1 => add_ids_fixed::<1>(hidden, data, dim, ids),
        2 => add_ids_fixed::<2>(hidden, data, dim, ids),
        3 => add_ids_fixed::<3>(hidden, data, dim, ids),
        4 => add_ids_fixed::<4>(hidden, data, dim, ids),
        5 => add_ids_fixed::<5>(hidden, data, dim, ids),
        6 => add_ids_fixed::<6>(hidden, data, dim, ids),
        7 => add_ids_fixed::<7>(hidden, data, dim, ids),
        8 => add_ids_fixed::<8>(hidden, data, dim, ids),
        w => {
            for &id in ids {
                let start = id as usize * dim;
                let Some(row) = data.get(start..start + w * LANES) else { continue };
                for (h, r) in hidden.iter_mut().zip(row.chunks_exact(LANES)) {
                    (0..LANES).for_each(|i| h[i] += r[i]);
                }
            }
        }
    }
}

/// A matrix larger than this is read from memory rather than from the caches: its rows are
/// asked for ahead when they are wider than [`FAR_MIN_LANES`] lanes (a row of several cache
/// lines; rows of one or two lines come as fast unasked: asking measured slower).
const FAR_BYTES: usize = 32 << 20;
/// See [`FAR_BYTES`].
const FAR_MIN_LANES: usize = 8;
/// How many rows ahead [`add_id_rows_far`] asks for.
const ROWS_AHEAD: usize = 32;

/// [`add_id_rows`] for wide rows of a matrix far from the core: rows are asked for
/// [`ROWS_AHEAD`] rows before they are added, so that several come from memory at once, and
/// added a block of rows at a time, eight lanes at a time, those lanes of the sum staying in
/// registers across the block. Each lane still adds the rows in order: the same roundings.
#[inline(never)] // keeps `add_id_rows`, on every small model's path, small enough to inline
fn add_id_rows_far(hidden: &mut [Lane], data: &[f32], dim: usize, ids: &[u32]) {
    const CHUNK: usize = 8;
    let w = hidden.len();
    let in_range = |id: u32| id as usize * dim + w * LANES <= data.len();
    for &id in ids.iter().take(ROWS_AHEAD) {
        prefetch_floats(data, id as usize * dim, w * LANES);
    }
    for (b, block) in ids.chunks(ROWS_AHEAD).enumerate() {
        for &id in ids.iter().skip((b + 1) * ROWS_AHEAD).take(ROWS_AHEAD) {
            prefetch_floats(data, id as usize * dim, w * LANES);
        }
        for (c, lanes) in hidden.chunks_mut(CHUNK).enumerate() {
            let at = c * CHUNK * LANES;
            if let Ok(lanes) = <&mut [Lane; CHUNK]>::try_from(&mut *lanes) {
                let mut acc = *lanes;
                for &id in block.iter().filter(|&&id| in_range(id)) {
                    let row = &data[id as usize * dim + at..][..CHUNK * LANES];
                    for (a, r) in acc.iter_mut().zip(row.chunks_exact(LANES)) {
                        (0..LANES).for_each(|i| a[i] += r[i]);
                    }
                }
                *lanes = acc;
            } else {
                for &id in block.iter().filter(|&&id| in_range(id)) {
                    let row = &data[id as usize * dim + at..][..lanes.len() * LANES];
                    for (a, r) in lanes.iter_mut().zip(row.chunks_exact(LANES)) {
                        (0..LANES).for_each(|i| a[i] += r[i]);
                    }
                }
            }
        }
    }
}

/// Asks for the cache lines of `data[start..start + len]` (those in range).
fn prefetch_floats(data: &[f32], start: usize, len: usize) {
    const LINE: usize = 64 / size_of::<f32>();
    let end = (start + len).min(data.len());
    if start >= end {
        return;
    }
    // A float every line's length, and the last: every line the floats touch.
    (start..end).step_by(LINE).for_each(|at| prefetch(&data[at]));
    prefetch(&data[end - 1]);
}

fn add_ids_fixed<const W: usize>(hidden: &mut [Lane], data: &[f32], dim: usize, ids: &[u32]) {
    let mut acc: [Lane; W] = [[0.0; LANES]; W];
    acc.copy_from_slice(&hidden[..W]);
    for &id in ids {
        let start = id as usize * dim;
        let Some(row) = data.get(start..start + W * LANES) else { continue };
        for (w, h) in acc.iter_mut().enumerate() {
            (0..LANES).for_each(|i| h[i] += row[w * LANES + i]);
        }
    }
    hidden[..W].copy_from_slice(&acc);
}

fn add_fixed<const W: usize>(hidden: &mut [Lane], rows: &[Lane]) {
    let mut acc: [Lane; W] = [[0.0; LANES]; W];
    acc.copy_from_slice(&hidden[..W]);
    for row in rows.chunks_exact(W) {
        for (h, r) in acc.iter_mut().zip(row) {
            (0..LANES).for_each(|i| h[i] += r[i]);
        }
    }
    hidden[..W].copy_from_slice(&acc);
}

/// Asks the CPU to bring the cache line of `x` closer: a hint, with no effect on results.
#[inline(always)]
#[allow(unsafe_code)] // The one unsafe call of the crate: a prefetch cannot read or fault.
pub(super) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; it does not dereference
    // the pointer (a valid reference here anyway) and cannot fault.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// What a word adds.
pub(super) enum Word<'c> {
    /// Its rows, in fastText's order, and fastText's hash of it.
    Rows(&'c [Lane], u32),
    /// Its row ids, in fastText's order (added from the matrix), and fastText's hash of it.
    Ids(&'c [u32], u32),
    /// The sum of its rows (`width` lanes), how many rows, and fastText's hash of it.
    Sum(&'c [Lane], usize, u32),
    /// An unknown label: fastText skips it.
    Skip,
}

impl WordRows {
    /// Prepares the cache for `model`, keeping what `mode` says within `budget` bytes:
    /// emptied when it held another model's rows or was made for another budget.
    pub(super) fn for_model(&mut self, model: &FastText, mode: Mode, budget: usize) {
        if self.model != model.id || self.budget != budget || self.mode != mode {
            let width = model.dim.div_ceil(LANES).max(1);
            // The table (64-byte entries, at most half full) takes the share of the budget
            // that what a word keeps leaves it: a quarter beside rows (a kilobyte a word for
            // 10-float rows and 20 n-grams), half beside ids, three quarters beside sums.
            let table_share = match mode {
                Mode::Rows => budget / 4,
                Mode::Ids => budget / 2,
                Mode::Sums => budget / 4 * 3,
            };
            let entries = 1usize << (table_share / size_of::<Entry>()).max(2).ilog2();
            let unit = if mode == Mode::Ids { size_of::<u32>() } else { size_of::<Lane>() };
            *self = WordRows {
                model: model.id,
                budget,
                width,
                mode,
                capacity: (budget - table_share) / unit,
                table: if budget == 0 { Vec::new() } else { vec![EMPTY; entries] },
                seen: vec![0; SEEN_BITS / 64],
                ..WordRows::default()
            };
            self.capacity = self.capacity.min(u32::MAX as usize);
        }
    }

    /// What this cache keeps of a word.
    pub(super) fn mode(&self) -> Mode {
        self.mode
    }

    /// Lanes per row.
    pub(super) fn width(&self) -> usize {
        self.width
    }

    /// Starts bringing what finding the word of hash `h` reads into the cache (its table entry
    /// and its bit in the filter of words seen once), so that a line's lookups overlap.
    pub(super) fn prefetch(&self, h: u64) {
        if !self.table.is_empty() {
            prefetch(&self.table[h as usize & (self.table.len() - 1)]);
            prefetch(&self.seen[(h as usize % SEEN_BITS) / 64]);
        }
    }

    /// The entry of `word` (hash `h`), or the empty entry where it would go.
    fn find(&self, word: &[u8], h: u64) -> Result<usize, usize> {
        let mask = self.table.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let e = &self.table[i];
            if e.key == 0 {
                return Err(i);
            }
            if e.key == h && &e.text[..e.len as usize] == word {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The rows of `word` (of key `key`, whose hash is `h`): cached, or computed (and cached
    /// when the word was seen before and fits).
    /// `oov`: the caller knows that the model does not have the word.
    pub(super) fn word(
        &mut self,
        model: &FastText,
        word: &[u8],
        key: &Key,
        h: u64,
        oov: bool,
    ) -> Word<'_> {
        let cacheable = !self.table.is_empty() && h != 0 && word.len() <= MAX_WORD_BYTES;
        if let Some(Ok(i)) = cacheable.then(|| self.find(word, h)) {
            let e = &self.table[i];
            let (start, rows) = (e.start as usize, e.rows as usize);
            return match self.mode {
                Mode::Ids => Word::Ids(&self.id_data[start..start + rows], e.ft_hash),
                Mode::Rows => Word::Rows(&self.data[start..start + rows * self.width], e.ft_hash),
                Mode::Sums => Word::Sum(&self.data[start..start + self.width], rows, e.ft_hash),
            };
        }
        self.ids.clear();
        let ft_hash = match if oov { None } else { model.vocab.find(word, key, h) } {
            Some(found) => {
                let (a, b) = model.word_spans[found.id as usize];
                self.ids.extend_from_slice(&model.word_ids[a as usize..b as usize]);
                found.ft_hash
            }
            None if word.starts_with(LABEL_PREFIX.as_bytes()) => return Word::Skip,
            None => {
                model.subwords(word, &mut self.ids, &mut self.buf);
                if model.word_ngrams > 1 { hash(word) } else { 0 }
            }
        };
        if !cacheable || !self.admit(h) {
            if self.mode == Mode::Sums {
                // Summed as a cached word is, so that the result does not depend on what the
                // thread saw before.
                self.sum.clear();
                self.sum.resize(self.width, [0.0; LANES]);
                model.add_ids(&mut self.sum, &self.ids);
                return Word::Sum(&self.sum, self.ids.len(), ft_hash);
            }
            return Word::Ids(&self.ids, ft_hash);
        }
        // Found again: `admit` may have emptied the cache.
        let (Ok(i) | Err(i)) = self.find(word, h);
        let mut text = [0; MAX_WORD_BYTES];
        text[..word.len()].copy_from_slice(word);
        let rows = self.ids.len() as u32;
        let len = word.len() as u32;
        self.words += 1;
        let start = if self.mode == Mode::Ids { self.id_data.len() } else { self.data.len() };
        self.table[i] = Entry { key: h, start: start as u32, rows, ft_hash, len, text };
        match self.mode {
            Mode::Ids => {
                self.id_data.extend_from_slice(&self.ids);
                Word::Ids(&self.id_data[start..], ft_hash)
            }
            Mode::Rows => {
                self.data.resize(start + self.ids.len() * self.width, [0.0; LANES]);
                for (row, &id) in self.data[start..].chunks_exact_mut(self.width).zip(&self.ids) {
                    model.input.row_into(row.as_flattened_mut(), id as usize);
                }
                Word::Rows(&self.data[start..], ft_hash)
            }
            Mode::Sums => {
                self.data.resize(start + self.width, [0.0; LANES]);
                model.add_ids(&mut self.data[start..], &self.ids);
                Word::Sum(&self.data[start..], self.ids.len(), ft_hash)
            }
        }
    }

    /// Whether to cache a word now: seen before and its rows fit (emptying the cache when they
    /// do not fit beside the others, or the table is half full).
    fn admit(&mut self, h: u64) -> bool {
        let bit = (h as usize) % SEEN_BITS;
        let (w, b) = (bit / 64, 1u64 << (bit % 64));
        if self.seen[w] & b == 0 {
            self.seen[w] |= b;
            return false;
        }
        let (need, held) = match self.mode {
            Mode::Ids => (self.ids.len(), self.id_data.len()),
            Mode::Rows => (self.ids.len() * self.width, self.data.len()),
            Mode::Sums => (self.width, self.data.len()),
        };
        if need > self.capacity {
            return false;
        }
        if held + need > self.capacity || 2 * (self.words + 1) > self.table.len() {
            self.table.fill(EMPTY);
            self.words = 0;
            self.data.clear();
            self.id_data.clear();
            self.seen.fill(0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Rows far from the core are added in blocks, eight lanes at a time: each lane still
        /// adds the rows in order, so the sum is the same to the bit.
        #[test]
        fn far_rows_add_as_one_row_after_another(
            dim in 33usize..140,
            ids in proptest::collection::vec(0u32..70, 0..120),
            seed: u32,
        ) {
            let rows = 64; // ids of 64 and up are past the end: skipped
            let mut x = seed;
            let data: Vec<f32> = (0..rows * dim + LANES - 1)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 8) as f32 / (1u32 << 20) as f32 - 8.0
                })
                .collect();
            let width = dim.div_ceil(LANES);
            let mut far = vec![[0.5f32; LANES]; width];
            add_id_rows_far(&mut far, &data, dim, &ids);
            let mut one_by_one = vec![[0.5f32; LANES]; width];
            for &id in ids.iter().filter(|&&id| (id as usize) < rows) {
                let row = &data[id as usize * dim..][..width * LANES];
                for (h, r) in one_by_one.iter_mut().zip(row.chunks_exact(LANES)) {
                    (0..LANES).for_each(|i| h[i] += r[i]);
                }
            }
            let bits = |v: &[Lane]| v.as_flattened().iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&far), bits(&one_by_one));
        }
    }
}
