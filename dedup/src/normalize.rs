//! Text normalization for exact hashing, and the tokenization that MinHash shingles are made of.
//!
//! Words are maximal runs of word characters, lowercased: the `\w+` of Python's `re` on
//! `text.lower()`, which is how the near-duplicate ground truth defines them. A word character
//! is `_` or a character that is alphabetic or numeric in Unicode ([`char::is_alphanumeric`]).
//! Python's `\w` differs only on a few combining marks (Rust counts marks with the
//! `Other_Alphabetic` property, such as Devanagari vowel signs, as alphabetic); for
//! dedup this is immaterial.

use serde::{Deserialize, Serialize};

/// How text is normalized before it is hashed for exact dedup (and for line dedup).
///
/// Two documents are exact duplicates when their normalized texts are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeOptions {
    /// Lowercase every character (Unicode case mapping).
    pub lowercase: bool,
    /// Turn every run of whitespace into one space and trim both ends.
    pub collapse_whitespace: bool,
    /// Drop punctuation and symbols: every character that is not a word character or whitespace.
    pub strip_punctuation: bool,
    /// Replace every numeric character with `0` (as CCNet does for line hashes).
    pub digits_to_zero: bool,
}

impl Default for NormalizeOptions {
    /// Whitespace-insensitive, otherwise exact.
    fn default() -> Self {
        NormalizeOptions {
            lowercase: false,
            collapse_whitespace: true,
            strip_punctuation: false,
            digits_to_zero: false,
        }
    }
}

impl NormalizeOptions {
    /// Everything on: case, whitespace, punctuation and digits are ignored (CCNet's line
    /// normalization, without accent stripping).
    pub fn aggressive() -> Self {
        NormalizeOptions {
            lowercase: true,
            collapse_whitespace: true,
            strip_punctuation: true,
            digits_to_zero: true,
        }
    }
}

/// Whether `c` is a word character: `_` or alphanumeric.
#[inline]
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_alphanumeric() || c == '_' } else { c.is_alphanumeric() }
}

/// Normalizes `text` into `out` (which is cleared first).
pub fn normalize_into(text: &str, opts: &NormalizeOptions, out: &mut String) {
    out.clear();
    out.reserve(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if opts.collapse_whitespace {
                pending_space = true;
            } else {
                out.push(c);
            }
            continue;
        }
        let word = is_word_char(c);
        if opts.strip_punctuation && !word {
            continue;
        }
        if pending_space {
            if !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
        }
        if opts.digits_to_zero && c.is_numeric() {
            out.push('0');
        } else if opts.lowercase {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
}

/// Normalizes `text` (see [`NormalizeOptions`]).
pub fn normalize(text: &str, opts: &NormalizeOptions) -> String {
    let mut out = String::new();
    normalize_into(text, opts, &mut out);
    out
}

/// Calls `f` with every word of `text`, lowercased, in order. `buf` is scratch space.
///
/// Words that are already lowercase ASCII (most of them in English) are passed as slices of
/// `text` without copying; others are lowercased into `buf` with [`char::to_lowercase`].
pub fn for_each_word(text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let (word, len) = char_at(text, i);
        if !word {
            i += len;
            continue;
        }
        let start = i;
        let mut simple = true;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if !(b.is_ascii_alphanumeric() || b == b'_') {
                    break;
                }
                simple &= !b.is_ascii_uppercase();
                i += 1;
            } else {
                let (word, len) = char_at(text, i);
                if !word {
                    break;
                }
                simple = false;
                i += len;
            }
        }
        let w = &text[start..i];
        if simple {
            f(w);
        } else {
            buf.clear();
            for c in w.chars() {
                if c.is_ascii() {
                    buf.push(c.to_ascii_lowercase());
                } else {
                    buf.extend(c.to_lowercase());
                }
            }
            f(buf);
        }
    }
}

/// Whether the character at byte `i` (a char boundary) is a word character, and its length.
#[inline]
fn char_at(text: &str, i: usize) -> (bool, usize) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        return (b.is_ascii_alphanumeric() || b == b'_', 1);
    }
    match text[i..].chars().next() {
        Some(c) => (c.is_alphanumeric(), c.len_utf8()),
        None => (false, 1),
    }
}

/// The words of `text`, lowercased (allocating; for tests and small inputs).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    for_each_word(text, &mut buf, |w| out.push(w.to_string()));
    out
}

/// Calls `f` with every word character of `text`, lowercased, skipping everything else.
/// This is the token stream of character shingles (for CJK and other unsegmented scripts).
pub fn for_each_word_char(text: &str, mut f: impl FnMut(char)) {
    for c in text.chars() {
        if is_word_char(c) {
            if c.is_ascii() {
                f(c.to_ascii_lowercase());
            } else {
                c.to_lowercase().for_each(&mut f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_python_w_plus_on_lowercase() {
        assert_eq!(words("Hello, World! it's 3.14_x"), ["hello", "world", "it", "s", "3", "14_x"]);
        assert_eq!(words("Straße ÄRGER—naïve"), ["straße", "ärger", "naïve"]);
        assert_eq!(words("  \n"), Vec::<String>::new());
        assert_eq!(words("日本語 テキスト"), ["日本語", "テキスト"]);
        assert_eq!(words("ÉCOLE école"), ["école", "école"]);
        assert_eq!(words("__a1 B_2"), ["__a1", "b_2"]);
    }

    #[test]
    fn normalize_default_collapses_whitespace_only() {
        let o = NormalizeOptions::default();
        assert_eq!(normalize("  A  b\n\tC! ", &o), "A b C!");
    }

    #[test]
    fn normalize_aggressive() {
        let o = NormalizeOptions::aggressive();
        assert_eq!(normalize(" Hello,   World 2024! ", &o), "hello world 0000");
        assert_eq!(normalize("a , b", &o), "a b");
    }

    #[test]
    fn normalize_keeps_whitespace_when_asked() {
        let o = NormalizeOptions { collapse_whitespace: false, ..NormalizeOptions::default() };
        assert_eq!(normalize(" a\n", &o), " a\n");
    }

    #[test]
    fn word_chars() {
        let mut v = Vec::new();
        for_each_word_char("Ab, 中文!", |c| v.push(c));
        assert_eq!(v, ['a', 'b', '中', '文']);
    }
}
