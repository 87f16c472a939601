//! `tokenmill verify`: check a Megatron shard directory against its manifest.

use std::path::PathBuf;

use clap::Args;
use tokenmill_shards::{Manifest, VerifyOptions, verify_dir};

use super::Exit;

/// `tokenmill verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The shard directory (holding `manifest.json`).
    pub dir: PathBuf,
    /// Skip the xxh3 checksums (faster; structure and token checks only).
    #[arg(long)]
    pub no_checksums: bool,
    /// Also re-run this pipeline up to its tokenize stages and check a sample of the kept
    /// documents against the shards (tokens, position, and decoded text).
    #[arg(long, value_name = "CONFIG")]
    pub source: Option<PathBuf>,
    /// Documents sampled by --source.
    #[arg(long, default_value_t = 100)]
    pub sample: usize,
    /// The training check.
    #[command(flatten)]
    pub train: super::train_verify::TrainCheckArgs,
}

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<Exit> {
    let manifest = Manifest::read(&args.dir)?;
    let opts = VerifyOptions {
        vocab_size: Some(manifest.vocab_size),
        eos_id: manifest.eos_id,
        check_checksums: !args.no_checksums,
    };
    let report = verify_dir(&args.dir, &opts)?;
    for p in &report.problems {
        println!("FAIL {p}");
    }
    let verdict = if report.is_ok() { "ok" } else { "FAILED" };
    println!(
        "{}: {verdict}: {} shards, {} documents, {} tokens, {} problems",
        args.dir.display(),
        report.shards,
        report.documents,
        report.tokens,
        report.problems.len()
    );
    if !report.is_ok() {
        return Ok(Exit::Failed);
    }
    if let Some(config) = &args.source
        && !super::verify_source::source_check(&args.dir, config, args.sample)?
    {
        return Ok(Exit::Failed);
    }
    if args.train.train && !super::train_verify::train_check(&args.dir, &args.train)? {
        return Ok(Exit::Failed);
    }
    Ok(Exit::Ok)
}
