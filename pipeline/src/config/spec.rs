//! The pipeline file, as parsed: serde structs that mirror the TOML one to one.
//!
//! Every struct denies unknown fields, node kinds are `type`-tagged enums, and defaults live in
//! `impl Default` so that `tokenmill init` and the docs can show them. Nothing here checks that
//! names resolve or that edges make sense: that is [`super::compile`]'s job. The text filter
//! stages' specs live in `filter_spec.rs` (re-exported here).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::size::ByteSize;
pub use crate::stage::dedup_spec::*;
pub use crate::stage::text_spec::*;
pub use crate::stage::{
    LengthSpec, PerplexitySpec, QualityModelSpec, StageKind, StageSpec, TokenizeSpec, WhereSpec,
};

/// The current pipeline file format version. Version 2 resolves relative paths against the
/// pipeline file's directory (see [`resolves_paths_against_the_file`]); version 1, still read,
/// against the directory tokenmill runs from.
pub const VERSION: u32 = 2;

/// The versions this tokenmill reads.
pub const VERSIONS: [u32; 2] = [1, 2];

/// Whether pipeline files of `version` resolve relative paths against their own directory.
pub fn resolves_paths_against_the_file(version: u32) -> bool {
    version >= 2
}

/// Settings that apply to the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// Directory for run state: `stats.json`, the ledger, dedup artifacts, job-array markers. A
    /// local path, or an object-store URL (`s3://bucket/prefix`) mirrored in local scratch.
    pub work_dir: String,
    /// Most documents in one batch.
    pub batch_docs: usize,
    /// Most text bytes in one batch (a single larger document still forms its own batch).
    pub batch_bytes: ByteSize,
    /// What a bad input record does: `skip` (count it, log it, go on) or `fail` (stop, exit non-zero).
    pub on_error: OnError,
    /// Documents longer than this (bytes of JSON line or text) are skipped as bad input.
    pub max_doc_bytes: ByteSize,
    /// Seed for every random choice the run makes.
    pub seed: u64,
    /// Record finished work units in `{work_dir}/ledger`, so that a killed run resumes and
    /// job-array tasks can share a run. `false` saves writing each unit's output twice, at the
    /// price of starting over after a crash.
    pub ledger: bool,
    /// Larger inputs are cut into work units of about this size: uncompressed JSONL at line
    /// boundaries, Parquet by row groups (compressed streams stay one unit). Units are what
    /// job-array tasks share out and what a resumed run skips.
    pub unit_bytes: ByteSize,
    /// Options of an object-store work dir (`work_dir = "s3://..."`), as a source's `storage`.
    pub storage: BTreeMap<String, String>,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            work_dir: "out/work".into(),
            batch_docs: 1024,
            batch_bytes: ByteSize(8 << 20),
            on_error: OnError::Skip,
            max_doc_bytes: ByteSize(64 << 20),
            seed: 42,
            ledger: true,
            unit_bytes: ByteSize(256 << 20),
            storage: BTreeMap::new(),
        }
    }
}

/// Policy for bad input records and unreadable inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Log it with its location, count it, and go on.
    #[default]
    Skip,
    /// Stop the run and exit non-zero; already committed output stays intact.
    Fail,
}

/// A source of documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceSpec {
    /// JSON Lines, plain or compressed (`.gz`, `.zst`, chosen by file extension).
    Jsonl(FileSourceSpec),
    /// Apache Parquet files.
    Parquet(FileSourceSpec),
    /// WARC files of a web crawl (`.warc`, `.warc.gz` with a gzip member per record, `.warc.zst`):
    /// each HTML `response` record is a document whose text is the page decoded to UTF-8 (put an
    /// `html_extract` stage after it); `url`, `date`, `content_type`, `warc_record_id` and
    /// `encoding` go into metadata.
    Warc(FileSourceSpec),
    /// WET files (Common Crawl's extracted text): each `conversion` record is a document.
    Wet(FileSourceSpec),
    /// HTML pages, one per file (plain, `.gz` or `.zst`); the id is the file name without its
    /// extensions.
    Html(FileSourceSpec),
}

impl SourceSpec {
    /// The node name.
    pub fn name(&self) -> &str {
        &self.file().name
    }

    /// The fields common to all file sources.
    pub fn file(&self) -> &FileSourceSpec {
        match self {
            SourceSpec::Jsonl(f)
            | SourceSpec::Parquet(f)
            | SourceSpec::Warc(f)
            | SourceSpec::Wet(f)
            | SourceSpec::Html(f) => f,
        }
    }

    /// The `type` label.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Jsonl(_) => "jsonl",
            SourceSpec::Parquet(_) => "parquet",
            SourceSpec::Warc(_) => "warc",
            SourceSpec::Wet(_) => "wet",
            SourceSpec::Html(_) => "html",
        }
    }
}

/// Files to read and how to map their fields onto documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceSpec {
    /// Node name, unique in the pipeline.
    pub name: String,
    /// Paths or URLs (`file://`, `s3://`, `gs://`, `az://`, `memory://`), with globs
    /// (`*`, `**`, `?`, `[..]`, `{a,b}`). A plain path is local disk.
    pub paths: Vec<String>,
    /// Field (JSONL) or column (Parquet) holding the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Field holding the document id; without it ids are `"{file}:{line}"`.
    #[serde(default)]
    pub id_field: Option<String>,
    /// Fields kept as metadata. Default: every field but text and id.
    #[serde(default)]
    pub metadata_fields: Option<Vec<String>>,
    /// SQL boolean expression over `id`, `text` and the metadata fields; rows where it is not
    /// true are dropped (reason `where`). Evaluated by DataFusion, e.g. `lang = 'en'`.
    #[serde(default, rename = "where")]
    pub where_sql: Option<String>,
    /// Object-store options (e.g. `aws_endpoint`, `aws_region`), merged over the environment.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
    /// `warc` and `wet` sources only: the WARC record types to read, e.g. `["response",
    /// "resource"]`. Default: `["response"]` for `warc`, `["conversion"]` for `wet`.
    #[serde(default)]
    pub records: Option<Vec<String>>,
    /// Accept a source whose paths match no file (e.g. a directory that fills over time); by
    /// default `run` and `validate` refuse it (exit 2), since a mistyped glob would otherwise
    /// give an empty dataset. Incremental runs (`--incremental`, `watch`, `trigger`) accept it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
}

impl FileSourceSpec {
    /// A source over `paths` with the defaults of the file format: text in `text`, no id field,
    /// every other field as metadata, no `where`, storage options from the environment.
    pub fn new(name: impl Into<String>, paths: Vec<String>) -> Self {
        Self {
            name: name.into(),
            paths,
            text_field: default_text_field(),
            id_field: None,
            metadata_fields: None,
            where_sql: None,
            storage: BTreeMap::new(),
            records: None,
            allow_empty: false,
        }
    }
}

fn default_text_field() -> String {
    "text".into()
}

/// Where documents or tokens end up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkSpec {
    /// Documents as zstd-compressed JSON Lines (`part-00000.jsonl.zst`, ...).
    Jsonl(DocSinkSpec),
    /// Documents as Parquet (`part-00000.parquet`, ...).
    Parquet(DocSinkSpec),
    /// Tokens as a Megatron indexed dataset (`.bin/.idx` shards) with `manifest.json`.
    Megatron(MegatronSinkSpec),
    /// Tokens as one llm.c / nanoGPT flat `.bin` file.
    Llmc(LlmcSinkSpec),
}

impl SinkSpec {
    /// The node name.
    pub fn name(&self) -> &str {
        match self {
            SinkSpec::Jsonl(s) | SinkSpec::Parquet(s) => &s.name,
            SinkSpec::Megatron(s) => &s.name,
            SinkSpec::Llmc(s) => &s.name,
        }
    }

    /// The node's inputs as written.
    pub fn inputs(&self) -> &[String] {
        match self {
            SinkSpec::Jsonl(s) | SinkSpec::Parquet(s) => &s.inputs,
            SinkSpec::Megatron(s) => &s.inputs,
            SinkSpec::Llmc(s) => &s.inputs,
        }
    }

    /// Output directory or URL prefix.
    pub fn path(&self) -> &str {
        match self {
            SinkSpec::Jsonl(s) | SinkSpec::Parquet(s) => &s.path,
            SinkSpec::Megatron(s) => &s.path,
            SinkSpec::Llmc(s) => &s.path,
        }
    }

    /// The `type` label.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Jsonl(_) => "jsonl",
            SinkSpec::Parquet(_) => "parquet",
            SinkSpec::Megatron(_) => "megatron",
            SinkSpec::Llmc(_) => "llmc",
        }
    }

    /// Object-store options of the output.
    pub fn storage(&self) -> &BTreeMap<String, String> {
        match self {
            SinkSpec::Jsonl(s) | SinkSpec::Parquet(s) => &s.storage,
            SinkSpec::Megatron(s) => &s.storage,
            SinkSpec::Llmc(s) => &s.storage,
        }
    }
}

/// Document writer options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocSinkSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes (documents, or `stage.rejected`).
    pub inputs: Vec<String>,
    /// Output directory or URL prefix.
    pub path: String,
    /// Start a new file after this many bytes of text.
    #[serde(default = "default_part_bytes")]
    pub max_file_bytes: ByteSize,
    /// Object-store options of the output.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
}

fn default_part_bytes() -> ByteSize {
    ByteSize(256 << 20)
}

/// llm.c flat-file sink options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmcSinkSpec {
    /// Node name.
    pub name: String,
    /// Upstream `tokenize` nodes.
    pub inputs: Vec<String>,
    /// Output directory or URL prefix.
    pub path: String,
    /// File name in it.
    #[serde(default = "default_llmc_file")]
    pub file: String,
    /// Object-store options of the output.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
}

fn default_llmc_file() -> String {
    "train.bin".into()
}

/// Megatron token sink options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MegatronSinkSpec {
    /// Node name.
    pub name: String,
    /// Upstream `tokenize` nodes.
    pub inputs: Vec<String>,
    /// Output directory or URL prefix.
    pub path: String,
    /// Shard file prefix: shards are `{prefix}_00000.bin/.idx`, ...
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Start a new shard after this many tokens.
    #[serde(default)]
    pub shard_max_tokens: Option<u64>,
    /// Start a new shard after this many bytes of `.bin` (default 1 GiB).
    #[serde(default)]
    pub shard_max_bytes: Option<ByteSize>,
    /// Shuffle documents globally (seeded, out of core) before the shards are published.
    #[serde(default)]
    pub shuffle_seed: Option<u64>,
    /// Memory for that shuffle; larger datasets are shuffled in buckets on disk.
    #[serde(default = "default_shuffle_memory")]
    pub shuffle_memory: ByteSize,
    /// Object-store options of the output.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
}

fn default_shuffle_memory() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_prefix() -> String {
    "train".into()
}

/// The whole pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineSpec {
    /// File format version, one of [`VERSIONS`].
    pub version: u32,
    /// Run-wide settings.
    pub run: RunSpec,
    /// `[[source]]` tables, in file order.
    pub sources: Vec<SourceSpec>,
    /// `[[stage]]` tables, in file order.
    pub stages: Vec<StageSpec>,
    /// `[[sink]]` tables, in file order.
    pub sinks: Vec<SinkSpec>,
}
