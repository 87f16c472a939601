//! `url_filter`: drops documents whose `url` field is on a block list.
//!
//! Three lists, each from inline config entries and/or files (one entry per line, `#` starts a
//! comment, case-insensitive):
//! * `domains`: the URL's host or any parent domain is listed (`example.com` blocks
//!   `www.example.com` and `a.b.example.com`, not `notexample.com`) → `blocked_domain`;
//! * `url_substrings`: the lowercased URL contains one of them → `blocked_url_substring`;
//! * `words`: a token of the URL (split on anything not a letter or digit) is listed →
//!   `blocked_url_word`.
//!
//! A document without a URL is kept unless `drop_missing_url` (then `missing_url`).

use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use rustc_hash::FxHashSet;
use serde::Deserialize;

use crate::Verdict;
use crate::error::{Error, Result, invalid};

/// Config of [`UrlFilter`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
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
    /// Drop documents that have no URL.
    pub drop_missing_url: bool,
}

/// The URL block-list filter.
#[derive(Debug, Clone)]
pub struct UrlFilter {
    domains: FxHashSet<String>,
    substrings: Option<AhoCorasick>,
    words: FxHashSet<String>,
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
        let words = load(&cfg.words, &cfg.words_files)?.into_iter().collect();
        Ok(Self { domains, substrings, words, drop_missing: cfg.drop_missing_url })
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
        Verdict::Keep
    }
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
}
