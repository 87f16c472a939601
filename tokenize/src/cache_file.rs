//! The on-disk cache of a tokenizer's fast-path tables, so a repeat load skips parsing the JSON.
//!
//! A cache file is named `<key>.tmbpe`, where the key is the xxh3-128 of the `tokenizer.json`
//! bytes as 32 lowercase hex digits, and holds what loading those bytes computed: the
//! [`TokenizerInfo`] and the fast path's [`Tables`]. Version 4, all integers little-endian; a
//! string is its byte length (u32) then its UTF-8 bytes; an optional id is a u8 (0 absent, 1
//! present) then a u32 (0 when absent).
//!
//! | size | content |
//! |---|---|
//! | 8 | magic `TMBPETAB` |
//! | 4 | format version, u32 = 4 |
//! | 16 | key, u128: xxh3-128 of the `tokenizer.json` bytes |
//! | 4 + n | producer, string: the `tokenizers` version whose parse the tables reproduce |
//! | 8 | `vocab_size`, u64 |
//! | 4 + n | `hash`, string |
//! | 5 | `eos_id`, optional id |
//! | 5 | `bos_id`, optional id |
//! | 4 + n | `kind`, string |
//! | 4·256 | the byte-level symbol id of each byte 0..=255, u32 |
//! | 4 | `merges` = number of merges, u32 |
//! | 16·merges | each merge: left id, right id, rank, merged id, u32, in rank order |
//! | 4 | `added` = number of added tokens, u32 |
//! | ... | each added token: id u32, normalized u8 (0 or 1), content string; in id order |
//! | 4 | `normalizers` = number of normalizer steps, u32 |
//! | ... | each step: kind u8 (0 NFC, 1 prepend, 2 replace), then a prepend's string, or a replace's two strings |
//! | 1 | char-level BPE, u8 (0 or 1); when 1 (the byte ids above are then the `<0xXX>` tokens): |
//! | 4 | `chars` = number of single-char tokens, u32 |
//! | 8·chars | each: the char's code point, u32, and its id, u32; in id order |
//! | 4 | `stages` = number of pre-tokenizer steps, u32 |
//! | ... | each step: kind u8 (0 GPT-2 regex, 1 prefix space, 2 split), then for a split its pattern, string |
//! | 1 | `ignore_merges`, u8 (0 or 1) |
//! | 4 | `words` = number of pre-tokens that are one token, u32 |
//! | ... | each: id u32, its bytes as a string of bytes (length u32, bytes); in id order |
//! | 4 | `atoms` = number of chars that merge into one token first, u32 |
//! | 72·atoms | each: the char's code point, u32, its id, u32, and its guard: the bytes not allowed before it, then after it, each a 256-bit set as four u64 (bit `b % 64` of word `b / 64` for byte `b`); in id order |
//! | 8 | checksum, u64 = `xxh3_64` of every byte before it |
//!
//! A file that is short, corrupt, of another version or producer, or whose key is not the one
//! asked for is a miss, never an error: the caller loads the JSON and writes the file again.
//! Bump [`FORMAT_VERSION`] whenever what the tables or the info mean changes, including which
//! tokenizers get the fast path, and [`PRODUCER`] with the `tokenizers` version (a test holds it
//! to `Cargo.lock`), since the info's hash is of `tokenizers`' serialization. The producer string
//! written also names this crate's version and a hash of the eos/bos candidate lists, so a build
//! that detects special ids differently never reuses another build's answers.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

use crate::fast::{AddedEntry, Atom, Guard, NormSpec, StageSpec, Tables};
use crate::info::TokenizerInfo;

/// The first eight bytes of a cache file.
const MAGIC: [u8; 8] = *b"TMBPETAB";
/// The format version written, and the only one read.
const FORMAT_VERSION: u32 = 4;
/// The `tokenizers` version the cached info and tables were computed with.
pub(crate) const PRODUCER: &str = "tokenizers 0.23.2";
/// Who wrote a file: [`PRODUCER`], this crate's version and the special-token candidates.
fn producer() -> String {
    let specials = [crate::info::EOS_CANDIDATES, crate::info::BOS_CANDIDATES]
        .map(|c| c.join("\u{0}"))
        .join("\u{1}");
    format!(
        "{PRODUCER}; tokenmill-tokenize {}; specials {:016x}",
        env!("CARGO_PKG_VERSION"),
        xxh3_64(specials.as_bytes())
    )
}

/// A cache file's extension.
const EXTENSION: &str = "tmbpe";

/// What loading one `tokenizer.json` computed, keyed by the hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheFile {
    /// xxh3-128 of the `tokenizer.json` bytes.
    pub(crate) key: u128,
    /// The tokenizer's info, exactly as a load computes it.
    pub(crate) info: TokenizerInfo,
    /// The fast path's tables.
    pub(crate) tables: Tables,
}

impl CacheFile {
    /// The file's bytes (format above).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let Tables {
            byte_ids,
            chars,
            merges,
            added,
            normalizers,
            stages,
            ignore_merges,
            words,
            atoms,
        } = &self.tables;
        let mut out = Vec::with_capacity(
            1_200 + 16 * merges.len() + added.iter().map(|a| 9 + a.content.len()).sum::<usize>(),
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.key.to_le_bytes());
        put_str(&mut out, &producer());
        out.extend_from_slice(&(self.info.vocab_size as u64).to_le_bytes());
        put_str(&mut out, &self.info.hash);
        put_opt(&mut out, self.info.eos_id);
        put_opt(&mut out, self.info.bos_id);
        put_str(&mut out, &self.info.kind);
        for id in byte_ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out.extend_from_slice(&len_u32(merges.len()).to_le_bytes());
        for value in merges.iter().flatten() {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&len_u32(added.len()).to_le_bytes());
        for entry in added {
            out.extend_from_slice(&entry.id.to_le_bytes());
            out.push(u8::from(entry.normalized));
            put_str(&mut out, &entry.content);
        }
        out.extend_from_slice(&len_u32(normalizers.len()).to_le_bytes());
        for step in normalizers {
            out.push(step.tag());
            match step {
                NormSpec::Nfc => {}
                NormSpec::Prepend(prefix) => put_str(&mut out, prefix),
                NormSpec::Replace(from, to) => {
                    put_str(&mut out, from);
                    put_str(&mut out, to);
                }
            }
        }
        out.push(u8::from(chars.is_some()));
        if let Some(chars) = chars {
            out.extend_from_slice(&len_u32(chars.len()).to_le_bytes());
            for &(ch, id) in chars {
                out.extend_from_slice(&u32::from(ch).to_le_bytes());
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
        out.extend_from_slice(&len_u32(stages.len()).to_le_bytes());
        for stage in stages {
            out.push(stage.tag());
            if let StageSpec::Split(pattern) = stage {
                put_str(&mut out, pattern);
            }
        }
        out.push(u8::from(*ignore_merges));
        out.extend_from_slice(&len_u32(words.len()).to_le_bytes());
        for (bytes, id) in words {
            out.extend_from_slice(&id.to_le_bytes());
            put_bytes(&mut out, bytes);
        }
        out.extend_from_slice(&len_u32(atoms.len()).to_le_bytes());
        for atom in atoms {
            out.extend_from_slice(&u32::from(atom.ch).to_le_bytes());
            out.extend_from_slice(&atom.id.to_le_bytes());
            for word in atom.guard.before.iter().chain(&atom.guard.after) {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses a cache file that must hold `key`, or says why it is not one.
    pub(crate) fn from_bytes(bytes: &[u8], key: u128) -> Result<Self, String> {
        if bytes.len() < 8 + 4 + 8 || bytes[..8] != MAGIC {
            return Err("not a tokenmill tokenizer cache (bad magic or too short)".into());
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let mut r = Reader { bytes: body, pos: 8 };
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(format!("format version {version}, this build reads {FORMAT_VERSION}"));
        }
        let stored = u64::from_le_bytes(tail.try_into().map_err(|_| "no checksum".to_owned())?);
        if xxh3_64(body) != stored {
            return Err("checksum mismatch: the file is truncated or corrupt".into());
        }
        let found = u128::from_le_bytes(r.array()?);
        if found != key {
            return Err(format!("holds key {found:032x}, not {key:032x}"));
        }
        let producer = r.string()?;
        if producer != self::producer() {
            return Err(format!("written for {producer:?}, this build is {:?}", self::producer()));
        }
        let vocab_size =
            usize::try_from(r.u64()?).map_err(|_| "vocab_size does not fit usize".to_owned())?;
        let info = TokenizerInfo {
            vocab_size,
            hash: r.string()?,
            eos_id: r.opt()?,
            bos_id: r.opt()?,
            kind: r.string()?,
        };
        let mut byte_ids = [0; 256];
        for id in &mut byte_ids {
            *id = r.u32()?;
        }
        let merges = (0..r.count(16)?)
            .map(|_| Ok::<_, String>([r.u32()?, r.u32()?, r.u32()?, r.u32()?]))
            .collect::<Result<_, String>>()?;
        let added = (0..r.count(9)?)
            .map(|_| {
                Ok::<_, String>(AddedEntry {
                    id: r.u32()?,
                    normalized: r.flag()?,
                    content: r.string()?,
                })
            })
            .collect::<Result<_, String>>()?;
        let normalizers = (0..r.count(1)?)
            .map(|_| match r.u8()? {
                0 => Ok(NormSpec::Nfc),
                1 => Ok(NormSpec::Prepend(r.string()?)),
                2 => Ok(NormSpec::Replace(r.string()?, r.string()?)),
                tag => Err(format!("unknown normalizer step {tag}")),
            })
            .collect::<Result<_, String>>()?;
        let char_of =
            |code: u32| char::from_u32(code).ok_or_else(|| format!("{code:#x} is not a char"));
        let chars = if r.flag()? {
            Some(
                (0..r.count(8)?)
                    .map(|_| Ok::<_, String>((char_of(r.u32()?)?, r.u32()?)))
                    .collect::<Result<_, String>>()?,
            )
        } else {
            None
        };
        let stages = (0..r.count(1)?)
            .map(|_| match r.u8()? {
                0 => Ok(StageSpec::Gpt2),
                1 => Ok(StageSpec::PrefixSpace),
                2 => Ok(StageSpec::Split(r.string()?)),
                tag => Err(format!("unknown pre-tokenizer step {tag}")),
            })
            .collect::<Result<_, String>>()?;
        let ignore_merges = r.flag()?;
        let words = (0..r.count(8)?)
            .map(|_| {
                Ok::<_, String>((r.u32()?, r.bytes()?.to_vec())).map(|(id, bytes)| (bytes, id))
            })
            .collect::<Result<_, String>>()?;
        let atoms = (0..r.count(72)?)
            .map(|_| {
                let (ch, id) = (char_of(r.u32()?)?, r.u32()?);
                let mut guard = Guard::default();
                for word in guard.before.iter_mut().chain(&mut guard.after) {
                    *word = r.u64()?;
                }
                Ok::<_, String>(Atom { ch, id, guard })
            })
            .collect::<Result<_, String>>()?;
        if r.pos != body.len() {
            return Err(format!("{} unread bytes before the checksum", body.len() - r.pos));
        }
        let file = Self {
            key,
            info,
            tables: Tables {
                byte_ids,
                chars,
                merges,
                added,
                normalizers,
                stages,
                ignore_merges,
                words,
                atoms,
            },
        };
        file.check_values()?;
        Ok(file)
    }

    /// Values a well-formed file cannot hold (the checksum only proves the bytes are as written):
    /// ids outside the vocabulary, merge ranks out of order or far beyond the number of merges
    /// (the encoder sizes a queue by the highest rank).
    fn check_values(&self) -> Result<(), String> {
        let vocab = self.info.vocab_size;
        let t = &self.tables;
        let words = t
            .words
            .iter()
            .map(|(_, id)| id)
            .chain(t.chars.iter().flatten().map(|(_, id)| id))
            .chain(t.atoms.iter().map(|atom| &atom.id));
        let ids = t
            .byte_ids
            .iter()
            .chain(t.merges.iter().flat_map(|[l, r, _, n]| [l, r, n]))
            .chain(t.added.iter().map(|a| &a.id))
            .chain(words);
        if let Some(id) = ids
            .chain(self.info.eos_id.iter())
            .chain(self.info.bos_id.iter())
            .find(|&&id| id as usize >= vocab)
        {
            return Err(format!("id {id} is outside the vocabulary of {vocab}"));
        }
        if t.merges.windows(2).any(|w| w[0][2] >= w[1][2]) {
            return Err("merge ranks are not increasing".into());
        }
        if let Some(last) = t.merges.last()
            && last[2] as usize > 2 * t.merges.len() + 1024
        {
            return Err(format!("merge rank {} for {} merges", last[2], t.merges.len()));
        }
        Ok(())
    }
}

/// The cache file for `key` in `dir`.
pub(crate) fn path(dir: &Path, key: u128) -> PathBuf {
    dir.join(format!("{key:032x}.{EXTENSION}"))
}

/// The cached load of the tokenizer whose bytes hash to `key`, if `dir` has a valid one.
pub(crate) fn read(dir: &Path, key: u128) -> Option<CacheFile> {
    let bytes = fs::read(path(dir, key)).ok()?;
    CacheFile::from_bytes(&bytes, key).ok()
}

/// Writes `file` into `dir` (creating it) atomically: a unique temporary sibling, fsync, rename.
///
/// A concurrent reader sees no file or a whole one; concurrent writers of one key each rename a
/// complete file of the same content.
///
/// # Errors
///
/// The I/O error, for the caller to ignore: a cache that cannot be written is only slower.
pub(crate) fn write(dir: &Path, file: &CacheFile) -> io::Result<()> {
    // Unique per process and call, so two threads writing one key do not share a temporary.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let target = path(dir, file.key);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{:032x}.{EXTENSION}.tmp.{}.{call}", file.key, std::process::id()));
    let written = write_synced(&tmp, &file.to_bytes()).and_then(|()| fs::rename(&tmp, &target));
    if written.is_err() {
        // Best effort: the write error is the one worth returning.
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `len` as a u32 count; tables have far fewer than 2^32 entries (ids are u32).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt(out: &mut Vec<u8>, id: Option<u32>) {
    out.push(u8::from(id.is_some()));
    out.extend_from_slice(&id.unwrap_or(0).to_le_bytes());
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!("needs {n} bytes at offset {}, has {}", self.pos, self.bytes.len() - self.pos)
        })?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    fn flag(&mut self) -> Result<bool, String> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [other] => Err(format!("flag {other} at offset {} is neither 0 nor 1", self.pos - 1)),
        }
    }

    fn opt(&mut self) -> Result<Option<u32>, String> {
        let present = self.flag()?;
        let id = self.u32()?;
        Ok(present.then_some(id))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, String> {
        let at = self.pos;
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| format!("the string at offset {at} is not UTF-8"))
    }

    /// A count of items at least `min_size` bytes each, checked against what is left, so a
    /// corrupt count cannot ask for a huge allocation.
    fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let count = self.u32()? as usize;
        let left = self.bytes.len() - self.pos;
        if count.saturating_mul(min_size) > left {
            return Err(format!(
                "{count} items of at least {min_size} bytes do not fit in the {left} bytes left"
            ));
        }
        Ok(count)
    }
}

#[cfg(test)]
#[path = "cache_file_tests.rs"]
mod tests;
