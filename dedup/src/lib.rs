//! Exact and near-duplicate detection for text corpora, in memory or out of core.
//!
//! The building blocks work on plain `&str`, ids and bytes:
//!
//! - [`normalize`]: normalization for exact hashing and the `\w+` lowercased word tokenization
//!   that shingles are made of; [`exact`]: XXH3-128 of the normalized text.
//! - [`minhash`]: [`MinHasher`] signatures of word (or character, for CJK) n-gram shingles;
//!   [`MinHashConfig::from_threshold`] picks bands x rows for a Jaccard threshold;
//!   [`lsh`]: band keys; [`unionfind`]: connected components.
//! - [`external`]: an external sort of fixed-size records within a memory budget.
//! - [`phases`]: corpus-wide dedup in four resumable, rank-splittable phases over a work dir
//!   (signatures, buckets and edges, clusters, filter); [`index`]: a persistent index for
//!   incremental runs; [`report`]: what was found.
//! - [`lines`]: CCNet-style line or paragraph boilerplate removal.
//!
//! Every file follows the checksummed format of [`format`](mod@format). Nothing here prints; errors are
//! [`Error`], naming the file involved. Document ids are `u64`s assigned by the caller in
//! input order: "first in input order" is the smallest id.
//!
//! # Example
//!
//! ```
//! use tokenmill_dedup::phases::{self, DedupConfig, RemoveSet, SignatureWriter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let work = tempfile::tempdir()?;
//! let config = DedupConfig::default(); // 14 bands x 8 rows, 5-word shingles, threshold 0.8
//! let base = "the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat \
//!             and the birds sing in the tall trees near the quiet river bank at dawn";
//! let docs = [
//!     base.to_string(),
//!     "Something else entirely, with no words in common with the others.".to_string(),
//!     base.replace("dawn", "dusk"), // a near duplicate of doc 0
//!     base.to_uppercase(),          // same words: a duplicate of doc 0 as far as shingles go
//! ];
//! // Phase 1, two splits (they could run on two machines).
//! for (split, range) in [(0u32, 0..2usize), (1, 2..4)] {
//!     let mut w = SignatureWriter::create(work.path(), split, &config)?;
//!     for id in range {
//!         w.add(id as u64, &docs[id], None)?;
//!     }
//!     w.finish()?;
//! }
//! // Phase 2 (rank 0 of 1 runs every band), phase 3, phase 4.
//! phases::run_phase2(work.path(), &config, 0, 1)?;
//! let report = phases::run_phase3(work.path(), &config, None)?;
//! assert_eq!((report.clusters, report.removed.total), (1, 2));
//! let remove = RemoveSet::open(work.path(), &config)?;
//! let kept: Vec<u64> = (0..4).filter(|&id| !remove.is_duplicate(id)).collect();
//! assert_eq!(kept, [0, 1]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
// Unit tests fail by panicking; `unwrap` there is the assertion.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
pub mod exact;
pub mod external;
pub mod format;

pub mod lines;
pub mod lsh;
pub mod minhash;
pub mod normalize;
pub mod phases;
pub mod report;
pub mod unionfind;

pub use error::{Error, Result};
pub use exact::{ExactHasher, exact_hash};
pub use minhash::{MinHashConfig, MinHasher, Shingles, jaccard_estimate};
pub use normalize::NormalizeOptions;
pub use phases::index::{self, DedupIndex};
pub use phases::{DedupConfig, KeepRule};
pub use report::DedupReport;
