//! `c4`: C4's line cleaning and page rules (Raffel et al. 2020, section 2.2), as datatrove
//! 0.10.1's `C4QualityFilter` applies them. It is a transform: it rewrites the text to the lines
//! it keeps, and may drop the whole document.
//!
//! Per line (stripped), the first rule that fires drops the line:
//! `too_long_word` (a whitespace-separated word over `max_word_length` code points), then
//! Wikipedia citation markers `[1]`, `[edit]`, `[citation needed]` are removed,
//! `no_terminal_punct` (option; does not end in `. ? ! " '` or ends in `...`),
//! `too_few_words` (fewer than `min_words_per_line` whitespace-separated words),
//! `lorem ipsum` → **drop the document** (`lorem_ipsum`), `javascript` → drop the line,
//! `{` → **drop the document** (`curly_bracket`), policy boilerplate → drop the line.
//! After all lines: fewer than `min_num_sentences` sentences in kept lines →
//! `too_few_sentences`.
//!
//! Per script: in Chinese/Japanese documents (see [`crate::words`]) a line's words are its
//! jieba words when the `words` mode segments the document with jieba (Chinese under `auto`,
//! everything under `jieba`), else its Han/Kana characters plus its spaced words; long-word
//! checks skip CJK runs, and `。！？` count as terminal punctuation. Sentences are counted with spaCy's sentencizer rules on
//! every script.
//!
//! Default differs from datatrove in one place: `filter_no_terminal_punct` is off, as in
//! FineWeb's use of this filter (issue #7); set it to `true` for C4's own rule.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::words::{
    Script, Segmenter, WordMode, char_len, count_sentences, is_cjk, py_splitlines, py_strip,
    segment,
};
use crate::{Transformed, Verdict};

/// Phrases that mark cookie/terms boilerplate lines.
pub const POLICY_SUBSTRINGS: &[&str] = &[
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

/// Config of [`C4LineCleaner`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C4Config {
    /// Remove `[1]`, `[edit]`, `[citation needed]` markers from lines.
    pub remove_citations: bool,
    /// Drop lines that do not end in terminal punctuation (C4: on; FineWeb: off).
    pub filter_no_terminal_punct: bool,
    /// Minimum sentences in the kept lines (sentences; `None` disables).
    pub min_num_sentences: Option<usize>,
    /// Minimum words per kept line (words; `None` disables).
    pub min_words_per_line: Option<usize>,
    /// Lines with a longer word are dropped (code points; `None` disables).
    pub max_word_length: Option<usize>,
    /// Drop the document if a kept line contains "lorem ipsum".
    pub filter_lorem_ipsum: bool,
    /// Drop lines mentioning "javascript".
    pub filter_javascript: bool,
    /// Drop the document if a kept line contains `{`.
    pub filter_curly_bracket: bool,
    /// Drop lines with cookie / terms-of-use boilerplate ([`POLICY_SUBSTRINGS`]).
    pub filter_policy: bool,
    /// How words are found.
    pub words: WordMode,
}

impl Default for C4Config {
    fn default() -> Self {
        Self {
            remove_citations: true,
            filter_no_terminal_punct: false,
            min_num_sentences: Some(5),
            min_words_per_line: Some(3),
            max_word_length: Some(1000),
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
            words: WordMode::Auto,
        }
    }
}

/// What [`C4LineCleaner::apply`] did to one document's lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct C4Counts {
    /// Lines seen.
    pub lines: usize,
    /// Lines kept.
    pub kept: usize,
    /// Lines dropped for a too long word.
    pub too_long_word: usize,
    /// Lines dropped for lacking terminal punctuation.
    pub no_terminal_punct: usize,
    /// Lines dropped for too few words.
    pub too_few_words: usize,
    /// Lines dropped for mentioning javascript.
    pub javascript: usize,
    /// Lines dropped as policy boilerplate.
    pub policy: usize,
    /// Sentences in kept lines, counted until `min_num_sentences` is reached (all that decides).
    pub sentences: usize,
}

/// C4's line cleaner and page filter.
#[derive(Debug, Clone)]
pub struct C4LineCleaner {
    cfg: C4Config,
    policy: AhoCorasick,
    lorem_ipsum: AhoCorasick,
    javascript: AhoCorasick,
}

impl C4LineCleaner {
    /// Builds the cleaner.
    ///
    /// # Errors
    /// Never with the built-in phrase list; kept fallible for config validation.
    pub fn new(cfg: C4Config) -> Result<Self> {
        // ASCII case is ignored, as C4 lowercases lines before these tests.
        let phrases = |field: &'static str, list: &[&str]| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .build(list)
                .map_err(|e| Error::InvalidConfig { filter: "c4", field, problem: e.to_string() })
        };
        let policy = phrases("policy", POLICY_SUBSTRINGS)?;
        let lorem_ipsum = phrases("filter_lorem_ipsum", &["lorem ipsum"])?;
        let javascript = phrases("filter_javascript", &["javascript"])?;
        Ok(Self { cfg, policy, lorem_ipsum, javascript })
    }

    /// How this filter splits words.
    pub fn word_mode(&self) -> WordMode {
        self.cfg.words
    }

    /// Keeps or drops one document by C4's page rules (nothing is copied).
    pub fn check(&self, text: &str) -> Verdict {
        self.check_in(text, self.cfg.words.script(text))
    }

    /// [`Self::check`] with the document's script as this filter's `words` mode sees it (shared
    /// between filters).
    pub fn check_in(&self, text: &str, script: Script) -> Verdict {
        match self.run(text, script, None).1 {
            Some(r) => Verdict::Drop(r),
            None => Verdict::Keep,
        }
    }

    /// Cleans lines; `dropped` is set for `lorem_ipsum`, `curly_bracket`, `too_few_sentences`.
    pub fn apply<'a>(&self, text: &'a str) -> Transformed<'a, C4Counts> {
        let mut kept = Vec::new();
        let (counts, dropped) = self.run(text, self.cfg.words.script(text), Some(&mut kept));
        let text = match dropped {
            Some(_) => Cow::Borrowed(""),
            None => Cow::Owned(py_strip(&kept.join("\n")).to_string()),
        };
        Transformed { text, dropped, counts }
    }

    /// The line rules over `text`: what they counted, the rule that drops the document if one
    /// does, and the kept lines (into `kept`, when given).
    fn run<'a>(
        &self,
        text: &'a str,
        script: Script,
        mut kept: Option<&mut Vec<Cow<'a, str>>>,
    ) -> (C4Counts, Option<&'static str>) {
        let c = &self.cfg;
        let mut counts = C4Counts::default();
        // The segmenter follows from the script the caller shares, except that a CJK document
        // under `auto` may be Japanese (characters) or Chinese (jieba): only then is it looked up.
        let jieba = match (self.cfg.words, script) {
            (WordMode::Jieba | WordMode::DatatroveZh, _) => true,
            (WordMode::Auto, Script::Cjk) => self.cfg.words.segmenter(text).1 == Segmenter::Jieba,
            _ => false,
        };
        let mut buf = Vec::new();
        for raw in py_splitlines(text) {
            counts.lines += 1;
            let line = py_strip(raw);
            let (mut n_words, too_long) = line_words(line, script, c.max_word_length);
            if jieba && c.min_words_per_line.is_some() {
                buf.clear();
                segment(line, Segmenter::Jieba, &mut buf);
                n_words = buf.len();
            }
            if too_long {
                counts.too_long_word += 1;
                continue;
            }
            let line =
                if c.remove_citations { remove_citations(line) } else { Cow::Borrowed(line) };
            if c.filter_no_terminal_punct && !ends_terminal(&line, script) {
                counts.no_terminal_punct += 1;
                continue;
            }
            if c.min_words_per_line.is_some_and(|m| n_words < m) {
                counts.too_few_words += 1;
                continue;
            }
            if c.filter_lorem_ipsum && self.lorem_ipsum.is_match(line.as_ref()) {
                return (counts, Some("lorem_ipsum"));
            }
            if c.filter_javascript && self.javascript.is_match(line.as_ref()) {
                counts.javascript += 1;
                continue;
            }
            if c.filter_curly_bracket && line.contains('{') {
                return (counts, Some("curly_bracket"));
            }
            if c.filter_policy && self.policy.is_match(line.as_ref()) {
                counts.policy += 1;
                continue;
            }
            // Only the threshold matters: once it is reached, no more sentences are counted.
            if c.min_num_sentences.is_some_and(|m| counts.sentences < m) {
                counts.sentences += count_sentences(&line, script);
            }
            counts.kept += 1;
            if let Some(kept) = kept.as_mut() {
                kept.push(line);
            }
        }
        if c.min_num_sentences.is_some_and(|m| counts.sentences < m) {
            return (counts, Some("too_few_sentences"));
        }
        (counts, None)
    }
}

/// (word count, has a word longer than `max`) with `str.split()` words; in CJK documents each
/// Han/Kana character counts as a word and is never "too long".
fn line_words(line: &str, script: Script, max: Option<usize>) -> (usize, bool) {
    let mut n = 0;
    let mut too_long = false;
    for w in line.split(crate::words::is_py_space).filter(|w| !w.is_empty()) {
        if script == Script::Cjk && w.chars().any(is_cjk) {
            let cjk = w.chars().filter(|&c| is_cjk(c)).count();
            let rest = w.split(is_cjk).filter(|r| !r.is_empty()).count();
            n += cjk + rest;
            too_long |= max.is_some_and(|m| w.split(is_cjk).any(|r| char_len(r) > m));
        } else {
            n += 1;
            too_long |= max.is_some_and(|m| w.len() > m && char_len(w) > m);
        }
    }
    (n, too_long)
}

/// Ends in `. ? ! " '` (plus `。！？` for CJK) and not in `...`.
fn ends_terminal(line: &str, script: Script) -> bool {
    let ok = line.ends_with(['.', '?', '!', '"', '\''])
        || (script == Script::Cjk && line.ends_with(['。', '！', '？']));
    ok && !line.ends_with("...")
}

/// Removes `\[\d*]`, `[edit]` and `[citation needed]` (Python's `\d` is any Unicode digit).
fn remove_citations(line: &str) -> Cow<'_, str> {
    if !line.contains('[') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits: usize =
            after.chars().take_while(|c| is_unicode_digit(*c)).map(char::len_utf8).sum();
        let skip = if after[digits..].starts_with(']') {
            Some(digits + 1)
        } else if after.starts_with("edit]") {
            Some(5)
        } else if after.starts_with("citation needed]") {
            Some(16)
        } else {
            None
        };
        match skip {
            Some(k) => rest = &after[k..],
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Unicode decimal digits (category Nd) in the common blocks.
fn is_unicode_digit(c: char) -> bool {
    c.is_ascii_digit()
        || (c.is_numeric()
            && matches!(c as u32, 0x660..=0x669 | 0x6F0..=0x6F9 | 0x966..=0x96F | 0xFF10..=0xFF19))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c4(terminal: bool) -> C4LineCleaner {
        C4LineCleaner::new(C4Config { filter_no_terminal_punct: terminal, ..Default::default() })
            .expect("valid")
    }

    #[test]
    fn cleans_lines() {
        let text = "Menu\nThis site uses cookies to improve things.\nFirst real sentence is here. Second one too.\n\
                    Enable JavaScript to view this page.\nThird sentence here[1]. Fourth one here. Fifth one here.";
        let t = c4(true).apply(text);
        assert_eq!(t.dropped, None);
        assert_eq!(
            t.text,
            "First real sentence is here. Second one too.\nThird sentence here. Fourth one here. Fifth one here."
        );
        assert_eq!(
            (t.counts.policy, t.counts.javascript, t.counts.no_terminal_punct, t.counts.sentences),
            (1, 1, 1, 5)
        );
    }

    #[test]
    fn drops_documents() {
        assert_eq!(c4(false).check("Lorem ipsum dolor sit amet."), Verdict::Drop("lorem_ipsum"));
        assert_eq!(c4(false).check("fn main() { println!() }"), Verdict::Drop("curly_bracket"));
        assert_eq!(c4(false).check("Just one sentence here."), Verdict::Drop("too_few_sentences"));
        // A `{` in a line already dropped (too few words) does not drop the document.
        assert_eq!(c4(true).check("{ }\nOne two three. Four five six. Seven eight nine. Ten and more. The end is here."), Verdict::Keep);
    }

    #[test]
    fn chinese_lines_count_characters() {
        let zh = "今天天气很好。我们去公园散步。\n孩子们在草地上玩耍！老人们在聊天。\n这是一个美好的周末。";
        assert_eq!(c4(true).check(zh), Verdict::Keep);
        let english =
            C4LineCleaner::new(C4Config { words: WordMode::English, ..Default::default() })
                .expect("valid");
        assert_eq!(english.check(zh), Verdict::Drop("too_few_sentences"));
    }

    #[test]
    fn citations() {
        assert_eq!(remove_citations("a[1] b[edit] c[citation needed] d[x]"), "a b c d[x]");
        assert_eq!(remove_citations("x[]"), "x");
    }
}
