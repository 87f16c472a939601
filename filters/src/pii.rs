//! `pii`: redacts e-mail addresses and public IPv4/IPv6 addresses, counting what it replaced.
//!
//! * **E-mail**: `local@domain.tld` where the local part uses RFC 5322 atom characters and dots,
//!   the domain has at least two labels of letters, digits and hyphens, and the TLD is 2+
//!   letters (datatrove's `PIIFormatter` pattern, hand-written for speed).
//! * **IPv4**: four dotted decimal octets not inside a longer dotted or alphanumeric run
//!   (`1.2.3.4.5` is a version, not an address), and only public ones: private, loopback,
//!   link-local, shared (100.64/10), documentation, multicast, reserved and unspecified
//!   addresses are left alone because they identify nobody.
//! * **IPv6**: runs of hex digits, `:` and `.` that parse as an address with at least three
//!   non-empty groups (so `a::b` in code is not taken), again public ones only (not loopback,
//!   unique-local, link-local, multicast or 2001:db8::/32).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

use crate::Transformed;
use crate::error::Result;

/// Config of [`Pii`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Redact e-mail addresses.
    pub emails: bool,
    /// Redact public IPv4 and IPv6 addresses.
    pub ips: bool,
    /// Text that replaces an e-mail address.
    pub email_replacement: String,
    /// Text that replaces an IPv4 address.
    pub ipv4_replacement: String,
    /// Text that replaces an IPv6 address.
    pub ipv6_replacement: String,
}

impl Default for PiiConfig {
    fn default() -> Self {
        Self {
            emails: true,
            ips: true,
            email_replacement: "email@example.com".into(),
            ipv4_replacement: "22.214.171.124".into(),
            ipv6_replacement: "2001:db8::1".into(),
        }
    }
}

/// Replacements made in one document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PiiCounts {
    /// E-mail addresses replaced.
    pub emails: usize,
    /// IPv4 addresses replaced.
    pub ipv4: usize,
    /// IPv6 addresses replaced.
    pub ipv6: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    V4,
    V6,
}

/// The PII redactor.
#[derive(Debug, Clone)]
pub struct Pii {
    cfg: PiiConfig,
}

impl Pii {
    /// Builds the redactor.
    ///
    /// # Errors
    /// None at present; kept fallible like every filter constructor.
    pub fn new(cfg: PiiConfig) -> Result<Self> {
        Ok(Self { cfg })
    }

    /// Redacts one document (never drops it).
    pub fn apply<'a>(&self, text: &'a str) -> Transformed<'a, PiiCounts> {
        let mut spans: Vec<(usize, usize, Kind)> = Vec::new();
        if self.cfg.emails {
            find_emails(text, &mut spans);
        }
        if self.cfg.ips {
            find_ipv4(text, &mut spans);
            find_ipv6(text, &mut spans);
        }
        let mut counts = PiiCounts::default();
        if spans.is_empty() {
            return Transformed { text: Cow::Borrowed(text), dropped: None, counts };
        }
        spans.sort_unstable_by_key(|s| s.0);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (s, e, kind) in spans {
            if s < at {
                continue; // overlaps an earlier replacement (an IP inside an e-mail)
            }
            out.push_str(&text[at..s]);
            let (rep, n) = match kind {
                Kind::Email => (&self.cfg.email_replacement, &mut counts.emails),
                Kind::V4 => (&self.cfg.ipv4_replacement, &mut counts.ipv4),
                Kind::V6 => (&self.cfg.ipv6_replacement, &mut counts.ipv6),
            };
            out.push_str(rep);
            *n += 1;
            at = e;
        }
        out.push_str(&text[at..]);
        Transformed { text: Cow::Owned(out), dropped: None, counts }
    }
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b)
}

fn find_emails(text: &str, spans: &mut Vec<(usize, usize, Kind)>) {
    let b = text.as_bytes();
    for at in memchr::memchr_iter(b'@', b) {
        let mut s = at;
        while s > 0 && is_local_char(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'.' || b[e] == b'-') {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s == at || e == at + 1 {
            continue;
        }
        let domain = &text[at + 1..e];
        let labels: Vec<&str> = domain.split('.').collect();
        let tld = labels.last().copied().unwrap_or("");
        let ok = labels.len() >= 2
            && labels.iter().all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
            && tld.len() >= 2
            && tld.bytes().all(|c| c.is_ascii_alphabetic());
        if ok {
            spans.push((s, e, Kind::Email));
        }
    }
}

fn find_ipv4(text: &str, spans: &mut Vec<(usize, usize, Kind)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit()
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let mut e = i;
        while e < b.len() && (b[e].is_ascii_digit() || b[e] == b'.') {
            e += 1;
        }
        let mut cand = &text[i..e];
        // A sentence-final period is not part of the address.
        if cand.ends_with('.') && !cand.ends_with("..") {
            cand = &cand[..cand.len() - 1];
        }
        let followed_by_word =
            text[i + cand.len()..].bytes().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !followed_by_word
            && let Ok(ip) = cand.parse::<Ipv4Addr>()
            && is_public_v4(ip)
        {
            spans.push((i, i + cand.len(), Kind::V4));
        }
        i = e.max(i + 1);
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || o[0] == 0
        || o[0] >= 240
        || (o[0] == 100 && (64..128).contains(&o[1])))
}

fn find_ipv6(text: &str, spans: &mut Vec<(usize, usize, Kind)>) {
    let b = text.as_bytes();
    let is_c = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut last_end = 0;
    for colon in memchr::memchr_iter(b':', b) {
        if colon < last_end {
            continue;
        }
        let mut s = colon;
        while s > 0 && is_c(b[s - 1]) {
            s -= 1;
        }
        let mut e = colon;
        while e < b.len() && is_c(b[e]) {
            e += 1;
        }
        last_end = e;
        let bounded = (s == 0 || !b[s - 1].is_ascii_alphanumeric())
            && (e == b.len() || !b[e].is_ascii_alphanumeric());
        let cand = text[s..e].trim_end_matches('.');
        let groups = cand.split(':').filter(|g| !g.is_empty()).count();
        if bounded
            && groups >= 3
            && let Ok(ip) = cand.parse::<Ipv6Addr>()
            && is_public_v6(ip)
        {
            spans.push((s, s + cand.len(), Kind::V6));
        }
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] == 0x2001 && seg[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pii() -> Pii {
        Pii::new(PiiConfig::default()).expect("valid")
    }

    #[test]
    fn emails() {
        let t = pii()
            .apply("Write to john.doe+x@mail.example.org. Or (a@b.co), not @user or x@localhost.");
        assert_eq!(
            t.text,
            "Write to email@example.com. Or (email@example.com), not @user or x@localhost."
        );
        assert_eq!(t.counts.emails, 2);
    }

    #[test]
    fn public_ipv4_only() {
        let t = pii().apply("Server 8.8.8.8, router 192.168.1.1, local 127.0.0.1, version 1.2.3.4.5, ip 81.2.69.160.");
        assert_eq!(
            t.text,
            "Server 22.214.171.124, router 192.168.1.1, local 127.0.0.1, version 1.2.3.4.5, ip 22.214.171.124."
        );
        assert_eq!(t.counts.ipv4, 2);
    }

    #[test]
    fn ipv6() {
        let t =
            pii().apply("v6 2a00:1450:4007:80e::200e and ::1 and fe80::1:2:3 and std::vec::Vec");
        assert_eq!(t.text, "v6 2001:db8::1 and ::1 and fe80::1:2:3 and std::vec::Vec");
        assert_eq!(t.counts, PiiCounts { emails: 0, ipv4: 0, ipv6: 1 });
    }

    #[test]
    fn configurable_replacements() {
        let p = Pii::new(PiiConfig {
            email_replacement: "<EMAIL>".into(),
            ips: false,
            ..Default::default()
        })
        .expect("valid");
        let t = p.apply("a@b.com 8.8.8.8");
        assert_eq!(t.text, "<EMAIL> 8.8.8.8");
    }
}
