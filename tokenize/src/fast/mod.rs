//! A fast path for GPT-2 style byte-level BPE, the common case for LLM tokenizers, giving the
//! same ids as the `tokenizers` crate.
//!
//! [`FastBpe::new`] accepts a loaded tokenizer only when its whole pipeline is one this module
//! reproduces exactly (see [`FastBpe::new`]'s list); any other stays on the reference. Encoding
//! then runs the reference's steps by hand:
//!
//! 1. split the text on added tokens ([`added`]), as `AddedVocabulary` does;
//! 2. cut each remaining segment into GPT-2 pre-tokens ([`pretok`]), without a regex engine;
//! 3. map each pre-token's bytes to their byte-level symbol ids and merge them ([`merge`]),
//!    looking frequent short pre-tokens up in a bounded per-thread cache first.

mod added;
mod cache;
mod merge;
mod pretok;

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{ModelWrapper, Tokenizer as HfTokenizer};

pub(crate) use added::AddedEntry;
use added::AddedTokens;
use cache::PieceCache;
use merge::{Merges, Scratch};
use pretok::CLASSES;

/// Pre-tokens up to this many bytes are merged by rescanning (fast when short); longer ones
/// with the heap, which stays O(n log n).
const SHORT_PIECE: usize = 48;

/// A byte-level BPE encoder equivalent to a particular `tokenizers` pipeline.
#[derive(Debug)]
pub(crate) struct FastBpe {
    byte_ids: [u32; 256],
    merges: Merges,
    added: AddedTokens,
    /// Tells this tokenizer's entries apart in the per-thread piece cache.
    cache_owner: u64,
}

/// A [`FastBpe`]'s tables in plain form: what the on-disk cache stores, and all it takes to
/// rebuild the encoder without the `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tables {
    /// The id of each byte's byte-level symbol.
    pub(crate) byte_ids: [u32; 256],
    /// `[left, right, rank, new_id]` of each merge, in rank order.
    pub(crate) merges: Vec<[u32; 4]>,
    /// The added tokens, in id order.
    pub(crate) added: Vec<AddedEntry>,
}

/// The parts of `tokenizer.json` the fast path reads that `tokenizers` does not expose.
#[derive(Deserialize)]
struct Json<'a> {
    #[serde(borrow)]
    model: ModelJson<'a>,
}

#[derive(Deserialize)]
struct ModelJson<'a> {
    #[serde(borrow)]
    vocab: HashMap<Cow<'a, str>, u32>,
    #[serde(borrow)]
    merges: Vec<MergeJson<'a>>,
}

/// A merge is written `["a", "b"]` by current `tokenizers`, `"a b"` by older ones.
#[derive(Deserialize)]
#[serde(untagged)]
enum MergeJson<'a> {
    Pair(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>),
    Legacy(#[serde(borrow)] Cow<'a, str>),
}

impl FastBpe {
    /// Builds the fast path for `inner`, whose compact JSON is `json`, or says why it cannot.
    ///
    /// Eligible: a BPE model without dropout, subword prefix/suffix or `ignore_merges`, whose
    /// vocabulary has all 256 byte-level symbols; no normalizer (or an empty sequence); a
    /// `ByteLevel` pre-tokenizer with the GPT-2 regex and no prefix space (alone or as the only
    /// member of a sequence); added tokens without `single_word`/`lstrip`/`rstrip`, and
    /// `encode_special_tokens` off. The post-processor adds nothing without special tokens,
    /// and decoding stays with the reference, so neither matters.
    pub(crate) fn new(inner: &HfTokenizer, json: &str) -> Result<Self, String> {
        check_model(inner.get_model())?;
        check_normalizer(inner.get_normalizer())?;
        check_pre_tokenizer(inner.get_pre_tokenizer())?;
        let added = AddedTokens::from_vocab(inner.get_added_vocabulary())?;

        let parsed: Json<'_> = serde_json::from_str(json).map_err(|err| format!("cannot read the BPE model: {err}"))?;
        let vocab = parsed.model.vocab;
        let mut byte_ids = [0; 256];
        for (byte, ch) in byte_chars().into_iter().enumerate() {
            let mut buf = [0; 4];
            byte_ids[byte] = *vocab.get(&*ch.encode_utf8(&mut buf)).ok_or_else(|| format!("the vocabulary lacks byte symbol {ch:?}"))?;
        }
        let mut merges = Merges::default();
        for (rank, merge) in parsed.model.merges.iter().enumerate() {
            let (left, right) = match merge {
                MergeJson::Pair(left, right) => (&**left, &**right),
                MergeJson::Legacy(text) => text.split_once(' ').ok_or_else(|| format!("merge {text:?} is not two tokens"))?,
            };
            let id = |token: &str| vocab.get(token).copied().ok_or_else(|| format!("merge token {token:?} is not in the vocabulary"));
            let rank = u32::try_from(rank).map_err(|_| "more than 2^32 merges".to_owned())?;
            merges.insert(id(left)?, id(right)?, rank, id(&format!("{left}{right}"))?);
        }
        merges.finish();
        Ok(Self { byte_ids, merges, added, cache_owner: cache::new_owner() })
    }

    /// Rebuilds an encoder from the tables [`FastBpe::tables`] gave, or says why it cannot (the
    /// added tokens cannot be indexed).
    pub(crate) fn from_tables(tables: Tables) -> Result<Self, String> {
        let mut merges = Merges::default();
        merges.reserve(tables.merges.len());
        for [left, right, rank, new_id] in tables.merges {
            merges.insert(left, right, rank, new_id);
        }
        merges.finish();
        let added = AddedTokens::new(tables.added)?;
        Ok(Self { byte_ids: tables.byte_ids, merges, added, cache_owner: cache::new_owner() })
    }

    /// The tables this encoder runs on, for [`FastBpe::from_tables`].
    pub(crate) fn tables(&self) -> Tables {
        Tables { byte_ids: self.byte_ids, merges: self.merges.entries(), added: self.added.entries().to_vec() }
    }

    /// The id of the added token `content`, if there is one.
    pub(crate) fn added_id(&self, content: &str) -> Option<u32> {
        self.added.id_of(content)
    }

    /// Appends the ids of `text` to `out`.
    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        cache::with(self.cache_owner, |cache, scratch| {
            self.added.split(text, out, |segment, out| self.encode_segment(segment, out, cache, scratch));
        });
    }

    /// Encodes text free of added tokens: GPT-2 pre-tokens, each merged.
    fn encode_segment(&self, segment: &str, out: &mut Vec<u32>, cache: &mut PieceCache, scratch: &mut Scratch) {
        let b = segment.as_bytes();
        let mut start = 0;
        while start < b.len() {
            let end = CLASSES.gpt2_piece_end(b, start);
            self.encode_piece(&b[start..end], out, cache, scratch);
            start = end;
        }
    }

    #[inline]
    fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>, cache: &mut PieceCache, scratch: &mut Scratch) {
        if let [byte] = piece {
            out.push(self.byte_ids[usize::from(*byte)]);
            return;
        }
        let cacheable = piece.len() <= cache::MAX_PIECE;
        if cacheable && cache.extend_from(piece, out) {
            return;
        }
        let from = out.len();
        scratch.load(piece, &self.byte_ids);
        if piece.len() <= SHORT_PIECE {
            self.merges.merge_short(scratch, out);
        } else {
            self.merges.merge_long(scratch, out);
        }
        if cacheable {
            cache.insert(piece, &out[from..]);
        }
    }
}

fn check_model(model: &ModelWrapper) -> Result<(), String> {
    let ModelWrapper::BPE(bpe) = model else {
        return Err("the model is not BPE".into());
    };
    if bpe.dropout.is_some_and(|p| p > 0.0) {
        return Err("BPE dropout is on".into());
    }
    if bpe.continuing_subword_prefix.is_some() || bpe.end_of_word_suffix.is_some() {
        return Err("BPE has a continuing-subword prefix or end-of-word suffix".into());
    }
    if bpe.ignore_merges {
        return Err("BPE ignore_merges is on".into());
    }
    Ok(())
}

fn check_normalizer(normalizer: Option<&NormalizerWrapper>) -> Result<(), String> {
    match normalizer {
        None => Ok(()),
        Some(NormalizerWrapper::Sequence(seq)) if seq.as_ref().is_empty() => Ok(()),
        Some(_) => Err("the tokenizer has a normalizer".into()),
    }
}

fn check_pre_tokenizer(pre: Option<&PreTokenizerWrapper>) -> Result<(), String> {
    let gpt2 = |b: &ByteLevel| b.use_regex && !b.add_prefix_space;
    let ok = match pre {
        Some(PreTokenizerWrapper::ByteLevel(b)) => gpt2(b),
        Some(PreTokenizerWrapper::Sequence(seq)) => matches!(seq.as_ref(), [PreTokenizerWrapper::ByteLevel(b)] if gpt2(b)),
        _ => false,
    };
    if ok { Ok(()) } else { Err("the pre-tokenizer is not ByteLevel with the GPT-2 regex and no prefix space".into()) }
}

/// GPT-2's printable stand-in for each byte (`bytes_to_unicode` in OpenAI's `encoder.py`):
/// printable Latin-1 bytes stand for themselves, the others map to U+0100 onwards in order.
fn byte_chars() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut chars = ['\0'; 256];
    let mut shifted = 0x100;
    for b in 0..=255u8 {
        chars[usize::from(b)] = if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(shifted).unwrap_or('\0');
            shifted += 1;
            c
        };
    }
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_chars_match_gpt2() {
        let chars = byte_chars();
        assert_eq!(chars[usize::from(b' ')], 'Ġ');
        assert_eq!(chars[usize::from(b'\n')], 'Ċ');
        assert_eq!(chars[usize::from(b'a')], 'a');
        assert_eq!(chars[0], 'Ā');
        assert_eq!(chars[0xAD], 'Ń');
        let distinct: std::collections::HashSet<char> = chars.into_iter().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn shipped_tokenizers_have_monotone_merges() {
        for name in ["tests/fixtures/tokenizers/gpt2.json", "tokenizers/tokenmill-16k.json"] {
            let path = format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"));
            let inner = HfTokenizer::from_file(&path).expect("loads");
            let json = inner.to_string(false).expect("serializes");
            let fast = FastBpe::new(&inner, &json).expect("eligible");
            assert!(fast.merges.is_monotone(), "{name}: long pieces take the bucket path");
        }
    }

    #[test]
    fn tables_rebuild_the_same_encoder() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenizers/tokenmill-16k.json");
        let inner = HfTokenizer::from_file(path).expect("loads");
        let fast = FastBpe::new(&inner, &inner.to_string(false).expect("serializes")).expect("eligible");
        let tables = fast.tables();
        assert_eq!(tables.merges.len(), 16_384 - 256 - tables.added.len());
        assert!(tables.merges.iter().enumerate().all(|(rank, merge)| merge[2] as usize == rank));
        let rebuilt = FastBpe::from_tables(tables.clone()).expect("rebuilds");
        assert_eq!(rebuilt.tables(), tables);
        assert!(rebuilt.merges.is_monotone());
        assert_ne!(rebuilt.cache_owner, fast.cache_owner, "the rebuilt encoder has its own piece cache entries");
        let text = "Hello world<|endoftext|> 我们 🦀🦀 naïve\n\n    x".repeat(20);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        fast.encode_into(&text, &mut want);
        rebuilt.encode_into(&text, &mut got);
        assert_eq!(got, want);
    }
}
