//! Cutting matched spans out of a document with a margin (GPT-3's rule).

use super::Span;

/// `text` without `spans` and `margin` characters on either side of each, as the fragments
/// left between the cuts, trimmed, those shorter than `min_chars` characters left out, joined
/// by newlines. Empty when nothing is left.
pub(super) fn cut(text: &str, spans: &[Span], margin: usize, min_chars: usize) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for s in spans {
        let (start, end) = (back(text, s.start, margin), forward(text, s.end, margin));
        match ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => ranges.push((start, end)),
        }
    }
    let mut out = String::new();
    let mut from = 0;
    let gaps = ranges.iter().map(|&(start, end)| {
        let gap = (from, start);
        from = end;
        gap
    });
    let mut fragments: Vec<(usize, usize)> = gaps.collect();
    fragments.push((from, text.len()));
    for (a, b) in fragments {
        let fragment = text[a..b].trim();
        if fragment.is_empty() || fragment.chars().count() < min_chars {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(fragment);
    }
    out
}

/// The byte offset `n` characters before `at` (or 0).
fn back(text: &str, at: usize, n: usize) -> usize {
    if n == 0 {
        return at;
    }
    text[..at].char_indices().rev().nth(n - 1).map_or(0, |(i, _)| i)
}

/// The byte offset `n` characters after `at` (or the end).
fn forward(text: &str, at: usize, n: usize) -> usize {
    text[at..].char_indices().nth(n).map_or(text.len(), |(i, _)| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize) -> Span {
        Span { start, end, benchmarks: 1 }
    }

    #[test]
    fn removes_the_span_and_the_margin_on_both_sides() {
        let text = "aaaa bbbb XXXX cccc dddd";
        assert_eq!(cut(text, &[span(10, 14)], 5, 1), "aaaa\ndddd");
        assert_eq!(cut(text, &[span(10, 14)], 0, 1), "aaaa bbbb\ncccc dddd");
        assert_eq!(cut(text, &[span(10, 14)], 100, 1), "");
    }

    #[test]
    fn margins_count_characters_not_bytes_and_short_fragments_go() {
        let text = "一二三四五六七八九十";
        // Span 四五 (bytes 9..15), margin 2 characters: 二三 and 六七 go too.
        assert_eq!(cut(text, &[span(9, 15)], 2, 1), "一\n八九十");
        assert_eq!(cut(text, &[span(9, 15)], 2, 2), "八九十");
    }

    #[test]
    fn overlapping_margins_merge_into_one_cut() {
        let text = "keep this part. X1 middle X2 andx keep this end";
        let first = text.find("X1").expect("X1");
        let second = text.find("X2").expect("X2");
        let out = cut(text, &[span(first, first + 2), span(second, second + 2)], 6, 1);
        assert_eq!(out, "keep this\nkeep this end");
    }
}
