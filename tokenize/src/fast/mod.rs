//! A fast path for byte-level BPE, the common case for LLM tokenizers (GPT-2, Llama 3, Qwen2/3,
//! DeepSeek V3, GPT-4o-style), giving the same ids as the `tokenizers` crate.
//!
//! [`FastBpe::new`] accepts a loaded tokenizer only when its whole pipeline is one this module
//! reproduces exactly (see [`FastBpe::new`]'s list) and otherwise says why; such a tokenizer
//! stays on the reference. Encoding then runs the reference's steps by hand:
//!
//! 1. split the text on added tokens ([`added`]), as `AddedVocabulary` does, normalizing (NFC)
//!    the text between raw-matched tokens before the normalized ones are matched;
//! 2. cut each remaining segment into pre-tokens with the pre-tokenizer's stages ([`split`]):
//!    hand-written scanners for the GPT-2 and cl100k/Qwen2 patterns, a DFA for other `Split`
//!    patterns;
//! 3. map each pre-token's bytes to their byte-level symbol ids and merge them ([`merge`]),
//!    looking frequent short pre-tokens up in a bounded per-thread cache first; with
//!    `ignore_merges` (Llama 3) a pre-token that is itself in the vocabulary is that token.

mod added;
mod cache;
mod merge;
mod pretok;
mod split;

use std::borrow::Cow;
use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::Value;
use tokenizers::{ModelWrapper, Tokenizer as HfTokenizer};
use unicode_normalization_alignments::{IsNormalized, UnicodeNormalization, is_nfc_quick};

pub(crate) use added::AddedEntry;
use added::AddedTokens;
use cache::PieceCache;
use merge::{Merges, Scratch};
pub(crate) use split::StageSpec;
use split::{Stage, for_each_piece};

/// Pre-tokens up to this many bytes are merged by rescanning (fast when short); longer ones
/// with the heap, which stays O(n log n).
const SHORT_PIECE: usize = 48;

/// A byte-level BPE encoder equivalent to a particular `tokenizers` pipeline.
#[derive(Debug)]
pub(crate) struct FastBpe {
    byte_ids: [u32; 256],
    merges: Merges,
    added: AddedTokens,
    /// NFC-normalize text between added tokens (Qwen2/3).
    nfc: bool,
    /// The pre-tokenizer's steps, as written (kept for the cache) and compiled.
    stage_specs: Vec<StageSpec>,
    stages: Vec<Stage>,
    /// With `ignore_merges`: every vocabulary token's bytes, so a pre-token that is a token is
    /// that token without merging.
    words: Option<FxHashMap<Box<[u8]>, u32>>,
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
    /// Whether text between added tokens is NFC-normalized.
    pub(crate) nfc: bool,
    /// The pre-tokenizer's steps.
    pub(crate) stages: Vec<StageSpec>,
    /// With `ignore_merges`, the vocabulary as `(bytes, id)`, in id order.
    pub(crate) words: Option<Vec<(Vec<u8>, u32)>>,
}

/// The parts of `tokenizer.json` the fast path reads that `tokenizers` does not expose.
#[derive(Deserialize)]
struct Json<'a> {
    #[serde(borrow)]
    model: ModelJson<'a>,
    normalizer: Option<Value>,
    pre_tokenizer: Option<Value>,
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
    /// Eligible: a BPE model without dropout or a (non-empty) subword prefix/suffix, whose
    /// vocabulary has all 256 byte-level symbols, with or without `ignore_merges`; no
    /// normalizer or NFC (alone or in a sequence); a `ByteLevel` pre-tokenizer, alone or last in
    /// a sequence after `Split`s that are `Isolated`, not inverted, and whose patterns
    /// [`Stage::compile`] runs exactly; added tokens without `single_word`/`lstrip`/`rstrip`
    /// that normalization leaves unchanged, and `encode_special_tokens` off. The
    /// post-processor adds nothing without special tokens, offsets are not computed, and
    /// decoding stays with the reference, so `trim_offsets`, the post-processor and the
    /// decoder do not matter.
    pub(crate) fn new(inner: &HfTokenizer, json: &str) -> Result<Self, String> {
        let ignore_merges = check_model(inner.get_model())?;
        let added = AddedTokens::from_vocab(inner.get_added_vocabulary())?;
        let parsed: Json<'_> = serde_json::from_str(json).map_err(|err| format!("cannot read the BPE model: {err}"))?;
        let nfc = nfc_normalizer(parsed.normalizer.as_ref())?;
        let stages = pre_tokenizer_stages(parsed.pre_tokenizer.as_ref())?;
        if nfc && let Some(entry) = added.entries().iter().find(|entry| entry.normalized && normalize(true, &entry.content) != entry.content) {
            return Err(format!("added token {:?} changes under NFC", entry.content));
        }

        let vocab = parsed.model.vocab;
        let chars = byte_chars();
        let mut byte_ids = [0; 256];
        for (byte, ch) in chars.into_iter().enumerate() {
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
        let words = ignore_merges.then(|| {
            let byte_of: FxHashMap<char, u8> = chars.iter().enumerate().map(|(byte, &ch)| (ch, byte as u8)).collect();
            // A token with a char that is no byte symbol can never equal a pre-token's symbols.
            let mut words: Vec<(Vec<u8>, u32)> = vocab
                .iter()
                .filter_map(|(token, &id)| token.chars().map(|ch| byte_of.get(&ch).copied()).collect::<Option<Vec<u8>>>().map(|bytes| (bytes, id)))
                .collect();
            words.sort_unstable_by_key(|&(_, id)| id);
            words
        });
        Self::build(Tables { byte_ids, merges: Vec::new(), added: Vec::new(), nfc, stages, words }, merges, added)
    }

    /// Rebuilds an encoder from the tables [`FastBpe::tables`] gave, or says why it cannot (the
    /// added tokens cannot be indexed, a pattern does not compile).
    pub(crate) fn from_tables(mut tables: Tables) -> Result<Self, String> {
        let mut merges = Merges::default();
        merges.reserve(tables.merges.len());
        for [left, right, rank, new_id] in std::mem::take(&mut tables.merges) {
            merges.insert(left, right, rank, new_id);
        }
        merges.finish();
        let added = AddedTokens::new(std::mem::take(&mut tables.added))?;
        Self::build(tables, merges, added)
    }

    /// The encoder of `tables`, whose merges and added tokens are given built.
    fn build(tables: Tables, merges: Merges, added: AddedTokens) -> Result<Self, String> {
        let stages = tables.stages.iter().map(Stage::compile).collect::<Result<Vec<_>, _>>()?;
        let words = tables.words.map(|words| {
            let mut map = FxHashMap::with_capacity_and_hasher(words.len(), Default::default());
            for (bytes, id) in words {
                // The reference's vocabulary maps a string to one id; keep the first, as a
                // rebuilt table must not depend on order.
                map.entry(bytes.into_boxed_slice()).or_insert(id);
            }
            map
        });
        Ok(Self {
            byte_ids: tables.byte_ids,
            merges,
            added,
            nfc: tables.nfc,
            stage_specs: tables.stages,
            stages,
            words,
            cache_owner: cache::new_owner(),
        })
    }

    /// The tables this encoder runs on, for [`FastBpe::from_tables`].
    pub(crate) fn tables(&self) -> Tables {
        let words = self.words.as_ref().map(|map| {
            let mut words: Vec<(Vec<u8>, u32)> = map.iter().map(|(bytes, &id)| (bytes.to_vec(), id)).collect();
            words.sort_unstable_by_key(|&(_, id)| id);
            words
        });
        Tables {
            byte_ids: self.byte_ids,
            merges: self.merges.entries(),
            added: self.added.entries().to_vec(),
            nfc: self.nfc,
            stages: self.stage_specs.clone(),
            words,
        }
    }

    /// What this encoder runs, for logs and reports, e.g. `nfc, qwen2 split (hand-written),
    /// byte-level BPE, ignore_merges`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.nfc {
            parts.push("NFC".to_owned());
        }
        parts.extend(self.stages.iter().map(Stage::describe));
        parts.push("byte-level BPE".into());
        if self.words.is_some() {
            parts.push("ignore_merges".into());
        }
        parts.join(", ")
    }

    /// The id of the added token `content`, if there is one.
    pub(crate) fn added_id(&self, content: &str) -> Option<u32> {
        self.added.id_of(content)
    }

    /// Appends the ids of `text` to `out`.
    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        cache::with(self.cache_owner, |cache, scratch| {
            self.added.split(text, |gap| normalize(self.nfc, gap), out, |segment, out| {
                for_each_piece(&self.stages, segment, &mut |piece| self.encode_piece(piece.as_bytes(), out, cache, scratch));
            });
        });
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
        if let Some(&id) = self.words.as_ref().and_then(|words| words.get(piece)) {
            out.push(id);
        } else {
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
            return;
        }
        if cacheable {
            cache.insert(piece, &out[out.len() - 1..]);
        }
    }
}

/// `text` NFC-normalized when `nfc` is set, as the reference's `NFC` normalizer does it (with
/// the same crate, so the Unicode version is the same).
fn normalize(nfc: bool, text: &str) -> Cow<'_, str> {
    if !nfc || text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.nfc().map(|(ch, _)| ch).collect())
}

/// Whether the normalizer is NFC (`true`) or none (`false`), or why the fast path cannot run it.
fn nfc_normalizer(normalizer: Option<&Value>) -> Result<bool, String> {
    let Some(normalizer) = normalizer else { return Ok(false) };
    let kind = normalizer.get("type").and_then(Value::as_str).unwrap_or("?");
    match kind {
        "NFC" => Ok(true),
        "Sequence" => {
            let members = normalizer.get("normalizers").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            match members {
                [] => Ok(false),
                [one] => nfc_normalizer(Some(one)),
                _ => Err("the normalizer is a sequence of several normalizers".into()),
            }
        }
        other => Err(format!("the normalizer {other} is not on the fast path")),
    }
}

/// The fast path's stages for the pre-tokenizer, or why it cannot run it.
fn pre_tokenizer_stages(pre: Option<&Value>) -> Result<Vec<StageSpec>, String> {
    let Some(pre) = pre else { return Err("there is no pre-tokenizer (the model is not byte-level)".into()) };
    let kind = |value: &Value| value.get("type").and_then(Value::as_str).unwrap_or("?").to_owned();
    let members = match kind(pre).as_str() {
        "Sequence" => pre.get("pretokenizers").and_then(Value::as_array).map_or(&[][..], Vec::as_slice),
        _ => std::slice::from_ref(pre),
    };
    let Some((byte_level, splits)) = members.split_last().filter(|(last, _)| kind(last) == "ByteLevel") else {
        return Err("the pre-tokenizer does not end with ByteLevel".into());
    };
    let mut stages = Vec::with_capacity(members.len() + 1);
    for split in splits {
        stages.push(split_stage(split, &kind(split))?);
    }
    let flag = |name: &str| byte_level.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("add_prefix_space") {
        stages.push(StageSpec::PrefixSpace);
    }
    if flag("use_regex") {
        stages.push(StageSpec::Gpt2);
    }
    for stage in &stages {
        Stage::compile(stage)?;
    }
    Ok(stages)
}

fn split_stage(split: &Value, kind: &str) -> Result<StageSpec, String> {
    if kind != "Split" {
        return Err(format!("the pre-tokenizer {kind} is not on the fast path"));
    }
    let behavior = split.get("behavior").and_then(Value::as_str).unwrap_or("?");
    if behavior != "Isolated" {
        return Err(format!("a Split pre-tokenizer has behavior {behavior}, not Isolated"));
    }
    if split.get("invert").and_then(Value::as_bool).unwrap_or(false) {
        return Err("a Split pre-tokenizer is inverted".into());
    }
    let pattern = split.get("pattern");
    if let Some(regex) = pattern.and_then(|p| p.get("Regex")).and_then(Value::as_str) {
        Ok(StageSpec::Split(regex.to_owned()))
    } else if let Some(literal) = pattern.and_then(|p| p.get("String")).and_then(Value::as_str) {
        Ok(StageSpec::Split(regex_syntax::escape(literal)))
    } else {
        Err("a Split pre-tokenizer's pattern is neither Regex nor String".into())
    }
}

/// Checks the model and returns whether `ignore_merges` is on.
fn check_model(model: &ModelWrapper) -> Result<bool, String> {
    let ModelWrapper::BPE(bpe) = model else {
        return Err("the model is not BPE".into());
    };
    if bpe.dropout.is_some_and(|p| p > 0.0) {
        return Err("BPE dropout is on".into());
    }
    let set = |affix: &Option<String>| affix.as_deref().is_some_and(|a| !a.is_empty());
    if set(&bpe.continuing_subword_prefix) || set(&bpe.end_of_word_suffix) {
        return Err("BPE has a continuing-subword prefix or end-of-word suffix".into());
    }
    Ok(bpe.ignore_merges)
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
