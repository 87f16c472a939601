//! `url_filter`: drops documents whose `url` field is on a block list.
//!
//! Three lists, each from inline config entries and/or files (one entry per line, `#` starts a
//! comment, case-insensitive):
//! * `domains`: the URL's host or any parent domain is listed (`example.com` blocks
//!   `www.example.com` and `a.b.example.com`, not `notexample.com`) → `blocked_domain`;
//! * `url_substrings`: the lowercased URL contains one of them → `blocked_url_substring`;
//! * `words`: a token of the URL (split on anything not a letter or digit) is listed →
//!   `blocked_url_word`;
//! * `soft_words`: at least `soft_words_min` distinct tokens of the URL are listed →
//!   `blocked_url_soft_words`;
//! * `subwords`: the URL with everything but ASCII letters and digits removed contains one of
//!   them → `blocked_url_subword`.
//!
//! `datatrove_lists` adds the word, soft-word and subword lists of datatrove's `URLFilter` (the
//! adult-content rules FineWeb applies; `data/blocklists/url-*.txt`, Apache-2.0), compiled in.
//! Its 4.5-million-entry domain list (the UT1 blacklist) is not shipped: pass it, or any other,
//! with `domains_files`.
//!
//! A document without a URL is kept unless `drop_missing_url` (then `missing_url`).

use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use rustc_hash::FxHashSet;
use serde::Deserialize;

use crate::Verdict;
use crate::error::{Error, Result, invalid};

/// Config of [`UrlFilter`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UrlFilterConfig {
    /// Blocked domains (host names; subdomains are blocked too).
    pub domains: Vec<String>,
    /// Files of blocked domains, one per line.
    pub domains_files: Vec<PathBuf>,
    /// Blocked URL substrings.
    pub url_substrings: Vec<String>,
    /// Files of blocked URL substrings, one per line.
    pub url_substrings_files: Vec<PathBuf>,
    /// Blocked words (whole alphanumeric tokens of the URL).
    pub words: Vec<String>,
    /// Files of blocked words, one per line.
    pub words_files: Vec<PathBuf>,
    /// Words of which at least `soft_words_min` distinct ones in a URL block it.
    pub soft_words: Vec<String>,
    /// Files of soft words, one per line.
    pub soft_words_files: Vec<PathBuf>,
    /// Distinct soft words that block a URL (words; default 2).
    pub soft_words_min: usize,
    /// Blocked substrings of the URL reduced to its ASCII letters and digits.
    pub subwords: Vec<String>,
    /// Files of blocked subwords, one per line.
    pub subwords_files: Vec<PathBuf>,
    /// Add datatrove's URL word, soft-word and subword lists (shipped).
    pub datatrove_lists: bool,
    /// Drop documents that have no URL.
    pub drop_missing_url: bool,
}

impl Default for UrlFilterConfig {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            domains_files: Vec::new(),
            url_substrings: Vec::new(),
            url_substrings_files: Vec::new(),
            words: Vec::new(),
            words_files: Vec::new(),
            soft_words: Vec::new(),
            soft_words_files: Vec::new(),
            soft_words_min: 2,
            subwords: Vec::new(),
            subwords_files: Vec::new(),
            datatrove_lists: false,
            drop_missing_url: false,
        }
    }
}

/// datatrove 0.10.1's `URLFilter` lists (Apache-2.0): banned words, soft-banned words, banned
/// subwords.
const DATATROVE_WORDS: &str = include_str!("../../data/blocklists/url-banned-words.txt");
const DATATROVE_SOFT_WORDS: &str = include_str!("../../data/blocklists/url-soft-banned-words.txt");
const DATATROVE_SUBWORDS: &str = include_str!("../../data/blocklists/url-banned-subwords.txt");

/// The URL block-list filter.
#[derive(Debug, Clone)]
pub struct UrlFilter {
    domains: FxHashSet<String>,
    substrings: Option<AhoCorasick>,
    words: FxHashSet<String>,
    soft_words: FxHashSet<String>,
    soft_words_min: usize,
    subwords: Option<AhoCorasick>,
    drop_missing: bool,
}

fn load(inline: &[String], files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out: Vec<String> =
        inline.iter().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            what: "block list",
            path: path.clone(),
            source,
        })?;
        out.extend(parse_list(&text));
    }
    Ok(out)
}

/// Entries of a block-list file: trimmed, lowercased, comments and blank lines skipped.
pub fn parse_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_lowercase())
        .filter(|l| !l.is_empty())
}

impl UrlFilter {
    /// Builds the filter, reading the list files.
    ///
    /// # Errors
    /// A list file cannot be read.
    pub fn new(cfg: UrlFilterConfig) -> Result<Self> {
        let domains = load(&cfg.domains, &cfg.domains_files)?
            .into_iter()
            .map(|d| d.trim_start_matches("www.").trim_end_matches('.').to_string())
            .collect();
        let subs = load(&cfg.url_substrings, &cfg.url_substrings_files)?;
        let substrings = if subs.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(&subs)
                    .map_err(|e| invalid("url_filter", "url_substrings", e.to_string()))?,
            )
        };
        let builtin = |list: &'static str| -> Vec<String> {
            if cfg.datatrove_lists {
                parse_list(list).map(|w| alnum(&w)).collect()
            } else {
                Vec::new()
            }
        };
        let mut words = load(&cfg.words, &cfg.words_files)?;
        words.extend(builtin(DATATROVE_WORDS));
        let mut soft_words = load(&cfg.soft_words, &cfg.soft_words_files)?;
        soft_words.extend(builtin(DATATROVE_SOFT_WORDS));
        let mut subwords: Vec<String> =
            load(&cfg.subwords, &cfg.subwords_files)?.iter().map(|w| alnum(w)).collect();
        subwords.extend(builtin(DATATROVE_SUBWORDS));
        subwords.retain(|w| !w.is_empty());
        let subwords = if subwords.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(&subwords)
                    .map_err(|e| invalid("url_filter", "subwords", e.to_string()))?,
            )
        };
        if cfg.soft_words_min == 0 {
            return Err(invalid("url_filter", "soft_words_min", "must be at least 1"));
        }
        Ok(Self {
            domains,
            substrings,
            words: words.into_iter().collect(),
            soft_words: soft_words.into_iter().collect(),
            soft_words_min: cfg.soft_words_min,
            subwords,
            drop_missing: cfg.drop_missing_url,
        })
    }

    /// Keeps or drops a document given its `url` field.
    pub fn check(&self, url: Option<&str>) -> Verdict {
        let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
            return if self.drop_missing { Verdict::Drop("missing_url") } else { Verdict::Keep };
        };
        let lower = url.trim().to_lowercase();
        if !self.domains.is_empty() {
            let host = host_of(&lower);
            let mut h = host;
            loop {
                if self.domains.contains(h) {
                    return Verdict::Drop("blocked_domain");
                }
                match h.split_once('.') {
                    Some((_, parent)) if parent.contains('.') || self.domains.contains(parent) => {
                        h = parent
                    }
                    _ => break,
                }
            }
        }
        if let Some(ac) = &self.substrings
            && ac.is_match(&lower)
        {
            return Verdict::Drop("blocked_url_substring");
        }
        if !self.words.is_empty()
            && lower.split(|c: char| !c.is_alphanumeric()).any(|w| self.words.contains(w))
        {
            return Verdict::Drop("blocked_url_word");
        }
        if !self.soft_words.is_empty() {
            let tokens: FxHashSet<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
            let n = tokens.iter().filter(|w| self.soft_words.contains(**w)).count();
            if n >= self.soft_words_min {
                return Verdict::Drop("blocked_url_soft_words");
            }
        }
        if let Some(ac) = &self.subwords
            && ac.is_match(&alnum(&lower))
        {
            return Verdict::Drop("blocked_url_subword");
        }
        Verdict::Keep
    }
}

/// `s` lowercased with everything but ASCII letters and digits removed (datatrove's URL
/// `normalize`).
fn alnum(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The host of a (lowercased) URL, without scheme, user info, port and `www.`.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().map_or(host_port, |h| h.trim_start_matches('['))
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    host.trim_end_matches('.').trim_start_matches("www.")
}

/// Convenience for tests and tools: whether `path` exists and is a readable list.
pub fn check_list_file(path: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "block list",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_list(&text).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://user:pw@www.example.com:8080/a?b"), "example.com");
        assert_eq!(host_of("example.org/path"), "example.org");
        assert_eq!(host_of("http://[2001:db8::1]:80/"), "2001:db8::1");
    }

    #[test]
    fn blocks() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("url_filter_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("domains.txt");
        std::fs::write(&file, "# adult sites\nbad.example\n\nEvil.ORG # trailing comment\n")?;
        let f = UrlFilter::new(UrlFilterConfig {
            domains_files: vec![file.clone()],
            url_substrings: vec!["/casino/".into()],
            words: vec!["porn".into()],
            ..Default::default()
        })?;
        assert_eq!(f.check(Some("https://www.bad.example/x")), Verdict::Drop("blocked_domain"));
        assert_eq!(f.check(Some("http://a.b.evil.org")), Verdict::Drop("blocked_domain"));
        assert_eq!(f.check(Some("http://notevil.org")), Verdict::Keep);
        assert_eq!(
            f.check(Some("http://site.com/Casino/win")),
            Verdict::Drop("blocked_url_substring")
        );
        assert_eq!(f.check(Some("http://free-porn.com/")), Verdict::Drop("blocked_url_word"));
        assert_eq!(f.check(Some("http://pornography-history.edu/")), Verdict::Keep);
        assert_eq!(f.check(None), Verdict::Keep);
        assert_eq!(check_list_file(&file)?, 2);
        std::fs::remove_dir_all(&dir)?;
        let missing = UrlFilter::new(UrlFilterConfig {
            domains_files: vec![dir.join("nope")],
            ..Default::default()
        });
        assert!(missing.is_err());
        Ok(())
    }

    #[test]
    fn datatrove_lists() -> anyhow::Result<()> {
        let f = UrlFilter::new(UrlFilterConfig { datatrove_lists: true, ..Default::default() })?;
        // URLs of the Common Crawl sample (data/web/commoncrawl-sample.warc.gz) pass: their
        // spam is in Chinese, not in the URL.
        assert_eq!(
            f.check(Some("http://0513mt.com/index.php/art/detail/id/8884.html")),
            Verdict::Keep
        );
        assert_eq!(
            f.check(Some("https://www.example.com/xxx/videos")),
            Verdict::Drop("blocked_url_word")
        );
        assert_eq!(
            f.check(Some("https://example.com/naked-babes/gallery")),
            Verdict::Drop("blocked_url_soft_words")
        );
        assert_eq!(f.check(Some("https://example.com/naked-mole-rat")), Verdict::Keep);
        assert_eq!(
            f.check(Some("https://example.com/BestPornHubClips")),
            Verdict::Drop("blocked_url_subword")
        );
        let own = UrlFilter::new(UrlFilterConfig {
            subwords: vec!["Casino".into()],
            soft_words: vec!["bet".into(), "odds".into()],
            soft_words_min: 2,
            ..Default::default()
        })?;
        assert_eq!(
            own.check(Some("http://a.com/onlinecasinos")),
            Verdict::Drop("blocked_url_subword")
        );
        assert_eq!(
            own.check(Some("http://a.com/bet/odds")),
            Verdict::Drop("blocked_url_soft_words")
        );
        assert_eq!(own.check(Some("http://a.com/bet/evens")), Verdict::Keep);
        Ok(())
    }
}
