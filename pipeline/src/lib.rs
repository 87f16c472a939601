//! tokenmill: raw text corpora to training-ready token shards, as a streaming DAG.
//!
//! A pipeline file names sources (JSONL, Parquet; local disk or object storage), stages
//! (filters, tokenization) and sinks (documents as JSONL/Parquet, tokens as Megatron shards),
//! each listing its inputs. [`config::load`] parses and compiles it into a [`config::Plan`],
//! reporting every error at once; [`runner::run`] executes it with bounded memory and
//! deterministic output.
//!
//! ```no_run
//! let plan = tokenmill::config::load(std::path::Path::new("examples/quickstart.toml"))
//!     .map_err(|d| anyhow::anyhow!("{d}"))?;
//! let stats = tokenmill::runner::run(&plan, &tokenmill::runner::RunOptions::default())?;
//! println!("{}", stats.summary());
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod build;
pub mod cli;
pub mod config;
pub mod document;
pub mod duration;
pub mod failure;
pub mod lm;
pub mod progress;
pub mod runner;
pub mod sink;
pub mod size;
pub mod source;
pub mod sql;
pub mod stage;
pub mod stats;
pub mod storage;
pub mod trigger;

/// The release and the git commit the binary was built from, as `--version` prints it and
/// `stats.json` and the shard manifests record it: `0.2.0 (commit 0123456789ab, 2026-12-07)`.
pub const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("TOKENMILL_VERSION_DETAIL"), ")");

/// The git commit the binary was built from (12 hex digits), or `unknown` outside a checkout.
pub const GIT_COMMIT: &str = env!("TOKENMILL_GIT_COMMIT");

/// The commented example pipeline that `tokenmill init` writes (also `examples/quickstart.toml`).
pub const EXAMPLE_CONFIG: &str = include_str!("../../examples/quickstart.toml");
