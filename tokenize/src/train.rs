//! Training a GPT-2 style byte-level BPE tokenizer from a stream of texts.
//!
//! The tokenizer splits text with the GPT-2 regex, maps every byte to one of 256 printable
//! characters ([`ByteLevel`]), and learns merges over those. Its initial alphabet is all 256
//! byte characters, so any text, in any script, encodes without an unknown token and decodes
//! back to itself.
//!
//! Training is deterministic: the same texts and config give byte-identical JSON, whatever the
//! order in which rayon counts words. (Word counts are summed, so order does not matter; merge
//! ties are broken by pair ids; the alphabet is sorted; vocabulary and merges serialize by id.)

use std::collections::HashSet;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer as HfTokenizer};

use crate::patterns::PatternFamily;

use crate::{Error, Result, Tokenizer};

/// Number of symbols in the byte-level alphabet: one per byte value.
const BYTE_ALPHABET_SIZE: usize = 256;

/// Settings for [`train_byte_level_bpe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpeTrainingConfig {
    /// Target vocabulary size in tokens, special tokens and the 256 byte symbols included.
    /// Training stops earlier if no pair occurs `min_frequency` times.
    pub vocab_size: usize,
    /// Minimum number of occurrences (in words, over all texts) for a pair to be merged.
    pub min_frequency: u64,
    /// Special tokens, given ids `0..` in this order, e.g. the end-of-text separator.
    pub special_tokens: Vec<String>,
    /// Each training text is cut to at most this many bytes (at a char boundary), so one
    /// huge document cannot dominate the counts or the memory.
    pub max_doc_bytes: usize,
    /// The pre-tokenizer the tokenizer is trained and used with.
    pub pattern: PatternFamily,
}

impl Default for BpeTrainingConfig {
    fn default() -> Self {
        Self {
            vocab_size: 16_384,
            min_frequency: 2,
            special_tokens: vec!["<|endoftext|>".to_owned()],
            max_doc_bytes: 100_000,
            pattern: PatternFamily::default(),
        }
    }
}

impl BpeTrainingConfig {
    /// Checks that the config can produce a tokenizer that encodes every byte.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the vocabulary cannot hold the specials and all 256 bytes,
    /// `max_doc_bytes` is 0, or a special token is empty or repeated.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidConfig { reason });
        let floor = BYTE_ALPHABET_SIZE + self.special_tokens.len();
        if self.vocab_size < floor {
            return invalid(format!(
                "vocab_size {} is below {floor} (256 byte symbols + {} special tokens); \
                 raise vocab_size",
                self.vocab_size,
                self.special_tokens.len()
            ));
        }
        if self.max_doc_bytes == 0 {
            return invalid("max_doc_bytes is 0, so nothing would be learned; raise it".into());
        }
        let mut seen = HashSet::new();
        for token in &self.special_tokens {
            if token.is_empty() {
                return invalid("a special token is the empty string; remove it".into());
            }
            if !seen.insert(token) {
                return invalid(format!("special token {token:?} is listed twice"));
            }
        }
        Ok(())
    }
}

/// Trains a byte-level BPE tokenizer with `cfg.pattern`'s pre-tokenizer on `texts`,
/// consuming them as a stream.
///
/// Only the word counts are kept in memory, not the texts. The result has the special tokens
/// at ids `0..`, then the 256 byte symbols, then merges in the order they were learned; its
/// eos is detected as usual (so include `<|endoftext|>` or another candidate to get one).
///
/// # Errors
///
/// [`Error::InvalidConfig`] if `cfg` fails [`BpeTrainingConfig::validate`], [`Error::Train`] if
/// training fails.
///
/// # Examples
///
/// ```
/// use tokenmill_tokenize::{BpeTrainingConfig, train_byte_level_bpe};
///
/// let texts = ["the cat sat", "the cat ran", "a dog sat"].map(String::from);
/// let cfg = BpeTrainingConfig { vocab_size: 300, ..BpeTrainingConfig::default() };
/// let tok = train_byte_level_bpe(texts.into_iter().cycle().take(30), &cfg)?;
/// assert_eq!(tok.token_to_id("<|endoftext|>"), Some(0));
/// assert_eq!(tok.decode(&tok.encode("the cat ran, 猫")?)?, "the cat ran, 猫");
/// # Ok::<(), tokenmill_tokenize::Error>(())
/// ```
pub fn train_byte_level_bpe<I>(texts: I, cfg: &BpeTrainingConfig) -> Result<Tokenizer>
where
    I: Iterator<Item = String> + Send,
{
    cfg.validate()?;
    let special_tokens: Vec<AddedToken> =
        cfg.special_tokens.iter().map(|t| AddedToken::from(t.as_str(), true)).collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(cfg.vocab_size)
        .min_frequency(cfg.min_frequency)
        // `train` also registers these as added special tokens, so they are never split.
        .special_tokens(special_tokens)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        // Libraries never print: progress belongs to the binary.
        .show_progress(false)
        .build()
        .into();

    let mut inner = HfTokenizer::new(BPE::default());
    if cfg.pattern.nfc() {
        inner.with_normalizer(Some(NFC)).map_err(|source| Error::Train { source })?;
    }
    inner
        .with_pre_tokenizer(Some(pre_tokenizer(cfg.pattern)?))
        .with_post_processor(Some(ByteLevel::new(false, false, true)))
        .with_decoder(Some(ByteLevelDecoder::default()));

    let max = cfg.max_doc_bytes;
    inner
        .train(&mut trainer, texts.map(move |text| truncate_at_char(text, max)))
        .map_err(|source| Error::Train { source })?;
    Tokenizer::from_hf(inner, "<trained byte-level BPE>")
}

/// `text` cut to at most `max` bytes, at the last char boundary that fits.
/// The family's pre-tokenizer: `ByteLevel` with the GPT-2 regex, or its `Split`s then
/// `ByteLevel` without a regex, as Llama 3, Qwen and DeepSeek write theirs.
fn pre_tokenizer(family: PatternFamily) -> Result<PreTokenizerWrapper> {
    if family.splits().is_empty() {
        return Ok(ByteLevel::new(false, true, true).into());
    }
    let mut steps = Vec::with_capacity(family.splits().len() + 1);
    for pattern in family.splits() {
        let split = Split::new(
            SplitPattern::Regex((*pattern).to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|err| Error::InvalidConfig { reason: format!("pattern {family}: {err}") })?;
        steps.push(PreTokenizerWrapper::Split(split));
    }
    steps.push(ByteLevel::new(false, false, false).into());
    Ok(Sequence::new(steps).into())
}

fn truncate_at_char(mut text: String, max: usize) -> String {
    if text.len() > max {
        let end = text.floor_char_boundary(max);
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_at_char("hello".into(), 10), "hello");
        assert_eq!(truncate_at_char("hello".into(), 3), "hel");
        // "é" is two bytes: cutting inside it drops the whole char.
        assert_eq!(truncate_at_char("aé".into(), 2), "a");
        assert_eq!(truncate_at_char("猫猫".into(), 4), "猫");
        assert_eq!(truncate_at_char("🦀".into(), 3), "");
    }

    #[test]
    fn default_config_is_valid() {
        let cfg = BpeTrainingConfig::default();
        assert_eq!(cfg.vocab_size, 16_384);
        assert_eq!(cfg.min_frequency, 2);
        assert_eq!(cfg.special_tokens, ["<|endoftext|>"]);
        assert_eq!(cfg.max_doc_bytes, 100_000);
        cfg.validate().expect("default is valid");
    }

    #[test]
    fn invalid_configs_are_rejected_with_a_reason() {
        let base = BpeTrainingConfig::default();
        let cases = [
            BpeTrainingConfig { vocab_size: 256, ..base.clone() },
            BpeTrainingConfig { max_doc_bytes: 0, ..base.clone() },
            BpeTrainingConfig { special_tokens: vec![String::new()], ..base.clone() },
            BpeTrainingConfig { special_tokens: vec!["<a>".into(), "<a>".into()], ..base.clone() },
        ];
        for cfg in cases {
            let err = train_byte_level_bpe(std::iter::empty(), &cfg).expect_err("invalid");
            assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        }
    }

    #[test]
    fn empty_corpus_still_encodes_every_byte() {
        let cfg = BpeTrainingConfig { vocab_size: 300, ..BpeTrainingConfig::default() };
        let tok = train_byte_level_bpe(std::iter::empty(), &cfg).expect("trains");
        assert_eq!(tok.info().vocab_size, 257);
        assert_eq!(tok.info().kind, "BPE");
        assert_eq!(tok.info().eos_id, Some(0));
        let text = "any text, 任何文字 🦀\u{0}";
        let ids = tok.encode(text).expect("encodes");
        assert_eq!(ids.len(), text.len(), "one id per byte without merges");
        assert_eq!(tok.decode(&ids).expect("decodes"), text);
    }
}
