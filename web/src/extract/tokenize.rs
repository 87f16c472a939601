//! A fast HTML tokenizer: text, start and end tags and doctypes, in the ways the HTML
//! standard splits a document into them (comments and processing instructions are skipped).
//!
//! Text and attribute values borrow from the input unless they hold character references.
//! Only the attributes the extractor reads are kept. The tree builder switches the tokenizer
//! into raw-text mode after `<script>`, `<style>`, `<title>` and the like.

use std::borrow::Cow;

use markup5ever::data::{C1_REPLACEMENTS, NAMED_ENTITIES};
use memchr::{memchr, memmem};

/// The attributes the extractor reads; all others are skipped while tokenizing.
const KEPT_ATTRS: &[&str] =
    &["class", "id", "style", "hidden", "aria-hidden", "role", "rel", "itemprop", "summary"];

/// An attribute: one of [`KEPT_ATTRS`] and its decoded value.
pub(crate) type Attr<'a> = (&'static str, Cow<'a, str>);

/// One token of the document.
#[derive(Debug)]
pub(crate) enum Token<'a> {
    Text(Cow<'a, str>),
    Start {
        name: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        self_closing: bool,
    },
    End {
        name: Cow<'a, str>,
    },
    /// The doctype's text after `<!doctype`.
    Doctype(&'a str),
}

/// The tokenizer's position in the input.
pub(crate) struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    /// In raw text: the element whose end tag ends it, and whether references are decoded.
    raw: Option<(&'static str, bool)>,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Tokenizer { src, pos: 0, raw: None }
    }

    /// Reads the next tokens up to `</name` as text (`rcdata`: with references decoded).
    pub(crate) fn set_raw(&mut self, name: &'static str, rcdata: bool) {
        self.raw = Some((name, rcdata));
    }

    /// The next token, or `None` at the end of the input.
    pub(crate) fn next_token(&mut self) -> Option<Token<'a>> {
        if let Some((name, rcdata)) = self.raw.take() {
            let text = self.raw_text(name);
            if !text.is_empty() {
                return Some(Token::Text(if rcdata { decode(text, false) } else { text.into() }));
            }
        }
        let bytes = self.src.as_bytes();
        loop {
            let start = self.pos;
            let mut from = start;
            let markup = loop {
                let Some(lt) = memchr(b'<', bytes.get(from..).unwrap_or_default()) else {
                    break None;
                };
                let at = from + lt;
                let next = bytes.get(at + 1).copied().unwrap_or(0);
                if next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?') {
                    break Some(at);
                }
                from = at + 1;
            };
            let Some(at) = markup else {
                self.pos = bytes.len();
                return (bytes.len() > start)
                    .then(|| Token::Text(decode(&self.src[start..], false)));
            };
            if at > start {
                self.pos = at;
                return Some(Token::Text(decode(&self.src[start..at], false)));
            }
            if let Some(token) = self.markup() {
                return Some(token);
            }
        }
    }

    /// Text up to the end tag of `name` (or the end of the input); the end tag stays unread.
    fn raw_text(&mut self, name: &str) -> &'a str {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let finder = memmem::Finder::new(b"</");
        let mut from = start;
        while let Some(found) = finder.find(&bytes[from..]) {
            let at = from + found;
            let tag_end = at + 2 + name.len();
            if bytes.get(at + 2..tag_end).is_some_and(|t| t.eq_ignore_ascii_case(name.as_bytes()))
                && bytes.get(tag_end).is_none_or(|&b| is_space(b) || matches!(b, b'/' | b'>'))
            {
                self.pos = at;
                return &self.src[start..at];
            }
            from = at + 2;
        }
        self.pos = bytes.len();
        &self.src[start..]
    }

    /// Reads the markup at `self.pos` (a `<`); `None` for what yields no token.
    fn markup(&mut self) -> Option<Token<'a>> {
        let bytes = self.src.as_bytes();
        let at = self.pos;
        match bytes.get(at + 1).copied().unwrap_or(0) {
            b'!' if bytes[at..].starts_with(b"<!--") => {
                self.skip_comment();
                None
            }
            b'!' => {
                let end = self.skip_past(b'>', at + 2);
                let body = self.src.get(at + 2..end.saturating_sub(1)).unwrap_or("");
                let doctype =
                    body.as_bytes().get(..7).is_some_and(|d| d.eq_ignore_ascii_case(b"doctype"));
                doctype.then(|| Token::Doctype(body.get(7..).unwrap_or_default()))
            }
            b'?' => {
                self.skip_past(b'>', at + 2);
                None
            }
            b'/' => match bytes.get(at + 2).copied() {
                Some(b) if b.is_ascii_alphabetic() => self.tag(at + 2, true),
                Some(b'>') => {
                    self.pos = at + 3;
                    None
                }
                _ => {
                    self.skip_past(b'>', at + 2);
                    None
                }
            },
            _ => self.tag(at + 1, false),
        }
    }

    /// Moves past the next `byte` at or after `from` (or to the end); returns the new position.
    fn skip_past(&mut self, byte: u8, from: usize) -> usize {
        let bytes = self.src.as_bytes();
        let from = from.min(bytes.len());
        self.pos = memchr(byte, &bytes[from..]).map_or(bytes.len(), |i| from + i + 1);
        self.pos
    }

    fn skip_comment(&mut self) {
        let bytes = self.src.as_bytes();
        let body = self.pos + 4;
        for empty in [&b">"[..], b"->"] {
            if bytes.get(body..body + empty.len()) == Some(empty) {
                self.pos = body + empty.len();
                return;
            }
        }
        let mut from = body;
        while let Some(i) = memchr(b'-', bytes.get(from..).unwrap_or_default()) {
            let dash = from + i;
            if bytes[dash..].starts_with(b"-->") {
                self.pos = dash + 3;
                return;
            }
            if bytes[dash..].starts_with(b"--!>") {
                self.pos = dash + 4;
                return;
            }
            from = dash + 1;
        }
        self.pos = bytes.len();
    }

    /// A start or end tag whose name begins at `name_start`; `None` if the input ends inside.
    fn tag(&mut self, name_start: usize, end: bool) -> Option<Token<'a>> {
        let bytes = self.src.as_bytes();
        let mut i = name_start;
        while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>') {
            i += 1;
        }
        let name = lower(&self.src[name_start..i]);
        let mut attrs = Vec::new();
        let mut self_closing = false;
        loop {
            while i < bytes.len() && (is_space(bytes[i]) || bytes[i] == b'/') {
                self_closing = bytes[i] == b'/';
                i += 1;
            }
            match bytes.get(i) {
                None => {
                    self.pos = bytes.len();
                    return None;
                }
                Some(b'>') => break,
                Some(_) => {}
            }
            self_closing = false;
            i = self.attribute(i, &mut attrs)?;
        }
        self.pos = i + 1;
        Some(if end { Token::End { name } } else { Token::Start { name, attrs, self_closing } })
    }

    /// Reads the attribute at `i`, keeping it if wanted; the position after it.
    fn attribute(&mut self, mut i: usize, attrs: &mut Vec<Attr<'a>>) -> Option<usize> {
        let bytes = self.src.as_bytes();
        let name_start = i;
        i += 1; // The first character may be '='.
        while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let name = &self.src[name_start..i];
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let mut value = "";
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            match bytes.get(i).copied() {
                Some(quote @ (b'"' | b'\'')) => {
                    let Some(len) = memchr(quote, &bytes[i + 1..]) else {
                        self.pos = bytes.len();
                        return None;
                    };
                    value = &self.src[i + 1..i + 1 + len];
                    i += len + 2;
                }
                _ => {
                    let start = i;
                    while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = &self.src[start..i];
                }
            }
        }
        let kept = KEPT_ATTRS.iter().find(|k| k.eq_ignore_ascii_case(name));
        if let Some(&kept) = kept
            && !attrs.iter().any(|(n, _)| *n == kept)
        {
            attrs.push((kept, decode(value, true)));
        }
        Some(i)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// ASCII-lowercases a name, borrowing when it already is.
fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Decodes character references (`&amp;`, `&#20013;`, `&#x4e2d;`); borrows when there are none.
pub(crate) fn decode(text: &str, in_attribute: bool) -> Cow<'_, str> {
    let Some(first) = memchr(b'&', text.as_bytes()) else { return Cow::Borrowed(text) };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..first]);
    let mut rest = &text[first..];
    while let Some(amp) = memchr(b'&', rest.as_bytes()) {
        out.push_str(&rest[..amp]);
        rest = &rest[amp + 1..];
        let used = if rest.starts_with('#') {
            numeric_reference(rest, &mut out)
        } else {
            named_reference(rest, in_attribute, &mut out)
        };
        if used == 0 {
            out.push('&');
        }
        rest = &rest[used..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes `#123;` or `#x7b;` at the start of `rest`; how many bytes it used (0: none).
fn numeric_reference(rest: &str, out: &mut String) -> usize {
    let bytes = rest.as_bytes();
    let hex = matches!(bytes.get(1), Some(b'x' | b'X'));
    let digits_start = if hex { 2 } else { 1 };
    let radix = if hex { 16 } else { 10 };
    let mut end = digits_start;
    let mut value: u32 = 0;
    while let Some(d) = bytes.get(end).and_then(|&b| (b as char).to_digit(radix)) {
        value = value.saturating_mul(radix).saturating_add(d);
        end += 1;
    }
    if end == digits_start {
        return 0;
    }
    if bytes.get(end) == Some(&b';') {
        end += 1;
    }
    let c = match value {
        0x80..=0x9f => C1_REPLACEMENTS[(value - 0x80) as usize]
            .unwrap_or_else(|| char::from_u32(value).unwrap_or('\u{fffd}')),
        0 => '\u{fffd}',
        _ => char::from_u32(value).unwrap_or('\u{fffd}'),
    };
    out.push(c);
    end
}

/// Decodes the longest named reference at the start of `rest`; bytes used (0: none).
fn named_reference(rest: &str, in_attribute: bool, out: &mut String) -> usize {
    let bytes = rest.as_bytes();
    let mut best: Option<(usize, (u32, u32))> = None;
    let mut end = 0;
    while end < bytes.len() && end < 40 {
        let b = bytes[end];
        if !(b.is_ascii_alphanumeric() || b == b';') {
            break;
        }
        end += 1;
        match NAMED_ENTITIES.get(&rest[..end]) {
            Some(&m) if m.0 != 0 => best = Some((end, m)),
            Some(_) => {}
            None => break,
        }
        if b == b';' {
            break;
        }
    }
    let Some((len, (c1, c2))) = best else { return 0 };
    let terminated = bytes[len - 1] == b';';
    let next = bytes.get(len).copied().unwrap_or(0);
    if !terminated && in_attribute && (next == b'=' || next.is_ascii_alphanumeric()) {
        return 0;
    }
    out.extend(char::from_u32(c1));
    if c2 != 0 {
        out.extend(char::from_u32(c2));
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            decode("a &amp; b &lt;&#20013;&#x6587;&notit; &nbsp", false),
            "a & b <中文¬it; \u{a0}"
        );
        assert_eq!(decode("?a=1&copy=2", true), "?a=1&copy=2");
        assert_eq!(decode("&#128;&#0;&bogus;", false), "€\u{fffd}&bogus;");
    }

    #[test]
    fn tags_and_text() {
        let mut t =
            Tokenizer::new("<!DOCTYPE html><P Class='x' data-y=1 id=z>a<!-- c -->b</p \n><br/>");
        assert!(matches!(t.next_token(), Some(Token::Doctype(" html"))));
        let Some(Token::Start { name, attrs, .. }) = t.next_token() else { panic!() };
        assert_eq!(name, "p");
        assert_eq!(attrs, vec![("class", "x".into()), ("id", "z".into())]);
        assert!(matches!(t.next_token(), Some(Token::Text(s)) if s == "a"));
        assert!(matches!(t.next_token(), Some(Token::Text(s)) if s == "b"));
        assert!(matches!(t.next_token(), Some(Token::End { name }) if name == "p"));
        assert!(matches!(t.next_token(), Some(Token::Start { self_closing: true, .. })));
        assert!(t.next_token().is_none());
    }

    #[test]
    fn raw_text_and_stray_brackets() {
        let mut t = Tokenizer::new("<script>if (a<b) x='</p>';</SCRIPT>1 < 2");
        assert!(matches!(t.next_token(), Some(Token::Start { .. })));
        t.set_raw("script", false);
        assert!(matches!(t.next_token(), Some(Token::Text(s)) if s == "if (a<b) x='</p>';"));
        assert!(matches!(t.next_token(), Some(Token::End { name }) if name == "script"));
        assert!(matches!(t.next_token(), Some(Token::Text(s)) if s == "1 < 2"));
    }
}
