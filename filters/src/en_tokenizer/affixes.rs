//! The affix and infix rules of the English tokenizer (spaCy 3.8's `prefix_search`,
//! `suffix_search` and `infix_finditer` for English), as code over characters.

use super::rules::{self, is_icon, is_prefix_punct, is_quote};

/// Length in bytes of the prefix spaCy would split off, 0 if none (first alternative wins).
pub(super) fn find_prefix(s: &str) -> usize {
    let mut it = s.chars();
    let Some(c) = it.next() else { return 0 };
    let n = c.len_utf8();
    match c {
        '+' => match it.next() {
            Some(d) if d.is_ascii_digit() => 0,
            _ => 1,
        },
        '.' => {
            let dots = s.bytes().take_while(|&b| b == b'.').count();
            if dots >= 2 { dots } else { 0 }
        }
        'U' if s.starts_with("US$") => 3,
        'C' | 'A' if s[1..].starts_with('$') => 2,
        _ if is_prefix_punct(c) || is_quote(c) || is_currency(c) || is_icon(c) => n,
        _ => 0,
    }
}

pub(super) fn is_currency(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '฿' | '₽' | '﷼' | '₴' | '₠'..='₿')
}

/// Length in bytes of the suffix spaCy would split off: the match that starts leftmost.
pub(super) fn find_suffix(s: &str) -> usize {
    let mut rev = s.char_indices().rev();
    let Some((last_i, last)) = rev.next() else {
        return 0;
    };
    let (p1, p2) = (rev.next(), rev.next());
    let prev = p1.map(|x| x.1);
    let mut best = s.len(); // start offset of the leftmost match; len means none
    let mut consider = |start: usize| best = best.min(start);
    // A run of two or more dots.
    let dots = s.bytes().rev().take_while(|&b| b == b'.').count();
    if dots >= 2 {
        consider(s.len() - dots);
    }
    // Units and currencies after a digit.
    if let Some(st) = unit_start(s) {
        consider(st);
    }
    if let Some((p, a)) = p1
        && ((matches!(a, '\'' | '’') && matches!(last, 's' | 'S')) || (a == '…' && last == '…'))
    {
        consider(p);
    }
    let prev2 = p2.map(|x| x.1);
    let single = match last {
        '.' => match prev {
            Some(p)
                if p.is_ascii_digit()
                    || is_lower_like(p)
                    || matches!(p, '%' | '²' | '-' | '+' | '|') =>
            {
                true
            }
            Some(p) if rules::is_list_punct(p) || is_quote(p) => true,
            Some(p) if is_upper_like(p) && prev2.is_some_and(is_upper_like) => true,
            Some('F' | 'f' | 'C' | 'c' | 'K' | 'k') => prev2 == Some('°'),
            _ => false,
        },
        '+' => prev.is_some_and(|p| p.is_ascii_digit()),
        '—' | '–' => true,
        c => rules::is_list_punct(c) || is_quote(c) || is_icon(c),
    };
    if single {
        consider(last_i);
    }
    if best < s.len() { s.len() - best } else { 0 }
}

/// Where a unit or currency right after a digit ends `s` (`5km`, `10$`), if one does. No unit
/// holds an ASCII digit, so the only candidate is what follows the last one.
pub(super) fn unit_start(s: &str) -> Option<usize> {
    let d = s.bytes().rposition(|b| b.is_ascii_digit())?;
    let tail = &s[d + 1..];
    (!tail.is_empty() && rules::UNITS_AND_CURRENCIES.contains(&tail)).then_some(d + 1)
}

/// spaCy's ALPHA_LOWER: lowercase letters plus letters of scripts without case.
pub(super) fn is_lower_like(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    spacy_caseless(c)
        || c.is_lowercase()
        || (c as u32 >= 0x0590 && c.is_alphabetic() && !c.is_uppercase())
}

/// spaCy's ALPHA_UPPER: uppercase letters plus letters of scripts without case.
pub(super) fn is_upper_like(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    spacy_caseless(c)
        || c.is_uppercase()
        || (c as u32 >= 0x0590 && c.is_alphabetic() && !c.is_lowercase())
}

/// Whether `s` has a character any infix pattern could start with.
pub(super) fn needs_infix_scan(s: &str) -> bool {
    s.bytes().any(|b| {
        matches!(
            b,
            b'.' | b',' | b'-' | b'~' | b':' | b'<' | b'>' | b'=' | b'/' | b'+' | b'*' | b'^'
        ) || b >= 0x80
    })
}

/// Characters spaCy's ALPHA_LOWER and ALPHA_UPPER both list: Han/Kana, and the CJK symbol and
/// punctuation blocks (U+3000-U+303F `。「」`, U+2E80-U+2FDF, U+31C0-U+33FF, U+FE30-U+FE4F).
fn spacy_caseless(c: char) -> bool {
    crate::chars::is_cjk(c)
        || matches!(c as u32, 0x3000..=0x303F | 0x2E80..=0x2FDF | 0x31C0..=0x31EF | 0x3200..=0x33FF | 0xFE30..=0xFE4F)
}

/// spaCy's ALPHA: letters plus [`spacy_caseless`].
fn spacy_alpha(c: char) -> bool {
    crate::chars::is_py_alpha(c) || spacy_caseless(c)
}

/// Splits on spaCy's infix patterns (non-overlapping, leftmost first; a match at 0 is skipped).
pub(super) fn split_infixes<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    // The characters with their offsets: on the stack for the usual short chunk.
    let mut inline = [(0usize, '\0'); 32];
    let spilled: Vec<(usize, char)>;
    let chars: &[(usize, char)] = if s.len() <= inline.len() {
        let mut n = 0;
        for (slot, ic) in inline.iter_mut().zip(s.char_indices()) {
            *slot = ic;
            n += 1;
        }
        &inline[..n]
    } else {
        spilled = s.char_indices().collect();
        &spilled
    };
    let n = chars.len();
    let at = |k: usize| chars.get(k).map(|x| x.1);
    let off = |k: usize| chars.get(k).map_or(s.len(), |x| x.0);
    let mut start = 0; // byte offset of the pending span
    let mut k = 0;
    while k < n {
        let c = chars[k].1;
        let prev = if k > 0 { at(k - 1) } else { None };
        let next = at(k + 1);
        let alpha = |x: Option<char>| x.is_some_and(spacy_alpha);
        let alnum = |x: Option<char>| x.is_some_and(|c| spacy_alpha(c) || c.is_ascii_digit());
        // Single-character infixes, in spaCy's order of alternatives.
        let single = c == '…'
            || is_icon(c)
            || (matches!(c, '+' | '-' | '*' | '^')
                && prev.is_some_and(|p| p.is_ascii_digit())
                && next.is_some_and(|x| x.is_ascii_digit() || x == '-'))
            || (c == '.'
                && prev.is_some_and(|p| is_lower_like(p) || is_quote(p))
                && next.is_some_and(|x| is_upper_like(x) || is_quote(x)))
            || (c == ',' && alpha(prev) && alpha(next));
        let mlen = if c == '.' && next == Some('.') {
            chars[k..].iter().take_while(|x| x.1 == '.').count()
        } else if single {
            1
        } else if matches!(c, '-' | '–' | '—' | '~') && alnum(prev) {
            hyphen_len(&chars[k..])
        } else {
            usize::from(matches!(c, ':' | '<' | '>' | '=' | '/') && alnum(prev) && alpha(next))
        };
        if mlen == 0 {
            k += 1;
            continue;
        }
        let (ms, me) = (off(k), off(k + mlen));
        if ms != 0 {
            if ms != start {
                out.push(&s[start..ms]);
            }
            out.push(&s[ms..me]);
            start = me;
        }
        k += mlen;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
}

/// `(?:-|–|—|--|---|——|~)(?=[ALPHA])`: the first alternative followed by a letter.
fn hyphen_len(rest: &[(usize, char)]) -> usize {
    let c = |k: usize| rest.get(k).map(|x| x.1);
    let alpha_at = |k: usize| c(k).is_some_and(spacy_alpha);
    for (pat, len) in [("-", 1), ("–", 1), ("—", 1), ("--", 2), ("---", 3), ("——", 2), ("~", 1)]
    {
        let matches = pat.chars().enumerate().all(|(i, p)| c(i) == Some(p));
        if matches && alpha_at(len) {
            return len;
        }
    }
    0
}
