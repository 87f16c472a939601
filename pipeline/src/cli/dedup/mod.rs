//! `tokenmill dedup PHASE`: corpus-wide exact and MinHash near-duplicate removal, out of core,
//! in four phases over a work dir (the `tokenmill_dedup::phases` library, adapted to input
//! files and sinks here). Each phase runs on its own, so a scheduler can spread it over
//! machines, and the outputs are identical to the single-machine `dedup run`:
//!
//! 1. `signatures INPUT...`: rank `r` of `N` signs input file `i` when `i % N == r`, into
//!    `WORK/signatures/split_{i:05}.sig`. The first call stores the effective configuration
//!    and the input list in `WORK/dedup-config.json`; later phases read it, and refuse flags
//!    that disagree with it (pass the same dedup flags to every phase, or none).
//! 2. `buckets`: rank `r` runs the LSH band partitions `p` (and the exact partition, last)
//!    with `p % N == r`, in parallel, each sorting out of core within its share of `--memory`.
//! 3. `cluster`: union-find over all edges, the report (`WORK/clusters/report.json`, also
//!    printed) and, with `--index`, the persistent index of earlier runs. Runs once.
//! 4. `filter INPUT...`: rank `r` re-reads its input files and writes the kept documents.
//!
//! **Document ids** are `(file index << 32) | record index in the file`, the file index being
//! the position in the input listing (each argument's matches sorted by URL, arguments in the
//! order given, repeats dropped). They do not depend on the rank count, so "first in input
//! order" is the same everywhere. Records that cannot be parsed are skipped (logged, counted)
//! the same way in phases 1 and 4; a file that cannot be opened fails the phase.
//!
//! **Outputs** are named by input file: `part-{i:05}.jsonl.zst` in `--output` holds the kept
//! documents of input file `i`, in input order (`{"id", "text", ...metadata}`, as the `jsonl`
//! sink writes them), and the same name in `--rejects` the removed ones with
//! `"drop_reason": "dedup:duplicate"`. Ranks thus write disjoint files into one directory, and
//! the directory is byte-identical whatever the rank count. Every file is written as `*.tmp`
//! and renamed; each rank writes `WORK/filter/rank-{r:05}.json` (its counts) last.
//!
//! **Reruns** skip finished work: a split or edge file that exists (files are renamed into
//! place when complete) with this configuration is kept. Phase 3 with `--index` records that
//! it folded this run into the index (`clusters/index-update.json`), so rerunning it reuses
//! its clusters instead of finding every document in the index.

mod filter;
mod input;
pub(super) mod phases;
mod settings;
mod synth;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::Exit;
use super::ranks::{RankArgs, Ranks};

/// `tokenmill dedup` arguments.
#[derive(Debug, Args)]
#[command(
    after_long_help = "Single machine: tokenmill dedup run 'data/*.jsonl.zst' --work-dir dedup-work --output deduped

On N machines (e.g. a Slurm array, where --rank/--world-size default from the environment),
wait for every rank of a phase before the next:
  tokenmill dedup signatures 'data/*.jsonl.zst' --work-dir W --rank R --world-size N
  tokenmill dedup buckets --work-dir W --rank R --world-size N
  tokenmill dedup cluster --work-dir W
  tokenmill dedup filter 'data/*.jsonl.zst' --work-dir W --output OUT --rank R --world-size N"
)]
pub struct DedupArgs {
    /// The phase to run.
    #[command(subcommand)]
    pub phase: Phase,
}

/// The phases, and all of them at once.
#[derive(Debug, Subcommand)]
pub enum Phase {
    /// Phase 1: MinHash signatures and exact hashes of the input files this rank owns.
    Signatures(SignaturesArgs),
    /// Phase 2: per LSH band (and for exact hashes), sort keys out of core and write duplicate edges.
    Buckets(BucketsArgs),
    /// Phase 3: cluster the edges, choose what to keep, print and write the report (run once).
    Cluster(ClusterArgs),
    /// Phase 4: re-read the input files this rank owns and write the documents that are kept.
    Filter(FilterArgs),
    /// All four phases in one process: the single-machine run.
    Run(RunArgs),
    /// Write a synthetic corpus with planted exact and near duplicates (for scale runs).
    Synth(synth::SynthArgs),
}

/// `tokenmill dedup signatures`.
#[derive(Debug, Args)]
pub struct SignaturesArgs {
    /// Input files, globs or URLs (JSONL plain/.gz/.zst, or .parquet); the same list in every phase.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `tokenmill dedup buckets`.
#[derive(Debug, Args)]
pub struct BucketsArgs {
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `tokenmill dedup cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub cluster: ClusterOpts,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `tokenmill dedup filter`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Input files, globs or URLs: the same list as given to `dedup signatures`.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub rank: RankArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `tokenmill dedup run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input files, globs or URLs (JSONL plain/.gz/.zst, or .parquet).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub work: WorkArgs,
    #[command(flatten)]
    pub cluster: ClusterOpts,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Where the phases keep their files, and the resources they may use.
#[derive(Debug, Args)]
pub struct WorkArgs {
    /// Work directory shared by every phase and rank: configuration, signatures, edges, clusters, scratch.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Memory for sorting and index lookups (e.g. 512MiB, 2GiB); beyond it, data spills to the work dir.
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub memory: u64,
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
}

/// Options of phase 3.
#[derive(Debug, Args)]
pub struct ClusterOpts {
    /// Persistent index of earlier runs: documents matching it (and their clusters) are removed
    /// too, then this run's documents are added to it. Created if absent.
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Also write the clusters: WORK/clusters/clusters.bin and a readable clusters.jsonl
    /// (the kept document and every member as INPUT#RECORD, records counted from 0).
    #[arg(long)]
    pub dump_clusters: bool,
}

/// Where phase 4 writes.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Directory or URL prefix for the kept documents: part-{i:05}.jsonl.zst holds those of input file i.
    #[arg(short, long, value_name = "DIR")]
    pub output: String,
    /// Directory or URL prefix for the removed documents (same file names, with "drop_reason": "dedup:duplicate").
    #[arg(long, value_name = "DIR")]
    pub rejects: Option<String>,
}

/// The dedup configuration. Phase 1 stores it in WORK/dedup-config.json; later phases use the
/// stored one and refuse these flags if they disagree with it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Dedup configuration (fixed by phase 1)")]
pub struct ConfigArgs {
    /// Estimated Jaccard similarity at or above which two documents are near duplicates [default: 0.8].
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Hash permutations in a signature [default: 112].
    #[arg(long)]
    pub num_perm: Option<usize>,
    /// LSH bands [default: 14 with 112 permutations, else derived from --threshold].
    #[arg(long)]
    pub bands: Option<usize>,
    /// Rows per band [default: 8 with 112 permutations, else derived from --threshold].
    #[arg(long)]
    pub rows: Option<usize>,
    /// Shingle size in words (or characters with --char-ngrams) [default: 5].
    #[arg(long)]
    pub ngram: Option<usize>,
    /// Shingle characters instead of words for every document [default: characters for
    /// Chinese and Japanese documents, words for the others].
    #[arg(long)]
    pub char_ngrams: bool,
    /// Seed of the hash permutations [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Link every LSH candidate pair without checking its estimated Jaccard (faster, more false positives).
    #[arg(long)]
    pub no_verify: bool,
    /// Do not remove exact duplicates separately (MinHash still finds most of them).
    #[arg(long, conflicts_with = "exact_only")]
    pub no_exact: bool,
    /// Only remove exact duplicates (equal text up to whitespace); no MinHash.
    #[arg(long)]
    pub exact_only: bool,
    /// Which document of a cluster is kept [default: first].
    #[arg(long, value_enum)]
    pub keep: Option<Keep>,
    /// Numeric field holding a quality score, for --keep highest-score.
    #[arg(long, value_name = "NAME")]
    pub score_field: Option<String>,
    /// Field (JSONL) or column (Parquet) holding the text [default: text].
    #[arg(long, value_name = "NAME")]
    pub text_field: Option<String>,
    /// Field holding the document id, written to the output [default: id; without it, FILE:LINE].
    #[arg(long, value_name = "NAME")]
    pub id_field: Option<String>,
}

/// `--keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Keep {
    /// The first in input order.
    First,
    /// The longest text.
    Longest,
    /// The highest --score-field (documents without one rank lowest).
    HighestScore,
}

fn parse_size(s: &str) -> Result<u64, String> {
    crate::config::ByteSize::parse(s)
        .map(|b| b.0)
        .ok_or_else(|| format!("`{s}` is not a size such as 512MiB or 2GiB"))
}

/// Runs `tokenmill dedup`. Bad flags, and flags that disagree with the work dir, exit with
/// [`Exit::Config`].
///
/// # Errors
/// A phase failed (I/O, a corrupt or missing artifact, an input that changed between phases).
pub(super) fn dedup(args: DedupArgs) -> anyhow::Result<Exit> {
    run_phase(args.phase).map(|()| Exit::Ok)
}

fn run_phase(phase: Phase) -> anyhow::Result<()> {
    let threads = match &phase {
        Phase::Signatures(a) => a.work.threads,
        Phase::Buckets(a) => a.work.threads,
        Phase::Cluster(a) => a.work.threads,
        Phase::Filter(a) => a.work.threads,
        Phase::Run(a) => a.work.threads,
        Phase::Synth(_) => None,
    };
    let threads = threads.unwrap_or_else(crate::runner::default_threads).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tokenmill-dedup-{i}"))
        .build()?;
    pool.install(|| match phase {
        Phase::Signatures(a) => {
            let Ranks { rank, world } = Ranks::resolve(&a.rank)?;
            let files = input::list(&a.inputs)?;
            let stored = settings::establish(&a.work.work_dir, &files, &a.config)?;
            phases::signatures(&stored, &files, &a.work, rank, world)
        }
        Phase::Buckets(a) => {
            let Ranks { rank, world } = Ranks::resolve(&a.rank)?;
            let stored = settings::load(&a.work.work_dir, &a.config)?;
            phases::buckets(&stored, &a.work, rank, world, threads)
        }
        Phase::Cluster(a) => {
            let stored = settings::load(&a.work.work_dir, &a.config)?;
            phases::cluster(&stored, &a.work, &a.cluster).map(drop)
        }
        Phase::Filter(a) => {
            let Ranks { rank, world } = Ranks::resolve(&a.rank)?;
            let stored = settings::load(&a.work.work_dir, &a.config)?;
            let files = input::list(&a.inputs)?;
            stored.check_inputs(&files)?;
            filter::filter(&stored, &files, &a.work, &a.output, rank, world)
        }
        Phase::Run(a) => {
            let files = input::list(&a.inputs)?;
            let stored = settings::establish(&a.work.work_dir, &files, &a.config)?;
            phases::signatures(&stored, &files, &a.work, 0, 1)?;
            phases::buckets(&stored, &a.work, 0, 1, threads)?;
            phases::cluster(&stored, &a.work, &a.cluster)?;
            filter::filter(&stored, &files, &a.work, &a.output, 0, 1)
        }
        Phase::Synth(a) => synth::synth(&a),
    })
}
