//! Property tests: arbitrary and mutated input never panics, always terminates, and gives
//! bounded output. Case counts keep each property under a few seconds in debug builds.

use std::io::Read;
use std::sync::OnceLock;

use proptest::prelude::*;
use tokenmill_web::encoding::decode_html;
use tokenmill_web::extract::{ExtractOptions, Extractor};
use tokenmill_web::warc::{WarcOptions, WarcReader, open_warc_reader};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/web/commoncrawl-sample.warc.gz");

fn sample_gz() -> Vec<u8> {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    GZ.get_or_init(|| std::fs::read(SAMPLE).expect("sample present")).clone()
}

/// Decompressed once per test binary: inflating 550 KB per case dominated the run time.
fn sample_plain() -> Vec<u8> {
    static PLAIN: OnceLock<Vec<u8>> = OnceLock::new();
    PLAIN
        .get_or_init(|| {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&sample_gz()[..])
                .read_to_end(&mut out)
                .expect("gunzip");
            out
        })
        .clone()
}

/// Flips the given bytes and cuts the input at `cut` (a fraction of its length).
fn mutate(mut data: Vec<u8>, flips: &[(usize, u8)], cut: Option<f64>) -> Vec<u8> {
    let len = data.len();
    for &(at, xor) in flips {
        data[at % len] ^= xor | 1;
    }
    if let Some(cut) = cut {
        data.truncate((len as f64 * cut) as usize);
    }
    data
}

/// Reads everything, checking the bounds every reader result must respect.
fn drain<R: std::io::BufRead>(reader: WarcReader<R>, input_len: usize) {
    let max = reader.options().max_record_bytes as usize;
    let mut items = 0usize;
    for item in reader {
        items += 1;
        assert!(items <= input_len + 1, "more items than input bytes");
        if let Ok(record) = item {
            assert!(record.payload.len() <= max);
            let _ = record.http();
        }
    }
}

fn options() -> WarcOptions {
    WarcOptions { max_record_bytes: 64 << 10, ..WarcOptions::all() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn warc_plain_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        drain(WarcReader::new(&data[..], options()), data.len());
    }

    #[test]
    fn warc_plain_header_like_bytes(lines in proptest::collection::vec(
        "(WARC/1\\.[01]|Content-Length: ?[0-9]{1,4}|WARC-Type: (response|conversion)|[a-z\\- ]{0,12}:.{0,8}|)\r?\n",
        0..24,
    )) {
        let data = lines.concat().into_bytes();
        drain(WarcReader::new(&data[..], options()), data.len());
    }

    #[test]
    fn warc_gz_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut with_magic = vec![0x1f, 0x8b, 0x08];
        with_magic.extend_from_slice(&data);
        let reader = open_warc_reader(std::io::Cursor::new(with_magic.clone()), "x.warc.gz", options());
        drain(reader.expect("in-memory open"), with_magic.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn warc_gz_mutated_sample(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::of(0.0f64..1.0),
    ) {
        let data = mutate(sample_gz(), &flips, cut);
        let len = data.len();
        let reader = open_warc_reader(std::io::Cursor::new(data), "x.warc.gz", options());
        drain(reader.expect("in-memory open"), len);
    }

    #[test]
    fn warc_plain_mutated_sample(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
        cut in proptest::option::of(0.0f64..1.0),
    ) {
        let data = mutate(sample_plain(), &flips, cut);
        drain(WarcReader::new(&data[..], options()), data.len());
    }
}

fn check_html(body: &[u8]) {
    let decoded = decode_html(body, None);
    assert!(decoded.text.len() <= body.len() * 3 + 3);
    let extractor =
        Extractor::new(ExtractOptions { min_text_chars: 0, ..ExtractOptions::default() });
    if let Some(page) = extractor.extract(&decoded.text, Some("http://example.cn/")) {
        assert!(page.text.chars().count() <= decoded.text.chars().count());
        assert!(!page.text.contains("\n\n"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn html_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        check_html(&body);
    }

    #[test]
    fn html_tag_soup(parts in proptest::collection::vec(
        "<(p|div|a|table|tr|td|pre|br|li|ul|script|style|h2|article|span)( class=\"[a-z正文 ]{0,10}\")?>|</(p|div|a|table|tr|td|pre|li|ul|script|article)>|[a-z，,。 中文&;#0-9]{0,20}|<!--|-->|<meta charset=(gbk|utf-8|big5)>",
        0..64,
    )) {
        check_html(parts.concat().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn html_mutated_real_page(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
        cut in proptest::option::of(0.0f64..1.0),
    ) {
        let page = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/readability/wordpress.source.html.gz"))
            .expect("fixture present");
        let mut html = Vec::new();
        flate2::read::GzDecoder::new(&page[..]).read_to_end(&mut html).expect("gunzip");
        check_html(&mutate(html, &flips, cut));
    }
}
