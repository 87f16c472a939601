//! The GPT-2 pre-tokenizer, hand-written: the pieces the regex
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` finds, without
//! a regex engine in the loop.
//!
//! Every char falls in exactly one of four classes: whitespace (`\s`, Unicode `White_Space`),
//! letter (`\p{L}`), number (`\p{N}`) or other. The classes come from `regex-syntax`, the crate
//! the reference's regex compiles `\s`, `\p{L}` and `\p{N}` with, so the two cannot disagree on
//! any char (std's `char::is_alphabetic` is `Alphabetic`, a superset of `\p{L}`, and would).

use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// Char classes of the GPT-2 regex; `u8` so a table entry is one byte.
pub(crate) const OTHER: u8 = 0;
pub(crate) const LETTER: u8 = 1;
pub(crate) const NUMBER: u8 = 2;
pub(crate) const SPACE: u8 = 3;

/// Code points per leaf of the two-level class table.
const LEAF: usize = 128;
const CODE_POINTS: usize = 0x11_0000;

/// The class of every code point: a block index per 128 code points into deduplicated leaves
/// (about 60 KB in all, most blocks share an all-`OTHER` or all-`LETTER` leaf).
pub(crate) struct CharClasses {
    ascii: [u8; 128],
    blocks: Vec<u16>,
    leaves: Vec<[u8; LEAF]>,
}

/// Built once per process; every fast tokenizer shares it.
pub(crate) static CLASSES: LazyLock<CharClasses> = LazyLock::new(CharClasses::build);

impl CharClasses {
    fn build() -> Self {
        let mut flat = vec![OTHER; CODE_POINTS];
        // Letters, numbers and whitespace are disjoint, so the order of filling does not matter.
        for (pattern, class) in [(r"\p{L}", LETTER), (r"\p{N}", NUMBER), (r"\s", SPACE)] {
            for (start, end) in unicode_ranges(pattern) {
                flat[start as usize..=end as usize].fill(class);
            }
        }
        let mut leaves: Vec<[u8; LEAF]> = Vec::new();
        let mut blocks = Vec::with_capacity(CODE_POINTS / LEAF);
        for chunk in flat.chunks_exact(LEAF) {
            let index = leaves.iter().position(|leaf| leaf[..] == *chunk).unwrap_or_else(|| {
                let mut leaf = [OTHER; LEAF];
                leaf.copy_from_slice(chunk);
                leaves.push(leaf);
                leaves.len() - 1
            });
            blocks.push(u16::try_from(index).unwrap_or(u16::MAX));
        }
        let mut ascii = [OTHER; 128];
        ascii.copy_from_slice(&flat[..128]);
        Self { ascii, blocks, leaves }
    }

    /// The class of the char starting at byte `i` of `b` (valid UTF-8), and its length.
    #[inline(always)]
    pub(crate) fn class_at(&self, b: &[u8], i: usize) -> (u8, usize) {
        let b0 = b[i];
        if b0 < 0x80 {
            return (self.ascii[usize::from(b0)], 1);
        }
        self.class_at_multibyte(b, i)
    }

    /// [`CharClasses::class_at`] for a char of two to four bytes.
    #[inline]
    fn class_at_multibyte(&self, b: &[u8], i: usize) -> (u8, usize) {
        let b0 = b[i];
        let cont = |k: usize| u32::from(b[i + k] & 0x3F);
        let (cp, len) = if b0 < 0xE0 {
            ((u32::from(b0 & 0x1F) << 6) | cont(1), 2)
        } else if b0 < 0xF0 {
            ((u32::from(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            ((u32::from(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3), 4)
        };
        let cp = cp as usize;
        (self.leaves[usize::from(self.blocks[cp / LEAF])][cp % LEAF], len)
    }

    /// End of the run of chars of `class` starting at byte `i`.
    #[inline]
    pub(crate) fn run_end(&self, b: &[u8], mut i: usize, class: u8) -> usize {
        while i < b.len() {
            // ASCII stretches byte by byte from the small table, the rest through the leaves.
            let byte = b[i];
            let (c, len) = if byte < 0x80 {
                (self.ascii[usize::from(byte)], 1)
            } else {
                self.class_at_multibyte(b, i)
            };
            if c != class {
                break;
            }
            i += len;
        }
        i
    }

    /// End of the GPT-2 pre-token that starts at byte `start < b.len()` of `b` (valid UTF-8).
    ///
    /// Pieces tile the text: the next one starts where this one ends.
    #[inline]
    pub(crate) fn gpt2_piece_end(&self, b: &[u8], start: usize) -> usize {
        let first = b[start];
        if first == b'\''
            && let Some(len) = contraction_len(&b[start + 1..])
        {
            return start + 1 + len;
        }
        let (class, len) = self.class_at(b, start);
        if class != SPACE {
            // `\p{L}+`, `\p{N}+` or `[^\s\p{L}\p{N}]+`; an apostrophe inside a run of "other"
            // chars is part of it, as only a match *start* tries the contractions.
            return self.run_end(b, start + len, class);
        }
        if first == b' ' && start + 1 < b.len() {
            let (next, next_len) = self.class_at(b, start + 1);
            if next != SPACE {
                // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the space joins the next run.
                return self.run_end(b, start + 1 + next_len, next);
            }
        }
        // A whitespace run. At the end of the text `\s+(?!\S)` takes all of it; before a
        // non-space, it backtracks one char so that char can start the next piece; a lone
        // whitespace char before a non-space falls through to `\s+`.
        let mut last = start;
        let mut end = start + len;
        while end < b.len() {
            let (c, len) = self.class_at(b, end);
            if c != SPACE {
                break;
            }
            last = end;
            end += len;
        }
        if end == b.len() || last == start { end } else { last }
    }
}

/// Length after the apostrophe of `'s|'t|'re|'ve|'m|'ll|'d` (case-sensitive, as in GPT-2).
#[inline]
fn contraction_len(rest: &[u8]) -> Option<usize> {
    match rest {
        [b's' | b't' | b'm' | b'd', ..] => Some(1),
        [b'r', b'e', ..] | [b'v', b'e', ..] | [b'l', b'l', ..] => Some(2),
        _ => None,
    }
}

/// The inclusive code point ranges of a one-class regex such as `\p{L}`, as `regex-syntax` has
/// them.
fn unicode_ranges(pattern: &str) -> Vec<(u32, u32)> {
    // The patterns are constants known to parse to a Unicode class; anything else is a bug.
    let hir =
        regex_syntax::parse(pattern).unwrap_or_else(|err| panic!("{pattern} must parse: {err}"));
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect()
        }
        other => panic!("{pattern} must be a Unicode class, got {other:?}"),
    }
}

/// The GPT-2 pieces of `text`, as strings (for tests).
#[cfg(test)]
pub(crate) fn gpt2_pieces(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let end = CLASSES.gpt2_piece_end(b, i);
        pieces.push(&text[i..end]);
        i = end;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_general_category_not_alphabetic() {
        let class = |c: char| {
            let mut buf = [0; 4];
            CLASSES.class_at(c.encode_utf8(&mut buf).as_bytes(), 0).0
        };
        assert_eq!(class('a'), LETTER);
        assert_eq!(class('漢'), LETTER);
        assert_eq!(class('7'), NUMBER);
        assert_eq!(class('½'), NUMBER, "No is a number");
        assert_eq!(class('Ⅻ'), NUMBER, "Nl is a number, though also Alphabetic");
        assert_eq!(class('\u{301}'), OTHER, "combining marks are M, not L");
        assert_eq!(class('\u{345}'), OTHER, "Alphabetic but Mn: not a letter");
        assert_eq!(class('\u{3000}'), SPACE);
        assert_eq!(class('\u{85}'), SPACE);
        assert_eq!(class('\u{200B}'), OTHER, "zero-width space is Cf, not White_Space");
        assert_eq!(class('🦀'), OTHER);
        assert_eq!(class('\u{10FFFF}'), OTHER);
    }

    #[test]
    fn pieces_match_the_regex_on_tricky_cases() {
        let cases: [(&str, &[&str]); 9] = [
            ("Hello world", &["Hello", " world"]),
            ("it's they'll I'M", &["it", "'s", " they", "'ll", " I", "'", "M"]),
            ("a  b", &["a", " ", " b"]),
            ("a \n b", &["a", " \n", " b"]),
            ("a\n\nb  ", &["a", "\n", "\n", "b", "  "]),
            ("x=''s", &["x", "=''", "s"]),
            (" 's 12 3.5", &[" '", "s", " 12", " 3", ".", "5"]),
            ("\t\tif", &["\t", "\t", "if"]),
            ("漢字 かな🦀🦀", &["漢字", " かな", "🦀🦀"]),
        ];
        for (text, pieces) in cases {
            assert_eq!(gpt2_pieces(text), pieces, "{text:?}");
        }
    }
}
