//! Tokenizers for pretraining data: load a Hugging Face `tokenizer.json`, train a byte-level
//! BPE, and turn documents into token ids, in parallel.
//!
//! This crate knows nothing of pipelines or shards: it takes `&str` and gives `Vec<u32>`.
//!
//! - [`Tokenizer`] wraps a Hugging Face tokenizer with padding and truncation switched off, so
//!   [`Tokenizer::encode`] returns exactly the ids of the text, and
//!   [`Tokenizer::encode_document`] adds the bos/eos ids that separate documents in a shard.
//!   BPE tokenizers (byte-level: GPT-2, Llama 3, Qwen2/3, DeepSeek V3, GPT-4o; SentencePiece
//!   style with byte fallback: Llama 2, Mistral v1, Gemma) encode on a fast path with the same
//!   ids as `tokenizers` ([`Tokenizer::encode_path`] says which path and why,
//!   [`Tokenizer::reference_encode`] always asks `tokenizers`).
//! - [`Tokenizer::from_file_cached`] loads through a content-addressed cache directory: a repeat
//!   load of the same fast-path tokenizer reads its tables in milliseconds instead of parsing
//!   the JSON, and parses the Hugging Face tokenizer only if something needs it.
//! - [`TokenizerInfo`] identifies a tokenizer: vocabulary size, a content hash, special ids and
//!   the model kind. Shard metadata records it.
//! - [`train_byte_level_bpe`] learns a byte-level BPE from a stream of texts, deterministically,
//!   with the pre-tokenizer of a [`patterns::PatternFamily`] (Llama 3's by default).
//! - [`Tokenizer::encode_batch`] encodes on the caller's rayon pool, keeping input order.
//!
//! # Example
//!
//! ```
//! use tokenmill_tokenize::{BpeTrainingConfig, EncodeOptions, Tokenizer, train_byte_level_bpe};
//!
//! // Train a tiny tokenizer (loading one works the same: `Tokenizer::from_file(path)?`).
//! let corpus = ["low lower lowest", "new newer newest", "wide wider widest"];
//! let cfg = BpeTrainingConfig { vocab_size: 280, ..BpeTrainingConfig::default() };
//! let tok = train_byte_level_bpe(corpus.iter().cycle().take(60).map(|s| s.to_string()), &cfg)?;
//!
//! let eos = tok.info().eos_id.expect("<|endoftext|> is a default special token");
//! let ids = tok.encode_document("lower and newer", EncodeOptions::default())?;
//! assert_eq!(ids.last(), Some(&eos));
//! assert_eq!(tok.decode(&ids)?, "lower and newer<|endoftext|>");
//!
//! // The same tokenizer, reloaded from its JSON, has the same hash and ids.
//! let again = Tokenizer::from_bytes(tok.to_json()?.as_bytes())?;
//! assert_eq!(again.info().hash, tok.info().hash);
//! assert_eq!(again.encode_batch(&["lower", "newest"])?, [tok.encode("lower")?, tok.encode("newest")?]);
//! # Ok::<(), tokenmill_tokenize::Error>(())
//! ```

#![warn(missing_docs)]

mod cache_file;
mod error;
mod fast;
mod hf;
mod info;
pub mod patterns;
mod tokenizer;
mod train;

pub use error::{BoxError, Error, Result};
pub use info::{BOS_CANDIDATES, EOS_CANDIDATES, TokenizerInfo};
pub use tokenizer::{EncodeOptions, EncodePath, Tokenizer};
pub use train::{BpeTrainingConfig, train_byte_level_bpe};
