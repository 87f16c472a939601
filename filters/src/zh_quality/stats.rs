//! Character statistics of a page for [`super::ZhQuality::check`], in one pass over its
//! non-space characters with tables kept per thread (a flat count per BMP character, the
//! n-gram set): no allocation per document once the tables have grown.

use std::cell::RefCell;

use rustc_hash::{FxHashMap, FxHashSet};

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Counts of a page (spaces not counted).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PageStats {
    /// Non-space characters.
    pub chars: usize,
    /// Han characters among them.
    pub han: usize,
    /// Non-blank lines.
    pub lines: usize,
    /// Non-blank lines ending in terminal punctuation.
    pub terminal_lines: usize,
    /// Occurrences of the most frequent character.
    pub top_char: usize,
    /// Shannon entropy of the characters (bits), when asked for.
    pub entropy: f64,
}

/// Per-thread tables.
#[derive(Default)]
struct Scratch {
    chars: Vec<char>,
    /// Count of each BMP character (all zero between documents).
    bmp: Vec<u32>,
    /// Distinct characters, in order of first occurrence.
    seen: Vec<char>,
    /// Counts of characters beyond the BMP.
    astral: FxHashMap<char, u32>,
    grams: FxHashSet<u64>,
}

/// Counts `text` and hands its non-space characters to `then` (with the n-gram set to use).
/// The entropy is computed only when `entropy` is set and the page has at least
/// [`super::ENTROPY_MIN_CHARS`] characters.
pub(super) fn with_page<R>(
    text: &str,
    entropy: bool,
    then: impl FnOnce(&PageStats, &[char], &mut FxHashSet<u64>) -> R,
) -> R {
    SCRATCH.with_borrow_mut(|s| {
        let mut stats = PageStats::default();
        for line in text.lines() {
            let line = line.trim();
            if !line.is_empty() {
                stats.lines += 1;
                stats.terminal_lines +=
                    usize::from(line.chars().next_back().is_some_and(super::is_terminal_punct));
            }
        }
        s.count(text, &mut stats);
        let entropy = entropy && stats.chars >= super::ENTROPY_MIN_CHARS;
        s.summarize(&mut stats, entropy);
        then(&stats, &s.chars, &mut s.grams)
    })
}

impl Scratch {
    fn count(&mut self, text: &str, stats: &mut PageStats) {
        if self.bmp.is_empty() {
            self.bmp = vec![0; 0x10000];
        }
        self.chars.clear();
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            self.chars.push(c);
            stats.han += usize::from(super::is_han(c));
            let n = match self.bmp.get_mut(c as usize) {
                Some(n) => n,
                None => self.astral.entry(c).or_default(),
            };
            if *n == 0 {
                self.seen.push(c);
            }
            *n += 1;
        }
        stats.chars = self.chars.len();
    }

    /// The top count and the entropy; leaves the counts at zero for the next page.
    fn summarize(&mut self, stats: &mut PageStats, entropy: bool) {
        let total = stats.chars as f64;
        let mut h = 0.0;
        for &c in &self.seen {
            let k = match self.bmp.get_mut(c as usize) {
                Some(n) => std::mem::take(n),
                None => self.astral.get(&c).copied().unwrap_or(0),
            };
            stats.top_char = stats.top_char.max(k as usize);
            if entropy {
                let p = f64::from(k) / total;
                h -= p * p.log2();
            }
        }
        stats.entropy = h;
        self.seen.clear();
        self.astral.clear();
    }
}

/// Whether more than `max` of `chars` lie in character `n`-grams that occurred earlier in the
/// text (Gopher's duplicate n-gram rule in characters). Stops as soon as the answer is known:
/// when the covered characters pass the threshold, or when even covering every character not
/// yet reached would not.
pub(super) fn repetition_exceeds(
    chars: &[char],
    n: usize,
    max: f64,
    grams: &mut FxHashSet<u64>,
) -> bool {
    let total = chars.len();
    if total < n {
        return 0.0 > max;
    }
    // The fewest covered characters whose share is above `max`, in the rule's own arithmetic.
    let exceeds = |k: usize| k as f64 / total as f64 > max;
    let limit = partition_point(total + 1, |k| !exceeds(k));
    grams.clear();
    grams.reserve(total - n + 1);
    // A polynomial rolling hash of the n-gram: h = sum of c[i + j] * B^(n - 1 - j).
    const B: u64 = 0x0000_0100_0000_01b3;
    let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(B));
    let mut h = chars[..n - 1].iter().fold(0u64, |h, &c| h.wrapping_mul(B).wrapping_add(c as u64));
    let (mut covered, mut until) = (0usize, 0usize);
    for i in 0..=total - n {
        h = h.wrapping_mul(B).wrapping_add(chars[i + n - 1] as u64);
        if !grams.insert(h) {
            covered += i + n - i.max(until);
            until = i + n;
            if covered >= limit {
                return true;
            }
        }
        // Later n-grams can only cover characters from max(i + 1, until) on.
        if covered + total - until.max(i + 1) < limit {
            return false;
        }
        h = h.wrapping_sub((chars[i] as u64).wrapping_mul(top));
    }
    covered >= limit
}

/// The first `k` in `0..len` where `pred` turns false (`len` if it never does), for a `pred`
/// that is true then false.
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}
