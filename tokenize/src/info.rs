//! What a loaded tokenizer is: vocabulary size, content hash, special ids and model kind.
//!
//! The pipeline records a [`TokenizerInfo`] next to every shard, so a reader can tell which
//! tokenizer produced the ids and whether two runs used the same one.

use tokenizers::{ModelWrapper, Tokenizer as HfTokenizer};
use xxhash_rust::xxh3::xxh3_128;

/// End-of-sequence token strings, looked up in this order; the first one in the vocabulary wins.
///
/// Covers GPT-2/GPT-NeoX, SentencePiece (Llama 2, T5), Llama 3, Gemma and BERT.
pub const EOS_CANDIDATES: &[&str] = &["<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]"];

/// Beginning-of-sequence token strings, looked up in this order; the first one found wins.
pub const BOS_CANDIDATES: &[&str] = &["<|begin_of_text|>", "<s>", "<bos>", "[CLS]"];

/// Facts about a tokenizer that downstream stages and shard metadata need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizerInfo {
    /// Number of ids, added tokens included; every id the tokenizer emits is below it.
    pub vocab_size: usize,
    /// xxh3-128 of the tokenizer's compact JSON (`to_json`), as 32 lowercase hex digits.
    ///
    /// The same tokenizer always hashes the same; any change to vocabulary, merges, normalizer
    /// or pre-tokenizer changes it. Special-id overrides are not part of the JSON and not hashed.
    pub hash: String,
    /// Id appended by `encode_document` when `eos` is set, if the tokenizer has one.
    pub eos_id: Option<u32>,
    /// Id prepended by `encode_document` when `bos` is set, if the tokenizer has one.
    pub bos_id: Option<u32>,
    /// Model type: `"BPE"`, `"WordPiece"`, `"Unigram"` or `"WordLevel"`.
    pub kind: String,
}

impl TokenizerInfo {
    /// Describes `inner`, whose compact JSON serialization is `json`.
    pub(crate) fn inspect(inner: &HfTokenizer, json: &str) -> Self {
        Self {
            vocab_size: vocab_size(inner),
            hash: content_hash(json),
            eos_id: first_known(inner, EOS_CANDIDATES),
            bos_id: first_known(inner, BOS_CANDIDATES),
            kind: model_kind(inner.get_model()).to_owned(),
        }
    }
}

/// Size of the id space: one past the largest id, never less than the number of tokens.
///
/// `get_vocab_size(true)` counts tokens, which equals `max id + 1` for every well-formed
/// tokenizer; a file with holes in its id space would otherwise report a size some ids exceed.
fn vocab_size(inner: &HfTokenizer) -> usize {
    let counted = inner.get_vocab_size(true);
    let past_max = inner.get_vocab(true).values().map(|&id| id as usize + 1).max().unwrap_or(0);
    counted.max(past_max)
}

/// The id of the first candidate the tokenizer knows.
pub(crate) fn first_known(inner: &HfTokenizer, candidates: &[&str]) -> Option<u32> {
    candidates.iter().find_map(|token| inner.token_to_id(token))
}

/// The candidates as a readable list for error messages.
pub(crate) fn candidate_list(candidates: &[&str]) -> String {
    candidates.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
}

/// xxh3-128 of `json` as 32 lowercase hex digits.
pub(crate) fn content_hash(json: &str) -> String {
    format!("{:032x}", xxh3_128(json.as_bytes()))
}

fn model_kind(model: &ModelWrapper) -> &'static str {
    match model {
        ModelWrapper::BPE(_) => "BPE",
        ModelWrapper::WordPiece(_) => "WordPiece",
        ModelWrapper::WordLevel(_) => "WordLevel",
        ModelWrapper::Unigram(_) => "Unigram",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_32_lowercase_hex_and_stable() {
        let h = content_hash("{}");
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(h, content_hash("{}"));
        assert_ne!(h, content_hash("{ }"));
    }

    #[test]
    fn candidate_list_quotes_each_token() {
        assert_eq!(candidate_list(&["</s>", "[SEP]"]), r#""</s>", "[SEP]""#);
    }
}
