//! WARC reader scenarios: damaged input, filters, compressions, header quirks.

use std::io::Write;

use tokenmill_web::warc::{RecordKind, WarcOptions, WarcReader, open_warc_reader};
use tokenmill_web::{Error, SkipReason};

fn record(kind: &str, uri: &str, block: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\n\
         WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:{uri}>\r\n\
         Content-Length: {}\r\n\r\n",
        block.len()
    )
    .into_bytes();
    out.extend_from_slice(block);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

fn html_response(uri: &str, body: &str) -> Vec<u8> {
    let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n{body}");
    record("response", uri, http.as_bytes())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("in-memory write");
    encoder.finish().expect("in-memory write")
}

fn uris(results: &[Result<tokenmill_web::warc::Record, Error>]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(rec) => rec.target_uri.clone().unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

fn read_plain(
    data: &[u8],
    options: WarcOptions,
) -> Vec<Result<tokenmill_web::warc::Record, Error>> {
    WarcReader::new(data, options).collect()
}

#[test]
fn truncated_final_record() {
    let mut data = html_response("a", "<p>one</p>");
    let second_at = data.len() as u64;
    let second = html_response("b", "<p>two</p>");
    data.extend_from_slice(&second[..second.len() - 12]);
    let results = read_plain(&data, WarcOptions::default());
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().ok().and_then(|r| r.target_uri.as_deref()), Some("a"));
    match &results[1] {
        Err(e @ Error::Truncated { offset, .. }) => {
            assert_eq!(*offset, second_at);
            assert!(!e.is_recoverable());
        }
        other => panic!("expected truncation, got {other:?}"),
    }
}

#[test]
fn corrupt_gzip_member_is_skipped() {
    let members: Vec<Vec<u8>> = ["a", "b", "c"]
        .iter()
        .map(|u| gzip(&html_response(u, &format!("<p>page {u} {}</p>", "text ".repeat(200)))))
        .collect();
    let mut bad = members[1].clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 8] {
        *b ^= 0x5a;
    }
    let data = [members[0].clone(), bad, members[2].clone()].concat();
    let reader = open_warc_reader(std::io::Cursor::new(data), "x.warc.gz", WarcOptions::default());
    let results: Vec<_> = reader.expect("open").collect();
    assert_eq!(results.len(), 3, "{:?}", uris(&results));
    match &results[1] {
        Err(e @ Error::CorruptGzip { compressed_offset, .. }) => {
            assert_eq!(*compressed_offset, members[0].len() as u64);
            assert!(e.is_recoverable());
        }
        other => panic!("expected a corrupt member, got {other:?}"),
    }
    let last = results[2].as_ref().expect("third record reads");
    assert_eq!(last.target_uri.as_deref(), Some("c"));
    assert_eq!(last.offset, (members[0].len() + members[1].len()) as u64);
}

#[test]
fn garbage_between_gzip_members() {
    let data = [
        gzip(&html_response("a", "<p>x</p>")),
        b"junk\x1f\x8b".to_vec(),
        gzip(&html_response("b", "<p>y</p>")),
    ]
    .concat();
    let reader = open_warc_reader(std::io::Cursor::new(data), "x.warc.gz", WarcOptions::default());
    let got = uris(&reader.expect("open").collect::<Vec<_>>());
    assert_eq!(got.first().map(String::as_str), Some("a"));
    assert_eq!(got.last().map(String::as_str), Some("b"));
    assert!(got[1..got.len() - 1].iter().all(|g| g.starts_with("error: corrupt gzip")));
}

#[test]
fn oversized_record_skipped() {
    let big = html_response("big", &"x".repeat(5000));
    let big_len =
        (big.len() - 4 - big.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) - 4) as u64;
    let data = [big, html_response("small", "<p>ok</p>")].concat();
    let options = WarcOptions { max_record_bytes: 1000, ..WarcOptions::default() };
    let results = read_plain(&data, options);
    match &results[0] {
        Err(e @ Error::Skipped { offset: 0, reason: SkipReason::TooLarge { length }, .. }) => {
            assert_eq!(*length, big_len);
            assert!(e.is_recoverable());
        }
        other => panic!("expected a skip, got {other:?}"),
    }
    assert_eq!(uris(&results[1..]), ["small"]);
}

#[test]
fn non_html_payload_skipped() {
    let png =
        record("response", "img", b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG");
    let data = [png, html_response("page", "<p>ok</p>")].concat();
    let results = read_plain(&data, WarcOptions::default());
    let Err(Error::Skipped { reason: SkipReason::NotHtml { content_type }, .. }) = &results[0]
    else {
        panic!("expected a skip, got {:?}", results[0]);
    };
    assert_eq!(content_type, "image/png");
    assert_eq!(uris(&results[1..]), ["page"]);
    // Without the filter the image is yielded.
    let all = WarcOptions { html_only: false, ..WarcOptions::default() };
    assert_eq!(uris(&read_plain(&data, all)), ["img", "page"]);
}

#[test]
fn wet_conversion_records() {
    let text = "这是纯文本。\nPlain text line.";
    let data = [
        record("warcinfo", "", b"software: test"),
        record("conversion", "http://example.cn/", text.as_bytes()),
    ]
    .concat();
    let members = gzip(&data);
    let reader =
        open_warc_reader(std::io::Cursor::new(members), "CC-x.warc.wet.gz", WarcOptions::wet());
    let records: Vec<_> = reader.expect("open").collect::<Result<_, _>>().expect("reads");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, RecordKind::Conversion);
    assert_eq!(records[0].payload, text.as_bytes());
}

#[test]
fn zstd_multi_frame() {
    let frames = [
        zstd::encode_all(&html_response("a", "<p>1</p>")[..], 3).expect("zstd"),
        zstd::encode_all(&html_response("b", "<p>2</p>")[..], 3).expect("zstd"),
    ]
    .concat();
    let reader =
        open_warc_reader(std::io::Cursor::new(frames), "x.warc.zst", WarcOptions::default());
    assert_eq!(uris(&reader.expect("open").collect::<Vec<_>>()), ["a", "b"]);
}

#[test]
fn compression_sniffed_without_extension() {
    let data = gzip(&html_response("a", "<p>1</p>"));
    let reader = open_warc_reader(std::io::Cursor::new(data), "stdin", WarcOptions::default());
    assert_eq!(uris(&reader.expect("open").collect::<Vec<_>>()), ["a"]);
}

#[test]
fn odd_header_case_whitespace_and_bare_newlines() {
    let data = b"WARC/1.0\nwarc-type:   RESPONSE  \nWARC-TARGET-URI:<http://x/>\n\
        content-length:57\n\nHTTP/1.0 200 OK\ncontent-type:  TEXT/HTML ;x=1\n\n<p>hi</p>\n\n";
    let results = read_plain(data, WarcOptions::default());
    let rec = results[0].as_ref().expect("reads");
    assert_eq!(rec.kind, RecordKind::Response);
    assert_eq!(rec.target_uri.as_deref(), Some("http://x/"));
    let http = rec.http().expect("HTTP parses");
    assert_eq!(&*http.body, b"<p>hi</p>\n");
    assert_eq!(results.len(), 1);
}

#[test]
fn missing_content_length_resyncs() {
    let mut data =
        b"WARC/1.0\r\nWARC-Type: response\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody\r\n\r\n".to_vec();
    data.extend(html_response("next", "<p>ok</p>"));
    let results = read_plain(&data, WarcOptions::default());
    assert!(matches!(&results[0], Err(Error::MalformedHeader { offset: 0, record: 0, .. })));
    assert_eq!(uris(&results[1..]), ["next"]);
}

#[test]
fn garbage_before_first_record() {
    let data = [b"not a warc\r\nat all\r\n".to_vec(), html_response("a", "<p>x</p>")].concat();
    let results = read_plain(&data, WarcOptions::default());
    assert!(matches!(&results[0], Err(Error::MalformedHeader { offset: 0, .. })));
    assert_eq!(uris(&results[1..]), ["a"]);
}

#[test]
fn chunked_gzip_body() {
    let html = "<html><p>chunked and compressed</p></html>";
    let compressed = gzip(html.as_bytes());
    let (a, b) = compressed.split_at(10);
    let mut http = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\
        Content-Type: text/html; charset=\"ISO-8859-1\"\r\n\r\n"
        .to_vec();
    for chunk in [a, b] {
        http.extend(format!("{:x}\r\n", chunk.len()).bytes());
        http.extend_from_slice(chunk);
        http.extend_from_slice(b"\r\n");
    }
    http.extend_from_slice(b"0\r\n\r\n");
    let data = record("response", "c", &http);
    let results = read_plain(&data, WarcOptions::default());
    let response = results[0].as_ref().expect("reads").http().expect("HTTP parses");
    assert_eq!(&*response.body, html.as_bytes());
    assert_eq!(response.charset.as_deref(), Some("ISO-8859-1"));
}
