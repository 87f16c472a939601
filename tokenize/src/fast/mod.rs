//! A fast path for BPE tokenizers: byte-level BPE, the common case for LLM tokenizers (GPT-2,
//! Llama 3, Qwen2/3, DeepSeek V3, GPT-4o-style), and SentencePiece-style BPE over chars with
//! byte fallback (Llama 2, Mistral v1, Gemma), giving the same ids as the `tokenizers` crate.
//!
//! [`FastBpe::new`] accepts a loaded tokenizer only when its whole pipeline is one this module
//! reproduces exactly (see [`FastBpe::new`]'s list) and otherwise says why; such a tokenizer
//! stays on the reference. Encoding then runs the reference's steps by hand:
//!
//! 1. split the text on added tokens ([`added`]), as `AddedVocabulary` does, normalizing
//!    ([`normalize`]: NFC, `Prepend`, `Replace`) the text between raw-matched tokens before the
//!    normalized ones are matched;
//! 2. cut each remaining segment into pre-tokens with the pre-tokenizer's stages ([`split`]):
//!    hand-written scanners for the GPT-2 and cl100k/Qwen2 patterns, a DFA for other `Split`
//!    patterns;
//!    (a SentencePiece-style tokenizer has no pre-tokenizer: the whole segment is one piece);
//! 3. look the piece up among the pieces that are one token ([`words`]), then in a bounded
//!    per-thread cache, else map it to symbols (one per byte for byte-level BPE; one per char,
//!    or its bytes' `<0xXX>` tokens when the char is not in the vocabulary, for
//!    SentencePiece-style BPE) and merge them ([`merge`]).

mod added;
mod atoms;
mod cache;
mod merge;
mod normalize;
mod pretok;
mod split;
mod words;

use std::borrow::Cow;
use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::Value;
use tokenizers::{ModelWrapper, Tokenizer as HfTokenizer};

pub(crate) use added::AddedEntry;
use added::AddedTokens;
use atoms::Atoms;
pub(crate) use atoms::{Atom, Guard};
use cache::PieceCache;
use merge::{Merges, Scratch};
pub(crate) use normalize::NormSpec;
pub(crate) use split::StageSpec;
use split::{Stage, for_each_piece};
use words::Words;

/// Pre-tokens up to this many bytes are merged by rescanning (fast when short); longer ones
/// with the heap, which stays O(n log n).
const SHORT_PIECE: usize = 48;

/// A byte-level BPE encoder equivalent to a particular `tokenizers` pipeline.
#[derive(Debug)]
pub(crate) struct FastBpe {
    /// Byte-level: each byte's symbol id. Char-level: each byte's `<0xXX>` fallback token.
    byte_ids: [u32; 256],
    /// Char-level (SentencePiece-style) BPE: the id of each char that is a token.
    chars: Option<Chars>,
    /// Byte-level BPE: chars whose bytes merge into one token first ([`atoms`]).
    atoms: Atoms,
    merges: Merges,
    added: AddedTokens,
    /// The normalizer's steps, applied to the text between raw-matched added tokens.
    normalizers: Vec<NormSpec>,
    /// The pre-tokenizer's steps, as written (kept for the cache) and compiled.
    stage_specs: Vec<StageSpec>,
    stages: Vec<Stage>,
    /// Pre-tokens that are one token, looked up before the cache and merging (see [`words`]).
    words: Words,
    /// Whether the model has `ignore_merges` (for [`FastBpe::describe`]).
    ignore_merges: bool,
    /// Tells this tokenizer's entries apart in the per-thread piece cache.
    cache_owner: u64,
}

/// A [`FastBpe`]'s tables in plain form: what the on-disk cache stores, and all it takes to
/// rebuild the encoder without the `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tables {
    /// The id of each byte's byte-level symbol, or (char-level) of its `<0xXX>` token.
    pub(crate) byte_ids: [u32; 256],
    /// Char-level BPE: every single-char token, as `(char, id)` in id order.
    pub(crate) chars: Option<Vec<(char, u32)>>,
    /// `[left, right, rank, new_id]` of each merge, in rank order.
    pub(crate) merges: Vec<[u32; 4]>,
    /// The added tokens, in id order.
    pub(crate) added: Vec<AddedEntry>,
    /// The normalizer's steps.
    pub(crate) normalizers: Vec<NormSpec>,
    /// The pre-tokenizer's steps.
    pub(crate) stages: Vec<StageSpec>,
    /// Whether the model has `ignore_merges`.
    pub(crate) ignore_merges: bool,
    /// Pre-tokens that are one token, as `(bytes, id)` in id order: with `ignore_merges` the
    /// whole vocabulary, otherwise the tokens that merging their own symbols gives back.
    pub(crate) words: Vec<(Vec<u8>, u32)>,
    /// Byte-level: the atoms, in id order.
    pub(crate) atoms: Vec<Atom>,
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

/// The merge list as ranked pairs of token ids.
fn read_merges(
    list: &[MergeJson<'_>],
    vocab: &HashMap<Cow<'_, str>, u32>,
) -> Result<Merges, String> {
    let mut merges = Merges::default();
    for (rank, merge) in list.iter().enumerate() {
        let (left, right) = match merge {
            MergeJson::Pair(left, right) => (&**left, &**right),
            MergeJson::Legacy(text) => {
                text.split_once(' ').ok_or_else(|| format!("merge {text:?} is not two tokens"))?
            }
        };
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| format!("merge token {token:?} is not in the vocabulary"))
        };
        let rank = u32::try_from(rank).map_err(|_| "more than 2^32 merges".to_owned())?;
        merges.insert(id(left)?, id(right)?, rank, id(&format!("{left}{right}"))?);
    }
    merges.finish();
    Ok(merges)
}

/// Every token of more than one byte as its bytes, by id: byte-level tokens map their symbols
/// back to bytes (a token with a char that is no byte symbol can never equal a piece);
/// char-level tokens are text.
fn piece_words(
    vocab: &HashMap<Cow<'_, str>, u32>,
    byte_of: Option<&FxHashMap<char, u8>>,
) -> Vec<(Vec<u8>, u32)> {
    let mut words: Vec<(Vec<u8>, u32)> = vocab
        .iter()
        .filter_map(|(token, &id)| match byte_of {
            Some(byte_of) => token
                .chars()
                .map(|ch| byte_of.get(&ch).copied())
                .collect::<Option<Vec<u8>>>()
                .map(|bytes| (bytes, id)),
            None => Some((token.as_bytes().to_vec(), id)),
        })
        .filter(|(bytes, _)| bytes.len() > 1)
        .collect();
    words.sort_unstable_by_key(|&(_, id)| id);
    words
}

impl FastBpe {
    /// Builds the fast path for `inner`, whose compact JSON is `json`, or says why it cannot.
    ///
    /// Eligible: a BPE model without dropout or a (non-empty) subword prefix/suffix, with or
    /// without `ignore_merges`, and either
    ///
    /// - byte-level: a vocabulary with all 256 byte-level symbols and a `ByteLevel`
    ///   pre-tokenizer, alone or last in a sequence after `Split`s that are `Isolated`, not
    ///   inverted, and whose patterns [`Stage::compile`] runs exactly; or
    /// - char-level (SentencePiece-style): no pre-tokenizer, `byte_fallback` on and all 256
    ///   `<0xXX>` tokens in the vocabulary;
    ///
    /// with normalizers [`normalize::parse`] takes (none, NFC, `Prepend`, literal `Replace`);
    /// added tokens without `single_word`/`lstrip`/`rstrip` that normalization leaves
    /// unchanged, and `encode_special_tokens` off. The post-processor adds nothing without
    /// special tokens, offsets are not computed, and decoding stays with the reference, so
    /// `trim_offsets`, the post-processor and the decoder do not matter.
    pub(crate) fn new(inner: &HfTokenizer, json: &str) -> Result<Self, String> {
        let model = check_model(inner.get_model())?;
        let added = AddedTokens::from_vocab(inner.get_added_vocabulary())?;
        let parsed: Json<'_> = serde_json::from_str(json)
            .map_err(|err| format!("cannot read the BPE model: {err}"))?;
        let normalizers = normalize::parse(parsed.normalizer.as_ref())?;
        if let Some(entry) = added
            .entries()
            .iter()
            .find(|e| e.normalized && normalize::apply(&normalizers, &e.content) != e.content)
        {
            return Err(format!("added token {:?} changes under the normalizer", entry.content));
        }
        let vocab = parsed.model.vocab;
        let char_level = parsed.pre_tokenizer.is_none();
        let (stages, byte_ids, chars, byte_of) = if char_level {
            if !model.byte_fallback {
                return Err("a BPE over chars without byte_fallback (unknown chars become unk) is not on the fast path".into());
            }
            let mut byte_ids = [0; 256];
            for (byte, id) in byte_ids.iter_mut().enumerate() {
                let token = format!("<0x{byte:02X}>");
                *id = *vocab.get(token.as_str()).ok_or_else(|| {
                    format!("byte_fallback is on but the vocabulary lacks {token}")
                })?;
            }
            let mut chars: Vec<(char, u32)> = vocab
                .iter()
                .filter_map(|(token, &id)| {
                    let mut it = token.chars();
                    match (it.next(), it.next()) {
                        (Some(ch), None) => Some((ch, id)),
                        _ => None,
                    }
                })
                .collect();
            chars.sort_unstable_by_key(|&(_, id)| id);
            (Vec::new(), byte_ids, Some(chars), None)
        } else {
            let stages = pre_tokenizer_stages(parsed.pre_tokenizer.as_ref())?;
            let symbols = byte_chars();
            let mut byte_ids = [0; 256];
            for (byte, ch) in symbols.into_iter().enumerate() {
                let mut buf = [0; 4];
                byte_ids[byte] = *vocab
                    .get(&*ch.encode_utf8(&mut buf))
                    .ok_or_else(|| format!("the vocabulary lacks byte symbol {ch:?}"))?;
            }
            let byte_of: FxHashMap<char, u8> =
                symbols.iter().enumerate().map(|(byte, &ch)| (ch, byte as u8)).collect();
            (stages, byte_ids, None, Some(byte_of))
        };
        let merges = read_merges(&parsed.model.merges, &vocab)?;
        let mut words = piece_words(&vocab, byte_of.as_ref());
        let tables = Tables {
            byte_ids,
            chars,
            merges: Vec::new(),
            added: Vec::new(),
            normalizers,
            stages,
            ignore_merges: model.ignore_merges,
            words: Vec::new(),
            atoms: Vec::new(),
        };
        let mut fast = Self::build(tables, merges, added)?;
        if !model.ignore_merges {
            // Without ignore_merges a token is a whole piece only if merging gives it back.
            let mut scratch = Scratch::default();
            let mut out = Vec::new();
            words.retain(|(bytes, id)| {
                out.clear();
                fast.merge_piece(bytes, &mut scratch, &mut out);
                out == [*id]
            });
        }
        if fast.chars.is_none() {
            let chars = words.iter().filter_map(|(bytes, id)| {
                let text = std::str::from_utf8(bytes).ok()?;
                let mut it = text.chars();
                it.next().filter(|_| it.next().is_none()).map(|ch| (ch, *id))
            });
            fast.atoms = Atoms::new(&atoms::find(chars, &fast.merges, &fast.byte_ids));
        }
        fast.words = Words::new(&words);
        Ok(fast)
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
        let words = Words::new(&tables.words);
        let atoms = Atoms::new(&tables.atoms);
        let chars = tables.chars.as_deref().map(Chars::new);
        Ok(Self {
            byte_ids: tables.byte_ids,
            chars,
            atoms,
            merges,
            added,
            normalizers: tables.normalizers,
            stage_specs: tables.stages,
            stages,
            words,
            ignore_merges: tables.ignore_merges,
            cache_owner: cache::new_owner(),
        })
    }

    /// The tables this encoder runs on, for [`FastBpe::from_tables`].
    pub(crate) fn tables(&self) -> Tables {
        Tables {
            byte_ids: self.byte_ids,
            chars: self.chars.as_ref().map(Chars::entries),
            merges: self.merges.entries(),
            added: self.added.entries().to_vec(),
            normalizers: self.normalizers.clone(),
            stages: self.stage_specs.clone(),
            ignore_merges: self.ignore_merges,
            words: self.words.entries(),
            atoms: self.atoms.entries(),
        }
    }

    /// What this encoder runs, for logs and reports, e.g. `NFC, qwen2 split (hand-written),
    /// byte-level BPE`.
    pub(crate) fn describe(&self) -> String {
        let mut parts: Vec<String> = self.normalizers.iter().map(NormSpec::describe).collect();
        parts.extend(self.stages.iter().map(Stage::describe));
        parts.push(
            if self.chars.is_some() {
                "char-level BPE with byte fallback"
            } else {
                "byte-level BPE"
            }
            .into(),
        );
        if self.ignore_merges {
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
            self.added.split(
                text,
                |gap| normalize::apply(&self.normalizers, gap),
                out,
                |segment, out| {
                    for_each_piece(&self.stages, segment, &mut |piece| {
                        self.encode_piece(piece, out, cache, scratch)
                    });
                },
            );
        });
    }

    #[inline]
    fn encode_piece(
        &self,
        piece: &str,
        out: &mut Vec<u32>,
        cache: &mut PieceCache,
        scratch: &mut Scratch,
    ) {
        let bytes = piece.as_bytes();
        if let [byte] = bytes
            && self.chars.is_none()
        {
            out.push(self.byte_ids[usize::from(*byte)]);
            return;
        }
        let cacheable = bytes.len() <= cache::MAX_PIECE;
        // One hash serves both tables; a piece too long for either is not hashed.
        let hash =
            if cacheable || self.words.may_hold(bytes) { cache::piece_hash(bytes) } else { 0 };
        if let Some(id) = self.words.get_hashed(bytes, hash) {
            out.push(id);
            return;
        }
        if cacheable && cache.extend_from(bytes, hash, out) {
            return;
        }
        let from = out.len();
        self.merge_piece(bytes, scratch, out);
        if cacheable {
            cache.insert(bytes, hash, &out[from..]);
        }
    }

    /// Appends the merged ids of `piece` (valid UTF-8) to `out`.
    fn merge_piece(&self, piece: &[u8], scratch: &mut Scratch, out: &mut Vec<u32>) {
        match &self.chars {
            None if self.atoms.is_empty() => scratch.load(piece, &self.byte_ids),
            None => scratch.load_with(|ids| self.atoms.load(piece, &self.byte_ids, ids)),
            Some(chars) => chars.load(piece, &self.byte_ids, scratch),
        }
        if scratch.len() <= SHORT_PIECE {
            self.merges.merge_short(scratch, out);
        } else {
            self.merges.merge_long(scratch, out);
        }
    }
}

/// The fast path's stages for the pre-tokenizer, or why it cannot run it.
fn pre_tokenizer_stages(pre: Option<&Value>) -> Result<Vec<StageSpec>, String> {
    let Some(pre) = pre else {
        return Err("there is no pre-tokenizer (the model is not byte-level)".into());
    };
    let kind = |value: &Value| value.get("type").and_then(Value::as_str).unwrap_or("?").to_owned();
    let members = match kind(pre).as_str() {
        "Sequence" => {
            pre.get("pretokenizers").and_then(Value::as_array).map_or(&[][..], Vec::as_slice)
        }
        _ => std::slice::from_ref(pre),
    };
    let Some((byte_level, splits)) =
        members.split_last().filter(|(last, _)| kind(last) == "ByteLevel")
    else {
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

/// The BPE settings the fast path follows.
struct ModelFlags {
    ignore_merges: bool,
    byte_fallback: bool,
}

/// Checks the model and returns the settings the encoder follows.
fn check_model(model: &ModelWrapper) -> Result<ModelFlags, String> {
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
    Ok(ModelFlags { ignore_merges: bpe.ignore_merges, byte_fallback: bpe.byte_fallback })
}

/// The single-char tokens of a char-level (SentencePiece-style) BPE.
#[derive(Debug)]
struct Chars {
    /// ASCII chars by code ([`NO_ID`] where not a token).
    ascii: [u32; 128],
    other: FxHashMap<char, u32>,
}

/// Not a token.
const NO_ID: u32 = u32::MAX;

impl Chars {
    fn new(entries: &[(char, u32)]) -> Self {
        let mut ascii = [NO_ID; 128];
        let mut other = FxHashMap::default();
        for &(ch, id) in entries {
            if ch.is_ascii() {
                ascii[ch as usize] = id;
            } else {
                other.insert(ch, id);
            }
        }
        Self { ascii, other }
    }

    fn entries(&self) -> Vec<(char, u32)> {
        let ascii = self
            .ascii
            .iter()
            .enumerate()
            .filter(|&(_, &id)| id != NO_ID)
            .map(|(ch, &id)| (char::from(ch as u8), id));
        let mut entries: Vec<(char, u32)> =
            ascii.chain(self.other.iter().map(|(&ch, &id)| (ch, id))).collect();
        entries.sort_unstable_by_key(|&(_, id)| id);
        entries
    }

    /// Loads the symbols of `piece` (valid UTF-8): each char's token, or the `<0xXX>` tokens of
    /// its bytes when the char is not one, as the reference's `byte_fallback` does.
    fn load(&self, piece: &[u8], fallback: &[u32; 256], scratch: &mut Scratch) {
        let text = std::str::from_utf8(piece).unwrap_or_default();
        scratch.load_with(|ids| {
            for (at, ch) in text.char_indices() {
                let id = if ch.is_ascii() {
                    self.ascii[ch as usize]
                } else {
                    self.other.get(&ch).copied().unwrap_or(NO_ID)
                };
                if id == NO_ID {
                    ids.extend(
                        piece[at..at + ch.len_utf8()].iter().map(|&b| fallback[usize::from(b)]),
                    );
                } else {
                    ids.push(id);
                }
            }
        });
    }
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
mod tests;
