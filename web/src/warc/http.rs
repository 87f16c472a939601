//! The HTTP response inside a `response` record.

use std::borrow::Cow;
use std::io::Read;

use crate::{Error, Result, SkipReason};

/// Longest HTTP header section accepted.
const MAX_HEAD: usize = 256 << 10;

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse<'a> {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header value, as written.
    pub content_type: Option<String>,
    /// The `charset` parameter of `Content-Type`, unquoted.
    pub charset: Option<String>,
    /// The body after undoing chunked transfer coding and gzip/deflate content coding; borrowed
    /// from the record when no coding had to be undone.
    pub body: Cow<'a, [u8]>,
}

/// Status code and the headers this crate uses.
struct Head<'a> {
    status: u16,
    content_type: Option<String>,
    transfer_encoding: Option<String>,
    content_encoding: Option<String>,
    body: &'a [u8],
}

/// Parses an HTTP response message, decoding its body.
///
/// Decoding is lenient, because archived headers are not always true to the stored body
/// (Common Crawl, for one, stores de-chunked, decompressed bodies and renames the headers): a
/// `chunked` body that does not parse as chunks, or a `gzip` body without the gzip magic, is
/// returned as stored.
///
/// # Errors
/// [`Error::Http`] when the status line or headers do not parse, or a compressed body is
/// corrupt or decodes to more than `max_body_bytes`.
pub fn parse_http_response(message: &[u8], max_body_bytes: usize) -> Result<HttpResponse<'_>> {
    let head = parse_head(message)?;
    let charset = head.content_type.as_deref().and_then(charset_param);
    let mut body = Cow::Borrowed(head.body);
    let chunked = head.transfer_encoding.as_deref();
    if chunked.is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        && let Some(dechunked) = dechunk(head.body)
    {
        body = Cow::Owned(dechunked);
    }
    if let Some(coding) = head.content_encoding.as_deref()
        && let Some(decoded) = decode_content(&body, coding, max_body_bytes)?
    {
        body = Cow::Owned(decoded);
    }
    Ok(HttpResponse { status: head.status, content_type: head.content_type, charset, body })
}

/// Why a `response` block is not yielded when only HTML is wanted, or `None` to keep it.
pub(crate) fn html_skip_reason(message: &[u8]) -> Option<SkipReason> {
    let head = match parse_head(message) {
        Ok(head) => head,
        Err(e) => return Some(SkipReason::BadHttp { reason: e.to_string() }),
    };
    let html = match head.content_type.as_deref() {
        Some(ct) => is_html_type(ct),
        // No declared type: sniff, as browsers do, for a leading tag.
        None => head.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<'),
    };
    (!html).then(|| SkipReason::NotHtml { content_type: head.content_type.unwrap_or_default() })
}

/// Whether a Content-Type value names HTML or XHTML.
pub(crate) fn is_html_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("text/html") || mime.eq_ignore_ascii_case("application/xhtml+xml")
}

fn parse_head(message: &[u8]) -> Result<Head<'_>> {
    let bad = |reason: &str| Error::Http { reason: reason.to_string() };
    let mut rest = message;
    let mut status = None;
    let mut head = Head {
        status: 0,
        content_type: None,
        transfer_encoding: None,
        content_encoding: None,
        body: &[],
    };
    loop {
        if message.len() - rest.len() > MAX_HEAD {
            return Err(bad("header section too long"));
        }
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if status.is_none() {
            status = Some(parse_status_line(line).ok_or_else(|| bad("bad status line"))?);
        } else if line.is_empty() {
            head.body = after;
            break;
        } else if let Some(colon) = memchr::memchr(b':', line) {
            let name = String::from_utf8_lossy(&line[..colon]);
            let value = String::from_utf8_lossy(&line[colon + 1..]).trim().to_string();
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => &mut head.content_type,
                "transfer-encoding" => &mut head.transfer_encoding,
                "content-encoding" => &mut head.content_encoding,
                _ => &mut None,
            };
            *slot = Some(value);
        }
        if after.is_empty() {
            break;
        }
        rest = after;
    }
    head.status = status.ok_or_else(|| bad("empty message"))?;
    Ok(head)
}

fn parse_status_line(line: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_ascii_whitespace();
    if !parts.next()?.to_ascii_uppercase().starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The `charset` parameter of a Content-Type value.
pub(crate) fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(['"', '\'']).trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Undoes chunked transfer coding; `None` when the body is not well-formed chunks.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let eol = memchr::memchr(b'\n', body)?;
        let size_line = std::str::from_utf8(&body[..eol]).ok()?;
        let size_text = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[eol + 1..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = &body[size..];
        body = body.strip_prefix(b"\r").unwrap_or(body);
        body = body.strip_prefix(b"\n").unwrap_or(body);
        if body.is_empty() {
            // A missing terminating chunk still leaves the data usable.
            return Some(out);
        }
    }
}

/// Undoes gzip/deflate content coding; `None` when the body is not actually encoded.
fn decode_content(body: &[u8], coding: &str, max: usize) -> Result<Option<Vec<u8>>> {
    let coding = coding.trim().to_ascii_lowercase();
    let limit = max as u64 + 1;
    let mut out = Vec::new();
    let result = match coding.as_str() {
        "gzip" | "x-gzip" if body.starts_with(&[0x1f, 0x8b]) => {
            flate2::read::MultiGzDecoder::new(body).take(limit).read_to_end(&mut out)
        }
        // "deflate" is meant to be zlib-wrapped but servers often send raw deflate.
        "deflate" if body.first().is_some_and(|b| b & 0x0f == 8) => {
            flate2::read::ZlibDecoder::new(body).take(limit).read_to_end(&mut out)
        }
        "deflate" => flate2::read::DeflateDecoder::new(body).take(limit).read_to_end(&mut out),
        _ => return Ok(None),
    };
    if let Err(e) = result {
        return Err(Error::Http { reason: format!("cannot decode {coding} body: {e}") });
    }
    if out.len() > max {
        return Err(Error::Http { reason: format!("decoded body larger than {max} bytes") });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_headers_and_charset() {
        let msg = b"HTTP/1.1 404 Not Found\r\ncontent-TYPE:  text/html ; Charset='GB2312'\r\n\r\nx";
        let r = parse_http_response(msg, 1024).expect("parses");
        assert_eq!((r.status, r.charset.as_deref(), &*r.body), (404, Some("GB2312"), &b"x"[..]));
        assert!(parse_http_response(b"GET / HTTP/1.1\r\n\r\n", 1024).is_err());
    }

    #[test]
    fn lenient_codings() {
        // Declared chunked/gzip but stored decoded, as Common Crawl does: kept as stored.
        let msg =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n<p>";
        let r = parse_http_response(msg, 1024).expect("parses");
        assert_eq!(&*r.body, b"<p>");
        assert!(matches!(r.body, Cow::Borrowed(_)));
    }

    #[test]
    fn decoded_body_is_bounded() {
        let big = vec![b'a'; 10_000];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &big).expect("in-memory write");
        let mut msg = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        msg.extend(enc.finish().expect("in-memory write"));
        assert!(parse_http_response(&msg, 100).is_err());
        assert_eq!(parse_http_response(&msg, 10_000).expect("fits").body.len(), 10_000);
    }
}
