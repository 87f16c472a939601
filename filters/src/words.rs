//! Language-aware word and sentence splitting, and the Python string semantics the reference
//! filters are defined in (`str.splitlines`, `str.isspace`, `len` in code points).
//!
//! Per script:
//! * **Space-delimited scripts** (Latin, Cyrillic, Greek, Arabic, Hangul, ...): words are the
//!   tokens of datatrove's English tokenizer (spaCy's rules, see `en_tokenizer`): punctuation
//!   splits off (`end.` is two tokens), contractions split (`don't` → `do n't`), URLs stay whole.
//! * **Chinese and Japanese** (documents where Han/Kana are at least [`CJK_MIN_SHARE`] of the
//!   letters, in [`WordMode::Auto`]): there are no spaces. Chinese documents are segmented like
//!   Python jieba 0.42.1's `jieba.lcut` (default mode, HMM on), less its whitespace tokens.
//!   Japanese documents (kana at least [`KANA_MIN_SHARE`] of the Han/Kana characters: jieba's
//!   dictionary is Chinese and would split kana runs arbitrarily) keep one word per Han or Kana
//!   character, runs of other characters inside tokenized as above. Rules whose thresholds only
//!   make sense for spaced words (mean word length) are skipped for both, and sentence/line
//!   rules also accept the CJK terminal marks `。！？`; each filter documents what it does per
//!   script.
//! * [`WordMode::English`] applies the English tokenizer to every document, as datatrove does
//!   (which is why datatrove drops most Chinese: a whole line is one "word").
//! * [`WordMode::Jieba`] segments every document with jieba, whatever its script (what a Python
//!   pipeline calling `jieba.lcut` would count); the rules still adapt to the detected script.
//! * [`WordMode::DatatroveZh`] is datatrove's Chinese (`cmn_Hani`) word tokenizer: jieba for
//!   every document, and the rules as datatrove applies them, unadapted (as for spaced words):
//!   what FineWeb-2 does for Chinese (see [`crate::fineweb2`]).
//!
//! Sentence counting ([`count_sentences`]) does not depend on the segmenter: it only looks for
//! terminal marks, which every segmenter keeps as tokens of their own.

use serde::{Deserialize, Serialize};

pub use crate::chars::{is_cjk, is_py_alpha, is_py_space};
use crate::en_tokenizer;
pub use crate::zh_words::jieba_lcut;
use crate::zh_words::split_jieba;

/// Han/Kana share of letters from which a document is treated as Chinese/Japanese.
pub const CJK_MIN_SHARE: f64 = 0.3;

/// Kana share of the Han/Kana characters from which a CJK document is treated as Japanese
/// (written Japanese is typically 30-60% kana, Chinese has none).
pub const KANA_MIN_SHARE: f64 = 0.1;

/// How word-based rules find words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordMode {
    /// English tokenizer for space-delimited scripts, jieba for Chinese documents, one word per
    /// character for Japanese documents.
    #[default]
    Auto,
    /// datatrove's behaviour: the English tokenizer for every document, whatever its script.
    English,
    /// jieba (Python jieba's default mode) for every document, whatever its script.
    Jieba,
    /// datatrove's `cmn_Hani` tokenizer (spaCy `zh` on jieba, whitespace tokens dropped) for
    /// every document, rules unadapted, as FineWeb-2 filters Chinese.
    DatatroveZh,
}

/// Which word splitter a document gets, chosen by [`WordMode::segmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmenter {
    /// datatrove's English tokenizer (spaCy's rules).
    English,
    /// One word per Han/Kana character, other runs through the English tokenizer.
    CjkChars,
    /// jieba's default mode, whitespace tokens dropped.
    Jieba,
}

/// The writing system class of a document, as far as word splitting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Words are separated by spaces.
    Spaced,
    /// Chinese or Japanese: words are not delimited.
    Cjk,
}

/// Classifies `text` by the share of Han/Kana among its letters (first 4 KiB are enough).
pub fn detect_script(text: &str) -> Script {
    classify(text).0
}

/// The script of `text`, and whether it is Japanese rather than Chinese (meaningful for
/// [`Script::Cjk`] only), in one pass over the first 4096 characters.
fn classify(text: &str) -> (Script, bool) {
    let (mut cjk, mut kana, mut letters) = (0usize, 0usize, 0usize);
    for c in text.chars().take(4096) {
        if c.is_ascii() {
            letters += usize::from(c.is_ascii_alphabetic());
        } else if is_cjk(c) {
            cjk += 1;
            kana += usize::from(is_kana(c));
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if letters > 0 && cjk as f64 >= CJK_MIN_SHARE * letters as f64 {
        (Script::Cjk, kana as f64 >= KANA_MIN_SHARE * cjk as f64)
    } else {
        (Script::Spaced, false)
    }
}

/// Hiragana, katakana (with its phonetic extensions) and half-width katakana.
fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F)
}

impl WordMode {
    /// The script rules should assume for `text` under this mode.
    pub fn script(self, text: &str) -> Script {
        match self {
            WordMode::English | WordMode::DatatroveZh => Script::Spaced,
            WordMode::Auto | WordMode::Jieba => detect_script(text),
        }
    }

    /// The script rules should assume for `text`, and the splitter its words come from.
    pub fn segmenter(self, text: &str) -> (Script, Segmenter) {
        match self {
            WordMode::English => (Script::Spaced, Segmenter::English),
            WordMode::Jieba => (detect_script(text), Segmenter::Jieba),
            WordMode::DatatroveZh => (Script::Spaced, Segmenter::Jieba),
            WordMode::Auto => match classify(text) {
                (Script::Spaced, _) => (Script::Spaced, Segmenter::English),
                (Script::Cjk, true) => (Script::Cjk, Segmenter::CjkChars),
                (Script::Cjk, false) => (Script::Cjk, Segmenter::Jieba),
            },
        }
    }
}

/// A document's words, computed once and shared by the word-based filters (`check_words`).
#[derive(Debug, Clone)]
pub struct Words<'a> {
    /// The script the words were split for.
    pub script: Script,
    /// The words, in order.
    pub tokens: Vec<&'a str>,
}

impl<'a> Words<'a> {
    /// Splits `text` under `mode`.
    pub fn new(text: &'a str, mode: WordMode) -> Self {
        let (script, segmenter) = mode.segmenter(text);
        let mut tokens = Vec::with_capacity(text.len() / 5);
        segment(text, segmenter, &mut tokens);
        Self { script, tokens }
    }
}

/// A document's words as byte spans, with a fingerprint of the text they were split from: kept
/// on the document so that the next word-based stage reuses them while the text is unchanged
/// (the pipeline's `Document::words`).
#[derive(Debug)]
pub struct WordSpans {
    fingerprint: (usize, u64),
    mode: WordMode,
    script: Script,
    /// (start, end) byte offsets; texts of 4 GiB or more are never cached.
    spans: Vec<(u32, u32)>,
}

impl WordSpans {
    /// Splits `text` under `mode`: the spans, and the words themselves for the first user; `None`
    /// when the text is too long for 32-bit offsets.
    pub fn split(text: &str, mode: WordMode) -> Option<(Self, Words<'_>)> {
        u32::try_from(text.len()).ok()?;
        let words = Words::new(text, mode);
        let base = text.as_ptr() as usize;
        let spans = words
            .tokens
            .iter()
            .map(|w| {
                let s = w.as_ptr() as usize - base;
                (s as u32, (s + w.len()) as u32)
            })
            .collect();
        Some((Self { fingerprint: fingerprint(text), mode, script: words.script, spans }, words))
    }

    /// Whether these are the words of `text` under `mode`.
    pub fn matches(&self, text: &str, mode: WordMode) -> bool {
        self.mode == mode && self.fingerprint == fingerprint(text)
    }

    /// How many words.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The script the words were split for.
    pub fn script(&self) -> Script {
        self.script
    }

    /// The words as slices of `text` (which [`WordSpans::matches`]); `None` if a span does not
    /// fit it (a text with the same fingerprint but other content: a hash collision).
    pub fn words<'a>(&self, text: &'a str) -> Option<Words<'a>> {
        let tokens = self
            .spans
            .iter()
            .map(|&(s, e)| text.get(s as usize..e as usize))
            .collect::<Option<_>>()?;
        Some(Words { script: self.script, tokens })
    }
}

/// Length and 64-bit hash: a changed text is told from the one words were split from.
fn fingerprint(text: &str) -> (usize, u64) {
    (text.len(), xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// Splits `text` into words for `script` without jieba (the English tokenizer, or one word per
/// Han/Kana character for [`Script::Cjk`]), appending to `out` (tokens are never empty and never
/// contain whitespace). [`Words::new`] chooses the splitter by [`WordMode`] instead.
pub fn split_words<'a>(text: &'a str, script: Script, out: &mut Vec<&'a str>) {
    match script {
        Script::Spaced => segment(text, Segmenter::English, out),
        Script::Cjk => segment(text, Segmenter::CjkChars, out),
    }
}

/// Splits `text` into words with `segmenter`, appending to `out` (tokens are never empty and
/// never contain whitespace).
pub fn segment<'a>(text: &'a str, segmenter: Segmenter, out: &mut Vec<&'a str>) {
    match segmenter {
        Segmenter::English => en_tokenizer::tokenize(text, out),
        Segmenter::CjkChars => {
            let mut tmp = Vec::new();
            en_tokenizer::tokenize(text, &mut tmp);
            for t in tmp {
                split_cjk_chars(t, out);
            }
        }
        Segmenter::Jieba => split_jieba(text, out),
    }
}

/// Every Han/Kana character becomes its own token; other runs stay together.
fn split_cjk_chars<'a>(t: &'a str, out: &mut Vec<&'a str>) {
    if t.is_ascii() {
        out.push(t);
        return;
    }
    let mut run = 0;
    for (i, c) in t.char_indices() {
        let cjk = is_cjk(c) || (c as u32 >= 0x3000 && en_tokenizer::is_unicode_punct(c));
        if cjk {
            if run < i {
                out.push(&t[run..i]);
            }
            out.push(&t[i..i + c.len_utf8()]);
            run = i + c.len_utf8();
        }
    }
    if run < t.len() {
        out.push(&t[run..]);
    }
}

/// Number of sentences in one line: spaCy's sentencizer over the words of `script` (a CJK
/// `。` token ends a sentence just like `.`).
pub fn count_sentences(line: &str, script: Script) -> usize {
    let mut toks = Vec::new();
    match script {
        Script::Spaced => en_tokenizer::tokenize_with_spaces(line, &mut toks),
        Script::Cjk => {
            let mut tmp = Vec::new();
            en_tokenizer::tokenize_with_spaces(line, &mut tmp);
            for t in tmp {
                split_cjk_chars(t, &mut toks);
            }
        }
    }
    en_tokenizer::count_sentences_in(&toks)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// The bytes a line break of [`py_splitlines`] starts with.
const MAY_BREAK: [bool; 256] = {
    let mut t = [false; 256];
    let starts = [b'\n', 0x0b, 0x0c, 0x1c, 0x1d, 0x1e, b'\r', 0xC2, 0xE2];
    let mut k = 0;
    while k < starts.len() {
        t[starts[k] as usize] = true;
        k += 1;
    }
    t
};

/// Python's `str.splitlines()`: splits on `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`-`\x1e`, `\x85`,
/// U+2028, U+2029; no trailing empty line.
pub fn py_splitlines(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        // Most bytes cannot start a line break: skip them with one table load each.
        if !MAY_BREAK[b[i] as usize] {
            i += 1;
            continue;
        }
        // Line-break width at i (0: none); multi-byte breaks are U+0085 (C2 85), U+2028/9 (E2 80 A8/A9).
        let brk = match b[i] {
            b'\n' | 0x0b | 0x0c | 0x1c..=0x1e => 1,
            b'\r' => {
                if b.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                }
            }
            0xC2 if b.get(i + 1) == Some(&0x85) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
            _ => 0,
        };
        if brk > 0 {
            lines.push(&text[start..i]);
            i += brk;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Python's `len()` of a string: code points.
pub fn char_len(s: &str) -> usize {
    if s.is_ascii() { s.len() } else { s.chars().count() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_like_python() {
        assert_eq!(py_splitlines("a\nb\r\nc\rd\n"), ["a", "b", "c", "d"]);
        assert_eq!(py_splitlines("a\n\nb"), ["a", "", "b"]);
        assert!(py_splitlines("").is_empty());
        assert_eq!(py_splitlines("x\u{2028}y"), ["x", "y"]);
    }

    #[test]
    fn every_line_break_starts_with_a_flagged_byte() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            let mut buf = [0u8; 4];
            if py_splitlines(&s).len() > 1 || c == '\r' {
                assert!(
                    MAY_BREAK[c.encode_utf8(&mut buf).as_bytes()[0] as usize],
                    "U+{:04X}",
                    c as u32
                );
            }
        }
        // And the Python line boundaries all split.
        for brk in [
            "\n", "\r", "\r\n", "\u{b}", "\u{c}", "\u{1c}", "\u{1d}", "\u{1e}", "\u{85}",
            "\u{2028}", "\u{2029}",
        ] {
            assert_eq!(py_splitlines(&format!("a{brk}b")), ["a", "b"], "{brk:?}");
        }
    }

    #[test]
    fn script_detection() {
        assert_eq!(detect_script("This is English."), Script::Spaced);
        assert_eq!(detect_script("这是一个中文句子，包含 Rust 这个词。"), Script::Cjk);
        assert_eq!(detect_script("これは日本語の文です。"), Script::Cjk);
        assert_eq!(detect_script("한국어 문장입니다."), Script::Spaced);
    }

    #[test]
    fn auto_picks_jieba_for_chinese_english_for_english_characters_for_japanese() {
        // `deb:libreoffice-help-zh-cn` in the shared corpus.
        let zh = "测试数字或字符串表达式是否可以转换为「日期」变量。";
        assert_eq!(WordMode::Auto.segmenter(zh), (Script::Cjk, Segmenter::Jieba));
        assert_eq!(
            Words::new(zh, WordMode::Auto).tokens,
            [
                "测试",
                "数字",
                "或",
                "字符串",
                "表达式",
                "是否",
                "可以",
                "转换",
                "为",
                "「",
                "日期",
                "」",
                "变量",
                "。"
            ]
        );
        assert_eq!(Words::new(zh, WordMode::Jieba).tokens, Words::new(zh, WordMode::Auto).tokens);
        let en = "Don't panic. It's fine.";
        assert_eq!(WordMode::Auto.segmenter(en), (Script::Spaced, Segmenter::English));
        assert_eq!(Words::new(en, WordMode::Auto).tokens, Words::new(en, WordMode::English).tokens);
        // `words = "jieba"` segments English with jieba too (no contraction splitting rules).
        assert_eq!(
            Words::new(en, WordMode::Jieba).tokens,
            ["Don", "'", "t", "panic", ".", "It", "'", "s", "fine", "."]
        );
        let ja = "これは日本語の文です。";
        assert_eq!(WordMode::Auto.segmenter(ja), (Script::Cjk, Segmenter::CjkChars));
        assert_eq!(Words::new(ja, WordMode::Auto).tokens.len(), 11);
    }

    #[test]
    fn word_spans_cache_jieba_words() {
        let text = "使用「侧边栏」的「样式」窗格 for styles.";
        let (spans, words) = WordSpans::split(text, WordMode::Auto).expect("short text");
        assert!(spans.matches(text, WordMode::Auto) && !spans.matches(text, WordMode::Jieba));
        assert_eq!(spans.words(text).map(|w| w.tokens), Some(words.tokens));
    }

    #[test]
    fn cjk_words_are_characters() {
        let mut w = Vec::new();
        split_words("我爱Rust语言。", Script::Cjk, &mut w);
        assert_eq!(w, ["我", "爱", "Rust", "语", "言", "。"]);
        assert_eq!(count_sentences("第一句。第二句！第三句", Script::Cjk), 3);
        let mut e = Vec::new();
        split_words("我爱Rust语言。", Script::Spaced, &mut e);
        assert_eq!(e, ["我爱Rust语言", "。"]);
    }
}
