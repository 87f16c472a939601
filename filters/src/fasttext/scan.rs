//! Splitting a line into fastText's words eight bytes at a time, and the key a word is looked
//! up by: both run for every token of every line.
//!
//! fastText splits on space, `\n`, `\r`, `\t`, `\v`, `\f` and NUL. [`Words`] finds them in a
//! whole `u64` at once (bit tricks on each byte, exact: no byte is misread as another), gathers
//! the answers for 64 bytes into one `u64` and walks the word boundaries of those bytes, so a
//! word costs no branch per byte.
//!
//! A word of at most [`INLINE`] bytes is its own key: its bytes as two integers and its length,
//! compared in three integer comparisons where a table stores them the same way; its hash
//! mixes the two integers with one multiplication. A longer word is hashed with xxh3 and
//! compared as bytes.

/// Longest word whose bytes are the key itself.
pub(super) const INLINE: usize = 16;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` (little-endian) that is one of fastText's separators.
#[inline(always)]
fn separators(x: u64) -> u64 {
    let low = x & !HIGH; // each byte's low seven bits: the sums below never carry
    let ascii = !x & HIGH;
    let space = !((low ^ (b' ' as u64 * ONES)) + 0x7F * ONES) & HIGH;
    let nul = !(low + 0x7F * ONES) & HIGH;
    let from_tab = (low + (0x80 - 0x09) * ONES) & HIGH; // >= \t
    let past_cr = (low + (0x80 - 0x0E) * ONES) & HIGH; // >= 0x0E, past \r
    (space | nul | (from_tab & !past_cr)) & ascii
}

/// The high bits of the eight bytes of `m` (the only bits [`separators`] sets) as eight
/// bits, byte `i` to bit `i`: one multiplication gathers them into the top byte.
#[inline(always)]
fn gather(m: u64) -> u64 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The words of a line as byte ranges, in order, found sixty-four bytes at a time: a bit per
/// byte that is a separator, then the bits where that changes.
pub(super) struct Words<'a> {
    line: &'a [u8],
    /// Where the next 64 bytes start.
    next: usize,
    /// Where the bytes of `bounds` start.
    base: usize,
    /// The boundaries left in those bytes: a bit for each byte where a word starts or ends.
    bounds: u64,
    /// 1 if the byte before `next` is a separator (the line starts after one).
    prev: u64,
    /// The start of the word being read, if one is.
    start: Option<usize>,
}

impl<'a> Words<'a> {
    pub(super) fn new(line: &'a [u8]) -> Self {
        Self { line, next: 0, base: 0, bounds: 0, prev: 1, start: None }
    }
}

impl Iterator for Words<'_> {
    type Item = (usize, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize)> {
        let len = self.line.len();
        loop {
            while self.bounds != 0 {
                // A boundary in the padding past the line's end is its end.
                let at = (self.base + self.bounds.trailing_zeros() as usize).min(len);
                self.bounds &= self.bounds - 1;
                match self.start.take() {
                    Some(start) => return Some((start, at)),
                    None => self.start = Some(at),
                }
            }
            if self.next >= len {
                return self.start.take().map(|s| (s, len));
            }
            let mut sep = 0u64;
            for k in 0..8 {
                let at = self.next + 8 * k;
                let chunk = match self.line.get(at..at + 8) {
                    Some(c) => u64::from_le_bytes(c.try_into().unwrap_or([b' '; 8])),
                    None => {
                        // The last bytes, followed by separators.
                        let mut c = [b' '; 8];
                        if at < len {
                            c[..len - at].copy_from_slice(&self.line[at..]);
                        }
                        u64::from_le_bytes(c)
                    }
                };
                sep |= gather(separators(chunk)) << (8 * k);
            }
            // A boundary where a byte's kind differs from the byte before it.
            self.bounds = sep ^ ((sep << 1) | self.prev);
            self.prev = sep >> 63;
            self.base = self.next;
            self.next += 64;
        }
    }
}

/// What a word is looked up by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Key {
    /// The word's first eight bytes (zeros past its end), or its xxh3 when it is longer than
    /// [`INLINE`] bytes ...
    pub(super) a: u64,
    /// ... its next eight (0 when longer than [`INLINE`]) ...
    pub(super) b: u64,
    /// ... and its length in bytes.
    pub(super) len: u32,
}

impl Key {
    /// The key of `word`.
    pub(super) fn of(word: &[u8]) -> Self {
        if word.len() > INLINE {
            return Key { a: xxhash_rust::xxh3::xxh3_64(word), b: 0, len: word.len() as u32 };
        }
        let mut buf = [0u8; INLINE];
        buf[..word.len()].copy_from_slice(word);
        Self::from_bytes(&buf, word.len())
    }

    /// The key of the word `line[start..end]`: read sixteen bytes at a time where the line
    /// has them.
    pub(super) fn in_line(line: &[u8], start: usize, end: usize) -> Self {
        let len = end - start;
        match line.get(start..start + INLINE) {
            Some(bytes) if len <= INLINE => {
                let buf: &[u8; INLINE] = bytes.try_into().unwrap_or(&[0; INLINE]);
                Self::from_bytes(buf, len)
            }
            _ => Self::of(&line[start..end]),
        }
    }

    /// The key of the `len` first bytes of `buf` (`len` at most [`INLINE`]).
    fn from_bytes(buf: &[u8; INLINE], len: usize) -> Self {
        let lo = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(buf[8..].try_into().unwrap_or_default());
        let keep = |n: usize| if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
        Key { a: lo & keep(len), b: hi & keep(len.saturating_sub(8)), len: len as u32 }
    }

    /// Whether the word is stored inline (its bytes are the key).
    pub(super) fn inline(&self) -> bool {
        self.len as usize <= INLINE
    }

    /// A 64-bit hash of the key, for a table index.
    pub(super) fn hash(&self) -> u64 {
        let m = u128::from(self.a ^ 0x9E37_79B9_7F4A_7C15)
            * u128::from(self.b ^ u64::from(self.len) ^ 0xC2B2_AE3D_27D4_EB4F);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_sep(b: u8) -> bool {
        matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
    }

    fn slow_words(line: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, &b) in line.iter().enumerate() {
            match (is_sep(b), start) {
                (true, Some(s)) => {
                    out.push((s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        out.extend(start.map(|s| (s, line.len())));
        out
    }

    #[test]
    fn gathering_keeps_each_byte_in_its_place() {
        for bits in 0..=255u64 {
            let m = (0..8).fold(0u64, |m, i| m | ((bits >> i) & 1) << (8 * i + 7));
            assert_eq!(gather(m), bits);
        }
    }

    #[test]
    fn every_byte_is_read_as_itself() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let x = (b as u64) << (8 * pos) | ((b'a' as u64 * ONES) & !(0xFF << (8 * pos)));
                let want = if is_sep(b) { 0x80u64 << (8 * pos) } else { 0 };
                assert_eq!(separators(x), want, "byte {b:#x} at {pos}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn words_are_the_runs_between_separators(
            line in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'\n', b'\t', 0, 0x0b, b'a', b'Z', 0xC3, 0xA9, 0x0e, 0x08, 0xA0]),
                0..300,
            )
        ) {
            proptest::prop_assert_eq!(Words::new(&line).collect::<Vec<_>>(), slow_words(&line));
        }

        #[test]
        fn a_key_in_a_line_is_the_key_of_the_word(
            line in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'a', b'b', 0xE4, 0xB8, 0xAD]),
                0..60,
            )
        ) {
            for (s, e) in Words::new(&line) {
                let k = Key::in_line(&line, s, e);
                proptest::prop_assert_eq!(k, Key::of(&line[s..e]));
            }
        }
    }

    /// Chinese text has no spaces: as in fastText, a run of it up to an ASCII separator is one
    /// word, its punctuation (，。！？) and the ideographic space U+3000 inside it; such a run
    /// is longer than an inline key and is keyed by its whole text.
    #[test]
    fn chinese_runs_are_single_words_up_to_ascii_separators() {
        let line = "床前明月光，疑是地上霜。\u{3000}举头望明月！低头思故乡？ 李白\t《静夜思》\n";
        let b = line.as_bytes();
        let words: Vec<&str> = Words::new(b).map(|(s, e)| &line[s..e]).collect();
        assert_eq!(
            words,
            ["床前明月光，疑是地上霜。\u{3000}举头望明月！低头思故乡？", "李白", "《静夜思》"]
        );
        let (s, e) = Words::new(b).next().unwrap_or_default();
        let key = Key::in_line(b, s, e);
        assert!(!key.inline() && key == Key::of(&b[s..e]));
        assert_ne!(key, Key::of("床前明月光，疑是地上霜。".as_bytes()));
        // Two CJK characters (6 bytes) fit an inline key.
        assert!(Key::of("李白".as_bytes()).inline());
    }

    #[test]
    fn keys_tell_words_apart() {
        let words: [&[u8]; 9] = [
            b"a",
            b"a\0",
            b"ab",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghijklmnop",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
            b"",
        ];
        for (i, x) in words.iter().enumerate() {
            for (j, y) in words.iter().enumerate() {
                assert_eq!(Key::of(x) == Key::of(y), i == j, "{x:?} {y:?}");
            }
        }
        assert!(Key::of(b"abcdefghijklmnop").inline() && !Key::of(b"abcdefghijklmnopq").inline());
    }
}
