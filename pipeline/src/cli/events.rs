//! Object-storage triggers and polling: `tokenmill trigger` runs a pipeline incrementally on the
//! objects an event names, `tokenmill watch` on whatever is new at each poll.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::{Exit, execute_run, exit_of, interrupt_flag, load};
use crate::build::SourceInputs;
use crate::config::Plan;
use crate::duration::parse_duration;
use crate::progress::ProgressMode;
use crate::runner::{self, RunOptions};
use crate::source::{InputError, InputErrorKind};
use crate::stats::RunStatus;
use crate::storage::{self, StorageError};

/// What `trigger` and `watch` share: an incremental run of a pipeline.
#[derive(Debug, Args)]
pub struct IncrementalArgs {
    /// The pipeline file.
    #[arg(default_value = "tokenmill.toml")]
    pub config: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Write each run's counters in Prometheus text format to this file.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

/// `tokenmill trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The pipeline and how to run it.
    #[command(flatten)]
    pub run: IncrementalArgs,
    /// The event notification (JSON), or `-` for standard input.
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
}

/// `tokenmill watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The pipeline and how to run it.
    #[command(flatten)]
    pub run: IncrementalArgs,
    /// Time between polls: `90s`, `5m`, `1h`, or seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub every: Duration,
    /// Stop after this many polls [default: run until interrupted].
    #[arg(long)]
    pub polls: Option<u64>,
}

pub(super) fn trigger(args: TriggerArgs) -> anyhow::Result<Exit> {
    let plan = match load(&args.run.config) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let text = if args.event.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("cannot read the event from standard input")?
    } else {
        std::fs::read_to_string(&args.event)
            .with_context(|| format!("cannot read {}", args.event.display()))?
    };
    let objects = match crate::trigger::parse_event(&text) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}: {e:#}", args.event.display());
            return Ok(Exit::Input);
        }
    };
    if objects.ignored > 0 {
        tracing::info!(
            records = objects.ignored,
            "event records that are not object creations were ignored"
        );
    }
    let inputs = event_inputs(&plan, &objects.urls);
    if inputs.iter().all(|s| s.files.is_empty() && s.errors.is_empty()) {
        println!(
            "nothing to do: the event names no object that a source of {} reads",
            args.run.config.display()
        );
        return Ok(Exit::Ok);
    }
    let opts = RunOptions {
        threads: args.run.threads.unwrap_or_else(runner::default_threads),
        progress: ProgressMode::Off,
        cancel: interrupt_flag()?,
        incremental: true,
        inputs: Some(inputs),
        ..RunOptions::default()
    };
    execute_run(&plan, &opts, args.run.metrics.as_deref(), true)
}

/// The inputs an event's objects make, per source: each object goes to the first source
/// whose paths name it; an object that is gone by now is a `not_found` input error.
fn event_inputs(plan: &Plan, urls: &[String]) -> Vec<SourceInputs> {
    let mut inputs: Vec<SourceInputs> =
        plan.spec.sources.iter().map(|_| SourceInputs::default()).collect();
    for url in urls {
        let source = plan
            .spec
            .sources
            .iter()
            .position(|s| s.file().paths.iter().any(|p| storage::pattern_matches(p, url)));
        let Some(s) = source else {
            tracing::warn!(object = url.as_str(), "the object matches no source's paths; ignored");
            continue;
        };
        let error = |kind, message: String| InputError {
            kind,
            file: url.as_str().into(),
            line: None,
            offset: None,
            message,
        };
        match storage::list_inputs(url, &plan.spec.sources[s].file().storage) {
            Ok(files) => inputs[s].files.extend(files.into_iter().filter(|f| f.url == *url)),
            Err(StorageError::NotFound { .. }) => {
                inputs[s].errors.push(error(InputErrorKind::NotFound, "no such object".into()))
            }
            Err(e) => inputs[s].errors.push(error(InputErrorKind::Unreadable, e.to_string())),
        }
    }
    inputs
}

pub(super) fn watch(args: WatchArgs) -> anyhow::Result<Exit> {
    let plan = match load(&args.run.config) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let cancel = interrupt_flag()?;
    let mut last;
    let mut polls = 0u64;
    tracing::info!(every = ?args.every, "watching the sources for new inputs");
    loop {
        let started = Instant::now();
        let opts = RunOptions {
            threads: args.run.threads.unwrap_or_else(runner::default_threads),
            progress: ProgressMode::Off,
            cancel: cancel.clone(),
            incremental: true,
            ..RunOptions::default()
        };
        match runner::run(&plan, &opts) {
            Ok(stats) => {
                if stats.input_files > 0 || !matches!(stats.status, RunStatus::Complete) {
                    print!("{}", stats.summary());
                }
                // A poll that found nothing new leaves the last run's report in place.
                if stats.input_files > 0 {
                    super::end_of_run_report(&plan, &opts, &stats);
                }
                if let Some(path) = &args.run.metrics {
                    crate::stats::write_metrics(path, &stats)?;
                }
                last = exit_of(&stats);
                if let RunStatus::Failed { reason, .. } = &stats.status {
                    tracing::error!("run failed, retrying at the next poll: {reason}");
                }
            }
            Err(e) => {
                tracing::error!("run could not start, retrying at the next poll: {e:#}");
                last = Exit::Failed;
            }
        }
        polls += 1;
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(Exit::Interrupted);
        }
        if args.polls.is_some_and(|n| polls >= n) {
            return Ok(last);
        }
        while started.elapsed() < args.every {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(Exit::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(100).min(args.every));
        }
    }
}
