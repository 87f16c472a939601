//! Web input for tokenmill: WARC reading, charset decoding and HTML main-content extraction.
//!
//! - [`warc`]: a streaming reader of WARC 1.0/1.1 records (plain, gzip, zstd; WARC and WET).
//! - [`encoding`]: decoding HTML bodies to UTF-8 (BOM, HTTP charset, `<meta>`, detection).
//! - [`extract`]: the main text of an HTML page, with paragraph and line breaks.
//!
//! ```
//! use tokenmill_web::encoding::decode_html;
//! use tokenmill_web::extract::{ExtractOptions, Extractor};
//! use tokenmill_web::warc::{WarcOptions, WarcReader};
//!
//! let body = "<html><body><nav>Home | About</nav><article><p>The main text of the page, \
//!     long enough to be kept as content.</p><p>A second paragraph.</p></article></body></html>";
//! let http = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{body}");
//! let warc = format!(
//!     "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.com/\r\n\
//!      Content-Length: {}\r\n\r\n{http}\r\n\r\n",
//!     http.len()
//! );
//! let extractor = Extractor::new(ExtractOptions::default());
//! for record in WarcReader::new(warc.as_bytes(), WarcOptions::default()) {
//!     let record = record?;
//!     let response = record.http()?;
//!     let decoded = decode_html(&response.body, response.charset.as_deref());
//!     let page = extractor.extract(&decoded.text, record.target_uri.as_deref());
//!     let text = page.map(|p| p.text).unwrap_or_default();
//!     assert_eq!(text, "The main text of the page, long enough to be kept as content.\n\
//!         A second paragraph.");
//! }
//! # Ok::<(), tokenmill_web::Error>(())
//! ```

#![warn(missing_docs)]

pub mod encoding;
mod error;
pub mod extract;
pub mod warc;

pub use error::{Error, Result, SkipReason};
