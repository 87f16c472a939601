//! The per-character table [`super::ZhConvert::detect`] judges the script with, parsed once
//! from `filters/data/zh_script_chars.txt` (generated from OpenCC's dictionaries by
//! `scripts/make-zh-script-table.py`).
//!
//! OpenCC converts by greedy longest match over its phrase and character dictionaries, and
//! every entry keeps its key's length. So the number of characters `t2s` changes in a text is
//! the number of characters it changes alone, except inside a matched phrase, where a character
//! may be flipped (乾 alone becomes 干, in 乾隆 it stays). Such a character stands next to a
//! neighbour from the same phrase: the table lists these pairs, and a count made with it is
//! exact up to the characters found in one, which gives bounds on the true count ([`Tally`]).
//!
//! The same facts make a `t2s` converter ([`ScriptTable::t2s`]): at each position the longest
//! phrase of TSPhrases that starts there, else the character's own conversion.

use std::borrow::Cow;
use std::sync::LazyLock;

use rustc_hash::{FxHashMap, FxHashSet};

/// The generated table.
const TABLE: &str = include_str!("../../data/zh_script_chars.txt");

/// `t2s` changes the character alone: traditional-only.
pub(super) const T2S_CHANGES: u8 = 1;
/// A `t2s` phrase may flip whether the character changes.
const T2S_PHRASE: u8 = 2;
/// `s2t` changes the character alone: simplified-only.
pub(super) const S2T_CHANGES: u8 = 4;
/// An `s2t` phrase may flip whether the character changes.
const S2T_PHRASE: u8 = 8;
/// A `t2s` phrase starts with the character.
const T2S_PHRASE_START: u8 = 16;

/// First and last code point of the directly indexed range (extension A to the compatibility
/// ideographs); supplementary-plane characters go through a map.
const DIRECT: (u32, u32) = (0x3400, 0xFAFF);

/// Pairs of characters.
type Pairs = FxHashSet<(char, char)>;

/// Flags of every character in the table, and OpenCC's `t2s` dictionaries.
pub(super) struct ScriptTable {
    direct: Vec<u8>,
    other: FxHashMap<char, u8>,
    /// Pairs whose second (`.0`) or first (`.1`) character a phrase may flip, per direction.
    flips: [(Pairs, Pairs); 2],
    t2s_chars: FxHashMap<char, char>,
    pub(super) t2s_phrases: FxHashMap<&'static str, &'static str>,
    /// Characters in the longest phrase key.
    pub(super) t2s_phrase_chars: usize,
}

static SHARED: LazyLock<ScriptTable> = LazyLock::new(|| ScriptTable::parse(TABLE));

impl ScriptTable {
    /// The table, parsed on first use.
    pub(super) fn shared() -> &'static ScriptTable {
        &SHARED
    }

    fn parse(text: &'static str) -> Self {
        let mut table = ScriptTable {
            direct: vec![0; (DIRECT.1 - DIRECT.0 + 1) as usize],
            other: FxHashMap::default(),
            flips: Default::default(),
            t2s_chars: FxHashMap::default(),
            t2s_phrases: FxHashMap::default(),
            t2s_phrase_chars: 0,
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, chars)) = line.split_once('\t') else { continue };
            match name {
                "t2s_changes" => {
                    let mut pairs = chars.chars();
                    while let (Some(from), Some(to)) = (pairs.next(), pairs.next()) {
                        table.t2s_chars.insert(from, to);
                        table.mark(from, T2S_CHANGES);
                    }
                }
                "t2s_phrases" => {
                    for (key, value) in chars.split(' ').filter_map(|e| e.split_once('=')) {
                        table.t2s_phrases.insert(key, value);
                        table.t2s_phrase_chars = table.t2s_phrase_chars.max(key.chars().count());
                        key.chars()
                            .next()
                            .into_iter()
                            .for_each(|c| table.mark(c, T2S_PHRASE_START));
                    }
                }
                "s2t_changes" => chars.chars().for_each(|c| table.mark(c, S2T_CHANGES)),
                _ => table.parse_flips(name, chars),
            }
        }
        table
    }

    /// A `*_flip_after` or `*_flip_before` line.
    fn parse_flips(&mut self, name: &str, pairs: &str) {
        let (dir, flag) = match name.split_once("_flip_") {
            Some(("t2s", _)) => (0, T2S_PHRASE),
            Some(("s2t", _)) => (1, S2T_PHRASE),
            _ => return,
        };
        let after = name.ends_with("_after");
        for pair in pairs.split(' ') {
            let mut cs = pair.chars();
            let (Some(a), Some(b)) = (cs.next(), cs.next()) else { continue };
            self.mark(if after { b } else { a }, flag);
            let set = if after { &mut self.flips[dir].0 } else { &mut self.flips[dir].1 };
            set.insert((a, b));
        }
    }

    fn mark(&mut self, c: char, flag: u8) {
        match (c as u32).checked_sub(DIRECT.0) {
            Some(i) if c as u32 <= DIRECT.1 => self.direct[i as usize] |= flag,
            _ => *self.other.entry(c).or_default() |= flag,
        }
    }

    /// The flags of `c` (0 for a character both scripts share).
    #[inline]
    pub(super) fn flags(&self, c: char) -> u8 {
        match (c as u32).checked_sub(DIRECT.0) {
            Some(i) if c as u32 <= DIRECT.1 => self.direct[i as usize],
            _ if (c as u32) < 0x10000 => 0,
            _ => self.other.get(&c).copied().unwrap_or(0),
        }
    }
}

impl ScriptTable {
    /// `text` converted by OpenCC's `t2s` (greedy longest match over TSPhrases and
    /// TSCharacters, as `ferrous-opencc` does), borrowed when nothing changes.
    pub(super) fn t2s<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        // `text[done..i]` is unchanged and not yet copied to `out`.
        let (mut done, mut i) = (0, 0);
        while let Some(c) = text[i..].chars().next() {
            let f = self.flags(c);
            if f & T2S_PHRASE_START != 0
                && let Some((len, value)) = self.t2s_phrase_at(&text[i..])
            {
                out.push_str(&text[done..i]);
                out.push_str(value);
                i += len;
                done = i;
                continue;
            }
            if f & T2S_CHANGES != 0
                && let Some(&to) = self.t2s_chars.get(&c)
            {
                out.push_str(&text[done..i]);
                out.push(to);
                done = i + c.len_utf8();
            }
            i += c.len_utf8();
        }
        if done == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[done..]);
        Cow::Owned(out)
    }

    /// The longest TSPhrases key `text` starts with: its length in bytes and its value.
    fn t2s_phrase_at(&self, text: &str) -> Option<(usize, &'static str)> {
        let mut ends = [0usize; 32];
        let mut n = 0;
        for (at, c) in text.char_indices().take(self.t2s_phrase_chars.min(ends.len())) {
            ends[n] = at + c.len_utf8();
            n += 1;
        }
        ends[1..n]
            .iter()
            .rev()
            .find_map(|&end| self.t2s_phrases.get(&text[..end]).map(|v| (end, *v)))
    }
}

/// Counts over a sample of Han characters: those each conversion changes alone, and how many of
/// them a phrase could flip either way.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    /// Han characters counted.
    pub han: usize,
    trad: usize,
    trad_down: usize,
    trad_up: usize,
    simp: usize,
    simp_down: usize,
    simp_up: usize,
}

impl Tally {
    /// Counts the Han characters of `sample` (the text OpenCC would be given).
    pub fn of(table: &ScriptTable, sample: &[char]) -> Self {
        let mut tally = Tally::default();
        for (i, &c) in sample.iter().enumerate() {
            let f = table.flags(c);
            tally.han += 1;
            if f == 0 {
                continue;
            }
            let prev = i.checked_sub(1).map(|i| sample[i]);
            let next = sample.get(i + 1).copied();
            let may_flip = |flag: u8, dir: usize| {
                let (after, before) = &table.flips[dir];
                f & flag != 0
                    && (prev.is_some_and(|p| after.contains(&(p, c)))
                        || next.is_some_and(|n| before.contains(&(c, n))))
            };
            tally.add(f, may_flip(T2S_PHRASE, 0), may_flip(S2T_PHRASE, 1));
        }
        tally
    }

    /// Counts one character with flags `f` that a `t2s` (`s2t`) phrase may flip.
    #[inline]
    fn add(&mut self, f: u8, t2s_flip: bool, s2t_flip: bool) {
        let (changes, phrase) = (f & T2S_CHANGES != 0, t2s_flip);
        self.trad += usize::from(changes);
        self.trad_down += usize::from(changes && phrase);
        self.trad_up += usize::from(!changes && phrase);
        let (changes, phrase) = (f & S2T_CHANGES != 0, s2t_flip);
        self.simp += usize::from(changes);
        self.simp_down += usize::from(changes && phrase);
        self.simp_up += usize::from(!changes && phrase);
    }

    /// The same counts with the exact number of traditional-only characters.
    pub fn with_trad(self, trad: usize) -> Self {
        Tally { trad, trad_down: 0, trad_up: 0, ..self }
    }

    /// The (traditional-only, simplified-only) counts most in favour of simplified.
    pub fn most_simplified(&self) -> (usize, usize) {
        (self.trad - self.trad_down, self.simp + self.simp_up)
    }

    /// The (traditional-only, simplified-only) counts most in favour of traditional.
    pub fn most_traditional(&self) -> (usize, usize) {
        (self.trad + self.trad_up, self.simp - self.simp_down)
    }
}
