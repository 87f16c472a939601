//! `type = "tokenize"`: text to token ids with a Hugging Face `tokenizer.json`.

use std::sync::Arc;

use rayon::prelude::*;
use tokenmill_tokenize::{EncodeOptions, EncodePath, Tokenizer};

use crate::document::{Document, TokenDoc};
use serde::{Deserialize, Serialize};

/// `type = "tokenize"`: text to token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// Path or URL of a Hugging Face `tokenizer.json` (relative paths resolve against the
    /// working directory, like every path in the file).
    pub tokenizer: String,
    /// Append the end-of-document token (Megatron's convention).
    #[serde(default = "yes")]
    pub eos: bool,
    /// Prepend the beginning-of-document token.
    #[serde(default)]
    pub bos: bool,
    /// EOS token string; default: detected (`<|endoftext|>`, `</s>`, ...).
    #[serde(default)]
    pub eos_token: Option<String>,
    /// BOS token string; default: detected (`<s>`, `<|begin_of_text|>`, ...).
    #[serde(default)]
    pub bos_token: Option<String>,
}

fn yes() -> bool {
    true
}

/// A loaded tokenizer and the special tokens to add.
#[derive(Debug, Clone)]
pub struct TokenizeStage {
    tokenizer: Arc<Tokenizer>,
    options: EncodeOptions,
}

impl TokenizeStage {
    /// Loads the tokenizer named by the spec (local path or URL).
    ///
    /// # Errors
    /// The file cannot be read or parsed, or a requested special token does not exist.
    pub fn new(spec: &TokenizeSpec) -> anyhow::Result<Self> {
        let tokenizer = load_tokenizer(&spec.tokenizer)?
            .with_special_ids(spec.eos_token.as_deref(), spec.bos_token.as_deref())
            .map_err(|e| anyhow::anyhow!("tokenizer {}: {e}", spec.tokenizer))?;
        let options = EncodeOptions { bos: spec.bos, eos: spec.eos };
        // Fail now, not after hours of reading, when EOS/BOS are wanted but unknown.
        tokenizer
            .encode_document("", options)
            .map_err(|e| anyhow::anyhow!("tokenize stage `{}`: {e}", spec.name))?;
        match tokenizer.encode_path() {
            EncodePath::Fast(detail) => {
                tracing::info!(stage = %spec.name, tokenizer = %spec.tokenizer, "tokenizer on the fast path: {detail}")
            }
            EncodePath::Reference(reason) => tracing::warn!(
                stage = %spec.name,
                tokenizer = %spec.tokenizer,
                "tokenizer on the reference path (the `tokenizers` crate, several times slower): {reason}"
            ),
        }
        Ok(Self { tokenizer: Arc::new(tokenizer), options })
    }

    /// The loaded tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Whether EOS is appended to every document.
    pub fn appends_eos(&self) -> bool {
        self.options.eos
    }

    /// Whether BOS is prepended to every document.
    pub fn prepends_bos(&self) -> bool {
        self.options.bos
    }

    /// Tokenizes a batch in parallel; output order is input order.
    ///
    /// # Errors
    /// The tokenizer failed on a document (names its id).
    pub fn run(&self, docs: &[Document]) -> anyhow::Result<Vec<TokenDoc>> {
        docs.par_iter()
            .map(|d| {
                let tokens = self
                    .tokenizer
                    .encode_document(&d.text, self.options)
                    .map_err(|e| anyhow::anyhow!("document {}: {e}", d.id))?;
                Ok(TokenDoc { tokens, text_bytes: d.text.len() as u64 })
            })
            .collect()
    }
}

/// Loads a tokenizer from a local path or an object-store URL, through the tokenizer cache
/// (see [`tokenizer_cache_dir`]).
///
/// # Errors
/// It cannot be read or parsed.
pub fn load_tokenizer(path: &str) -> anyhow::Result<Tokenizer> {
    let cache = tokenizer_cache_dir();
    if crate::storage::is_web_url(path) {
        let bytes = crate::storage::fetch_web(path)?;
        Ok(Tokenizer::from_bytes_cached(&bytes, path, cache.as_deref())
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))?)
    } else if crate::storage::is_url(path) {
        let files = crate::storage::list_inputs(path, &Default::default())?;
        let file = files.first().ok_or_else(|| anyhow::anyhow!("{path}: not found"))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut crate::storage::open_raw(file)?, &mut bytes)?;
        Ok(Tokenizer::from_bytes_cached(&bytes, path, cache.as_deref())
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))?)
    } else {
        Ok(Tokenizer::from_file_cached(std::path::Path::new(path), cache.as_deref())?)
    }
}

/// Where byte-level BPE tokenizers are cached in binary form, keyed by the hash of their
/// `tokenizer.json` (a repeat load takes milliseconds instead of ~150 ms for GPT-2's; the
/// cached form is checked and rebuilt when damaged): `$TOKENMILL_CACHE_DIR/tokenizers`, else
/// `$XDG_CACHE_HOME/tokenmill/tokenizers`, else `~/.cache/tokenmill/tokenizers`.
/// `TOKENMILL_CACHE_DIR=off` turns the cache off.
pub fn tokenizer_cache_dir() -> Option<std::path::PathBuf> {
    tokenmill_engine::cache_dir("tokenizers")
}

impl super::BuildOperator for TokenizeSpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        Ok(Some(super::Operator::Tokenize(TokenizeStage::new(self)?)))
    }
}
