//! Token shards for LLM pretraining in the Megatron indexed dataset format.
//!
//! A dataset directory holds shards — `{name}.bin` (tokens) and `{name}.idx` (index) pairs,
//! specified byte by byte in [`format`](mod@format) — and a [`Manifest`] (`manifest.json`) with
//! provenance, totals and XXH3-128 checksums of every file. The pieces:
//!
//! - [`ShardWriter`] writes one shard durably (`*.tmp`, fsync, rename; `.idx` last);
//!   [`ShardSetWriter`] rolls over to numbered shards at a [`ShardTarget`].
//! - [`Manifest::write`] commits the dataset; its presence marks it complete.
//! - [`IndexedDataset`] reads a shard (memory-mapped), [`read_dataset_tokens`] a dataset.
//! - [`verify_dir`] checks a dataset and reports every [`Problem`] with file and byte offset.
//! - [`shuffle_dataset`] shuffles a dataset's documents globally, seeded and out of core;
//!   [`merge_datasets`] concatenates datasets that share a dtype and tokenizer.
//! - [`export_flat`] writes a dataset as one llm.c/nanoGPT flat token file ([`FlatWriter`],
//!   [`read_flat`]), the other format trainers read.
//!
//! One document is one sequence; the dtype is `uint16` for vocabularies under 65,500 tokens,
//! else `int32` ([`DType::for_vocab`]). This crate never prints; errors are [`Error`].
//!
//! # Example
//!
//! ```
//! use tokenmill_shards::{
//!     DType, Manifest, ShardSetWriter, ShardTarget, VerifyOptions, read_dataset_tokens,
//!     verify_dir,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let dtype = DType::for_vocab(50_257);
//! let target = ShardTarget { max_tokens: Some(4), max_bytes: None };
//! let mut set = ShardSetWriter::new(dir.path(), "train", dtype, target)?;
//! for doc in [&[10, 11, 0][..], &[12, 0], &[13, 14, 15, 0]] {
//!     set.add_document(doc)?;
//! }
//! let shards = set.finish()?;
//! assert_eq!(shards.len(), 3);
//! assert_eq!(shards[0].name, "train_00000");
//!
//! let manifest = Manifest {
//!     format: "megatron".into(),
//!     format_version: 1,
//!     tool_version: "0.1.0".into(),
//!     dtype: dtype.name().into(),
//!     vocab_size: 50_257,
//!     eos_id: Some(0),
//!     bos_id: None,
//!     tokenizer_hash: "t".into(),
//!     tokenizer_encode_path: None,
//!     config_hash: "c".into(),
//!     inputs: vec!["corpus.jsonl".into()],
//!     documents: shards.iter().map(|s| s.documents).sum(),
//!     tokens: shards.iter().map(|s| s.tokens).sum(),
//!     shards,
//! };
//! manifest.write(dir.path())?;
//!
//! let opts = VerifyOptions { vocab_size: Some(50_257), eos_id: Some(0), check_checksums: true };
//! let report = verify_dir(dir.path(), &opts)?;
//! assert!(report.is_ok(), "{:?}", report.problems);
//! assert_eq!((report.documents, report.tokens), (3, 9));
//! assert_eq!(read_dataset_tokens(dir.path())?[1], [12, 0]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod dtype;
mod error;
pub mod flat;
pub mod format;
mod manifest;
pub mod merge;
mod reader;
mod set;
pub mod shuffle;
#[cfg(test)]
mod testutil;
mod verify;
mod writer;

pub use dtype::DType;
pub use error::{Error, Result};
pub use flat::{FLAT_HEADER_LEN, FlatFormat, FlatWriter, export_flat, read_flat};
pub use manifest::{FORMAT_MEGATRON, FORMAT_VERSION, MANIFEST_FILE, Manifest};
pub use merge::merge_datasets;
pub use reader::{IndexedDataset, read_dataset_tokens};
pub use set::{ShardSetWriter, ShardTarget};
pub use shuffle::{SHUFFLE_TMP_DIR, SplitMix64, shuffle_dataset};
pub use verify::{
    Problem, VerifyOptions, VerifyReport, verify_dir, verify_dir_from, verify_shards,
};
pub use writer::{CHECKSUM_BLOCK_BYTES, ShardInfo, ShardWriter};
