//! Prints what the extractor keeps on each page of a WARC file: URL, characters kept out of
//! the page's whole text, and the start of the extraction.
//!
//! ```text
//! cargo run --release --example commoncrawl_extract -- [WARC] [CHARS]
//! ```
//!
//! Defaults: the Common Crawl sample in `tests/fixtures/` and 300 characters per page.

use tokenmill_web::encoding::decode_html_with_url;
use tokenmill_web::extract::{ExtractOptions, Extractor, html_to_text};
use tokenmill_web::warc::{WarcOptions, open_warc};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/web/commoncrawl-sample.warc.gz");

fn main() -> tokenmill_web::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().map_or(SAMPLE, String::as_str);
    let chars: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(300);
    let extractor = Extractor::new(ExtractOptions::default());
    for record in open_warc(path, WarcOptions::default())? {
        let record = record?;
        let http = record.http()?;
        let uri = record.target_uri.as_deref();
        let decoded = decode_html_with_url(&http.body, http.charset.as_deref(), uri);
        let all = html_to_text(&decoded.text).chars().count();
        let text = extractor.extract(&decoded.text, uri).map(|e| e.text).unwrap_or_default();
        let start: String = text.chars().take(chars).collect();
        println!("== {} ({} of {all} chars)", uri.unwrap_or("?"), text.chars().count());
        println!("{}\n", start.replace('\n', " | "));
    }
    Ok(())
}
