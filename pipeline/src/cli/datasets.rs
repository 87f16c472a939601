//! Commands over finished shard datasets: `shuffle`, `merge`, `export`.

use std::path::PathBuf;

use clap::Args;
use tokenmill_shards::{ShardTarget, export_flat, merge_datasets, shuffle_dataset};

use super::Exit;
use crate::config::ByteSize;

/// Shard size options shared by the dataset commands.
#[derive(Debug, Args)]
pub struct ShardSizeArgs {
    /// Shard file prefix of the output.
    #[arg(long, default_value = "train")]
    pub prefix: String,
    /// Start a new shard after this many bytes of tokens (e.g. 1GiB).
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub shard_max_bytes: u64,
    /// Start a new shard after this many tokens.
    #[arg(long)]
    pub shard_max_tokens: Option<u64>,
}

impl ShardSizeArgs {
    fn target(&self) -> ShardTarget {
        ShardTarget { max_tokens: self.shard_max_tokens, max_bytes: Some(self.shard_max_bytes) }
    }
}

/// Parses a size such as `512MiB`.
pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    ByteSize::parse(s)
        .map(|b| b.0)
        .ok_or_else(|| format!("invalid size {s:?}: write e.g. 1048576, 512MiB or 1GiB"))
}

/// `tokenmill shuffle` arguments.
#[derive(Debug, Args)]
pub struct ShuffleArgs {
    /// The dataset to shuffle (a directory with manifest.json).
    pub input: PathBuf,
    /// Where to write the shuffled dataset.
    pub output: PathBuf,
    /// Seed: the same seed and input give the same order, whatever the memory budget.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Memory for the shuffle; larger datasets are shuffled in buckets on disk.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub memory: u64,
    /// Output shard sizes.
    #[command(flatten)]
    pub size: ShardSizeArgs,
}

/// `tokenmill merge` arguments.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Datasets to merge, in order (same tokenizer and dtype).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the merged dataset.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Output shard sizes.
    #[command(flatten)]
    pub size: ShardSizeArgs,
}

/// `tokenmill export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The dataset to export.
    pub input: PathBuf,
    /// The output file (llm.c / nanoGPT flat `.bin`: 1 KiB header, then the tokens).
    pub output: PathBuf,
}

pub(super) fn shuffle(args: ShuffleArgs) -> anyhow::Result<Exit> {
    let m = shuffle_dataset(
        &args.input,
        &args.output,
        &args.size.prefix,
        args.seed,
        args.memory,
        args.size.target(),
    )?;
    println!(
        "{}: {} documents, {} tokens in {} shards (seed {})",
        args.output.display(),
        m.documents,
        m.tokens,
        m.shards.len(),
        args.seed
    );
    Ok(Exit::Ok)
}

pub(super) fn merge(args: MergeArgs) -> anyhow::Result<Exit> {
    let m = merge_datasets(&args.inputs, &args.output, &args.size.prefix, args.size.target())?;
    println!(
        "{}: {} documents, {} tokens in {} shards from {} datasets",
        args.output.display(),
        m.documents,
        m.tokens,
        m.shards.len(),
        args.inputs.len()
    );
    Ok(Exit::Ok)
}

pub(super) fn export(args: ExportArgs) -> anyhow::Result<Exit> {
    let tokens = export_flat(&args.input, &args.output)?;
    println!("{}: {tokens} tokens", args.output.display());
    Ok(Exit::Ok)
}
