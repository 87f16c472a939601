//! Character set detection and decoding of HTML bodies to UTF-8.
//!
//! [`decode_html`] picks the encoding in this order, the browser's order:
//! 1. a byte order mark;
//! 2. the `charset` of the HTTP `Content-Type` header;
//! 3. a `<meta charset>` or `<meta http-equiv="Content-Type" content="...; charset=...">` in the
//!    first 1024 bytes (a simplified form of the HTML standard's prescan);
//! 4. detection with `chardetng`, hinted by the top-level domain of the URL when one is given.
//!
//! Labels are resolved with the WHATWG Encoding Standard (`encoding_rs`), so `gb2312` decodes
//! as GBK, `iso-8859-1` as windows-1252, and so on.
//!
//! Real pages lie about their encoding, so a declared encoding (HTTP or meta) is overridden
//! when the bytes say otherwise:
//! - a legacy encoding is declared but the body is valid UTF-8 with non-ASCII text: UTF-8 wins
//!   (legacy multi-byte text is almost never valid UTF-8 by accident, while UTF-8 text decodes
//!   "cleanly" as GBK mojibake);
//! - the declared encoding yields replacement characters and the detected one yields at most a
//!   tenth as many: the detected encoding wins.
//!
//! The result's [`EncodingSource`] is then [`EncodingSource::Detected`].

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// Where the encoding used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodingSource {
    /// A byte order mark.
    Bom,
    /// The HTTP `Content-Type` charset.
    Http,
    /// A `<meta>` declaration.
    Meta,
    /// Content-based detection (also when a declaration was overridden).
    Detected,
}

/// A body decoded to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text.
    pub text: String,
    /// The WHATWG name of the encoding used, e.g. `"GBK"`, `"Big5"`, `"windows-1251"`.
    pub encoding: &'static str,
    /// Where the encoding came from.
    pub source: EncodingSource,
    /// Whether malformed sequences were replaced with U+FFFD.
    pub had_errors: bool,
}

/// How many bytes [`prescan_meta`] looks at.
const PRESCAN_BYTES: usize = 1024;
/// How many bytes the detector is fed; enough to decide, bounded for speed on huge pages.
const DETECT_BYTES: usize = 256 << 10;

/// Decodes an HTML body to UTF-8; see the [module docs](self) for the rules.
///
/// ```
/// use tokenmill_web::encoding::{decode_html, EncodingSource};
/// let gbk = b"<meta charset=gb2312><p>\xd6\xd0\xce\xc4</p>";
/// let decoded = decode_html(gbk, None);
/// assert_eq!(decoded.encoding, "GBK");
/// assert_eq!(decoded.source, EncodingSource::Meta);
/// assert!(decoded.text.contains("中文"));
/// ```
pub fn decode_html(body: &[u8], http_charset: Option<&str>) -> Decoded {
    decode_html_with_url(body, http_charset, None)
}

/// [`decode_html`] with the page URL, whose top-level domain guides detection (e.g. `.cn`
/// favours GBK, `.ru` windows-1251).
pub fn decode_html_with_url(body: &[u8], http_charset: Option<&str>, url: Option<&str>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        return decode_as(&body[bom_len..], encoding, EncodingSource::Bom);
    }
    let declared = http_charset
        .and_then(|label| Encoding::for_label(label.trim().as_bytes()))
        .map(|e| (e, EncodingSource::Http))
        .or_else(|| prescan_meta(body).map(|e| (e, EncodingSource::Meta)));
    let Some((encoding, source)) = declared else {
        return decode_as(body, detect(body, url), EncodingSource::Detected);
    };
    if encoding != UTF_8 && is_non_ascii_utf8(body) {
        return decode_as(body, UTF_8, EncodingSource::Detected);
    }
    let first = decode_as(body, encoding, source);
    if !first.had_errors {
        return first;
    }
    let detected = detect(body, url);
    if detected == encoding {
        return first;
    }
    let second = decode_as(body, detected, EncodingSource::Detected);
    if count_replacements(&second.text) * 10 <= count_replacements(&first.text) {
        second
    } else {
        first
    }
}

fn decode_as(body: &[u8], encoding: &'static Encoding, source: EncodingSource) -> Decoded {
    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    Decoded { text: text.into_owned(), encoding: encoding.name(), source, had_errors }
}

fn count_replacements(text: &str) -> usize {
    text.chars().filter(|&c| c == char::REPLACEMENT_CHARACTER).count()
}

/// Valid UTF-8 containing at least one non-ASCII character.
fn is_non_ascii_utf8(body: &[u8]) -> bool {
    !body.is_ascii() && std::str::from_utf8(body).is_ok()
}

/// Content-based detection, with the URL's top-level domain as a hint.
fn detect(body: &[u8], url: Option<&str>) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new();
    let sample = &body[..body.len().min(DETECT_BYTES)];
    detector.feed(sample, sample.len() == body.len());
    let tld = url.and_then(tld_of);
    detector.guess(tld.as_deref().map(str::as_bytes), true)
}

/// The last label of a URL's host, lower-cased.
fn tld_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?;
    let tld = host.trim_end_matches('.').rsplit('.').next()?;
    (!tld.is_empty() && tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| tld.to_ascii_lowercase())
}

/// Finds a charset declared by a `<meta>` tag in the first [`PRESCAN_BYTES`] bytes.
pub(crate) fn prescan_meta(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(PRESCAN_BYTES)];
    let mut i = 0;
    while i < head.len() {
        if head[i..].starts_with(b"<!--") {
            i = find(head, i + 4, b"-->").map_or(head.len(), |end| end + 3);
            continue;
        }
        if head.len() - i >= 6
            && head[i..i + 5].eq_ignore_ascii_case(b"<meta")
            && matches!(head[i + 5], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/')
        {
            let (encoding, end) = meta_charset(head, i + 5);
            if let Some(encoding) = encoding {
                // Per the standard, a UTF-16 declaration in the bytes themselves is wrong.
                return Some(match encoding.name() {
                    "UTF-16LE" | "UTF-16BE" => UTF_8,
                    "x-user-defined" => WINDOWS_1252,
                    _ => encoding,
                });
            }
            i = end;
            continue;
        }
        i += 1;
    }
    None
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&hay[from..], needle).map(|p| p + from)
}

/// Parses the attributes of one `<meta` tag starting at `i`; returns its charset, if any,
/// and where the tag ends.
fn meta_charset(head: &[u8], mut i: usize) -> (Option<&'static Encoding>, usize) {
    let (mut charset, mut content, mut http_equiv_ct) = (None, None, false);
    loop {
        while i < head.len() && (head[i].is_ascii_whitespace() || head[i] == b'/') {
            i += 1;
        }
        if i >= head.len() || head[i] == b'>' {
            break;
        }
        let name_start = i;
        while i < head.len()
            && !matches!(head[i], b'=' | b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')
        {
            i += 1;
        }
        let name = head[name_start..i].to_ascii_lowercase();
        let mut value: &[u8] = &[];
        while i < head.len() && head[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < head.len() && head[i] == b'=' {
            i += 1;
            while i < head.len() && head[i].is_ascii_whitespace() {
                i += 1;
            }
            let quote = head.get(i).copied().filter(|q| *q == b'"' || *q == b'\'');
            let start = i + usize::from(quote.is_some());
            let mut end = start;
            while end < head.len()
                && match quote {
                    Some(q) => head[end] != q,
                    None => !head[end].is_ascii_whitespace() && head[end] != b'>',
                }
            {
                end += 1;
            }
            value = &head[start.min(end)..end];
            i = end + usize::from(quote.is_some() && end < head.len());
        }
        match name.as_slice() {
            b"charset" => charset = charset.or_else(|| Encoding::for_label(value.trim_ascii())),
            b"content" => content = content.or(Some(value)),
            b"http-equiv" => {
                http_equiv_ct |= value.trim_ascii().eq_ignore_ascii_case(b"content-type")
            }
            _ => {}
        }
    }
    let from_content = || content.filter(|_| http_equiv_ct).and_then(charset_from_content);
    (charset.or_else(from_content), i)
}

/// The charset in a `content="text/html; charset=..."` value.
fn charset_from_content(content: &[u8]) -> Option<&'static Encoding> {
    let lower = content.to_ascii_lowercase();
    let at = memchr::memmem::find(&lower, b"charset")? + 7;
    let rest = content[at..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let rest = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")).unwrap_or(rest);
    let end =
        rest.iter().position(|b| matches!(b, b';' | b'"' | b'\'' | b' ')).unwrap_or(rest.len());
    Encoding::for_label(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_wins() {
        let d = decode_html(b"\xef\xbb\xbf<p>hi</p>", Some("gbk"));
        assert_eq!((d.encoding, d.source), ("UTF-8", EncodingSource::Bom));
        assert_eq!(d.text, "<p>hi</p>");
    }

    #[test]
    fn http_label_gb2312_is_gbk() {
        let d = decode_html(b"<p>\xd6\xd0\xce\xc4</p>", Some("GB2312"));
        assert_eq!((d.encoding, d.source), ("GBK", EncodingSource::Http));
        assert_eq!(d.text, "<p>中文</p>");
    }

    #[test]
    fn meta_http_equiv() {
        let html = b"<html><head><!-- <meta charset=utf-8> --><META HTTP-EQUIV='Content-Type' \
            CONTENT='text/html; charset=windows-1251'></head>\xcf\xf0\xe8\xe2\xe5\xf2";
        let d = decode_html(html, None);
        assert_eq!((d.encoding, d.source), ("windows-1251", EncodingSource::Meta));
        assert!(d.text.ends_with("Привет"));
    }

    #[test]
    fn declared_legacy_but_utf8_bytes() {
        let d = decode_html("<meta charset=gbk><p>中文内容</p>".as_bytes(), None);
        assert_eq!((d.encoding, d.source), ("UTF-8", EncodingSource::Detected));
        assert!(d.text.contains("中文内容"));
    }

    #[test]
    fn declared_utf8_but_gbk_bytes() {
        let gbk =
            encoding_rs::GBK.encode("<p>这是一个用简体中文写的段落，用来测试编码检测。</p>").0;
        let d = decode_html(&gbk, Some("utf-8"));
        assert_eq!((d.encoding, d.source), ("GBK", EncodingSource::Detected));
        assert!(d.text.contains("简体中文"));
    }

    #[test]
    fn detection_without_declaration() {
        let text = "Съешь же ещё этих мягких французских булок, да выпей чаю. ".repeat(5);
        let koi8 = encoding_rs::KOI8_R.encode(&text).0;
        let d = decode_html(&koi8, None);
        assert_eq!(d.source, EncodingSource::Detected);
        assert_eq!(d.text, text);
        let japanese = "日本語のテキストです。".repeat(5);
        let sjis = encoding_rs::SHIFT_JIS.encode(&japanese).0;
        assert_eq!(decode_html(&sjis, None).encoding, "Shift_JIS");
    }

    #[test]
    fn tld_hint() {
        assert_eq!(tld_of("http://user@www.example.CN:8080/x?y").as_deref(), Some("cn"));
        assert_eq!(tld_of("example.ru").as_deref(), Some("ru"));
    }
}
