//! The binary form of a processed chunk ([`BatchOut`]), as kept in a unit's spool file.
//!
//! A record is everything the writer applies for one chunk: sink payloads, documents collected
//! by barriers with their signatures, node counters and input errors. Replaying the records of a
//! finished unit in order is indistinguishable, for every output, from processing its input
//! again. Each record is zstd-compressed on a worker, so the writer thread only appends bytes.
//!
//! Layout (all integers little-endian, strings as `u64` length + UTF-8):
//! `entry u64, raw_bytes u64, decoded_bytes u64, stats (JSON string), errors, writes, collected`;
//! each collected batch is `barrier u64, docs, keys tag u8, keys`: tag 0, MinHash signatures
//! (`n u64`, then per document `permutations u64` + the signature's encoding); tag 1, line
//! or benchmark n-gram hashes (`n u64`, then per document `count u64` + `count` x `u64`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, bail};
use serde_json::{Map, Value};
use tokenmill_dedup::phases::DocSignature;

use super::barrier::Keys;
use super::exec::BatchOut;
use crate::document::{Document, Payload, Rejection, TokenDoc};
use crate::source::{InputError, InputErrorKind};
use crate::stats::NodeStats;

/// zstd's fast mode: a spool lives for one run, so speed matters more than its size.
const SPOOL_LEVEL: i32 = -1;

/// Encodes and compresses a chunk's output.
pub(super) fn encode(out: &BatchOut) -> anyhow::Result<Vec<u8>> {
    let mut e = Enc(Vec::with_capacity(1 << 16));
    e.u64(out.entry as u64);
    e.u64(out.raw_bytes);
    e.u64(out.decoded_bytes);
    e.str(&serde_json::to_string(&out.stats)?);
    e.u64(out.errors.len() as u64);
    for err in &out.errors {
        e.u8(error_code(err.kind));
        e.str(&err.file);
        e.opt(err.line);
        e.opt(err.offset);
        e.str(&err.message);
    }
    e.u64(out.writes.len() as u64);
    for (sink, payload) in &out.writes {
        e.u64(*sink as u64);
        match payload {
            Payload::Docs(docs) => {
                e.u8(0);
                e.docs(docs)?;
            }
            Payload::Tokens(docs) => {
                e.u8(1);
                e.u64(docs.len() as u64);
                for d in docs {
                    e.u64(d.text_bytes);
                    e.u64(d.tokens.len() as u64);
                    // Two bytes per token when every id fits (vocabularies under 65,536).
                    let narrow = d.tokens.iter().all(|&t| t <= u32::from(u16::MAX));
                    e.u8(if narrow { 2 } else { 4 });
                    if narrow {
                        e.0.extend(d.tokens.iter().flat_map(|&t| (t as u16).to_le_bytes()));
                    } else {
                        e.0.extend(d.tokens.iter().flat_map(|t| t.to_le_bytes()));
                    }
                }
            }
        }
    }
    e.u64(out.collected.len() as u64);
    for (barrier, docs, keys) in &out.collected {
        e.u64(*barrier as u64);
        e.docs(docs)?;
        match keys {
            Keys::Signatures(sigs) => {
                e.u8(0);
                e.u64(sigs.len() as u64);
                let mut buf = Vec::new();
                for s in sigs {
                    s.encode(&mut buf);
                    e.u64(s.signature.len() as u64);
                    e.0.extend_from_slice(&buf);
                }
            }
            Keys::Hashes(hashes) => {
                e.u8(1);
                e.u64(hashes.len() as u64);
                for h in hashes {
                    e.u64(h.len() as u64);
                    for &x in h {
                        e.u64(x);
                    }
                }
            }
        }
    }
    Ok(zstd::bulk::compress(&e.0, SPOOL_LEVEL)?)
}

/// Decompresses and decodes a record written by [`encode`].
pub(super) fn decode(bytes: &[u8], seq: u64) -> anyhow::Result<BatchOut> {
    let raw = zstd::stream::decode_all(bytes).context("corrupt spool record")?;
    let mut d = Dec { buf: &raw, at: 0 };
    let entry = d.usize()?;
    let raw_bytes = d.u64()?;
    let decoded_bytes = d.u64()?;
    let stats_json = d.str()?;
    let stats = stats_from_json(&stats_json)?;
    let mut errors = Vec::new();
    for _ in 0..d.u64()? {
        let kind = error_kind(d.u8()?)?;
        let file: Arc<str> = d.str()?.into();
        let line = d.opt()?;
        let offset = d.opt()?;
        let message = d.str()?;
        errors.push(InputError { kind, file, line, offset, message });
    }
    let mut writes = Vec::new();
    for _ in 0..d.u64()? {
        let sink = d.usize()?;
        let payload = match d.u8()? {
            0 => Payload::Docs(d.docs()?),
            1 => Payload::Tokens(d.token_docs()?),
            other => bail!("corrupt spool record: payload tag {other}"),
        };
        writes.push((sink, payload));
    }
    let mut collected = Vec::new();
    for _ in 0..d.u64()? {
        let barrier = d.usize()?;
        let docs = d.docs()?;
        let keys = match d.u8()? {
            0 => Keys::Signatures(d.signatures()?),
            1 => Keys::Hashes(d.line_hashes()?),
            other => bail!("corrupt spool record: keys tag {other}"),
        };
        collected.push((barrier, docs, keys));
    }
    if d.at != raw.len() {
        bail!("corrupt spool record: {} trailing bytes", raw.len() - d.at);
    }
    Ok(BatchOut {
        writes,
        collected,
        stats,
        errors,
        raw_bytes,
        decoded_bytes,
        ..BatchOut::empty(seq, entry)
    })
}

impl Dec<'_> {
    /// The token documents of a sink write (payload tag 1): per document its text bytes, its
    /// token count and width (2 or 4 bytes), then the tokens.
    fn token_docs(&mut self) -> anyhow::Result<Vec<TokenDoc>> {
        let n = self.usize()?;
        let mut docs = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let text_bytes = self.u64()?;
            let len = self.usize()?;
            let width = usize::from(self.u8()?);
            let raw = self.take(len.checked_mul(width).context("corrupt spool record")?)?;
            let tokens = match width {
                2 => raw
                    .chunks_exact(2)
                    .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
                4 => raw
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                w => bail!("corrupt spool record: token width {w}"),
            };
            docs.push(TokenDoc { tokens, text_bytes });
        }
        Ok(docs)
    }

    /// Each collected document's line hashes (keys tag 1): a count, then the hashes.
    fn line_hashes(&mut self) -> anyhow::Result<Vec<Vec<u64>>> {
        let n = self.usize()?;
        let mut hashes = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let count = self.usize()?;
            hashes.push((0..count).map(|_| self.u64()).collect::<anyhow::Result<_>>()?);
        }
        Ok(hashes)
    }
}

fn stats_from_json(json: &str) -> anyhow::Result<Vec<NodeStats>> {
    Ok(serde_json::from_str(json)?)
}

/// Spool codes of the input error kinds: append new kinds at the end, never renumber (spools
/// of earlier runs are replayed by their code).
const ERROR_KINDS: [InputErrorKind; 13] = [
    InputErrorKind::MalformedJson,
    InputErrorKind::InvalidUtf8,
    InputErrorKind::MissingText,
    InputErrorKind::TextNotString,
    InputErrorKind::TooLarge,
    InputErrorKind::Truncated,
    InputErrorKind::EmptyFile,
    InputErrorKind::NotFound,
    InputErrorKind::Unreadable,
    InputErrorKind::BadParquet,
    InputErrorKind::WhereFailed,
    InputErrorKind::MalformedRecord,
    InputErrorKind::NotHtml,
];

fn error_code(kind: InputErrorKind) -> u8 {
    // Exhaustive, so that a new kind does not compile until it has a code above.
    match kind {
        InputErrorKind::MalformedJson
        | InputErrorKind::InvalidUtf8
        | InputErrorKind::MissingText
        | InputErrorKind::TextNotString
        | InputErrorKind::TooLarge
        | InputErrorKind::Truncated
        | InputErrorKind::EmptyFile
        | InputErrorKind::NotFound
        | InputErrorKind::Unreadable
        | InputErrorKind::BadParquet
        | InputErrorKind::WhereFailed
        | InputErrorKind::MalformedRecord
        | InputErrorKind::NotHtml => {}
    }
    ERROR_KINDS.iter().position(|k| *k == kind).map_or(u8::MAX, |i| i as u8)
}

fn error_kind(code: u8) -> anyhow::Result<InputErrorKind> {
    ERROR_KINDS
        .get(usize::from(code))
        .copied()
        .with_context(|| format!("corrupt spool record: error kind {code}"))
}

/// Rule labels are `&'static str` in memory; decoded ones are interned (there are a few dozen).
fn intern(rule: &str) -> &'static str {
    static RULES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set =
        RULES.get_or_init(Mutex::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = set.get(rule) {
        return r;
    }
    let leaked: &'static str = Box::leak(rule.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt(&mut self, v: Option<u64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
            None => self.u8(0),
        }
    }

    fn docs(&mut self, docs: &[Document]) -> anyhow::Result<()> {
        self.u64(docs.len() as u64);
        for doc in docs {
            self.str(&doc.id);
            self.str(&doc.text);
            if doc.metadata.is_empty() {
                self.str("");
            } else {
                self.str(&serde_json::to_string(&doc.metadata)?);
            }
            match &doc.rejected {
                Some(r) => {
                    self.u8(1);
                    self.str(&r.node);
                    self.str(r.rule);
                }
                None => self.u8(0),
            }
        }
        Ok(())
    }
}

struct Dec<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .context("corrupt spool record: truncated")?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }

    fn usize(&mut self) -> anyhow::Result<usize> {
        Ok(usize::try_from(self.u64()?)?)
    }

    fn str(&mut self) -> anyhow::Result<String> {
        let n = self.usize()?;
        Ok(std::str::from_utf8(self.take(n)?)
            .context("corrupt spool record: not UTF-8")?
            .to_string())
    }

    fn opt(&mut self) -> anyhow::Result<Option<u64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.u64()?),
        })
    }

    fn signatures(&mut self) -> anyhow::Result<Vec<DocSignature>> {
        let n = self.usize()?;
        let mut sigs = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let perms = self.usize()?;
            sigs.push(DocSignature {
                id: self.u64()?,
                len: self.u64()?,
                score: Some(f64::from_bits(self.u64()?)).filter(|s| !s.is_nan()),
                exact: u128::from_le_bytes(self.take(16)?.try_into()?),
                shingles: self.u64()?,
                signature: (0..perms).map(|_| self.u64()).collect::<anyhow::Result<_>>()?,
            });
        }
        Ok(sigs)
    }

    fn docs(&mut self) -> anyhow::Result<Vec<Document>> {
        let n = self.usize()?;
        let mut docs = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let id = self.str()?;
            let text = self.str()?;
            let meta = self.str()?;
            let metadata: Map<String, Value> =
                if meta.is_empty() { Map::new() } else { serde_json::from_str(&meta)? };
            let rejected = match self.u8()? {
                0 => None,
                _ => {
                    let node: Arc<str> = self.str()?.into();
                    Some(Rejection { node, rule: intern(&self.str()?) })
                }
            };
            docs.push(Document { id, text, metadata, rejected, derived: Default::default() });
        }
        Ok(docs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind a source reports has a spool code (a WARC run's `not_html` errors once had
    /// none, and its resume failed on them).
    #[test]
    fn every_input_error_kind_round_trips() {
        for kind in [
            InputErrorKind::NotHtml,
            InputErrorKind::MalformedRecord,
            InputErrorKind::MalformedJson,
        ] {
            assert_eq!(error_kind(error_code(kind)).ok(), Some(kind));
        }
        for kind in ERROR_KINDS {
            assert_eq!(error_kind(error_code(kind)).ok(), Some(kind));
        }
    }

    #[test]
    fn a_batch_survives_the_round_trip() {
        let mut doc = Document::new("a:1", "héllo\nworld");
        doc.metadata.insert("url".into(), Value::String("https://x.org".into()));
        doc.metadata.insert("score".into(), serde_json::json!(0.25));
        let mut rejected = Document::new("a:2", "");
        rejected.rejected = Some(Rejection { node: "gopher".into(), rule: "too_short" });
        let stats = vec![NodeStats {
            name: "src".into(),
            docs_in: 3,
            dropped: [("x".to_string(), 1)].into(),
            ..NodeStats::default()
        }];
        let sig = DocSignature {
            id: 7,
            len: 11,
            score: None,
            exact: u128::MAX - 3,
            shingles: 2,
            signature: vec![1, u64::MAX, 3],
        };
        let out = BatchOut {
            entry: 2,
            writes: vec![
                (0, Payload::Docs(vec![doc.clone(), rejected])),
                (
                    1,
                    Payload::Tokens(vec![
                        TokenDoc { tokens: vec![0, 5, u32::MAX], text_bytes: 9 },
                        TokenDoc { tokens: vec![1, 65_535], text_bytes: 4 },
                    ]),
                ),
            ],
            collected: vec![
                (3, vec![doc.clone()], Keys::Signatures(vec![sig])),
                (4, vec![doc], Keys::Hashes(vec![vec![1, u64::MAX], vec![]])),
            ],
            stats,
            errors: vec![InputError {
                kind: InputErrorKind::Truncated,
                file: "f.jsonl.zst".into(),
                line: Some(4),
                offset: None,
                message: "early end".into(),
            }],
            raw_bytes: 100,
            decoded_bytes: 200,
            ..BatchOut::empty(0, 0)
        };
        let back = decode(&encode(&out).expect("encodes"), 9).expect("decodes");
        assert_eq!(back.seq, 9);
        assert_eq!(back.entry, out.entry);
        assert_eq!(back.writes, out.writes);
        assert_eq!(back.collected, out.collected);
        assert_eq!(back.stats, out.stats);
        assert_eq!(back.errors, out.errors);
        assert_eq!((back.raw_bytes, back.decoded_bytes), (100, 200));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let out = BatchOut {
            writes: vec![(0, Payload::Docs(vec![Document::new("a", "b")]))],
            ..BatchOut::empty(0, 0)
        };
        let raw = zstd::stream::decode_all(&encode(&out).expect("encodes")[..]).expect("zstd");
        let cut = zstd::bulk::compress(&raw[..raw.len() - 3], 1).expect("zstd");
        assert!(decode(&cut, 0).is_err());
        assert!(decode(b"not zstd", 0).is_err());
    }
}
