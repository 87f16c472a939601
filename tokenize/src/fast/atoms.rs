//! Chars whose bytes always merge into one token before any of them meets a neighbour, so a
//! piece can start from that token instead of the char's two to four byte symbols.
//!
//! Merging is by rank: the pair of lowest rank anywhere in the piece merges first. Take a char
//! whose bytes, merged alone, become one token, and let `R` be the highest rank that merging
//! used. Its partial tokens that touch its left edge (its first byte symbol, and partials
//! starting there) could merge with whatever precedes the char only through a merge where they
//! are the right-hand token; those touching its right edge only as the left-hand token. When
//! every such merge ranks above `R`, no neighbour can take part before the char is whole, in any
//! context, and the char's own merges happen in the same order as alone: the char is an atom and
//! starting from its token gives exactly the same result. Chinese, Japanese, Korean and many
//! other scripts' common chars are atoms in the tokenizers trained for them, which cuts their
//! symbols (and the pair lookups and merges) by about three.

use rustc_hash::FxHashMap;

use super::merge::Merges;

/// The atoms of a byte-level BPE: char to token.
#[derive(Debug, Default)]
pub(crate) struct Atoms {
    /// Basic Multilingual Plane chars by code point ([`NO_ATOM`] where not an atom); empty when
    /// there are no atoms there.
    bmp: Vec<u32>,
    other: FxHashMap<u32, u32>,
    len: usize,
}

const NO_ATOM: u32 = u32::MAX;

impl Atoms {
    /// The table of `(char, id)` atoms.
    pub(crate) fn new(atoms: &[(char, u32)]) -> Self {
        let mut this = Self { len: atoms.len(), ..Self::default() };
        for &(ch, id) in atoms {
            let cp = u32::from(ch);
            if cp < 0x1_0000 {
                if this.bmp.is_empty() {
                    this.bmp = vec![NO_ATOM; 0x1_0000];
                }
                this.bmp[cp as usize] = id;
            } else {
                this.other.insert(cp, id);
            }
        }
        this
    }

    /// Every atom, in id order.
    pub(crate) fn entries(&self) -> Vec<(char, u32)> {
        let bmp = self
            .bmp
            .iter()
            .enumerate()
            .filter(|&(_, &id)| id != NO_ATOM)
            .map(|(cp, &id)| (cp as u32, id));
        let mut entries: Vec<(char, u32)> = bmp
            .chain(self.other.iter().map(|(&cp, &id)| (cp, id)))
            .filter_map(|(cp, id)| char::from_u32(cp).map(|ch| (ch, id)))
            .collect();
        entries.sort_unstable_by_key(|&(_, id)| id);
        entries
    }

    /// Whether there are none (then pieces load byte by byte).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pushes the symbols of `bytes`: one per byte, but an atom's token for each atom char.
    /// Bytes that are not valid UTF-8 (a token's partial char) load one symbol each.
    #[inline]
    pub(crate) fn load(&self, bytes: &[u8], byte_ids: &[u32; 256], ids: &mut Vec<u32>) {
        let mut i = 0;
        while i < bytes.len() {
            let lead = bytes[i];
            let len = match lead {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 1,
            };
            if len > 1
                && let Some(id) = bytes.get(i..i + len).and_then(|chunk| self.atom_of(chunk))
            {
                ids.push(id);
                i += len;
                continue;
            }
            ids.push(byte_ids[usize::from(lead)]);
            i += 1;
        }
    }

    /// The atom that the UTF-8 sequence `chunk` (two to four bytes) encodes, if any.
    #[inline]
    fn atom_of(&self, chunk: &[u8]) -> Option<u32> {
        // Decoded by hand (a std UTF-8 check per char costs more than the lookup); continuation
        // bytes are checked, and an overlong form or surrogate is refused by re-encoding.
        if chunk[1..].iter().any(|&b| b & 0xC0 != 0x80) {
            return None;
        }
        let lead = u32::from(chunk[0]) & (0x7F >> chunk.len());
        let cp = chunk[1..].iter().fold(lead, |cp, &b| (cp << 6) | u32::from(b & 0x3F));
        if char::from_u32(cp)?.len_utf8() != chunk.len() {
            return None;
        }
        let id = if cp < 0x1_0000 { *self.bmp.get(cp as usize)? } else { *self.other.get(&cp)? };
        (id != NO_ATOM).then_some(id)
    }
}

/// The atoms among `tokens` (a char's bytes and the token they merge into alone), per the rule
/// in the module documentation.
pub(crate) fn find(
    tokens: impl Iterator<Item = (char, u32)>,
    merges: &Merges,
    byte_ids: &[u32; 256],
) -> Vec<(char, u32)> {
    // The lowest rank of a merge with each token on its left / right.
    let mut lowest_as_left: FxHashMap<u32, u32> = FxHashMap::default();
    let mut lowest_as_right: FxHashMap<u32, u32> = FxHashMap::default();
    for [left, right, rank, _] in merges.entries() {
        let l = lowest_as_left.entry(left).or_insert(rank);
        *l = (*l).min(rank);
        let r = lowest_as_right.entry(right).or_insert(rank);
        *r = (*r).min(rank);
    }
    let mut atoms: Vec<(char, u32)> = tokens
        .filter(|&(ch, id)| {
            let mut buf = [0; 4];
            let bytes = ch.encode_utf8(&mut buf).as_bytes();
            bytes.len() > 1
                && is_atom(bytes, id, merges, byte_ids, &lowest_as_left, &lowest_as_right)
        })
        .collect();
    atoms.sort_unstable_by_key(|&(_, id)| id);
    atoms
}

/// Whether `bytes` (one char) merge alone into `id`, with every merge that could join its edge
/// partials to a neighbour ranked above the merges it used.
fn is_atom(
    bytes: &[u8],
    id: u32,
    merges: &Merges,
    byte_ids: &[u32; 256],
    as_left: &FxHashMap<u32, u32>,
    as_right: &FxHashMap<u32, u32>,
) -> bool {
    // (token, first byte, end byte) of each symbol; merged by lowest rank, leftmost first.
    let mut symbols: Vec<(u32, usize, usize)> =
        bytes.iter().enumerate().map(|(i, &b)| (byte_ids[usize::from(b)], i, i + 1)).collect();
    let mut left_edge = vec![symbols[0].0];
    let mut right_edge = vec![symbols[symbols.len() - 1].0];
    let mut highest = 0;
    loop {
        let best = symbols
            .windows(2)
            .enumerate()
            .filter_map(|(i, w)| merges.pair(w[0].0, w[1].0).map(|(rank, new)| (rank, i, new)))
            .min();
        let Some((rank, i, new)) = best else { break };
        highest = highest.max(rank);
        let merged = (new, symbols[i].1, symbols[i + 1].2);
        symbols[i] = merged;
        symbols.remove(i + 1);
        if merged.1 == 0 {
            left_edge.push(new);
        }
        if merged.2 == bytes.len() {
            right_edge.push(new);
        }
    }
    if symbols.len() != 1 || symbols[0].0 != id {
        return false;
    }
    // The whole char may merge with neighbours afterwards: only its partials matter.
    left_edge.pop_if(|&mut t| t == id);
    right_edge.pop_if(|&mut t| t == id);
    left_edge.iter().all(|t| as_right.get(t).is_none_or(|&r| r > highest))
        && right_edge.iter().all(|t| as_left.get(t).is_none_or(|&r| r > highest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte ids are the bytes; merges given as (left, right, new) in rank order.
    fn merges(list: &[(u32, u32, u32)]) -> Merges {
        let mut m = Merges::default();
        for (rank, &(l, r, n)) in list.iter().enumerate() {
            m.insert(l, r, rank as u32, n);
        }
        m.finish();
        m
    }

    fn byte_ids() -> [u32; 256] {
        std::array::from_fn(|b| b as u32)
    }

    #[test]
    fn a_char_is_an_atom_only_when_no_neighbour_can_cut_in() {
        let ch = 'é'; // C3 A9
        let alone = merges(&[(0xC3, 0xA9, 300)]);
        assert_eq!(find([(ch, 300)].into_iter(), &alone, &byte_ids()), [(ch, 300)]);
        // A merge of its last byte with a following "x", ranked below the char's own: not an atom.
        let cut = merges(&[(0xA9, u32::from(b'x'), 301), (0xC3, 0xA9, 300)]);
        assert!(find([(ch, 300)].into_iter(), &cut, &byte_ids()).is_empty());
        // The same merge ranked above the char's own cannot cut in.
        let later = merges(&[(0xC3, 0xA9, 300), (0xA9, u32::from(b'x'), 301)]);
        assert_eq!(find([(ch, 300)].into_iter(), &later, &byte_ids()), [(ch, 300)]);
        // A char whose bytes do not merge into the given token is not one.
        assert!(find([(ch, 999)].into_iter(), &alone, &byte_ids()).is_empty());
    }

    #[test]
    fn loading_uses_atoms_and_leaves_other_bytes_alone() {
        let atoms = Atoms::new(&[('中', 7), ('🦀', 8)]);
        let mut ids = Vec::new();
        atoms.load("a中文🦀".as_bytes(), &byte_ids(), &mut ids);
        assert_eq!(ids, [u32::from(b'a'), 7, 0xE6, 0x96, 0x87, 8]);
        ids.clear();
        // A partial char (a byte-level token's bytes need not be whole chars) loads byte by byte.
        atoms.load(&"中".as_bytes()[..2], &byte_ids(), &mut ids);
        assert_eq!(ids, [0xE4, 0xB8]);
        // An overlong form of '中' (four bytes) is not the atom.
        ids.clear();
        atoms.load(&[0xF0, 0x84, 0xB8, 0xAD], &byte_ids(), &mut ids);
        assert_eq!(ids, [0xF0, 0x84, 0xB8, 0xAD]);
        assert_eq!(atoms.entries(), [('中', 7), ('🦀', 8)]);
    }
}
