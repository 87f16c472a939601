//! Sinks: where documents and tokens end up.
//!
//! Contract: a sink receives payloads in input order (the runner restores it), on one thread.
//! `finish` is called once after the last payload and makes everything visible (every file is
//! written as `*.tmp` and renamed into place, the manifest last); `abort` is called instead when
//! the run stops early and removes what is not complete. A sink never leaves a file that looks
//! complete but is not.

mod flat;
mod jsonl;
mod megatron;
mod output;
mod parquet;

pub use flat::FlatSink;
pub use jsonl::JsonlSink;
pub use megatron::{MegatronSink, ShuffleSpec, TokenSpec};
pub use output::{AtomicFile, Output};

pub use parquet::ParquetSink;

use serde::Serialize;

use crate::document::Payload;

/// What a sink wrote.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SinkReport {
    /// Files made visible, as URLs or paths.
    pub files: Vec<String>,
    /// Documents written.
    pub documents: u64,
    /// Tokens written (token sinks).
    pub tokens: u64,
    /// Bytes written (text bytes for document sinks, `.bin` bytes for token sinks).
    pub bytes: u64,
    /// The shards one task of a job array wrote (a megatron sink's part of the dataset, its
    /// manifest written by the merge step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<tokenmill_shards::Manifest>,
}

/// A destination for one node's input.
pub trait Sink: Send + std::fmt::Debug {
    /// Writes one payload.
    ///
    /// # Errors
    /// I/O failures; the runner then stops and calls [`Sink::abort`].
    fn write(&mut self, payload: Payload) -> anyhow::Result<()>;

    /// Completes the output and makes it visible.
    ///
    /// # Errors
    /// I/O failures; what was not completed is removed.
    fn finish(self: Box<Self>) -> anyhow::Result<SinkReport>;

    /// Stops without completing; removes temporary files.
    fn abort(self: Box<Self>);
}

/// How a sink names its files: a whole output, or one task's part of it in a job array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Naming {
    /// The files of one run (`part-00000.jsonl.zst`, `shard_00000.bin`): an earlier run's
    /// files are removed first (or, appending, numbered after).
    #[default]
    Whole,
    /// Files tagged with a job-array task's part (`part-p0-00003-00000.jsonl.zst`,
    /// `shard_p0-00003_00000.bin`), so that the output read in name order is the dataset in
    /// order; other files are left to the merge step, which removes those no task wrote.
    Part(String),
}

impl Naming {
    /// The stem of document files: `part` or `part-{tag}`.
    fn doc_stem(&self) -> String {
        match self {
            Naming::Whole => "part".into(),
            Naming::Part(tag) => format!("part-{tag}"),
        }
    }
}

/// The number of the first `part-NNNNN{ext}` file a document sink writes: 0 after removing the
/// parts of an earlier run, or one past the last existing part when appending. A job-array
/// part removes nothing (its names are its own; files are rewritten with the same bytes).
fn first_part(out: &Output, ext: &str, append: bool, naming: &Naming) -> anyhow::Result<usize> {
    if let Naming::Part(_) = naming {
        return Ok(0);
    }
    let ours = |n: &str| n.starts_with("part-") && (n.ends_with(ext) || n.ends_with(".tmp"));
    if !append {
        out.clear(ours)?;
        return Ok(0);
    }
    let last = out
        .existing(|n| n.starts_with("part-") && n.ends_with(ext))?
        .iter()
        .filter_map(|n| n.trim_start_matches("part-").trim_end_matches(ext).parse::<usize>().ok())
        .max();
    Ok(last.map_or(0, |l| l + 1))
}
