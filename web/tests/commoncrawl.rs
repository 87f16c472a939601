//! End to end over a real Common Crawl WARC file (16 responses, gzip member per record).

use tokenmill_web::encoding::{EncodingSource, decode_html_with_url};
use tokenmill_web::extract::{ExtractOptions, Extractor, html_to_text};
use tokenmill_web::warc::{Record, RecordKind, WarcOptions, open_warc};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/web/commoncrawl-sample.warc.gz");

/// Pages whose text is Chinese: (URL prefix, encoding, where the encoding came from).
const CHINESE: &[(&str, &str, EncodingSource)] = &[
    ("http://003338.cn/", "UTF-8", EncodingSource::Meta),
    ("http://035.psb556.com/", "UTF-8", EncodingSource::Meta),
    ("http://041696.com/", "GBK", EncodingSource::Meta),
    ("http://044545.com/", "UTF-8", EncodingSource::Meta),
    ("http://0513mt.com/", "UTF-8", EncodingSource::Http),
    ("http://05925.net/", "UTF-8", EncodingSource::Bom),
    ("http://0615235.com/", "UTF-8", EncodingSource::Http),
    ("http://0755krk.com/", "GBK", EncodingSource::Meta),
    ("http://0760.jxtdw.com/", "GBK", EncodingSource::Http),
    ("http://077678u.info/", "GBK", EncodingSource::Meta),
    ("http://096355.com/", "GBK", EncodingSource::Meta),
];

fn responses() -> Vec<Record> {
    let reader = open_warc(SAMPLE, WarcOptions::default()).expect("open sample");
    reader.collect::<Result<_, _>>().expect("every record reads")
}

#[test]
fn all_sixteen_responses_with_metadata() {
    let records = responses();
    assert_eq!(records.len(), 16);
    let mut offsets = Vec::new();
    for record in &records {
        assert_eq!(record.kind, RecordKind::Response);
        assert!(record.target_uri.as_deref().is_some_and(|u| u.starts_with("http://")));
        assert!(record.date.as_deref().is_some_and(|d| d.starts_with("2020-08-08T")));
        let id = record.record_id.as_deref().unwrap_or("");
        assert!(id.starts_with("<urn:uuid:") && id.ends_with('>'), "{id}");
        assert!(record.content_type.as_deref().is_some_and(|t| t.contains("msgtype=response")));
        assert_eq!(record.http().expect("HTTP parses").status, 200);
        offsets.push(record.offset);
    }
    assert_eq!(records[0].target_uri.as_deref(), Some("http://003338.cn/l41/481397.html"));
    // Offsets are the compressed offsets of the records' gzip members.
    assert_eq!(offsets[0], 940);
    assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    let file_len = std::fs::metadata(SAMPLE).expect("stat").len();
    assert!(offsets.iter().all(|&o| o < file_len));
}

#[test]
fn other_kinds_on_request() {
    let reader = open_warc(SAMPLE, WarcOptions::all()).expect("open sample");
    let records: Vec<Record> = reader.collect::<Result<_, _>>().expect("every record reads");
    let count = |kind: RecordKind| records.iter().filter(|r| r.kind == kind).count();
    assert_eq!(count(RecordKind::Warcinfo), 1);
    assert_eq!(count(RecordKind::Request), 17);
    assert_eq!(count(RecordKind::Response), 16);
    assert_eq!(count(RecordKind::Metadata), 16);
}

fn decoded_text(record: &Record) -> (String, &'static str, EncodingSource) {
    let http = record.http().expect("HTTP parses");
    let uri = record.target_uri.as_deref();
    let decoded = decode_html_with_url(&http.body, http.charset.as_deref(), uri);
    assert!(!decoded.text.contains('\u{fffd}'), "{uri:?} has replacement characters");
    (html_to_text(&decoded.text), decoded.encoding, decoded.source)
}

#[test]
fn chinese_pages_decode_to_han() {
    let records = responses();
    for &(prefix, encoding, source) in CHINESE {
        let record = records
            .iter()
            .find(|r| r.target_uri.as_deref().is_some_and(|u| u.starts_with(prefix)))
            .expect("page present");
        let (text, got_encoding, got_source) = decoded_text(record);
        assert_eq!((got_encoding, got_source), (encoding, source), "{prefix}");
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        let han = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
        assert!(han * 2 > letters, "{prefix}: {han} Han of {letters} letters");
        // GBK text read as UTF-8 (or the reverse) shows up as Latin-1 letters like "ä¸".
        let latin1 = text.chars().filter(|c| ('\u{c0}'..='\u{ff}').contains(c)).count();
        assert!(latin1 * 100 <= letters, "{prefix}: mojibake");
    }
}

#[test]
fn russian_page_decodes_to_cyrillic() {
    let records = responses();
    let record = records
        .iter()
        .find(|r| r.target_uri.as_deref() == Some("http://01spb.ru/company/"))
        .expect("page present");
    let (text, encoding, source) = decoded_text(record);
    assert_eq!((encoding, source), ("windows-1251", EncodingSource::Http));
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let cyrillic = text.chars().filter(|c| ('\u{400}'..='\u{4ff}').contains(c)).count();
    assert!(cyrillic * 10 >= letters * 8, "{cyrillic} Cyrillic of {letters} letters");
}

#[test]
fn every_page_extracts_something() {
    let extractor = Extractor::new(ExtractOptions::default());
    for record in responses() {
        let http = record.http().expect("HTTP parses");
        let decoded = decode_html_with_url(&http.body, http.charset.as_deref(), None);
        let page = extractor.extract(&decoded.text, record.target_uri.as_deref());
        let page = page.unwrap_or_else(|| panic!("{:?}: nothing extracted", record.target_uri));
        assert!(!page.text.contains("<script") && !page.text.contains("\n\n"));
    }
}

#[test]
fn list_page_keeps_its_list_not_its_footer() {
    // 077678u.info's page is a list of headlines; its only prose is the copyright line.
    let extractor = Extractor::new(ExtractOptions::default());
    let record = responses()
        .into_iter()
        .find(|r| r.target_uri.as_deref().is_some_and(|u| u.starts_with("http://077678u.info/")))
        .expect("page present");
    let http = record.http().expect("HTTP parses");
    let decoded = decode_html_with_url(&http.body, http.charset.as_deref(), None);
    let page = extractor.extract(&decoded.text, None).expect("extracts");
    assert!(page.text.chars().count() > 500, "{}", page.text);
    assert!(page.text.contains("2020-06-19"), "{}", page.text);
}
