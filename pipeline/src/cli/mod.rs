//! Command-line interface: argument parsing and the subcommands.

mod classifier;
mod datasets;
mod dedup;
mod events;
mod init;
mod inspect;
mod ops;
mod ranks;
mod report;
mod shell;
mod train;
mod train_lm;
mod train_verify;
mod validate;
mod verify;
mod verify_source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, Plan};
pub use crate::duration::parse_duration;
use crate::failure::{self, FailureKind};
use crate::progress::ProgressMode;
use crate::runner::{self, RunOptions};
use crate::stats::RunStatus;

/// tokenmill turns raw text corpora into training-ready token shards.
///
/// A pipeline file (TOML) declares sources, stages and sinks. Start with `tokenmill init`, check
/// with `tokenmill validate`, run with `tokenmill run`.
///
/// Exit codes: 0 done; 1 failed (I/O, sink or verification error, a source that cannot be
/// listed, the work dir in use by another run); 2 invalid pipeline file or command line; 3
/// stopped on bad input under `on_error = "fail"`; 4 partial: done, but some inputs could not be
/// read and will be tried again by the next run; 130 interrupted.
///
/// Environment: `RUST_LOG` (log filter); `TOKENMILL_CACHE_DIR` (byte-level BPE tokenizers are
/// cached in binary form under its `tokenizers/` for fast loading; default
/// `$XDG_CACHE_HOME/tokenmill` or `~/.cache/tokenmill`; `off` disables).
#[derive(Debug, Parser)]
#[command(
    name = "tokenmill",
    version = crate::LONG_VERSION,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More logging (-v debug, -vv trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline.
    Run(RunArgs),
    /// Check a pipeline file: report every error with its line, list inputs, load tokenizers.
    Validate {
        /// The pipeline file.
        #[arg(default_value = "tokenmill.toml")]
        config: PathBuf,
    },
    /// Write a commented example pipeline file to start from.
    Init {
        /// Where to write it.
        #[arg(default_value = "tokenmill.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Train a byte-level BPE tokenizer (GPT-2 style) on a sample of documents.
    TrainTokenizer(train::TrainArgs),
    /// Train a small GPT language model on reference documents (for the `perplexity` stage).
    TrainLm(train_lm::TrainLmArgs),
    /// Train a fastText supervised classifier (`.bin`) on labelled JSONL/Parquet (for `quality_model`).
    TrainClassifier(classifier::TrainClassifierArgs),
    /// Check a shard directory: headers, sizes, offsets, token ids, EOS, checksums.
    Verify(verify::VerifyArgs),
    /// Remove exact and near-duplicate documents from files, in one run or phase by phase
    /// (signatures, buckets, cluster, filter) to spread the work over machines.
    Dedup(dedup::DedupArgs),
    /// Shuffle a shard dataset globally (document level, seeded, out of core).
    Shuffle(datasets::ShuffleArgs),
    /// Merge shard datasets into one (same tokenizer), in order.
    Merge(datasets::MergeArgs),
    /// Export a shard dataset as one llm.c / nanoGPT flat `.bin` file.
    Export(datasets::ExportArgs),
    /// Show what a shard directory holds: counts, length histogram, frequent tokens, a document.
    Inspect(inspect::InspectArgs),
    /// Process the objects named by an object-storage event notification (S3 via SQS, SNS,
    /// EventBridge or Lambda; GCS via Pub/Sub), incrementally: an event delivered twice does
    /// nothing the second time.
    Trigger(events::TriggerArgs),
    /// Poll the sources for new inputs and process them incrementally, every interval.
    Watch(events::WatchArgs),
    /// Print the steps that run a pipeline as a job array of N tasks (every pass, every dedup
    /// phase, the merge) with each task's command line: text, or JSON for any scheduler.
    Plan(ops::PlanArgs),
    /// Write one Slurm batch script per step of the plan (arrays for the map and bucket steps),
    /// chained with `--dependency=afterok`, and optionally submit them.
    Slurm(ops::SlurmArgs),
    /// Write one Kubernetes Job per step of the plan (Indexed Jobs for the map and bucket
    /// steps) and a script that applies them in order.
    K8s(ops::K8sArgs),
    /// Write a run's report: one self-contained HTML page with the funnel of documents and bytes
    /// through every node, drops by rule, languages, length histograms, dedup clusters, tokens
    /// per shard, throughput, peak memory and the training check's loss curve (`run` writes it
    /// to WORK_DIR/report.html at its end).
    Report(report::ReportArgs),
    /// Run a pipeline and print its throughput (MB/s, docs/s, tokens/s) and peak memory as JSON.
    Bench {
        /// The pipeline file.
        #[arg(default_value = "tokenmill.toml")]
        config: PathBuf,
        /// Worker threads [default: all cores].
        #[arg(short = 'j', long)]
        threads: Option<usize>,
    },
    /// Print a shell completion script (bash, zsh, fish, PowerShell, Elvish).
    Completions(shell::CompletionsArgs),
    /// Print the man page, or write one page per subcommand into a directory.
    Man(shell::ManArgs),
}

/// `tokenmill run`.
#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  tokenmill run                                   # ./tokenmill.toml
  tokenmill run examples/quickstart.toml          # the sample corpus to verified shards
  tokenmill run p.toml --dry-run                  # check inputs and tokenizer, print the plan
  tokenmill run p.toml -j 8 --progress json       # 8 workers, progress as JSON lines
  tokenmill run p.toml --incremental              # cron: only new or changed inputs
  tokenmill run p.toml --step map-0 --world-size 16 --array-task   # one task of a job array")]
pub struct RunArgs {
    /// The pipeline file.
    #[arg(default_value = "tokenmill.toml")]
    pub config: PathBuf,
    /// Compile, list inputs and load tokenizers, print the plan, but read and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Progress display: a bar on a terminal, JSON lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Where to write run statistics [default: WORK_DIR/stats.json].
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Process only inputs that no earlier complete run of this work dir processed (new or
    /// changed files and objects, by URL, size and etag or modification time), dedup them
    /// against the stages' persistent `index`, and append new shards and parts to the outputs
    /// (updating the manifest, leaving old shards untouched). For cron and scheduled jobs.
    #[arg(long)]
    pub incremental: bool,
    /// Also write the run's counters in Prometheus text format to this file (for node_exporter's
    /// textfile collector): documents, bytes, tokens, drops, errors, duration, status.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Do not write WORK_DIR/report.html at the end of the run (`tokenmill report WORK_DIR`
    /// writes it later from stats.json).
    #[arg(long)]
    pub no_report: bool,
    /// Discard the ledger of an interrupted run and start over (by default a rerun of the same
    /// config resumes: finished work units are replayed, not processed again).
    #[arg(long)]
    pub restart: bool,
    /// Run one step of the job as a job array runs it (`tokenmill plan` lists the steps and
    /// the command of each task): `map-0`, a barrier's `-buckets`/`-clusters`/`-count`, ...,
    /// `merge`. Each step starts once every task of the step before it has finished; the
    /// outputs equal a single-process run's. Needs --world-size, and --rank or --array-task
    /// for steps of more than one task.
    #[arg(long, value_name = "NAME", requires = "world_size")]
    pub step: Option<String>,
    /// This task's rank in the step, from 0 [default: 0].
    #[arg(long, requires = "step")]
    pub rank: Option<usize>,
    /// Number of tasks in the job array (the same for every step of one job).
    #[arg(long)]
    pub world_size: Option<usize>,
    /// Like --rank/--world-size, from the scheduler: $SLURM_ARRAY_TASK_ID (minus
    /// $SLURM_ARRAY_TASK_MIN) of $SLURM_ARRAY_TASK_COUNT, or a Kubernetes Indexed Job's
    /// $JOB_COMPLETION_INDEX (with --world-size).
    #[arg(long, conflicts_with = "rank", requires = "step")]
    pub array_task: bool,
}

/// Process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// Failed.
    Failed = 1,
    /// Invalid pipeline file or arguments.
    Config = 2,
    /// Stopped on bad input under `on_error = "fail"` (or an unusable event for `trigger`).
    Input = 3,
    /// Completed, but some inputs could not be read (network, permissions): the outputs hold
    /// the rest; the next run (incremental or not) tries those inputs again.
    Partial = 4,
    /// Interrupted.
    Interrupted = 130,
}

impl From<FailureKind> for Exit {
    fn from(kind: FailureKind) -> Self {
        match kind {
            FailureKind::BadInput => Exit::Input,
            FailureKind::Config => Exit::Config,
            FailureKind::Io | FailureKind::Stage | FailureKind::Sink | FailureKind::Other => {
                Exit::Failed
            }
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The whole program: parse arguments, set up logging, run the command, map the outcome to an
/// exit code.
pub fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    init_logging(&cli.global);
    match execute(cli) {
        Ok(code) => code.into(),
        Err(e) if is_broken_pipe(&e) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            failure::kind_of(&e).map_or(Exit::Failed, Exit::from).into()
        }
    }
}

/// Ends the process quietly with exit code 0 when stdout is closed early (`tokenmill inspect
/// DIR | head`), as ripgrep does, instead of panicking on the broken pipe: the standard
/// library's `print!` panics with "failed printing to stdout: Broken pipe".
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(Exit::Ok as i32);
        }
        default(info);
    }));
}

/// Whether `e` comes from writing to a pipe whose reader has gone (see
/// [`quiet_on_closed_stdout`]).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Sets up `tracing` on stderr.
pub fn init_logging(args: &GlobalArgs) {
    let default = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::progress::LogWriter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs a parsed command line.
///
/// # Errors
/// Failures not expressed as an exit code.
pub fn execute(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Validate { config } => validate::validate(&config),
        Command::Init { path, force } => init::init(&path, force),
        Command::TrainTokenizer(args) => train::train(args),
        Command::Verify(args) => verify::verify(args),
        Command::Bench { config, threads } => bench(&config, threads),
        Command::Inspect(args) => inspect::inspect(args),
        Command::TrainClassifier(args) => classifier::train(args),
        Command::TrainLm(args) => train_lm::train(args),
        Command::Dedup(args) => dedup::dedup(args),
        Command::Shuffle(args) => datasets::shuffle(args),
        Command::Merge(args) => datasets::merge(args),
        Command::Export(args) => datasets::export(args),
        Command::Plan(args) => ops::plan(args),
        Command::Trigger(args) => events::trigger(args),
        Command::Watch(args) => events::watch(args),
        Command::Slurm(args) => ops::slurm(args),
        Command::K8s(args) => ops::k8s(args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
        Command::Report(args) => report::report(args),
    }
}

pub(crate) fn load(path: &Path) -> Result<Plan, Exit> {
    match config::load(path) {
        Ok(plan) => {
            for w in plan.warnings.warnings() {
                eprintln!("{w}");
            }
            Ok(plan)
        }
        Err(d) => {
            eprintln!("{d}");
            Err(Exit::Config)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let plan = match load(&args.config) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if args.dry_run {
        validate::preflight(&plan)?;
        let world = args.world_size.unwrap_or(1);
        let steps = runner::plan_steps(&plan, world)?;
        let binary = std::env::current_exe()
            .map_or_else(|_| "tokenmill".into(), |p| p.display().to_string());
        let config = std::fs::canonicalize(&args.config)
            .unwrap_or_else(|_| args.config.clone())
            .display()
            .to_string();
        print!(
            "as a job array (`tokenmill plan`, `slurm`, `k8s`): {}",
            ops::plan_text(&steps, &binary, &config, world, args.threads)
        );
        println!("map-0, task by task:");
        for s in runner::first_shares(&plan, world) {
            match &s.span {
                Some((first, last)) => println!(
                    "  task {}: units {}..{} ({:.1} MB), from {first} to {last}",
                    s.rank,
                    s.units.start,
                    s.units.end,
                    s.bytes as f64 / 1e6
                ),
                None => println!("  task {}: nothing (fewer work units than tasks)", s.rank),
            }
        }
        println!("dry run: nothing was read or written");
        return Ok(Exit::Ok);
    }
    let cancel = interrupt_flag()?;
    let task = match task_of(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(Exit::Config);
        }
    };
    let opts = RunOptions {
        threads: args.threads.unwrap_or_else(runner::default_threads),
        progress: args.progress,
        cancel,
        stats_path: args.stats,
        step: task,
        restart: args.restart,
        incremental: args.incremental,
        inputs: None,
    };
    execute_run(&plan, &opts, args.metrics.as_deref(), !args.no_report)
}

/// A flag set by Ctrl-C (SIGINT) or SIGTERM; a second one exits at once.
pub(crate) fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: leave now; only *.tmp files can be left behind.
            std::process::exit(Exit::Interrupted as i32);
        }
        tracing::warn!("interrupted: finishing in-flight batches and removing incomplete outputs (Ctrl-C again to quit at once)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(cancel)
}

/// Runs a plan, prints the summary, writes the metrics file and (with `report`) the report page,
/// maps the outcome to an exit code.
pub(crate) fn execute_run(
    plan: &Plan,
    opts: &RunOptions,
    metrics: Option<&Path>,
    report: bool,
) -> anyhow::Result<Exit> {
    let stats = runner::run(plan, opts)?;
    print!("{}", stats.summary());
    if let Some(path) = metrics {
        crate::stats::write_metrics(path, &stats)?;
    }
    if report {
        end_of_run_report(plan, opts, &stats);
    }
    Ok(exit_of(&stats))
}

/// Writes WORK_DIR/report.html for a run that just ended and prints its path; a failure to
/// write it is logged, not fatal. Skipped for one task of a job array (it has only its share of
/// the counters: the merge step reports) and for a work dir on object storage.
pub(crate) fn end_of_run_report(plan: &Plan, opts: &RunOptions, stats: &crate::stats::RunStats) {
    if opts.step.as_ref().is_some_and(|t| t.step != "merge") {
        return;
    }
    let work_dir = &plan.spec.run.work_dir;
    let local = work_dir.strip_prefix("file://");
    match local.or((!crate::storage::is_url(work_dir)).then_some(work_dir)) {
        Some(dir) => match report::write_run_report(stats, Path::new(dir)) {
            Ok(path) => println!("report: {}", path.display()),
            Err(e) => tracing::warn!("the run's report was not written: {e:#}"),
        },
        None => tracing::info!(
            "no report.html for a work dir on object storage: run `tokenmill report` on a local \
             copy of its stats.json"
        ),
    }
}

/// The exit code of a run.
pub(crate) fn exit_of(stats: &crate::stats::RunStats) -> Exit {
    match &stats.status {
        RunStatus::Complete if !stats.inputs_to_retry.is_empty() => Exit::Partial,
        RunStatus::Complete => Exit::Ok,
        RunStatus::Interrupted => Exit::Interrupted,
        RunStatus::Failed { kind, .. } => Exit::from(*kind),
    }
}

/// The job-array step task of a run, from flags or the scheduler's environment.
fn task_of(args: &RunArgs) -> anyhow::Result<Option<runner::StepTask>> {
    let Some(step) = &args.step else { return Ok(None) };
    let Some(world_size) = args.world_size else { anyhow::bail!("--step needs --world-size") };
    let rank = if args.array_task {
        if std::env::var_os("SLURM_ARRAY_TASK_ID").is_none()
            && std::env::var_os("JOB_COMPLETION_INDEX").is_none()
        {
            anyhow::bail!(
                "--array-task: neither $SLURM_ARRAY_TASK_ID nor $JOB_COMPLETION_INDEX is set"
            );
        }
        ranks::Ranks::resolve(&ranks::RankArgs { rank: None, world_size: Some(world_size) })?.rank
    } else {
        args.rank.unwrap_or(0)
    };
    if world_size == 0 {
        anyhow::bail!("--world-size must be at least 1");
    }
    Ok(Some(runner::StepTask { step: step.clone(), rank, world_size }))
}

fn bench(path: &Path, threads: Option<usize>) -> anyhow::Result<Exit> {
    let plan = match load(path) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let opts = RunOptions {
        threads: threads.unwrap_or_else(runner::default_threads),
        progress: ProgressMode::Off,
        ..RunOptions::default()
    };
    let stats = runner::run(&plan, &opts)?;
    if let RunStatus::Failed { reason, .. } = &stats.status {
        anyhow::bail!("the benchmarked run failed: {reason}");
    }
    let secs = stats.elapsed_secs.max(1e-9);
    let sources = plan.spec.sources.len();
    let docs: u64 = stats.nodes[..sources].iter().map(|n| n.docs_in).sum();
    let tokens: u64 = stats.sinks.values().map(|r| r.tokens).sum();
    let line = serde_json::json!({
        "config": path.display().to_string(),
        "threads": stats.threads,
        "elapsed_secs": secs,
        "input_mb": stats.decoded_bytes as f64 / 1e6,
        "mb_per_sec": stats.decoded_bytes as f64 / 1e6 / secs,
        "stored_mb_per_sec": stats.input_bytes as f64 / 1e6 / secs,
        "docs_per_sec": docs as f64 / secs,
        "tokens_per_sec": tokens as f64 / secs,
        "peak_rss_mib": stats.peak_rss_bytes.map(|b| b as f64 / f64::from(1 << 20)),
    });
    println!("{line}");
    Ok(Exit::Ok)
}
