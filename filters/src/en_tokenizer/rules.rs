//! Character classes, special cases and the URL test of the English tokenizer (spaCy 3.8's
//! English defaults, re-expressed as code).
//!
//! Over 400 lines because most of it is data: spaCy's abbreviation, emoticon and exception
//! tables, kept in one place so they can be compared with spaCy's source line by line.

use std::sync::LazyLock;

use rustc_hash::FxHashMap;

pub(crate) use super::chars::{
    UNITS_AND_CURRENCIES, is_icon, is_list_punct, is_prefix_punct, is_quote,
};

/// Abbreviations kept whole with their period(s) (titles, months, US states, Latin, letters).
const ABBREVIATIONS: &[&str] = &[
    "Adm.",
    "Ak.",
    "Ala.",
    "Apr.",
    "Ariz.",
    "Ark.",
    "Aug.",
    "Bros.",
    "Calif.",
    "Co.",
    "Colo.",
    "Conn.",
    "Corp.",
    "D.C.",
    "Dec.",
    "Del.",
    "Dr.",
    "E.G.",
    "E.g.",
    "Feb.",
    "Fla.",
    "Ga.",
    "Gen.",
    "Gov.",
    "I.E.",
    "I.e.",
    "Ia.",
    "Id.",
    "Ill.",
    "Inc.",
    "Ind.",
    "Jan.",
    "Jr.",
    "Jul.",
    "Jun.",
    "Kan.",
    "Kans.",
    "Ky.",
    "La.",
    "Ltd.",
    "Mar.",
    "Mass.",
    "Md.",
    "Messrs.",
    "Mich.",
    "Minn.",
    "Miss.",
    "Mo.",
    "Mont.",
    "Mr.",
    "Mrs.",
    "Ms.",
    "Mt.",
    "N.C.",
    "N.D.",
    "N.H.",
    "N.J.",
    "N.M.",
    "N.Y.",
    "Neb.",
    "Nebr.",
    "Nev.",
    "Nov.",
    "Oct.",
    "Okla.",
    "Ore.",
    "Pa.",
    "Ph.D.",
    "Prof.",
    "Rep.",
    "Rev.",
    "S.C.",
    "Sen.",
    "Sep.",
    "Sept.",
    "St.",
    "Tenn.",
    "Va.",
    "Wash.",
    "Wis.",
    "a.m.",
    "co.",
    "e.g.",
    "i.e.",
    "p.m.",
    "v.s.",
    "vs.",
    "°C.",
    "°F.",
    "°K.",
    "°c.",
    "°f.",
    "°k.",
    "ä.",
    "ö.",
    "ü.",
    // Whole tokens that would otherwise split on affixes.
    "'",
    "''",
    "'s",
    "'S",
    "'d",
    "'ll",
    "'re",
    "'em",
    "'bout",
    "'cause",
    "'Cause",
    "'cos",
    "'coz",
    "'cuz",
    "'nuff",
    "C++",
    "and/or",
    "w/o",
    "o'clock",
    "O'clock",
    "o’clock",
    "O’clock",
    "ma'am",
    "Ma'am",
    "ma’am",
    "Ma’am",
    "ol'",
    "Ol'",
    "ol’",
    "Ol’",
    "doin'",
    "Doin'",
    "doin’",
    "Doin’",
    "goin'",
    "Goin'",
    "goin’",
    "Goin’",
    "havin'",
    "Havin'",
    "havin’",
    "Havin’",
    "lovin'",
    "Lovin'",
    "lovin’",
    "Lovin’",
    "nothin'",
    "Nothin'",
    "nothin’",
    "Nothin’",
    "nuthin'",
    "Nuthin'",
    "nuthin’",
    "Nuthin’",
    "somethin'",
    "Somethin'",
    "somethin’",
    "Somethin’",
    // Single lowercase letters with a period (list items, initials).
    "a.",
    "b.",
    "c.",
    "d.",
    "e.",
    "f.",
    "g.",
    "h.",
    "i.",
    "j.",
    "k.",
    "l.",
    "m.",
    "n.",
    "o.",
    "p.",
    "q.",
    "r.",
    "s.",
    "t.",
    "u.",
    "v.",
    "w.",
    "x.",
    "y.",
    "z.",
    // Emoticons (ASCII ones; they would otherwise split on `:`, `(`, `)`, `;`, `[`, `]`).
    ":)",
    ":))",
    ":)))",
    ":(",
    ":((",
    ":(((",
    ":()",
    ":-)",
    ":-))",
    ":-)))",
    ":-(",
    ":-((",
    ":-(((",
    ":D",
    ":-D",
    ":P",
    ":-P",
    ":p",
    ":-p",
    ":O",
    ":-O",
    ":o",
    ":-o",
    ":o)",
    ":0",
    ":-0",
    ":X",
    ":-X",
    ":x",
    ":-x",
    ":|",
    ":-|",
    ":/",
    ":-/",
    ":]",
    ":-]",
    ":}",
    ":-}",
    ":>",
    ":->",
    ":*",
    ":-*",
    ":3",
    ":-3",
    ":1",
    ":'(",
    ":')",
    ":'-(",
    ":'-)",
    ";)",
    ";-)",
    ";D",
    ";-D",
    ";_;",
    "(:",
    "(-:",
    "(;",
    "(-;",
    "(=",
    "):",
    ")-:",
    "[:",
    "[-:",
    "[=",
    "]=",
    "=(",
    "=)",
    "=/",
    "=3",
    "=D",
    "=[",
    "=]",
    "=|",
    "<3",
    "<33",
    "<333",
    "</3",
    "<.<",
    ">.<",
    ">.>",
    ">:(",
    ">:o",
    "8)",
    "8-)",
    "8D",
    "8-D",
    "^_^",
    "^__^",
    "^___^",
    "-_-",
    "-__-",
    "._.",
    "@_@",
    "o.O",
    "O.o",
    "o.o",
    "O.O",
    "o_O",
    "O_o",
    "o_o",
    "O_O",
    "0.0",
    "0.o",
    "o.0",
    "0_0",
    "0_o",
    "o_0",
    "v.v",
    "V.V",
    "v_v",
    "V_V",
    "XD",
    "XDD",
    "(^_^)",
    "(-_-)",
    "(._.)",
    "(*_*)",
    "(>_<)",
    "(o:",
];

/// Bases that take `n't` (`nt` without apostrophe), as spaCy spells them (`ca` for can...).
const NT_BASES: &[&str] = &[
    "do", "does", "did", "has", "have", "had", "is", "are", "was", "were", "could", "would",
    "should", "might", "must", "need", "ought", "may", "dare", "ca", "wo", "sha", "ai",
];

const D: u16 = 1;
const DVE: u16 = 2;
const LL: u16 = 4;
const LLVE: u16 = 8;
const RE: u16 = 16;
const VE: u16 = 32;
const S: u16 = 64;
const M: u16 = 128;
const MA: u16 = 256;

/// Pronouns and wh-words with the clitics spaCy lists for them.
const CLITIC_BASES: &[(&str, u16)] = &[
    ("i", D | DVE | LL | LLVE | VE | M | MA),
    ("you", D | DVE | LL | LLVE | RE | VE),
    ("we", D | DVE | LL | LLVE | RE | VE),
    ("they", D | DVE | LL | LLVE | RE | VE),
    ("he", D | DVE | LL | LLVE | S),
    ("she", D | DVE | LL | LLVE | S),
    ("it", D | DVE | LL | LLVE | S),
    ("that", D | DVE | LL | LLVE | S),
    ("this", D | DVE | LL | LLVE | S),
    ("these", D | DVE | LL | LLVE | RE | VE),
    ("those", D | DVE | LL | LLVE | RE | VE),
    ("who", D | DVE | LL | LLVE | RE | S | VE),
    ("what", D | DVE | LL | LLVE | RE | S | VE),
    ("when", D | DVE | LL | LLVE | RE | S | VE),
    ("where", D | DVE | LL | LLVE | RE | S | VE),
    ("why", D | DVE | LL | LLVE | RE | S | VE),
    ("how", D | DVE | LL | LLVE | RE | S | VE),
    ("there", D | DVE | LL | LLVE | RE | S | VE),
    ("could", VE),
    ("would", VE),
    ("should", VE),
    ("might", VE),
    ("must", VE),
    ("not", VE),
];

/// Clitic spellings (apostrophe form normalised to `'`): flag, text, inner split after the base.
const CLITICS: &[(u16, &str, &str)] = &[
    (DVE, "'d've", "'d"),
    (LLVE, "'ll've", "'ll"),
    (D, "'d", ""),
    (LL, "'ll", ""),
    (RE, "'re", ""),
    (VE, "'ve", ""),
    (S, "'s", ""),
    (M, "'m", ""),
    (MA, "'ma", ""),
];

/// Apostrophe-less spellings spaCy skips because they are ordinary words.
const NO_APOSTROPHE_WORDS: &[&str] =
    &["ill", "well", "were", "hell", "shed", "shell", "its", "whore", "thiss"];

/// All special cases except times, built once: chunk text -> split points (byte offsets).
static SPECIALS: LazyLock<Specials> = LazyLock::new(|| {
    let map = build_specials();
    let mut shapes = vec![0u64; SHAPE_BITS / 64];
    for k in map.keys() {
        let bit = shape_bit(k.as_bytes());
        shapes[bit / 64] |= 1 << (bit % 64);
    }
    Specials { map, shapes }
});

/// Bits of [`Specials::shapes`] (8 KiB: stays in the core's cache).
const SHAPE_BITS: usize = 1 << 16;

/// The bit of a text's shape: its length and first two and last two bytes, hashed.
fn shape_bit(b: &[u8]) -> usize {
    let n = b.len();
    let key = u64::from(b[0])
        | u64::from(b[1.min(n - 1)]) << 8
        | u64::from(b[n.saturating_sub(2)]) << 16
        | u64::from(b[n - 1]) << 24
        | (n as u64) << 32;
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHAPE_BITS.trailing_zeros())) as usize
}

/// The special-case table with a cheap pre-filter: a bit per shape (length, first two and last
/// two bytes) that some special case has. Nearly every chunk and piece of one is looked up here
/// and almost none is a special case; about 2% of them pass the pre-filter.
struct Specials {
    map: FxHashMap<String, Vec<usize>>,
    shapes: Vec<u64>,
}

fn build_specials() -> FxHashMap<String, Vec<usize>> {
    let mut m: FxHashMap<String, Vec<usize>> = FxHashMap::default();
    for a in ABBREVIATIONS {
        m.insert((*a).to_string(), Vec::new());
    }
    // (lowercase form with ' as apostrophe, split points in that form)
    let mut forms: Vec<(String, Vec<usize>)> =
        vec![("cannot".into(), vec![3]), ("gonna".into(), vec![3]), ("gotta".into(), vec![3])];
    for base in NT_BASES {
        let b = base.len();
        forms.push((format!("{base}n't"), vec![b]));
        forms.push((format!("{base}n't've"), vec![b, b + 3]));
    }
    for &(base, flags) in CLITIC_BASES {
        for &(flag, clitic, inner) in CLITICS {
            if flags & flag != 0 {
                let mut v = vec![base.len()];
                if !inner.is_empty() {
                    v.push(base.len() + inner.len());
                }
                forms.push((format!("{base}{clitic}"), v));
            }
        }
    }
    for (form, splits) in forms {
        for apos in ["'", "’", ""] {
            // Re-spell the apostrophes and move split points by the byte-length difference.
            let mut spelled = String::new();
            let mut map = Vec::new(); // old byte offset -> new byte offset
            for ch in form.chars() {
                map.push(spelled.len());
                if ch == '\'' { spelled.push_str(apos) } else { spelled.push(ch) }
            }
            map.push(spelled.len());
            if apos.is_empty()
                && (NO_APOSTROPHE_WORDS.contains(&spelled.as_str())
                    || spelled == form && form.contains('\''))
            {
                continue;
            }
            let pts: Vec<usize> = splits.iter().map(|&p| map[p]).collect();
            let mut title = spelled.clone();
            if let Some(f) = title.get_mut(0..1) {
                f.make_ascii_uppercase();
            }
            m.entry(title).or_insert_with(|| pts.clone());
            m.entry(spelled).or_insert(pts);
        }
    }
    m
}

/// The split points of a special case, if `s` is one.
pub(crate) fn special_split(s: &str) -> Option<&'static [usize]> {
    let b = s.as_bytes();
    if b.len() > 20 || b.is_empty() {
        return None;
    }
    if b[0].is_ascii_digit() {
        return time_split(s);
    }
    let sp = &*SPECIALS;
    let bit = shape_bit(b);
    if sp.shapes[bit / 64] & (1 << (bit % 64)) == 0 {
        return None;
    }
    sp.map.get(s).map(Vec::as_slice)
}

/// `10am`, `9p.m.`: hours 1-12 followed by am/pm.
fn time_split(s: &str) -> Option<&'static [usize]> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let hour: u32 = s[..digits].parse().ok()?;
    if !(1..=12).contains(&hour) || digits > 2 {
        return None;
    }
    matches!(&s[digits..], "am" | "pm" | "a.m." | "p.m.").then_some(if digits == 1 {
        &[1]
    } else {
        &[2]
    })
}

/// spaCy's `URL_MATCH`: optional scheme, optional user info, a host with a lowercase TLD or a
/// public IPv4 address, optional port and path.
pub(crate) fn is_url(s: &str) -> bool {
    // Every host has a dot (a TLD or an IPv4 address).
    if memchr::memchr(b'.', s.as_bytes()).is_none() {
        return false;
    }
    let mut rest = s;
    let b = rest.as_bytes();
    if let Some(i) = memchr::memchr_iter(b':', b).find(|&i| b[i + 1..].starts_with(b"//")) {
        let scheme = &rest[..i];
        if scheme.chars().count() >= 2
            && scheme.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
        {
            rest = &rest[i + 3..];
        }
    }
    if host_port_path(rest) {
        return true;
    }
    // With user info: anything before an '@'.
    rest.match_indices('@').any(|(i, _)| i > 0 && host_port_path(&rest[i + 1..]))
}

fn host_port_path(s: &str) -> bool {
    let end = s.find([':', '/', '?', '#']).unwrap_or(s.len());
    let (host, tail) = s.split_at(end);
    let tail_ok = if let Some(port_rest) = tail.strip_prefix(':') {
        let d = port_rest.bytes().take_while(u8::is_ascii_digit).count();
        (2..=5).contains(&d)
            && (port_rest.len() == d || port_rest[d..].starts_with(['/', '?', '#']))
    } else {
        true
    };
    tail_ok && (is_hostname(host) || is_public_ipv4(host))
}

fn is_hostname(host: &str) -> bool {
    let Some((labels, tld)) = host.rsplit_once('.') else {
        return false;
    };
    let tld_len = tld.chars().count();
    if !(2..=63).contains(&tld_len) || !tld.chars().all(super::is_lower_like) {
        return false;
    }
    let label_char = |c: char| c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c);
    labels.split('.').all(|l| {
        let n = l.chars().count();
        (1..=64).contains(&n)
            && l.chars().next().is_some_and(label_char)
            && l.chars().next_back().is_some_and(label_char)
            && l.chars().all(|c| label_char(c) || c == '_' || c == '-')
    })
}

fn is_public_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let v: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    let first_ok = (1..=223).contains(&v[0]) && !parts[0].starts_with('0');
    let private = v[0] == 10
        || v[0] == 127
        || (v[0] == 169 && v[1] == 254)
        || (v[0] == 192 && v[1] == 168)
        || (v[0] == 172 && (16..=31).contains(&v[1]));
    first_ok && !private && v[1] <= 255 && v[2] <= 255 && (1..=254).contains(&v[3])
}

#[cfg(test)]
mod tests;
