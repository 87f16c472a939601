//! `tokenmill dedup PHASE`: corpus-wide exact and MinHash near-duplicate removal, out of core,
//! as a front-end of the pipeline runner. The flags compile to the pipeline `jsonl` (or
//! `parquet`) source -> `minhash_dedup` (or `exact_dedup` with `--exact-only`) stage named
//! `dedup` -> `jsonl` sink, and each phase runs that pipeline's job-array steps (the same
//! steps `tokenmill plan`, `slurm` and `k8s` give a pipeline with a dedup stage), so the
//! command and the stage share one implementation:
//!
//! 1. `signatures INPUT...`: step `map-0`; rank `r` of `N` reads its contiguous share of the
//!    input files, stages the documents and their MinHash signatures and exact hashes under
//!    `WORK/barriers/dedup/wN/`. The first call stores the effective configuration, the input
//!    list and `N` in `WORK/dedup-config.json`; later phases read it, and refuse flags that
//!    disagree with it (pass the same dedup flags to every phase, or none).
//! 2. `buckets`: step `dedup-buckets`; rank `r` sorts key shard `r` of every LSH band
//!    partition (and the exact hashes) out of core within `--memory`, writes the edges.
//! 3. `cluster`: step `dedup-clusters`: union-find over all edges, the report
//!    (`WORK/barriers/dedup/wN/dedup/clusters/report.json`, also printed) and, with `--index`,
//!    the documents earlier runs saw. Runs once.
//! 4. `filter INPUT...`: step `map-1`: rank `r` replays its share of the staged documents and
//!    writes those kept; the last rank to finish runs the `merge` step (`WORK/stats.json`,
//!    and the `--index` of phase 3 learns this run's documents).
//!
//! **Outputs** are those of a `jsonl` sink in a job array: `part-p1-{r:05}-{k:05}.jsonl.zst` in
//! `--output`, written by rank `r` (`{"id", "text", ...metadata}`); read in name order they
//! are the kept documents in input order, the same at any rank count. `--rejects` gets the
//! removed ones the same way, with `"drop_reason": "dedup:duplicate"`. Files are written as
//! `*.tmp` and renamed; each task writes its completion marker last
//! (`WORK/steps/wN/STEP/task-R.json`).
//!
//! **Reruns** skip finished work: a task whose marker exists does nothing, and a task that
//! died resumes from the work units it finished. `filter` always runs again (its outputs may
//! have moved), resuming from what it finished.

mod pipeline;
mod settings;
pub(super) mod summary;
mod synth;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::Exit;
use super::ranks::{RankArgs, Ranks};
use pipeline::Invocation;

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
    /// Phase 1: stage this rank's share of the inputs with their MinHash signatures and exact hashes.
    Signatures(SignaturesArgs),
    /// Phase 2: per LSH band (and for exact hashes), sort keys out of core and write duplicate edges.
    Buckets(BucketsArgs),
    /// Phase 3: cluster the edges, choose what to keep, print and write the report (run once).
    Cluster(ClusterArgs),
    /// Phase 4: replay this rank's share of the staged documents and write those that are kept.
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
    /// Also write the clusters: WORK/barriers/dedup/wN/dedup/clusters/clusters.bin and a readable
    /// clusters.jsonl beside it (the kept document and every member, by document id).
    #[arg(long)]
    pub dump_clusters: bool,
}

/// Where phase 4 writes.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Directory or URL prefix for the kept documents: part-p1-{r:05}-{k:05}.jsonl.zst, written by rank r.
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
/// A phase failed (I/O, a corrupt or missing artifact, an earlier phase not complete).
pub(super) fn dedup(args: DedupArgs) -> anyhow::Result<Exit> {
    let threads = match &args.phase {
        Phase::Signatures(a) => a.work.threads,
        Phase::Buckets(a) => a.work.threads,
        Phase::Cluster(a) => a.work.threads,
        Phase::Filter(a) => a.work.threads,
        Phase::Run(a) => a.work.threads,
        Phase::Synth(_) => None,
    };
    let threads = threads.unwrap_or_else(crate::runner::default_threads).max(1);
    match args.phase {
        Phase::Signatures(a) => {
            let Ranks { rank, world } = Ranks::resolve(&a.rank)?;
            let files = settings::list_inputs(&a.inputs)?;
            let stored = settings::establish(&a.work.work_dir, &files, world, &a.config)?;
            let plan = pipeline::compile(&a.work.work_dir, &stored, &invocation(&a.work))?;
            pipeline::run_step(&plan, "map-0", rank, world, threads)
        }
        Phase::Buckets(a) => {
            let Ranks { rank, world } = Ranks::resolve(&a.rank)?;
            let stored = settings::load(&a.work.work_dir, &a.config)?;
            stored.check_world(world)?;
            let plan = pipeline::compile(&a.work.work_dir, &stored, &invocation(&a.work))?;
            let step = format!("{}-buckets", pipeline::NODE);
            pipeline::run_step(&plan, &step, rank, world, threads)
        }
        Phase::Cluster(a) => {
            let stored = settings::load(&a.work.work_dir, &a.config)?;
            cluster(&stored, &a.work, &a.cluster, threads)
        }
        Phase::Filter(a) => {
            let Ranks { rank, world } = Ranks::resolve(&a.rank)?;
            let stored = settings::load(&a.work.work_dir, &a.config)?;
            stored.check_world(world)?;
            stored.check_inputs(&settings::list_inputs(&a.inputs)?)?;
            let index = settings::recorded_index(&a.work.work_dir)?;
            let inv = Invocation {
                output: Some(&a.output),
                index: index.as_deref(),
                ..invocation(&a.work)
            };
            let plan = pipeline::compile(&a.work.work_dir, &stored, &inv)?;
            pipeline::filter(&plan, rank, world, threads)
        }
        Phase::Run(a) => run(&a, threads),
        Phase::Synth(a) => synth::synth(&a).map(|()| Exit::Ok),
    }
}

/// The options of `work` for the pipeline.
fn invocation(work: &WorkArgs) -> Invocation<'static> {
    Invocation { memory: work.memory, ..Invocation::default() }
}

/// Phase 3 (one task), its report printed, and the clusters dumped if asked.
fn cluster(
    stored: &settings::WorkConfig,
    work: &WorkArgs,
    opts: &ClusterOpts,
    threads: usize,
) -> anyhow::Result<Exit> {
    let inv = Invocation {
        index: opts.index.as_deref(),
        dump_clusters: opts.dump_clusters,
        ..invocation(work)
    };
    let plan = pipeline::compile(&work.work_dir, stored, &inv)?;
    settings::record_index(&work.work_dir, opts.index.as_deref())?;
    let step = format!("{}-clusters", pipeline::NODE);
    let exit = pipeline::run_step(&plan, &step, 0, stored.world_size, threads)?;
    let staged = pipeline::barrier_dir(&work.work_dir, stored.world_size);
    summary::print_report(&staged.join("dedup"))?;
    if opts.dump_clusters {
        summary::dump_clusters(&staged.join("dedup"), &staged)?;
    }
    Ok(exit)
}

/// `dedup run`: every phase in this process, as a job array of one task.
fn run(a: &RunArgs, threads: usize) -> anyhow::Result<Exit> {
    let files = settings::list_inputs(&a.inputs)?;
    let stored = settings::establish(&a.work.work_dir, &files, 1, &a.config)?;
    let plan = pipeline::compile(&a.work.work_dir, &stored, &invocation(&a.work))?;
    for step in ["map-0".to_string(), format!("{}-buckets", pipeline::NODE)] {
        let exit = pipeline::run_step(&plan, &step, 0, 1, threads)?;
        if exit != Exit::Ok {
            return Ok(exit);
        }
    }
    let exit = cluster(&stored, &a.work, &a.cluster, threads)?;
    if exit != Exit::Ok {
        return Ok(exit);
    }
    let inv = Invocation {
        output: Some(&a.output),
        index: a.cluster.index.as_deref(),
        ..invocation(&a.work)
    };
    pipeline::filter(&pipeline::compile(&a.work.work_dir, &stored, &inv)?, 0, 1, threads)
}
