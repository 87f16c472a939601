//! Verifying a dataset directory against its manifest and the format.
//!
//! [`verify_dir`] checks everything a training job relies on and reports each problem with
//! the file and, where it has one, the byte offset. It streams every `.bin` once (hashing
//! and checking tokens in the same pass) and never memory-maps, so a damaged file cannot
//! crash it.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::dtype::DType;
use crate::error::Result;
use crate::format::{Index, parse_idx};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::writer::{BlockHasher, CHECKSUM_BLOCK_BYTES, ShardInfo, hex128, with_suffix};

/// What [`verify_dir`] checks beyond the format itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// If set, every token id must be below it.
    pub vocab_size: Option<u64>,
    /// If set, every document must end with this token.
    pub eos_id: Option<u32>,
    /// Whether to compare XXH3-128 checksums of every file with the manifest.
    pub check_checksums: bool,
}

impl Default for VerifyOptions {
    /// Checksums on, no vocabulary or EOS checks.
    fn default() -> Self {
        VerifyOptions { vocab_size: None, eos_id: None, check_checksums: true }
    }
}

/// One thing wrong with a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file at fault.
    pub file: PathBuf,
    /// Byte offset within the file, when the problem has a location.
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(offset) = self.offset {
            write!(f, "at byte {offset}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The outcome of [`verify_dir`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Shards listed in the manifest.
    pub shards: usize,
    /// Documents found in the readable indexes.
    pub documents: u64,
    /// Tokens found in the readable indexes.
    pub tokens: u64,
    /// Everything found wrong, in manifest order, then directory order.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the dataset in `dir`: manifest totals, every shard's index structure (magic,
/// version, dtype, exact sizes, one sequence per document, contiguous pointers), `.bin`
/// sizes, token ranges, EOS placement and checksums as `opts` asks, and stray files
/// (`*.tmp`, shard files the manifest does not list).
///
/// # Errors
///
/// Only when verification cannot start: the manifest is missing, unreadable or invalid
/// (see [`Manifest::read`]). Everything else is reported as a [`Problem`].
pub fn verify_dir(dir: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
    verify_dir_from(dir, opts, 0)
}

/// Like [`verify_dir`], but reads only the shards from index `first` on (those an append just
/// wrote); the earlier ones are checked against the manifest by name only.
///
/// # Errors
///
/// As [`verify_dir`].
pub fn verify_dir_from(dir: &Path, opts: &VerifyOptions, first: usize) -> Result<VerifyReport> {
    let manifest = Manifest::read(dir)?;
    let mut v = Verifier {
        dir,
        opts,
        report: VerifyReport { shards: manifest.shards.len(), ..VerifyReport::default() },
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let dtype = DType::from_name(&manifest.dtype);
    if dtype.is_none() {
        let msg = format!("unknown dtype {:?}", manifest.dtype);
        v.problem(&manifest_path, None, msg);
    }
    let mut names = BTreeSet::new();
    for (i, shard) in manifest.shards.iter().enumerate() {
        if !names.insert(shard.name.as_str()) {
            let msg = format!("shard {} is listed twice", shard.name);
            v.problem(&manifest_path, None, msg);
        }
        if i >= first {
            v.check_shard(shard, dtype);
        }
    }
    let docs: u64 = manifest.shards.iter().map(|s| s.documents).sum();
    let tokens: u64 = manifest.shards.iter().map(|s| s.tokens).sum();
    if (docs, tokens) != (manifest.documents, manifest.tokens) {
        let msg = format!(
            "totals say {} documents and {} tokens, the shards add up to {docs} and {tokens}",
            manifest.documents, manifest.tokens
        );
        v.problem(&manifest_path, None, msg);
    }
    v.check_stray_files(&names);
    Ok(v.report)
}

/// Reads and checks the shards `manifest` lists in `dir` (one part of a dataset written by one
/// task of a job array, whose manifest is not in `dir`): headers, sizes, offsets, token ids,
/// EOS, checksums and the totals. Other files in `dir` are not looked at.
pub fn verify_shards(dir: &Path, manifest: &Manifest, opts: &VerifyOptions) -> VerifyReport {
    let mut v = Verifier {
        dir,
        opts,
        report: VerifyReport { shards: manifest.shards.len(), ..VerifyReport::default() },
    };
    let dtype = DType::from_name(&manifest.dtype);
    let here = dir.join(MANIFEST_FILE);
    if dtype.is_none() {
        v.problem(&here, None, format!("unknown dtype {:?}", manifest.dtype));
    }
    for shard in &manifest.shards {
        v.check_shard(shard, dtype);
    }
    let docs: u64 = manifest.shards.iter().map(|s| s.documents).sum();
    let tokens: u64 = manifest.shards.iter().map(|s| s.tokens).sum();
    if (docs, tokens) != (manifest.documents, manifest.tokens) {
        v.problem(
            &here,
            None,
            format!(
                "totals say {} documents and {} tokens, the shards add up to {docs} and {tokens}",
                manifest.documents, manifest.tokens
            ),
        );
    }
    v.report
}

struct Verifier<'a> {
    dir: &'a Path,
    opts: &'a VerifyOptions,
    report: VerifyReport,
}

/// First occurrence and count of one kind of bad token.
#[derive(Default)]
struct Tally {
    first: Option<(u64, String)>,
    count: u64,
}

impl Tally {
    fn add(&mut self, offset: u64, message: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some((offset, message()));
        }
        self.count += 1;
    }
}

impl Verifier<'_> {
    fn problem(&mut self, file: &Path, offset: Option<u64>, message: impl Into<String>) {
        self.report.problems.push(Problem {
            file: file.to_path_buf(),
            offset,
            message: message.into(),
        });
    }

    fn check_shard(&mut self, info: &ShardInfo, dtype: Option<DType>) {
        let idx_path = with_suffix(self.dir, &info.name, ".idx");
        let bin_path = with_suffix(self.dir, &info.name, ".bin");
        let index = self.check_idx(info, dtype, &idx_path);
        let bin_len = match fs::metadata(&bin_path) {
            Ok(m) => m.len(),
            Err(e) => return self.problem(&bin_path, None, format!("cannot read: {e}")),
        };
        if bin_len != info.bin_bytes {
            let msg = format!("{bin_len} bytes, the manifest says {}", info.bin_bytes);
            self.problem(&bin_path, None, msg);
        }
        if let Some(index) = &index {
            let expected = index.num_tokens() * index.dtype.size() as u64;
            // A short .bin is the .bin's fault, reported below; bounds against the expected
            // size still catch pointers the lengths do not account for.
            for d in index.check_general(bin_len.max(expected)) {
                self.problem(&idx_path, Some(d.offset), d.message);
            }
            if bin_len < expected {
                let msg = format!("truncated: {bin_len} bytes, the index needs {expected}");
                self.problem(&bin_path, Some(bin_len), msg);
            } else if bin_len > expected {
                let msg = format!("{} trailing bytes after the last sequence", bin_len - expected);
                self.problem(&bin_path, Some(expected), msg);
            }
        }
        self.scan_bin(info, index.as_ref(), &bin_path);
    }

    /// Reads, hashes and parses the `.idx`; returns it if it parsed.
    fn check_idx(&mut self, info: &ShardInfo, dtype: Option<DType>, path: &Path) -> Option<Index> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                self.problem(path, None, format!("cannot read: {e}"));
                return None;
            }
        };
        if bytes.len() as u64 != info.idx_bytes {
            let msg = format!("{} bytes, the manifest says {}", bytes.len(), info.idx_bytes);
            self.problem(path, None, msg);
        }
        if self.opts.check_checksums {
            self.compare_checksum(path, &info.idx_xxh3, hex128(xxh3_128(&bytes)));
        }
        let index = match parse_idx(bytes) {
            Ok(index) => index,
            Err(d) => {
                self.problem(path, Some(d.offset), d.message);
                return None;
            }
        };
        if let Some(expected) = dtype.filter(|&d| d != index.dtype) {
            let msg = format!("dtype {}, the manifest says {expected}", index.dtype);
            self.problem(path, Some(17), msg);
        }
        for d in index.check_tokenmill() {
            self.problem(path, Some(d.offset), d.message);
        }
        self.report.documents += index.len() as u64;
        self.report.tokens += index.num_tokens();
        if index.len() as u64 != info.documents {
            let msg = format!("{} sequences, the manifest says {}", index.len(), info.documents);
            self.problem(path, Some(18), msg);
        }
        if index.num_tokens() != info.tokens {
            let msg = format!("{} tokens, the manifest says {}", index.num_tokens(), info.tokens);
            self.problem(path, None, msg);
        }
        Some(index)
    }

    fn compare_checksum(&mut self, path: &Path, expected: &str, actual: String) {
        if actual != expected {
            let msg = format!("xxh3 checksum {actual}, the manifest says {expected}");
            self.problem(path, None, msg);
        }
    }

    /// Streams the `.bin` once: checksum, token values and EOS placement.
    fn scan_bin(&mut self, info: &ShardInfo, index: Option<&Index>, path: &Path) {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return self.problem(path, None, format!("cannot open: {e}")),
        };
        let mut tokens = index.map(|index| TokenChecker::new(index, self.opts));
        let mut hasher = Xxh3::new();
        // Block digests locate damage; only the first differing block is reported.
        let check_blocks = self.opts.check_checksums && !info.bin_blocks_xxh3.is_empty();
        let (mut blocks, mut compared, mut damaged) = (BlockHasher::default(), 0usize, false);
        let size = index.map_or(1, |i| i.dtype.size());
        let mut buf = vec![0u8; 1 << 20];
        let (mut filled, mut base) = (0usize, 0u64);
        loop {
            let n = match file.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) => return self.problem(path, Some(base), format!("read failed: {e}")),
            };
            hasher.update(&buf[filled..filled + n]);
            if check_blocks && !damaged {
                let done = blocks.update(&buf[filled..filled + n]);
                if let Some(k) = first_mismatch(
                    &blocks.digests()[compared..done],
                    &info.bin_blocks_xxh3[compared..],
                ) {
                    self.damaged_block(path, info, compared + k);
                    damaged = true;
                }
                compared = done;
            }
            filled += n;
            if n != 0 && filled < buf.len() {
                continue;
            }
            // Whole elements only; a partial one waits for the next read (or is trailing
            // garbage, reported by the size check).
            let whole = filled - filled % size;
            if let Some(tokens) = &mut tokens {
                for (k, elem) in buf[..whole].chunks_exact(size).enumerate() {
                    tokens.check(base + (k * size) as u64, elem);
                }
            }
            buf.copy_within(whole..filled, 0);
            base += whole as u64;
            filled -= whole;
            if n == 0 {
                break;
            }
        }
        for tally in tokens.map(TokenChecker::into_tallies).into_iter().flatten() {
            if let Some((offset, message)) = tally.first {
                let more = match tally.count {
                    0 | 1 => String::new(),
                    c => format!(" (and {} more)", c - 1),
                };
                self.problem(path, Some(offset), message + &more);
            }
        }
        if check_blocks && !damaged {
            let all = blocks.finish();
            if let Some(k) = first_mismatch(&all[compared..], &info.bin_blocks_xxh3[compared..]) {
                self.damaged_block(path, info, compared + k);
                damaged = true;
            } else if all.len() != info.bin_blocks_xxh3.len() {
                let msg = format!(
                    "{} checksum blocks, the manifest lists {}",
                    all.len(),
                    info.bin_blocks_xxh3.len()
                );
                self.problem(path, None, msg);
            }
        }
        // A damaged block was reported with its range; the whole file's checksum adds nothing.
        if self.opts.check_checksums && !damaged {
            self.compare_checksum(path, &info.bin_xxh3, hex128(hasher.digest128()));
        }
    }

    /// Reports block `k` of a `.bin` as damaged, by its byte range.
    fn damaged_block(&mut self, path: &Path, info: &ShardInfo, k: usize) {
        let start = k as u64 * CHECKSUM_BLOCK_BYTES;
        let end = (start + CHECKSUM_BLOCK_BYTES).min(info.bin_bytes);
        let msg = format!(
            "checksum mismatch in bytes {start}..{end}: the XXH3-64 of that block differs from the manifest's (damaged after it was written)"
        );
        self.problem(path, Some(start), msg);
    }

    /// Reports `*.tmp` files and shard files the manifest does not list.
    fn check_stray_files(&mut self, listed: &BTreeSet<&str>) {
        let entries = match fs::read_dir(self.dir) {
            Ok(entries) => entries,
            Err(e) => return self.problem(self.dir, None, format!("cannot list: {e}")),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let path = self.dir.join(&name);
            if name.ends_with(".tmp") {
                let msg = "leftover temporary file from an interrupted write; delete it or rerun";
                self.problem(&path, None, msg);
            } else if let Some(stem) = name.strip_suffix(".bin").or(name.strip_suffix(".idx"))
                && !listed.contains(stem)
            {
                self.problem(&path, None, "shard file not listed in manifest.json");
            }
        }
    }
}

/// Checks the tokens of one `.bin`, element by element in file order.
struct TokenChecker {
    dtype: DType,
    vocab_size: Option<u64>,
    eos_id: Option<u32>,
    /// Byte offset of each document's last token and the document number, sorted.
    ends: Vec<(u64, usize)>,
    next_end: usize,
    invalid: Tally,
    over_vocab: Tally,
    eos: Tally,
}

impl TokenChecker {
    fn new(index: &Index, opts: &VerifyOptions) -> TokenChecker {
        let mut eos = Tally::default();
        let mut ends = Vec::new();
        if let Some(eos_id) = opts.eos_id {
            let size = index.dtype.size() as i64;
            for (doc, (p, len)) in index.pointers().zip(index.lengths()).enumerate() {
                if len > 0 {
                    ends.push(((p + (i64::from(len) - 1) * size) as u64, doc));
                } else {
                    let msg = || format!("document {doc} is empty, so it lacks EOS {eos_id}");
                    eos.add(p.max(0) as u64, msg);
                }
            }
            ends.sort_unstable();
        }
        TokenChecker {
            dtype: index.dtype,
            vocab_size: opts.vocab_size,
            eos_id: opts.eos_id,
            ends,
            next_end: 0,
            invalid: Tally::default(),
            over_vocab: Tally::default(),
            eos,
        }
    }

    /// Checks the element at byte `offset`; offsets must increase from call to call.
    fn check(&mut self, offset: u64, elem: &[u8]) {
        let token = match self.dtype.decode(elem) {
            Ok(t) => t,
            Err(message) => return self.invalid.add(offset, || message),
        };
        if let Some(vocab) = self.vocab_size.filter(|&v| u64::from(token) >= v) {
            let msg = || format!("token {token} >= vocab_size {vocab}");
            self.over_vocab.add(offset, msg);
        }
        while self.ends.get(self.next_end).is_some_and(|&(end, _)| end < offset) {
            self.next_end += 1;
        }
        if let (Some(&(end, doc)), Some(eos_id)) = (self.ends.get(self.next_end), self.eos_id)
            && end == offset
            && token != eos_id
        {
            let msg = || format!("document {doc} ends with {token}, not EOS {eos_id}");
            self.eos.add(offset, msg);
        }
    }

    fn into_tallies(self) -> [Tally; 3] {
        [self.invalid, self.over_vocab, self.eos]
    }
}

/// The position of the first digest of `got` that differs from `want`'s (a missing one counts
/// as different).
fn first_mismatch(got: &[String], want: &[String]) -> Option<usize> {
    got.iter().enumerate().position(|(k, g)| want.get(k) != Some(g))
}
