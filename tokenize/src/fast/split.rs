//! Pre-tokenizer stages: cutting a segment of text (between added tokens) into the pieces that
//! are merged one by one.
//!
//! A tokenizer's pre-tokenizer becomes a list of [`Stage`]s applied in order, each to every
//! piece the previous one produced, as `tokenizers` applies a `Sequence` of pre-tokenizers:
//!
//! - [`Stage::Gpt2`], the GPT-2 regex of a `ByteLevel` pre-tokenizer with `use_regex`, and
//!   [`Stage::Cl100k`], the pattern of cl100k / Llama 3 (`\p{N}{1,3}`) and Qwen2/3 (`\p{N}`),
//!   are hand-written scanners over one char-class table ([`super::pretok`]).
//! - [`Stage::Regex`] runs any other `Split` pattern on `regex-automata`, a DFA with exactly the
//!   leftmost-first semantics of the backtracking engine `tokenizers` uses, as long as the
//!   pattern's only look-around is a top-level `\s+(?!\S)` branch (emulated, see
//!   [`RegexSplit::new`]). A pattern it cannot take exactly is refused with the reason, and the
//!   tokenizer stays on the reference.
//! - [`Stage::PrefixSpace`] is `ByteLevel`'s `add_prefix_space`: a space before every piece that
//!   does not start with one.
//!
//! The recognition of the cl100k family is by the pattern's exact text: a fast route only, the
//! same pattern also runs on [`RegexSplit`] (a test holds the two to the same pieces).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::meta::{self, Regex};
use regex_automata::{Anchored, Input};
use regex_syntax::ast::{self, Ast};

use super::pretok::{CLASSES, LETTER, NUMBER, OTHER, SPACE};
use crate::patterns::{CL100K, QWEN2};

/// One pre-tokenizer step, as the encoder runs it.
#[derive(Debug)]
pub(crate) enum Stage {
    /// `ByteLevel`'s GPT-2 regex.
    Gpt2,
    /// `ByteLevel`'s `add_prefix_space`.
    PrefixSpace,
    /// The cl100k pattern with at most this many digits per number piece (3 for cl100k and
    /// Llama 3, 1 for Qwen2/3).
    Cl100k(usize),
    /// Any other supported `Split` pattern.
    Regex(RegexSplit),
}

/// A pre-tokenizer step as written in a `tokenizer.json` and stored in the cache: what
/// [`Stage::compile`] builds from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StageSpec {
    /// `ByteLevel` with `use_regex`.
    Gpt2,
    /// `ByteLevel` with `add_prefix_space`.
    PrefixSpace,
    /// `Split` with a regex (a `String` pattern is stored escaped), `Isolated`, not inverted.
    Split(String),
}

impl StageSpec {
    /// The cache file's tag for this kind of step.
    pub(crate) fn tag(&self) -> u8 {
        match self {
            Self::Gpt2 => 0,
            Self::PrefixSpace => 1,
            Self::Split(_) => 2,
        }
    }
}

impl Stage {
    /// The step for `spec`, or why the fast path cannot run it exactly.
    pub(crate) fn compile(spec: &StageSpec) -> Result<Self, String> {
        Ok(match spec {
            StageSpec::Gpt2 => Self::Gpt2,
            StageSpec::PrefixSpace => Self::PrefixSpace,
            StageSpec::Split(pattern) if pattern == CL100K => Self::Cl100k(3),
            StageSpec::Split(pattern) if pattern == QWEN2 => Self::Cl100k(1),
            StageSpec::Split(pattern) => Self::Regex(RegexSplit::new(pattern)?),
        })
    }

    /// A short name for logs and reports.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Gpt2 => "gpt2 regex (hand-written)".into(),
            Self::PrefixSpace => "prefix space".into(),
            Self::Cl100k(3) => "cl100k/llama3 split (hand-written)".into(),
            Self::Cl100k(_) => "qwen2 split (hand-written)".into(),
            Self::Regex(_) => "split regex (DFA)".into(),
        }
    }
}

/// Calls `f` on every non-empty piece `stages` cut `text` into, in text order.
///
/// Generic over `f`, so the last stage's scanning loop calls it directly (it is where the
/// pieces are merged: the hot path); earlier stages of a sequence hand their pieces on
/// through a `dyn` callback.
#[inline]
pub(crate) fn for_each_piece<F: FnMut(&str)>(stages: &[Stage], text: &str, f: &mut F) {
    if text.is_empty() {
        return;
    }
    match stages {
        [] => f(text),
        [only] => only.split(text, f),
        [first, rest @ ..] => {
            first.split(text, &mut |piece: &str| for_each_piece_dyn(rest, piece, f))
        }
    }
}

/// [`for_each_piece`] behind a `dyn` callback, which keeps the nesting of a sequence's stages
/// from instantiating a new closure type per level.
fn for_each_piece_dyn(stages: &[Stage], text: &str, f: &mut dyn FnMut(&str)) {
    for_each_piece(stages, text, &mut |piece: &str| f(piece));
}

impl Stage {
    #[inline]
    fn split<F: FnMut(&str)>(&self, text: &str, f: &mut F) {
        let b = text.as_bytes();
        match self {
            Self::Gpt2 => {
                let mut start = 0;
                while start < b.len() {
                    let end = CLASSES.gpt2_piece_end(b, start);
                    f(&text[start..end]);
                    start = end;
                }
            }
            Self::Cl100k(digits) => {
                let mut start = 0;
                while start < b.len() {
                    let end = cl100k_piece_end(b, start, *digits);
                    f(&text[start..end]);
                    start = end;
                }
            }
            Self::PrefixSpace => {
                if text.starts_with(' ') {
                    f(text);
                } else {
                    f(&format!(" {text}"));
                }
            }
            Self::Regex(regex) => regex.split(text, f),
        }
    }
}

/// End of the cl100k-family piece that starts at byte `start < b.len()` of `b` (valid UTF-8):
/// the match of `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` there, with `D = digits`. Every char
/// starts a match of some branch, so pieces tile the text.
#[inline]
pub(crate) fn cl100k_piece_end(b: &[u8], start: usize, digits: usize) -> usize {
    let first = b[start];
    if first == b'\''
        && let Some(len) = contraction_len(&b[start + 1..])
    {
        return start + 1 + len;
    }
    let (class, len) = CLASSES.class_at(b, start);
    let after = start + len;
    match class {
        LETTER => return CLASSES.run_end(b, after, LETTER),
        NUMBER => {
            let mut end = after;
            for _ in 1..digits {
                if end == b.len() {
                    break;
                }
                let (next, next_len) = CLASSES.class_at(b, end);
                if next != NUMBER {
                    break;
                }
                end += next_len;
            }
            return end;
        }
        _ => {}
    }
    // Here the char is "other" or whitespace.
    let next = (after < b.len()).then(|| CLASSES.class_at(b, after));
    // `[^\r\n\p{L}\p{N}]?\p{L}+`: any such char joins a letter run that follows it.
    if first != b'\r'
        && first != b'\n'
        && let Some((LETTER, next_len)) = next
    {
        return CLASSES.run_end(b, after + next_len, LETTER);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if class == OTHER {
        return newlines_end(b, CLASSES.run_end(b, after, OTHER));
    }
    if first == b' '
        && let Some((OTHER, next_len)) = next
    {
        return newlines_end(b, CLASSES.run_end(b, after + next_len, OTHER));
    }
    debug_assert_eq!(class, SPACE);
    // A whitespace run. `\s*[\r\n]+` takes it up to its last CR or LF, if it has one;
    // otherwise `\s+(?!\S)` takes all of it at the end of the text and all but its last char
    // before a non-space (which needs two chars), and `\s+` takes a lone char.
    let mut last_newline_end = None;
    let mut last = start;
    let mut end = start;
    while end < b.len() {
        let (c, len) = CLASSES.class_at(b, end);
        if c != SPACE {
            break;
        }
        if matches!(b[end], b'\r' | b'\n') {
            last_newline_end = Some(end + 1);
        }
        last = end;
        end += len;
    }
    if let Some(newline_end) = last_newline_end {
        return newline_end;
    }
    if end == b.len() || last == start { end } else { last }
}

/// End of a run of `\r` and `\n` bytes starting at `i`.
#[inline]
fn newlines_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// Length after the apostrophe of `(?i:'s|'t|'re|'ve|'m|'ll|'d)`. Unicode simple case folding
/// adds one char beyond ASCII case: `ſ` (U+017F, two bytes) folds to `s`; a test checks this
/// list against `regex-syntax`'s folding.
#[inline]
fn contraction_len(rest: &[u8]) -> Option<usize> {
    let lower = |i: usize| rest.get(i).filter(|b| b.is_ascii_alphabetic()).map(|b| b | 0x20);
    match lower(0) {
        Some(b's' | b't' | b'm' | b'd') => Some(1),
        Some(b'r' | b'v') if lower(1) == Some(b'e') => Some(2),
        Some(b'l') if lower(1) == Some(b'l') => Some(2),
        Some(_) => None,
        None => rest.starts_with("ſ".as_bytes()).then_some(2),
    }
}

/// The one look-around the DFA matcher emulates, and the marker it is parsed as.
const LOOKAHEAD: &str = r"(?!\S)";
const MARKER_NAME: &str = "tokenmill_lookahead";
/// What a `\s+(?!\S)` branch runs as: a run at the end of the text, or one followed by a
/// whitespace char that the match then gives back.
const LOOKAHEAD_BRANCH: &str = r"\s+\z|\s+\s";

/// A `Split` pattern run on a multi-pattern DFA, one pattern per top-level branch.
#[derive(Debug)]
pub(crate) struct RegexSplit {
    regex: Regex,
    /// Per branch: whether it is the emulated `\s+(?!\S)`.
    lookahead: Vec<bool>,
    /// Finds this matcher's cache among the thread's.
    id: u64,
}

thread_local! {
    /// Each thread's search caches, by matcher id (a handful of matchers at most).
    static CACHES: RefCell<Vec<(u64, meta::Cache)>> = const { RefCell::new(Vec::new()) };
}

impl RegexSplit {
    /// Compiles `pattern` for exact leftmost-first splitting, or says why it cannot.
    ///
    /// The backtracking engine's alternation tries branches in order; a multi-pattern DFA in
    /// leftmost-first mode reports the first branch (in pattern order) that matches at the
    /// leftmost position, with that branch's own leftmost-first match: the same result, as long
    /// as every branch is plain regex. The branch `\s+(?!\S)` is not: it runs as
    /// `\s+\z|\s+\s`, and a match that did not reach the end gives its last char back, which is
    /// what backtracking `\s+` one char before a non-space does. Refused: any other look-around
    /// or syntax `regex-syntax` does not parse (backreferences, atomic groups), flags set for
    /// the rest of the pattern (`(?i)` outside a group), and branches that can match the empty
    /// string (their iteration rules differ between engines).
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let marked = pattern.replace(LOOKAHEAD, &format!("(?P<{MARKER_NAME}>)"));
        let lookaheads = pattern.matches(LOOKAHEAD).count();
        let ast = ast::parse::Parser::new().parse(&marked).map_err(|err| {
            format!(
                "the split pattern `{pattern}` uses syntax the DFA matcher does not run: {}",
                err.kind()
            )
        })?;
        let branches: Vec<&Ast> = match &ast {
            Ast::Alternation(alt) => alt.asts.iter().collect(),
            other => vec![other],
        };
        let mut texts = Vec::with_capacity(branches.len());
        let mut lookahead = Vec::with_capacity(branches.len());
        let mut seen = 0;
        for branch in branches {
            let text = &marked[branch.span().start.offset..branch.span().end.offset];
            if has_flags(branch) {
                return Err(format!(
                    "the split pattern `{pattern}` sets flags for the rest of the pattern"
                ));
            }
            if text.contains(MARKER_NAME) {
                if text != format!(r"\s+(?P<{MARKER_NAME}>)") {
                    return Err(format!(
                        "the split pattern `{pattern}` has a look-around other than a `\\s+(?!\\S)` branch"
                    ));
                }
                seen += 1;
                texts.push(LOOKAHEAD_BRANCH.to_owned());
                lookahead.push(true);
            } else {
                let hir = regex_syntax::parse(text).map_err(|err| {
                    format!(
                        "the split pattern `{pattern}` does not compile for the DFA matcher: {err}"
                    )
                })?;
                if hir.properties().minimum_len() == Some(0) {
                    return Err(format!(
                        "the split pattern `{pattern}` has a branch that can match the empty string ({text:?})"
                    ));
                }
                texts.push(text.to_owned());
                lookahead.push(false);
            }
        }
        if seen != lookaheads {
            return Err(format!(
                "the split pattern `{pattern}` has a look-around other than a `\\s+(?!\\S)` branch"
            ));
        }
        let regex = Regex::builder()
            .configure(
                Regex::config()
                    .match_kind(regex_automata::MatchKind::LeftmostFirst)
                    .utf8_empty(true),
            )
            .build_many(&texts)
            .map_err(|err| {
                format!("the split pattern `{pattern}` does not compile for the DFA matcher: {err}")
            })?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(Self { regex, lookahead, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Calls `f` on each piece of `text`: the matches, and the text between them (`Isolated`).
    fn split<F: FnMut(&str)>(&self, text: &str, f: &mut F) {
        // Pieces are handed out after the cache is put back, so `f` may split with this same
        // matcher again (a sequence using one pattern twice) without a double borrow.
        let mut start = 0;
        while start < text.len() {
            let (piece_start, piece_end) = self.with_cache(|regex, cache| {
                let anchored = Input::new(text).range(start..).anchored(Anchored::Yes);
                let found = regex
                    .search_with(cache, &anchored)
                    .or_else(|| regex.search_with(cache, &Input::new(text).range(start..)));
                found.map_or((text.len(), text.len()), |m| {
                    (m.start(), self.end_of(text, m.end(), m.pattern().as_usize()))
                })
            });
            if piece_start > start {
                f(&text[start..piece_start]);
            }
            if piece_end > piece_start {
                f(&text[piece_start..piece_end]);
            }
            start = piece_end.max(piece_start);
        }
    }

    /// The end of a match of branch `branch` that ends at `end`: the emulated look-ahead gives
    /// back the whitespace char it matched unless the run reached the end of the text.
    fn end_of(&self, text: &str, end: usize, branch: usize) -> usize {
        if self.lookahead[branch] && end < text.len() {
            text[..end].char_indices().next_back().map_or(end, |(i, _)| i)
        } else {
            end
        }
    }

    fn with_cache<R>(&self, f: impl FnOnce(&Regex, &mut meta::Cache) -> R) -> R {
        CACHES.with(|caches| {
            let mut caches = caches.borrow_mut();
            let index = match caches.iter().position(|(id, _)| *id == self.id) {
                Some(index) => index,
                None => {
                    caches.push((self.id, self.regex.create_cache()));
                    caches.len() - 1
                }
            };
            f(&self.regex, &mut caches[index].1)
        })
    }
}

/// Whether `branch` holds a flag group without a body (`(?i)`), which changes the flags of
/// everything after it, in later branches too.
fn has_flags(branch: &Ast) -> bool {
    match branch {
        Ast::Flags(_) => true,
        Ast::Concat(concat) => concat.asts.iter().any(has_flags),
        _ => false,
    }
}

/// The pieces `stages` cut `text` into (for tests).
#[cfg(test)]
pub(crate) fn pieces(stages: &[Stage], text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_piece(stages, text, &mut |piece| out.push(piece.to_owned()));
    out
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
