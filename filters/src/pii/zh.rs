//! Chinese PII found by a hand-written scanner over ASCII digit runs (no regex: one pass over
//! the bytes, and the checksums need code anyway).
//!
//! A *number* is a maximal run of ASCII digits whose neighbours are not ASCII letters, `_` or a
//! decimal point followed by a digit (so `a13812345678`, `0.13812345678` and hashes are not
//! taken). Numbers of at most 4 digits joined by single spaces or hyphens (one kind per chain)
//! form a *chain* (`6222 0212 3456 7890`); a chain is judged as a whole, so nothing is found
//! inside a longer digit sequence (a stray leading number such as a `+86` is dropped first).
//!
//! * **Resident ID** (GB 11643-1999): 17 digits and a check character (digit or `X`), a birth
//!   date of 18xx-20xx with month 01-12 and day 01-31, and the ISO 7064 MOD 11-2 checksum.
//! * **Bank card**: 16-19 digits, contiguous or in groups of 4 (the last group 1-4 digits),
//!   passing the Luhn check; an 18-digit number that is a valid resident ID is an ID.
//! * **Mobile**: `1[3-9]` and 9 more digits, contiguous or grouped 3-4-4, optionally after
//!   `+86`/`86` (with an optional space or hyphen), which is redacted with it.
//! * **QQ / WeChat** only in context: after `QQ` (any case, optionally `号`/`號`/`号码`),
//!   `微信` (optionally `号`), `WeChat` or `wx` (any case, a whole word), then optional spaces
//!   and an optional `:`/`：`. A QQ number is 5-12 digits not starting with 0; a WeChat id is
//!   6-20 ASCII letters, digits, `_` or `-` starting with a letter, or a 5-12 digit number
//!   (WeChat accepts QQ and phone numbers as ids). Without a colon, a WeChat id made of letters
//!   only is not taken (`WeChat account` is prose). QQ group numbers (`QQ群`) identify no
//!   person and are left alone.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::Kind;
use crate::error::{Result, invalid};

/// Context words that announce a QQ number or a WeChat id.
const CONTEXTS: [(&str, Kind); 4] =
    [("qq", Kind::Qq), ("微信", Kind::WeChat), ("wechat", Kind::WeChat), ("wx", Kind::WeChat)];

/// Builds the matcher of [`CONTEXTS`] (ASCII case-insensitive, leftmost-longest).
pub(super) fn context_matcher() -> Result<AhoCorasick> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(CONTEXTS.map(|c| c.0))
        .map_err(|e| invalid("pii", "qq/wechat context words", e.to_string()))
}

/// Which number-shaped kinds to look for.
#[derive(Debug, Clone, Copy)]
pub(super) struct NumberKinds {
    pub mobiles: bool,
    pub ids: bool,
    pub cards: bool,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// End of the digit run starting at `i`.
fn run_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The most runs a chain of digit groups may have to be judged.
const MAX_RUNS: usize = 6;

/// Finds resident IDs, bank cards and mobiles, appending `(start, end, kind)` spans.
///
/// Chains are joined only from runs of at most 4 digits (the groups of a card or a mobile).
pub(super) fn find_numbers(text: &str, kinds: NumberKinds, spans: &mut Vec<(usize, usize, Kind)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A chain: runs joined by one separator (the first one seen: ' ' or '-').
        let mut runs = vec![(i, run_end(b, i))];
        let mut sep = None;
        loop {
            let (s, e) = runs[runs.len() - 1];
            let next = b.get(e).copied();
            // Only short runs are groups: `8.8.8.8 13812345678` is two numbers.
            let joined = e - s <= 4
                && matches!(next, Some(b' ' | b'-'))
                && sep.is_none_or(|s| Some(s) == next)
                && b.get(e + 1).is_some_and(u8::is_ascii_digit)
                && run_end(b, e + 1) - (e + 1) <= 4;
            if !joined {
                break;
            }
            sep = next;
            runs.push((e + 1, run_end(b, e + 1)));
        }
        let (start, end) = (runs[0].0, runs[runs.len() - 1].1);
        i = end;
        // No PII number has more than five groups (plus a leading country code): a longer
        // chain is a table or a list of numbers, skipped whole (also keeps the scan linear).
        if runs.len() > MAX_RUNS {
            continue;
        }
        let found = bounded(b, start, end) && judge_chain(b, &runs, kinds, spans);
        let first_len = runs[0].1 - runs[0].0;
        // A leading run that cannot open a group pattern (`+86 139-1234-5678`, `第 2 6222 ...`)
        // is not part of the number: the scan goes on from the next run (at most MAX_RUNS
        // times per chain). A chain that opens like a card or a 3-4-4 mobile is judged whole.
        if !found && runs.len() > 1 && !(3..=4).contains(&first_len) {
            i = runs[1].0;
        }
    }
}

/// Not glued to a word or a decimal number on either side (`end` may be followed by an `X`
/// that belongs to an ID: that is checked by the ID rule).
fn bounded(b: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).map(|k| b[k]);
    let decimal_before = before == Some(b'.') && start >= 2 && b[start - 2].is_ascii_digit();
    let decimal_after = b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit);
    !before.is_some_and(is_word_byte) && !decimal_before && !decimal_after
}

/// Judges one bounded chain; says whether it was a find.
fn judge_chain(
    b: &[u8],
    runs: &[(usize, usize)],
    kinds: NumberKinds,
    spans: &mut Vec<(usize, usize, Kind)>,
) -> bool {
    let before = spans.len();
    judge_chain_into(b, runs, kinds, spans);
    spans.len() > before
}

fn judge_chain_into(
    b: &[u8],
    runs: &[(usize, usize)],
    kinds: NumberKinds,
    spans: &mut Vec<(usize, usize, Kind)>,
) {
    let (start, end) = (runs[0].0, runs[runs.len() - 1].1);
    let word_after = |e: usize| b.get(e).is_some_and(|&c| is_word_byte(c));
    if runs.len() == 1 {
        let digits = &b[start..end];
        if kinds.ids && digits.len() == 17 && matches!(b.get(end), Some(b'X' | b'x')) {
            if !word_after(end + 1) && is_resident_id(&b[start..end + 1]) {
                spans.push((start, end + 1, Kind::CnId));
            }
            return;
        }
        if word_after(end) {
            return;
        }
        if kinds.ids && digits.len() == 18 && is_resident_id(digits) {
            spans.push((start, end, Kind::CnId));
        } else if kinds.cards && is_card(b, start, digits) {
            spans.push((start, end, Kind::BankCard));
        } else if kinds.mobiles {
            find_mobile(b, start, end, spans);
        }
        return;
    }
    if word_after(end) {
        return;
    }
    let lens: Vec<usize> = runs.iter().map(|r| r.1 - r.0).collect();
    let digits: Vec<u8> = runs.iter().flat_map(|r| b[r.0..r.1].iter().copied()).collect();
    let (last, head) = lens.split_last().unwrap_or((&0, &[]));
    let grouped_card = head.iter().all(|&l| l == 4) && (1..=4).contains(last);
    if kinds.cards && grouped_card && is_card(b, start, &digits) {
        spans.push((start, end, Kind::BankCard));
    } else if kinds.mobiles && lens == [3, 4, 4] && is_mobile(&digits) {
        // Space-grouped, `150 1000 2000` is as likely a row of a table: only with `-`
        // (`138-1234-5678`) or after a country code (`+86 138 1234 5678`).
        let hyphens = b.get(runs[0].1) == Some(&b'-');
        let prefixed = prefix_start(b, start) != start;
        if hyphens || prefixed {
            spans.push((prefix_start(b, start), end, Kind::CnMobile));
        }
    }
}

/// A contiguous number that is a mobile, possibly with a glued `86` country code.
fn find_mobile(b: &[u8], start: usize, end: usize, spans: &mut Vec<(usize, usize, Kind)>) {
    let digits = &b[start..end];
    if digits.len() == 11 && is_mobile(digits) {
        spans.push((prefix_start(b, start), end, Kind::CnMobile));
    } else if digits.len() == 13 && digits.starts_with(b"86") && is_mobile(&digits[2..]) {
        let s = if start > 0 && b[start - 1] == b'+' { start - 1 } else { start };
        spans.push((s, end, Kind::CnMobile));
    }
}

/// Where a mobile starting at `start` really starts: before a `+86`/`86` prefix and its
/// optional space or hyphen, when there is one.
fn prefix_start(b: &[u8], start: usize) -> usize {
    let mut k = start;
    if k > 0 && matches!(b[k - 1], b' ' | b'-') {
        k -= 1;
    }
    if k >= 2 && &b[k - 2..k] == b"86" {
        let p = k - 2;
        if p > 0 && b[p - 1] == b'+' {
            return p - 1;
        }
        if p == 0 || !is_word_byte(b[p - 1]) {
            return p;
        }
    }
    start
}

fn is_mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

/// GB 11643: 17 digits with a plausible birth date, and the MOD 11-2 check character.
fn is_resident_id(id: &[u8]) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    if id.len() != 18 || !id[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        id[r].iter().fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (year, month, day) = (num(6..10), num(10..12), num(12..14));
    if !(1800..2100).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    let sum: u32 = id[..17].iter().zip(WEIGHTS).map(|(&c, w)| u32::from(c - b'0') * w).sum();
    CHECK[(sum % 11) as usize] == id[17].to_ascii_uppercase()
}

/// A bank card number: 16-19 digits passing Luhn, opening with an issuer prefix of the card
/// networks used in China (UnionPay 62, Visa 4, Mastercard 51-55, Amex 34/37, JCB 35, Discover
/// 60/65), and not part of a URL or an id (`/status/...`, `id=...`).
fn is_card(b: &[u8], start: usize, digits: &[u8]) -> bool {
    let issuer =
        matches!(digits, [b'6', b'2' | b'0' | b'5', ..] | [b'4', ..] | [b'5', b'1'..=b'5', ..])
            || matches!(digits, [b'3', b'4' | b'5' | b'7', ..]);
    let in_url = start > 0 && matches!(b[start - 1], b'/' | b'=' | b'?' | b'&' | b'#' | b'_');
    (16..=19).contains(&digits.len()) && issuer && !in_url && luhn(digits)
}

/// The Luhn check over ASCII digits.
fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &c)| {
            let v = u32::from(c - b'0');
            if k % 2 == 1 { if v * 2 > 9 { v * 2 - 9 } else { v * 2 } } else { v }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Finds QQ numbers (`qq`) and WeChat ids (`wechat`) after their context words.
pub(super) fn find_contextual(
    text: &str,
    contexts: &AhoCorasick,
    qq: bool,
    wechat: bool,
    spans: &mut Vec<(usize, usize, Kind)>,
) {
    let b = text.as_bytes();
    for m in contexts.find_iter(text) {
        let kind = CONTEXTS[m.pattern().as_usize()].1;
        let ascii_word = b[m.start()].is_ascii_alphabetic();
        // `qq`, `wx` and `wechat` are whole words (not `sqq`, `wxyz`).
        if ascii_word && m.start() > 0 && b[m.start() - 1].is_ascii_alphabetic() {
            continue;
        }
        let mut k = m.end();
        for suffix in ["号码", "号", "號"] {
            if text[k..].starts_with(suffix) {
                k += suffix.len();
                break;
            }
        }
        let (k, colon) = skip_separators(text, k);
        if ascii_word && k == m.end() && b.get(k).is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue; // `wxid123` / `QQ123`: no separator, only digits may follow a keyword
        }
        let id_end = match kind {
            Kind::Qq if qq => qq_number(b, k),
            Kind::WeChat if wechat => wechat_id(b, k, colon),
            _ => None,
        };
        if let Some(e) = id_end {
            spans.push((k, e, kind));
        }
    }
}

/// Skips spaces and one `:`/`：` (with spaces around it); says whether a colon was there.
fn skip_separators(text: &str, mut k: usize) -> (usize, bool) {
    let mut colon = false;
    loop {
        let rest = &text[k..];
        if rest.starts_with(' ') || rest.starts_with('\u{3000}') || rest.starts_with('\t') {
            k += rest.chars().next().map_or(1, char::len_utf8);
        } else if !colon && rest.starts_with(':') {
            k += 1;
            colon = true;
        } else if !colon && rest.starts_with('：') {
            k += '：'.len_utf8();
            colon = true;
        } else {
            return (k, colon);
        }
    }
}

/// End of a QQ number (5-12 digits, no leading 0) starting at `k`, if one is there.
fn qq_number(b: &[u8], k: usize) -> Option<usize> {
    let e = run_end(b, k);
    let ok =
        (5..=12).contains(&(e - k)) && b[k] != b'0' && !b.get(e).is_some_and(|&c| is_word_byte(c));
    ok.then_some(e)
}

/// End of a WeChat id starting at `k`, if one is there.
fn wechat_id(b: &[u8], k: usize, colon: bool) -> Option<usize> {
    let first = *b.get(k)?;
    if first.is_ascii_digit() {
        let e = run_end(b, k);
        let ok = (5..=12).contains(&(e - k)) && !b.get(e).is_some_and(|&c| is_word_byte(c));
        return ok.then_some(e);
    }
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let mut e = k;
    while e < b.len() && (is_word_byte(b[e]) || b[e] == b'-') {
        e += 1;
    }
    let id = &b[k..e];
    let letters_only = id.iter().all(u8::is_ascii_alphabetic);
    ((6..=20).contains(&id.len()) && (colon || !letters_only)).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(is_resident_id(b"11010519491231002X"));
        assert!(!is_resident_id(b"110105194912310021"));
        assert!(is_resident_id(b"440524188001010014"));
        assert!(luhn(b"6222021234567890128") == luhn_reference("6222021234567890128"));
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
    }

    /// Luhn written the textbook way, to cross-check the compact one.
    fn luhn_reference(s: &str) -> bool {
        let mut digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
        digits.reverse();
        let mut sum = 0;
        for (i, d) in digits.into_iter().enumerate() {
            let v = if i % 2 == 1 { d * 2 } else { d };
            sum += v / 10 + v % 10;
        }
        sum % 10 == 0
    }
}
