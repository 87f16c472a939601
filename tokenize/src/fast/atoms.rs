//! Chars whose bytes merge into one token before any of them meets a neighbour, so a piece
//! can start from that token instead of the char's two to four byte symbols.
//!
//! Merging is by rank: the pair of lowest rank anywhere in the piece merges first. Take a char
//! whose bytes, merged alone, become one token, and let `R` be the highest rank that merging
//! used. Its tokens that touch its left edge (its first byte symbol, the partials starting
//! there, and the whole token) can merge with whatever precedes the char only through a merge
//! where they are the right-hand token; those touching its right edge only as the left-hand
//! token. The token just before the char always ends with the byte just before it in the
//! piece, and the token just after starts with the byte just after it, whatever has merged. So
//! a merge ranked at most `R` can join the char to a neighbour only if its other token ends
//! (starts) with that very byte. When no such merge exists for the bytes around the char in a
//! piece, no neighbour can take part before the char is whole, the char's own merges happen in
//! the same order as alone, and nothing merges with the whole token earlier than it would have:
//! starting from the token gives exactly the same result. Each atom keeps the neighbouring
//! bytes that would break this (its [`Guard`]); most atoms have none, others only a few (a
//! space before it, say, for a tokenizer with tokens such as ` 中`). Chinese, Japanese, Korean
//! and many other scripts' common chars are atoms in the tokenizers trained for them, which
//! cuts their symbols (and the pair lookups and merges) by about three.

use rustc_hash::FxHashMap;

use super::merge::Merges;

/// The bytes that must not stand just before or just after an atom in a piece for it to load
/// as its token: a 256-bit set each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Guard {
    /// Bytes that, just before the char, could let the token ending there merge into it first.
    pub(crate) before: [u64; 4],
    /// Bytes that, just after the char, could let the token starting there merge into it first.
    pub(crate) after: [u64; 4],
}

impl Guard {
    /// Whether the char is an atom next to any bytes.
    pub(crate) fn is_empty(&self) -> bool {
        self.before == [0; 4] && self.after == [0; 4]
    }

    fn add(set: &mut [u64; 4], byte: u8) {
        set[usize::from(byte >> 6)] |= 1 << (byte & 63);
    }

    #[inline]
    fn has(set: &[u64; 4], byte: u8) -> bool {
        (set[usize::from(byte >> 6)] >> (byte & 63)) & 1 == 1
    }

    /// Whether the char at `start..end` of `bytes` may load as its token.
    #[inline]
    fn allows(&self, bytes: &[u8], start: usize, end: usize) -> bool {
        let before_ok = start == 0 || !Self::has(&self.before, bytes[start - 1]);
        before_ok && bytes.get(end).is_none_or(|&after| !Self::has(&self.after, after))
    }
}

/// A char that merges into one token first, unless its [`Guard`]'s bytes surround it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Atom {
    /// The char.
    pub(crate) ch: char,
    /// The token its bytes merge into.
    pub(crate) id: u32,
    /// The neighbouring bytes next to which it loads byte by byte instead.
    pub(crate) guard: Guard,
}

/// Where an atom's entry points: its token, and its guard's index (or [`NO_GUARD`]).
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u32,
    guard: u32,
}

const NO_ATOM: Slot = Slot { id: u32::MAX, guard: NO_GUARD };
const NO_GUARD: u32 = u32::MAX;

/// The atoms of a byte-level BPE: char to token.
#[derive(Debug, Default)]
pub(crate) struct Atoms {
    /// Basic Multilingual Plane chars by code point (`id` [`u32::MAX`] where not an atom);
    /// empty when there are no atoms there.
    bmp: Vec<Slot>,
    other: FxHashMap<u32, Slot>,
    /// The guards that are not empty.
    guards: Vec<Guard>,
    len: usize,
}

impl Atoms {
    /// The table of atoms.
    pub(crate) fn new(atoms: &[Atom]) -> Self {
        let mut this = Self { len: atoms.len(), ..Self::default() };
        for atom in atoms {
            let guard = if atom.guard.is_empty() {
                NO_GUARD
            } else {
                this.guards.push(atom.guard);
                // Fewer atoms than 2^32: they are chars.
                (this.guards.len() - 1) as u32
            };
            let slot = Slot { id: atom.id, guard };
            let cp = u32::from(atom.ch);
            if cp < 0x1_0000 {
                if this.bmp.is_empty() {
                    this.bmp = vec![NO_ATOM; 0x1_0000];
                }
                this.bmp[cp as usize] = slot;
            } else {
                this.other.insert(cp, slot);
            }
        }
        this
    }

    /// Every atom, in id order.
    pub(crate) fn entries(&self) -> Vec<Atom> {
        let bmp = self
            .bmp
            .iter()
            .enumerate()
            .filter(|&(_, slot)| slot.id != NO_ATOM.id)
            .map(|(cp, &slot)| (cp as u32, slot));
        let mut entries: Vec<Atom> = bmp
            .chain(self.other.iter().map(|(&cp, &slot)| (cp, slot)))
            .filter_map(|(cp, slot)| {
                let guard = self.guards.get(slot.guard as usize).copied().unwrap_or_default();
                char::from_u32(cp).map(|ch| Atom { ch, id: slot.id, guard })
            })
            .collect();
        entries.sort_unstable_by_key(|atom| atom.id);
        entries
    }

    /// Whether there are none (then pieces load byte by byte).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pushes the symbols of `bytes`: one per byte, but an atom's token for each atom char
    /// whose neighbouring bytes its guard allows. Bytes that are not valid UTF-8 (a token's
    /// partial char) load one symbol each.
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
                && let Some(slot) = bytes.get(i..i + len).and_then(|chunk| self.atom_of(chunk))
                && (slot.guard == NO_GUARD
                    || self.guards[slot.guard as usize].allows(bytes, i, i + len))
            {
                ids.push(slot.id);
                i += len;
                continue;
            }
            ids.push(byte_ids[usize::from(lead)]);
            i += 1;
        }
    }

    /// The atom that the UTF-8 sequence `chunk` (two to four bytes) encodes, if any.
    #[inline]
    fn atom_of(&self, chunk: &[u8]) -> Option<Slot> {
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
        let slot =
            if cp < 0x1_0000 { *self.bmp.get(cp as usize)? } else { *self.other.get(&cp)? };
        (slot.id != NO_ATOM.id).then_some(slot)
    }
}

/// The merges each token takes part in, and the first and last byte of every token, for
/// [`find`].
struct Neighbours {
    /// Per token: `(rank, other token)` of each merge with it on the right.
    as_right: FxHashMap<u32, Vec<(u32, u32)>>,
    /// Per token: `(rank, other token)` of each merge with it on the left.
    as_left: FxHashMap<u32, Vec<(u32, u32)>>,
    /// Per token reachable from the bytes by merges: its first and last byte.
    ends: FxHashMap<u32, (u8, u8)>,
}

impl Neighbours {
    fn new(merges: &Merges, byte_ids: &[u32; 256]) -> Self {
        let entries = merges.entries();
        let mut as_right: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
        let mut as_left: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
        for &[left, right, rank, _] in &entries {
            as_right.entry(right).or_default().push((rank, left));
            as_left.entry(left).or_default().push((rank, right));
        }
        let mut ends: FxHashMap<u32, (u8, u8)> =
            byte_ids.iter().enumerate().map(|(byte, &id)| (id, (byte as u8, byte as u8))).collect();
        // A merge may use a token that a later merge makes: repeat until nothing is added.
        loop {
            let before = ends.len();
            for &[left, right, _, new] in &entries {
                if !ends.contains_key(&new)
                    && let (Some(&(first, _)), Some(&(_, last))) =
                        (ends.get(&left), ends.get(&right))
                {
                    ends.insert(new, (first, last));
                }
            }
            if ends.len() == before {
                break;
            }
        }
        Self { as_right, as_left, ends }
    }
}

/// The atoms among `tokens` (a char's bytes and the token they merge into alone), with their
/// guards, per the rule in the module documentation.
pub(crate) fn find(
    tokens: impl Iterator<Item = (char, u32)>,
    merges: &Merges,
    byte_ids: &[u32; 256],
) -> Vec<Atom> {
    let neighbours = Neighbours::new(merges, byte_ids);
    let mut atoms: Vec<Atom> = tokens
        .filter_map(|(ch, id)| {
            let mut buf = [0; 4];
            let bytes = ch.encode_utf8(&mut buf).as_bytes();
            if bytes.len() < 2 {
                return None;
            }
            let guard = guard_of(bytes, id, merges, byte_ids, &neighbours)?;
            Some(Atom { ch, id, guard })
        })
        .collect();
    atoms.sort_unstable_by_key(|atom| atom.id);
    atoms
}

/// If `bytes` (one char) merge alone into `id`: the neighbouring bytes next to which a merge
/// ranked no higher than the char's own could join one of its edge tokens to a neighbour.
fn guard_of(
    bytes: &[u8],
    id: u32,
    merges: &Merges,
    byte_ids: &[u32; 256],
    neighbours: &Neighbours,
) -> Option<Guard> {
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
        return None;
    }
    // The whole token stays in both edges: a merge of it ranked below `highest` (a merge list
    // that is not monotone) must not happen earlier than it would from the bytes.
    let mut guard = Guard::default();
    let sides = [
        (&left_edge, &neighbours.as_right, &mut guard.before, true),
        (&right_edge, &neighbours.as_left, &mut guard.after, false),
    ];
    for (edge, merges_with, set, before) in sides {
        let others = edge.iter().filter_map(|t| merges_with.get(t)).flatten();
        for &(_, other) in others.filter(|&&(rank, _)| rank <= highest) {
            // A token that no merge reaches from the bytes never stands next to the char.
            if let Some(&(first, last)) = neighbours.ends.get(&other) {
                Guard::add(set, if before { last } else { first });
            }
        }
    }
    Some(guard)
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

    /// An atom with no guard.
    fn plain(ch: char, id: u32) -> Atom {
        Atom { ch, id, guard: Guard::default() }
    }

    /// A guard against the given bytes before and after the char.
    fn guard(before: &[u8], after: &[u8]) -> Guard {
        let mut guard = Guard::default();
        before.iter().for_each(|&b| Guard::add(&mut guard.before, b));
        after.iter().for_each(|&b| Guard::add(&mut guard.after, b));
        guard
    }

    #[test]
    fn a_char_is_guarded_against_the_neighbours_that_can_cut_in() {
        let ch = 'é'; // C3 A9
        let x = u32::from(b'x');
        let alone = merges(&[(0xC3, 0xA9, 300)]);
        assert_eq!(find([(ch, 300)].into_iter(), &alone, &byte_ids()), [plain(ch, 300)]);
        // A merge of its last byte with a following "x", ranked below the char's own: guarded
        // against an "x" after it, and only that.
        let cut = merges(&[(0xA9, x, 301), (0xC3, 0xA9, 300)]);
        let want = Atom { ch, id: 300, guard: guard(&[], b"x") };
        assert_eq!(find([(ch, 300)].into_iter(), &cut, &byte_ids()), [want]);
        // The same merge ranked above the char's own cannot cut in.
        let later = merges(&[(0xC3, 0xA9, 300), (0xA9, x, 301)]);
        assert_eq!(find([(ch, 300)].into_iter(), &later, &byte_ids()), [plain(ch, 300)]);
        // A token made of "x" and "y" ending a merge with the first byte: guarded against "y"
        // before the char; a merge of the whole token ranked below its own counts too.
        let y = u32::from(b'y');
        let before = merges(&[(x, y, 400), (400, 0xC3, 401), (x, 300, 402), (0xC3, 0xA9, 300)]);
        let want = Atom { ch, id: 300, guard: guard(b"yx", &[]) };
        assert_eq!(find([(ch, 300)].into_iter(), &before, &byte_ids()), [want]);
        // A char whose bytes do not merge into the given token is not one.
        assert!(find([(ch, 999)].into_iter(), &alone, &byte_ids()).is_empty());
    }

    #[test]
    fn loading_uses_atoms_and_leaves_other_bytes_alone() {
        let atoms = Atoms::new(&[plain('中', 7), plain('🦀', 8)]);
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
        assert_eq!(atoms.entries(), [plain('中', 7), plain('🦀', 8)]);
    }

    #[test]
    fn a_guarded_atom_loads_as_bytes_only_next_to_its_guard() {
        let atom = Atom { ch: '中', id: 7, guard: guard(b" ", b"x") };
        let atoms = Atoms::new(&[atom]);
        let load = |text: &str| {
            let mut ids = Vec::new();
            atoms.load(text.as_bytes(), &byte_ids(), &mut ids);
            ids
        };
        assert_eq!(load("中"), [7]);
        assert_eq!(load("a中b"), [u32::from(b'a'), 7, u32::from(b'b')]);
        assert_eq!(load(" 中"), [u32::from(b' '), 0xE4, 0xB8, 0xAD]);
        assert_eq!(load("中x"), [0xE4, 0xB8, 0xAD, u32::from(b'x')]);
        assert_eq!(atoms.entries(), [atom]);
    }
}
