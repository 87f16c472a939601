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
//! * **Chinese PII** ([`ChinesePiiConfig`], all on by default): mainland mobile numbers,
//!   18-digit resident IDs (GB 11643 checksum), bank card numbers (16-19 digits, Luhn, an
//!   issuer prefix, not inside a URL), QQ numbers and WeChat ids after a context word (`QQ`,
//!   `qq号`, `微信`, `WeChat`, `wx`); the exact rules are in the `zh` submodule's docs. They
//!   are [`PiiConfig::chinese`].
//!
//! Where two finds overlap, the one that starts first wins; at the same start, the kinds rank
//! e-mail, IPv4, IPv6, resident ID, bank card, mobile, QQ, WeChat (a number after `微信：` that
//! is a mobile is counted as a mobile).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::Transformed;
use crate::error::Result;

mod zh;

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
    /// Chinese PII: mobile numbers, resident IDs, bank cards, QQ and WeChat ids.
    pub chinese: ChinesePiiConfig,
}

impl Default for PiiConfig {
    fn default() -> Self {
        Self {
            emails: true,
            ips: true,
            email_replacement: "email@example.com".into(),
            ipv4_replacement: "22.214.171.124".into(),
            ipv6_replacement: "2001:db8::1".into(),
            chinese: ChinesePiiConfig::default(),
        }
    }
}

/// Which Chinese PII [`Pii`] redacts, and with what (each find is replaced by a fixed,
/// well-formed but fake value, like the e-mail and IP replacements).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChinesePiiConfig {
    /// Redact mainland mobile numbers (`1[3-9]` + 9 digits, optionally after `+86`/`86`).
    pub mobiles: bool,
    /// Redact 18-digit resident ID numbers that pass the GB 11643 checksum.
    pub resident_ids: bool,
    /// Redact 16-19 digit bank card numbers that pass the Luhn check.
    pub bank_cards: bool,
    /// Redact QQ numbers after a QQ context word.
    pub qq: bool,
    /// Redact WeChat ids after a WeChat context word.
    pub wechat: bool,
    /// Text that replaces a mobile number (with its country code).
    pub mobile_replacement: String,
    /// Text that replaces a resident ID number.
    pub resident_id_replacement: String,
    /// Text that replaces a bank card number.
    pub bank_card_replacement: String,
    /// Text that replaces a QQ number (the context word stays).
    pub qq_replacement: String,
    /// Text that replaces a WeChat id (the context word stays).
    pub wechat_replacement: String,
}

impl Default for ChinesePiiConfig {
    fn default() -> Self {
        Self {
            mobiles: true,
            resident_ids: true,
            bank_cards: true,
            qq: true,
            wechat: true,
            // China Mobile's service number, the customary example number.
            mobile_replacement: "13800138000".into(),
            // Beijing Dongcheng, born 1900-01-01, with a valid check digit.
            resident_id_replacement: "110101190001011009".into(),
            // UnionPay prefix, zeros, valid Luhn.
            bank_card_replacement: "6200000000000000000".into(),
            // Tencent's own customer-service account.
            qq_replacement: "10000".into(),
            wechat_replacement: "wxid_example".into(),
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
    /// Mainland mobile numbers replaced.
    pub cn_mobiles: usize,
    /// Resident ID numbers replaced.
    pub cn_resident_ids: usize,
    /// Bank card numbers replaced.
    pub bank_cards: usize,
    /// QQ numbers replaced.
    pub qq: usize,
    /// WeChat ids replaced.
    pub wechat: usize,
}

/// What a span is; the declaration order is the rank among finds that start together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Email,
    V4,
    V6,
    CnId,
    BankCard,
    CnMobile,
    Qq,
    WeChat,
}

/// The PII redactor.
#[derive(Debug, Clone)]
pub struct Pii {
    cfg: PiiConfig,
    zh: ChinesePiiConfig,
    /// The QQ/WeChat context words.
    contexts: aho_corasick::AhoCorasick,
}

impl Pii {
    /// Builds the redactor.
    ///
    /// # Errors
    /// Only if the fixed QQ/WeChat context matcher cannot be built (it always can).
    pub fn new(cfg: PiiConfig) -> Result<Self> {
        let zh = cfg.chinese.clone();
        Ok(Self { cfg, zh, contexts: zh::context_matcher()? })
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
        self.find_chinese(text, &mut spans);
        let mut counts = PiiCounts::default();
        if spans.is_empty() {
            return Transformed { text: Cow::Borrowed(text), dropped: None, counts };
        }
        spans.sort_unstable_by_key(|s| (s.0, s.2));
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
                Kind::CnId => (&self.zh.resident_id_replacement, &mut counts.cn_resident_ids),
                Kind::BankCard => (&self.zh.bank_card_replacement, &mut counts.bank_cards),
                Kind::CnMobile => (&self.zh.mobile_replacement, &mut counts.cn_mobiles),
                Kind::Qq => (&self.zh.qq_replacement, &mut counts.qq),
                Kind::WeChat => (&self.zh.wechat_replacement, &mut counts.wechat),
            };
            out.push_str(rep);
            *n += 1;
            at = e;
        }
        out.push_str(&text[at..]);
        Transformed { text: Cow::Owned(out), dropped: None, counts }
    }

    fn find_chinese(&self, text: &str, spans: &mut Vec<(usize, usize, Kind)>) {
        let z = &self.zh;
        let kinds =
            zh::NumberKinds { mobiles: z.mobiles, ids: z.resident_ids, cards: z.bank_cards };
        if kinds.mobiles || kinds.ids || kinds.cards {
            zh::find_numbers(text, kinds, spans);
        }
        if z.qq || z.wechat {
            zh::find_contextual(text, &self.contexts, z.qq, z.wechat, spans);
        }
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
        assert_eq!(t.counts, PiiCounts { ipv6: 1, ..Default::default() });
    }

    #[test]
    fn chinese_mobiles() {
        let t = pii().apply(
            "手机：13812345678，或 +86 139-1234-5678，或8615912345678。\
             订单号2023061513812345678901，版本 0.13812345678，编号a13812345678。",
        );
        assert_eq!(
            t.text,
            "手机：13800138000，或 13800138000，或13800138000。\
             订单号2023061513812345678901，版本 0.13812345678，编号a13812345678。"
        );
        assert_eq!(t.counts, PiiCounts { cn_mobiles: 3, ..Default::default() });
    }

    #[test]
    fn resident_ids_need_the_checksum() {
        let t = pii()
            .apply("身份证号：11010519491231002X；错号 110105194912310021；440524188001010014");
        assert_eq!(
            t.text,
            "身份证号：110101190001011009；错号 110105194912310021；110101190001011009"
        );
        assert_eq!(t.counts, PiiCounts { cn_resident_ids: 2, ..Default::default() });
    }

    #[test]
    fn bank_cards_need_luhn() {
        let t = pii().apply(
            "卡号 6222021234567890128 或 6222 0212 3456 7890 128，4111-1111-1111-1111；\
             订单 6222021234567890123，流水 4111 1111 1111 1111 1111。",
        );
        assert_eq!(
            t.text,
            "卡号 6200000000000000000 或 6200000000000000000，6200000000000000000；\
             订单 6222021234567890123，流水 4111 1111 1111 1111 1111。"
        );
        assert_eq!(t.counts, PiiCounts { bank_cards: 3, ..Default::default() });
    }

    #[test]
    fn qq_and_wechat_only_in_context() {
        let t = pii().apply(
            "QQ：123456789，qq号 87654321，加微信: wxid_abc123 或 WeChat zhang_san88，wx：abcdefg。\
             我的号码是123456789，QQ群：12345678，WeChat account，微信支付。",
        );
        assert_eq!(
            t.text,
            "QQ：10000，qq号 10000，加微信: wxid_example 或 WeChat wxid_example，wx：wxid_example。\
             我的号码是123456789，QQ群：12345678，WeChat account，微信支付。"
        );
        assert_eq!(t.counts, PiiCounts { qq: 2, wechat: 3, ..Default::default() });
    }

    /// Years, table rows, ids in URLs and order numbers stay: cards need an issuer prefix and
    /// no URL around them, space-grouped mobiles a country code.
    #[test]
    fn ordinary_numbers_are_not_chinese_pii() {
        for text in [
            "2017 2018 2019 2020 年度报告",
            "1954 1955 1956 1957",
            "行 150 1000 2000 合计",
            "https://weibo.com/status/4716350000000000009",
            "订单 id=4716350000000000009",
        ] {
            let t = pii().apply(text);
            assert_eq!(t.text, text, "{text}");
        }
        // A long list of short numbers (lottery draws, tables) is scanned in one pass.
        let draws = "03 15 22 ".repeat(200_000);
        assert_eq!(pii().apply(&draws).text, draws);
    }

    #[test]
    fn chinese_kinds_can_be_switched_off() {
        let chinese = ChinesePiiConfig { mobiles: false, qq: false, ..Default::default() };
        let p = Pii::new(PiiConfig { chinese, ..PiiConfig::default() }).expect("valid");
        let text = "电话 13812345678 QQ 123456";
        assert_eq!(p.apply(text).text, text);
        // E-mail and IP counting is unaffected by the Chinese kinds.
        let t = pii().apply("a@b.com 8.8.8.8 13812345678");
        assert_eq!(t.text, "email@example.com 22.214.171.124 13800138000");
        assert_eq!(t.counts, PiiCounts { emails: 1, ipv4: 1, cn_mobiles: 1, ..Default::default() });
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
