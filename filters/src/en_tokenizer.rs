//! A re-implementation of the word tokenizer datatrove 0.10.1 uses for English: spaCy 3.8's
//! rule-based tokenizer (`spacy.blank("en")`) plus its `sentencizer`.
//!
//! Why emulate rather than split on spaces: Gopher's ratios count punctuation tokens (a `.` or
//! `(` is a "word" in datatrove's denominator), so agreeing with datatrove needs the same tokens.
//!
//! The algorithm, per whitespace-delimited chunk (spaCy `Tokenizer._tokenize_affixes`):
//! 1. a chunk that is a special case (contractions, abbreviations, emoticons) splits as listed;
//! 2. otherwise prefixes are peeled from the front and suffixes from the back, one at a time,
//!    until neither matches or the rest is a special case;
//! 3. the core is kept whole if it is a special case or looks like a URL, else split on infixes;
//! 4. a second pass re-splits runs of 2-4 adjacent tokens of a chunk whose text is a special
//!    case (`foo():` → `foo(` `):`), as spaCy's special-case matcher does;
//! 5. sentences: spaCy's whitespace tokens (a run of 2+ spaces) count, see
//!    [`tokenize_with_spaces`].
//!
//! Differences that remain (parity on the 11,592 English reference documents: 1 decision in
//! 34,776 differs; `english_decisions_agree_with_datatrove` in `tests/tests/filters.rs`, with
//! `TOKENMILL_PARITY_CORPUS` set, runs the whole reference):
//! * character classes use Rust's Unicode properties (`is_lowercase`, `is_alphabetic`) where
//!   spaCy lists code-point ranges, and the "icon" class (So) is approximated by blocks;
//! * special cases are generated from spaCy's categories (contractions, titles, months, US
//!   states, single letters, times, ASCII emoticons) rather than copied entry by entry;
//! * spaCy's matcher can also match special cases across chunk-internal boundaries our second
//!   pass does not see (one LaTeX document where spaCy keeps `d.` whole).

mod affixes;
mod chars;
mod rules;

use affixes::is_lower_like;
use affixes::{find_prefix, find_suffix, needs_infix_scan, split_infixes};
use rules::{is_icon, special_split};

/// Appends the non-whitespace tokens of `text` to `out` (datatrove strips and drops empty ones).
pub(crate) fn tokenize<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    tokenize_impl(text, out, false);
}

/// Like [`tokenize`], but also emits spaCy's whitespace tokens: a whitespace run between two
/// chunks becomes a token, minus its first character when that is a plain space (spaCy
/// attaches one space to the preceding token). They matter to the sentencizer only: a
/// whitespace token after `.` starts a sentence (`"Io?   ?"` is two sentences).
pub(crate) fn tokenize_with_spaces<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    tokenize_impl(text, out, true);
}

fn tokenize_impl<'a>(text: &'a str, out: &mut Vec<&'a str>, spaces: bool) {
    let b = text.as_bytes();
    let mut start = None;
    let mut space_start = None;
    let mut i = 0;
    while i < b.len() {
        if start.is_some() {
            // Inside a chunk, bytes that cannot start a space change nothing: one table load each.
            while i < b.len() && !MAY_BE_SPACE[b[i] as usize] {
                i += 1;
            }
            if i == b.len() {
                break;
            }
        }
        // Python's isspace: ASCII \t..\r and \x1c..\x20, plus Unicode White_Space.
        let (space, len) = if b[i] < 0x80 {
            (matches!(b[i], 9..=13 | 28..=32), 1)
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            (c.is_whitespace(), c.len_utf8())
        };
        if space {
            if let Some(s) = start.take() {
                tokenize_chunk(&text[s..i], out);
                space_start = Some(if b[i] == b' ' { i + 1 } else { i });
            } else if space_start.is_none() {
                space_start = Some(i);
            }
        } else if start.is_none() {
            if let Some(ws) = space_start.take()
                && spaces
                && ws < i
            {
                out.push(&text[ws..i]);
            }
            start = Some(i);
        }
        i += len;
    }
    if let Some(s) = start {
        tokenize_chunk(&text[s..], out);
    } else if let Some(ws) = space_start
        && spaces
        && ws < b.len()
    {
        out.push(&text[ws..]);
    }
}

/// Bytes a space of `tokenize_impl` can start with: ASCII `\t`..`\r`, `\x1c`..` `, and the
/// UTF-8 lead bytes of U+0085 and U+00A0 (C2), U+1680 (E1), U+2000-U+205F (E2), U+3000 (E3).
const MAY_BE_SPACE: [bool; 256] = {
    let mut t = [false; 256];
    let mut x = 0;
    while x < 256 {
        t[x] = matches!(x, 9..=13 | 28..=32 | 0xC2 | 0xE1 | 0xE2 | 0xE3);
        x += 1;
    }
    t
};

#[cfg(test)]
/// Counts sentences the way spaCy's `sentencizer` does: a new sentence starts at the first
/// token that is not punctuation after a token that is one of the sentence-final characters.
fn count_sentences(text: &str) -> usize {
    let mut toks = Vec::new();
    tokenize_with_spaces(text, &mut toks);
    count_sentences_in(&toks)
}

/// [`count_sentences`] over already tokenized text.
pub(crate) fn count_sentences_in(toks: &[&str]) -> usize {
    if toks.is_empty() {
        return 0;
    }
    let mut n = 1;
    let mut seen_period = false;
    for t in toks {
        let final_char = is_sentence_final(t);
        if seen_period && !is_punct_token(t) && !final_char {
            // Whitespace tokens are not punctuation either, so they start a sentence too.
            n += 1;
            seen_period = false;
        } else if final_char {
            seen_period = true;
        }
    }
    n
}

/// One of the sentencizer's `punct_chars`, alone.
fn is_sentence_final(t: &str) -> bool {
    let mut it = t.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => matches!(
            c,
            '!' | '.'
                | '?'
                | '։'
                | '؟'
                | '۔'
                | '܀'
                | '܁'
                | '܂'
                | '߹'
                | '।'
                | '॥'
                | '၊'
                | '။'
                | '።'
                | '፧'
                | '፨'
                | '᙮'
                | '‼'
                | '‽'
                | '⁇'
                | '⁈'
                | '⁉'
                | '⸮'
                | '⸼'
                | '﹒'
                | '﹖'
                | '﹗'
                | '！'
                | '．'
                | '？'
                | '｡'
                | '。'
        ),
        _ => false,
    }
}

/// spaCy's `is_punct`: every character is in a Unicode punctuation category (P*).
pub(crate) fn is_punct_token(t: &str) -> bool {
    !t.is_empty() && t.chars().all(is_unicode_punct)
}

/// Unicode general category P* (Pc, Pd, Ps, Pe, Pi, Pf, Po), for the ranges that occur in text.
pub(crate) fn is_unicode_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation()
            && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    matches!(c,
        '¡' | '§' | '«' | '¶' | '·' | '»' | '¿' | ';' | '\u{387}' | '՚'..='՟' | '։' | '֊' | '־' | '׀' | '׃' | '׆' | '׳' | '״'
        | '؉' | '؊' | '،' | '؍' | '؛' | '؞' | '؟' | '٪'..='٭' | '۔' | '܀'..='܍' | '।' | '॥' | '॰' | '෴' | '๏' | '๚' | '๛'
        | '၊'..='၏' | '჻' | '፠'..='፨' | '᙭' | '᙮' | '᛫'..='᛭' | '᠀'..='᠊'
        | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{2043}' | '\u{2045}'..='\u{2051}' | '\u{2053}'..='\u{205E}'
        | '⁽' | '⁾' | '₍' | '₎' | '⌈'..='⌋' | '〈' | '〉' | '❨'..='❵' | '⟅' | '⟆' | '⟦'..='⟯' | '⦃'..='⦘' | '⧘'..='⧛' | '⧼' | '⧽'
        | '⳹'..='⳼' | '⳾' | '⳿' | '⸀'..='⸮' | '⸰'..='⹏' | '、'..='〃' | '〈'..='】' | '〔'..='〟' | '〰' | '〽' | '゠' | '・'
        | '꓾' | '꓿' | '꘍'..='꘏' | '꙳' | '꙾' | '꛲'..='꛷' | '꡴'..='꡷' | '﴾' | '﴿' | '︐'..='︙' | '︰'..='﹒' | '﹔'..='﹡' | '﹣' | '﹨'
        | '﹪' | '﹫' | '！'..='＃' | '％'..='＊' | '，'..='／' | '：' | '；' | '？' | '＠' | '［'..='］' | '＿' | '｛' | '｝' | '｟'..='･')
}

/// Tokenizes one whitespace-free chunk.
fn tokenize_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    let b = chunk.as_bytes();
    // Fast paths: plain ASCII words and numbers have no affixes or infixes ...
    if b.iter().all(u8::is_ascii_alphabetic) || b.iter().all(u8::is_ascii_digit) {
        match special_split(chunk) {
            Some(split) => push_split(chunk, split, out),
            None => out.push(chunk),
        }
        return;
    }
    // ... and neither do words of letters in any script (`café`, `слово`, `中文`): no affix or
    // infix pattern starts with a letter (circled letters are letters and icons: excluded) ...
    if !b.is_ascii()
        && chunk.chars().all(|c| is_common_letter(c) || (c.is_alphabetic() && !is_icon(c)))
    {
        match special_split(chunk) {
            Some(split) => push_split(chunk, split, out),
            None => out.push(chunk),
        }
        return;
    }
    // ... and one character is one token (`.`, `-`, `•`) ...
    if chunk.chars().nth(1).is_none() {
        out.push(chunk);
        return;
    }
    if let Some(split) = special_split(chunk) {
        push_split(chunk, split, out);
        return;
    }
    // ... and a plain word with one punctuation mark before or after it (`word,` `end.` `(see`)
    // splits into the two, unless the word is a special case: what the general rules below
    // give for these shapes (`fast_paths_agree_with_the_rules` checks).
    if b.len() >= 2 {
        let (first, last) = (b[0], b[b.len() - 1]);
        let split = if b[..b.len() - 1].iter().all(u8::is_ascii_alphabetic) {
            let trailing = matches!(
                last,
                b',' | b':' | b';' | b'!' | b'?' | b')' | b']' | b'}' | b'"' | b'\''
            ) || (last == b'.' && b[b.len() - 2].is_ascii_lowercase());
            trailing.then_some(b.len() - 1)
        } else if b[1..].iter().all(u8::is_ascii_alphabetic) && matches!(first, b'(' | b'[' | b'"')
        {
            Some(1)
        } else {
            None
        };
        if let Some(at) = split {
            let (head, tail) = chunk.split_at(at);
            let word = if at == 1 { tail } else { head };
            if special_split(word).is_none() {
                out.push(head);
                out.push(tail);
                return;
            }
        }
    }
    split_chunk(chunk, out);
}

/// Letters, and not icons, found without a Unicode table search: Latin-1 and Latin Extended-A
/// letters (`é`, `ß`, `ł`), basic Cyrillic, kana and Han ideographs (the original block), the
/// letters of most non-ASCII words in European, Chinese and Japanese text.
fn is_common_letter(c: char) -> bool {
    matches!(c as u32, 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x17F | 0x400..=0x45F | 0x3041..=0x3096 | 0x30A1..=0x30FA | 0x4E00..=0x9FEF)
}

/// [`tokenize_chunk`] by spaCy's rules, without the fast paths (the tests' oracle).
#[cfg(test)]
fn tokenize_chunk_general<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    match special_split(chunk) {
        Some(split) => push_split(chunk, split, out),
        None => split_chunk(chunk, out),
    }
}

/// [`tokenize_chunk_general`] for a chunk that is not a special case.
fn split_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    let base = out.len();
    split_affixes(chunk, out);
    if out.len() - base >= 2 {
        merge_specials(chunk, out, base);
    }
}

/// spaCy's second pass: a run of 2-4 adjacent tokens of one chunk whose text is a special case
/// (`)` `:` → `):`, `(` `d` `.` → `(` `d.`) is re-split as the special case says. Longest match
/// first, left to right, without overlaps.
fn merge_specials<'a>(chunk: &'a str, out: &mut Vec<&'a str>, base: usize) {
    let offset = |t: &str| t.as_ptr() as usize - chunk.as_ptr() as usize;
    // The longest special case starting at token `i`: (tokens covered, its text, its split).
    let find = |toks: &[&'a str], i: usize| {
        (2..=4.min(toks.len() - i)).rev().find_map(|len| {
            let (s, e) = (offset(toks[i]), offset(toks[i + len - 1]) + toks[i + len - 1].len());
            special_split(&chunk[s..e]).map(|split| (len, &chunk[s..e], split))
        })
    };
    // Usually nothing matches: check before rebuilding anything.
    let Some(first) = (base..out.len()).find(|&i| find(out, i).is_some()) else { return };
    let toks: Vec<&'a str> = out.drain(first..).collect();
    let mut i = 0;
    while i < toks.len() {
        match find(&toks, i) {
            Some((len, text, split)) => {
                push_split(text, split, out);
                i += len;
            }
            None => {
                out.push(toks[i]);
                i += 1;
            }
        }
    }
}

/// Peels prefixes and suffixes, then splits the core on infixes (first pass).
fn split_affixes<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    // Suffixes are peeled from the right end, so together they are the chunk's tail: where each
    // one starts is all that needs remembering (no allocation for the usual one or two).
    let mut suffixes = SuffixStarts::default();
    let mut s = chunk;
    let mut last_len = usize::MAX;
    // The chunk is not a special case (the caller checked), and each pass ends by checking
    // what it left.
    while !s.is_empty() && s.len() != last_len {
        last_len = s.len();
        let pre = find_prefix(s);
        if pre != 0 && s.len() > pre && special_split(&s[pre..]).is_some() {
            out.push(&s[..pre]);
            s = &s[pre..];
            break;
        }
        let suf = find_suffix(&s[pre..]);
        if suf != 0 {
            let minus_suf = &s[..s.len() - suf];
            if !minus_suf.is_empty() && special_split(minus_suf).is_some() {
                suffixes.push(chunk, &s[s.len() - suf..]);
                s = minus_suf;
                break;
            }
        }
        if pre != 0 && suf != 0 && pre + suf <= s.len() {
            out.push(&s[..pre]);
            suffixes.push(chunk, &s[s.len() - suf..]);
            s = &s[pre..s.len() - suf];
        } else if pre != 0 {
            out.push(&s[..pre]);
            s = &s[pre..];
        } else if suf != 0 {
            suffixes.push(chunk, &s[s.len() - suf..]);
            s = &s[..s.len() - suf];
        }
        if special_split(s).is_some() {
            break;
        }
    }
    if !s.is_empty() {
        if let Some(split) = special_split(s) {
            push_split(s, split, out);
        } else if !needs_infix_scan(s) || rules::is_url(s) {
            out.push(s);
        } else {
            split_infixes(s, out);
        }
    }
    suffixes.emit(chunk, out);
}

/// Where the suffixes peeled off a chunk start (byte offsets), in the order they were peeled:
/// right to left. Eight fit without allocating.
#[derive(Default)]
struct SuffixStarts {
    inline: [usize; 8],
    n: usize,
    more: Vec<usize>,
}

impl SuffixStarts {
    fn push(&mut self, chunk: &str, suffix: &str) {
        let start = suffix.as_ptr() as usize - chunk.as_ptr() as usize;
        match self.inline.get_mut(self.n) {
            Some(slot) => *slot = start,
            None => self.more.push(start),
        }
        self.n += 1;
    }

    fn get(&self, k: usize) -> usize {
        if k < self.inline.len() { self.inline[k] } else { self.more[k - self.inline.len()] }
    }

    /// Appends the suffixes to `out`, left to right (each ends where the one peeled before it
    /// starts; the first peeled ends the chunk).
    fn emit<'a>(&self, chunk: &'a str, out: &mut Vec<&'a str>) {
        for k in (0..self.n).rev() {
            let end = if k == 0 { chunk.len() } else { self.get(k - 1) };
            out.push(&chunk[self.get(k)..end]);
        }
    }
}

fn push_split<'a>(s: &'a str, split: &[usize], out: &mut Vec<&'a str>) {
    let mut prev = 0;
    for &p in split.iter().chain(std::iter::once(&s.len())) {
        if p > prev {
            out.push(&s[prev..p]);
        }
        prev = p;
    }
}

#[cfg(test)]
mod tests {
    use super::affixes::unit_start;
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        let mut v = Vec::new();
        tokenize(s, &mut v);
        v
    }

    #[test]
    fn splits_like_spacy() {
        assert_eq!(toks("Hello, world!"), ["Hello", ",", "world", "!"]);
        assert_eq!(toks("(see fig. 3)."), ["(", "see", "fig", ".", "3", ")", "."]);
        assert_eq!(
            toks("I don't know John's dog."),
            ["I", "do", "n't", "know", "John", "'s", "dog", "."]
        );
        assert_eq!(
            toks("Mr. Smith paid $10.50 for 5km, e.g. this..."),
            ["Mr.", "Smith", "paid", "$", "10.50", "for", "5", "km", ",", "e.g.", "this", "..."]
        );
        assert_eq!(
            toks("well-known a/b end.Next"),
            ["well", "-", "known", "a", "/", "b", "end", ".", "Next"]
        );
        assert_eq!(toks("see https://example.com/a/b."), ["see", "https://example.com/a/b", "."]);
        assert_eq!(
            toks("fn foo(s: &str) -> i32 {"),
            ["fn", "foo(s", ":", "&", "str", ")", "-", ">", "i32", "{"]
        );
    }

    #[test]
    fn every_space_starts_with_a_flagged_byte() {
        for c in (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        {
            let mut buf = [0u8; 4];
            assert!(
                MAY_BE_SPACE[c.encode_utf8(&mut buf).as_bytes()[0] as usize],
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn one_character_is_one_token_by_the_rules() {
        // The fast path for one-character chunks, against the general rules for every character.
        for c in (0..=0x10FFFF).filter_map(char::from_u32).filter(|c| !c.is_whitespace()) {
            let s = c.to_string();
            let mut toks = Vec::new();
            tokenize_chunk_general(&s, &mut toks);
            assert_eq!(toks, [s.as_str()], "U+{:04X}", c as u32);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The fast paths of `tokenize_chunk` split exactly as the general rules do: random
        /// letters of several scripts, pieces of special cases (`dont`, `Mr`, `etc`), letter-like
        /// symbols and marks (`Ⓐ`, `µ`, `·`), between punctuation.
        #[test]
        fn fast_paths_agree_with_the_rules(
            chunk in "[(\\[\"'.]?([a-zA-Z]{1,3}|dont|cant|Mr|etc|US|goin|ll|ve|é|ж|中|Ⓐ|ß|µ|·|٪|’|−|1)+[.,:;!?)\\]}\"'$…]?",
        ) {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            tokenize_chunk(&chunk, &mut fast);
            tokenize_chunk_general(&chunk, &mut general);
            proptest::prop_assert_eq!(fast, general);
        }
    }

    proptest::proptest! {
        /// `unit_start` finds what spaCy's `(?<=[0-9])(?:units)$` suffix rule finds: the
        /// leftmost-starting unit that ends the chunk right after a digit.
        #[test]
        fn unit_suffix_as_the_rule_says(s in "[0-9a-zA-Z$²/.µ]{0,3}(km|m|km/h|h|\\$|US\\$|C\\$|²|mm|cm²|1|5){0,3}") {
            let mut want = None::<usize>;
            for unit in rules::UNITS_AND_CURRENCIES {
                if s.len() > unit.len() && s.ends_with(unit) {
                    let st = s.len() - unit.len();
                    if s[..st].ends_with(|c: char| c.is_ascii_digit()) {
                        want = Some(want.map_or(st, |w: usize| w.min(st)));
                    }
                }
            }
            proptest::prop_assert_eq!(unit_start(&s), want);
        }
    }

    const COMMON_LETTERS: [(u32, u32); 7] = [
        (0xC0, 0xD6),
        (0xD8, 0xF6),
        (0xF8, 0x17F),
        (0x400, 0x45F),
        (0x3041, 0x3096),
        (0x30A1, 0x30FA),
        (0x4E00, 0x9FEF),
    ];

    #[test]
    fn common_letters_are_letters_and_not_icons() {
        for u in COMMON_LETTERS.iter().flat_map(|&(a, b)| a..=b) {
            let c = char::from_u32(u).expect("char");
            assert!(is_common_letter(c) && c.is_alphabetic() && !is_icon(c), "{c:?}");
        }
        // The ranges are exactly the ones `is_common_letter` accepts.
        let listed = |u: u32| COMMON_LETTERS.iter().any(|&(a, b)| (a..=b).contains(&u));
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(is_common_letter(c), listed(c as u32), "{c:?}");
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(count_sentences("One. Two! Three? four"), 4);
        assert_eq!(count_sentences("Version 1.2 is out."), 1);
        assert_eq!(count_sentences("Wait... what?!"), 1);
        assert_eq!(count_sentences(""), 0);
        assert_eq!(count_sentences("Chi sono io?  Io?   ?"), 3);
    }
}
