//! The runner: one reader thread, a pool of workers, one writer; one pass per barrier level.
//!
//! ```text
//!  reader ──chunks──► workers (rayon pool) ──results──► writer (restores order) ──► sinks
//!     ▲                                                    │
//!     └──────────────── permits (window of W chunks) ◄─────┘
//! ```
//! The reader cuts inputs into chunks (capped by documents and bytes) and numbers them. Workers
//! run a chunk through every node it reaches; documents within a batch are processed in
//! parallel on the rayon pool. The writer applies results strictly in sequence order, so the
//! output is byte-identical at any thread count. The reader needs a permit per chunk and the
//! writer returns it once the chunk is written, so at most W chunks are in memory whatever the
//! input size: memory is bounded by `threads`, `batch_docs` and `batch_bytes`.
//!
//! Barrier stages (deduplication) split the run into passes ([`crate::config::Plan::passes`]):
//! pass 0 reads the sources and every barrier collects what reaches it; between passes the
//! barriers decide; the next pass replays their survivors. Sinks stay open across passes.

mod barrier;
mod docfreq;
pub(crate) use barrier::ORDINAL as STAGED_ORDINAL;
mod exec;
mod history;
mod ledger;
mod remote;
mod spool;
mod steps;
mod writer;

pub use ledger::{RunLock, hostname};
pub use steps::{FirstShare, Step, StepKind, StepTask, first_shares, plan_steps};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};

use crate::build::{self, SourceInputs};
use crate::config::Plan;
use crate::failure::{Failure, FailureKind};
use crate::progress::{Progress, ProgressMode};
use crate::source::{self, Chunk, ChunkLimits};
use crate::stats::{RunStats, secs};
use crate::storage::{self, InputFile, Place};
use exec::{BatchOut, Exec};
use history::History;
use ledger::{Ledger, SpoolReader, Unit, UnitId};
use writer::Writer;

/// Runtime knobs (CLI flags, not pipeline config).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads (and rayon pool size).
    pub threads: usize,
    /// Progress display.
    pub progress: ProgressMode,
    /// Set to stop the run early (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
    /// Where to write `stats.json`; default `{work_dir}/stats.json`.
    pub stats_path: Option<std::path::PathBuf>,
    /// Run one task of one step of a job array ([`plan_steps`]) instead of the whole job.
    pub step: Option<StepTask>,
    /// Ignore (and discard) the ledger of an interrupted run instead of resuming it.
    pub restart: bool,
    /// Process only inputs that no earlier complete run processed, and append to the outputs.
    pub incremental: bool,
    /// Process exactly these inputs (per source) instead of listing the sources' paths.
    pub inputs: Option<Vec<SourceInputs>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            threads: default_threads(),
            progress: ProgressMode::Off,
            cancel: Arc::default(),
            stats_path: None,
            step: None,
            restart: false,
            incremental: false,
            inputs: None,
        }
    }
}

/// Available parallelism, at least 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs a compiled plan to completion, interruption or failure.
///
/// # Errors
/// Pre-flight failures (a tokenizer does not load, an output cannot be created). Failures
/// during the run are reported in the returned stats' status, after outputs were cleaned up.
pub fn run(plan: &Plan, opts: &RunOptions) -> anyhow::Result<RunStats> {
    if let Some(task) = &opts.step {
        return steps::run_step(plan, opts, task);
    }
    match remote::RemoteWork::of(&plan.spec.run.work_dir, &plan.spec.run.storage)? {
        Some(remote) => run_in_scratch(plan, opts, &remote),
        None => run_local(plan, opts),
    }
}

/// One process with its work dir on object storage: it works in local scratch (kept, so that a
/// rerun on this machine resumes), with the input history and the statistics kept in the store.
fn run_in_scratch(
    plan: &Plan,
    opts: &RunOptions,
    remote: &remote::RemoteWork,
) -> anyhow::Result<RunStats> {
    let scratch = remote.scratch("run");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create scratch dir {}", scratch.display()))?;
    remote.download_dir("history", &scratch)?;
    let mut local = plan.clone();
    local.spec.run.work_dir = scratch.display().to_string();
    let stats = run_local(&local, opts)?;
    remote.upload_dir(&scratch, "history")?;
    if opts.stats_path.is_none() {
        remote.upload(&scratch, "stats.json")?;
    }
    Ok(stats)
}

/// A whole run in one process with a local work dir: inputs, locks, history, the passes, then
/// the commit of what the outputs now hold.
fn run_local(plan: &Plan, opts: &RunOptions) -> anyhow::Result<RunStats> {
    let started = Instant::now();
    let mut inputs = match &opts.inputs {
        Some(i) => i.clone(),
        None => build::list_sources(plan),
    };
    // A source that cannot be listed (the store is down, access denied) fails the run: going
    // on would report success having read nothing. A pattern matching nothing is only counted.
    let unlisted: Vec<String> = inputs
        .iter()
        .flat_map(|s| &s.errors)
        .filter(|e| e.kind == source::InputErrorKind::Unreadable)
        .map(ToString::to_string)
        .collect();
    if !unlisted.is_empty() {
        anyhow::bail!("cannot list the inputs:\n  {}", unlisted.join("\n  "));
    }
    if !opts.incremental {
        build::check_sources_not_empty(plan, &inputs)?;
    }
    let work_dir = Path::new(&plan.spec.run.work_dir);
    std::fs::create_dir_all(work_dir)
        .map_err(|e| anyhow::anyhow!("cannot create work dir {}: {e}", work_dir.display()))?;
    let _locks = locks(plan)?;
    if opts.restart {
        let _ = std::fs::remove_dir_all(work_dir.join("ledger"));
    }
    let stats_path = opts.stats_path.clone().unwrap_or_else(|| work_dir.join("stats.json"));
    let history = History::load(work_dir, &manifest_dirs(plan))?;
    let mut skipped = 0;
    if opts.incremental {
        skipped = history.keep_new(&mut inputs);
        let new = inputs.iter().map(|s| s.files.len()).sum::<usize>();
        tracing::info!(
            new_inputs = new,
            seen_inputs = skipped,
            "incremental run: only inputs that no earlier run processed"
        );
        if new == 0 && inputs.iter().all(|s| s.errors.is_empty()) {
            // Nothing new: the outputs stay as they are, not even their manifests are rewritten.
            let stats =
                RunStats::nothing_new(plan, opts.threads.max(1), skipped, secs(started.elapsed()));
            write_stats(&stats_path, &stats)?;
            return Ok(stats);
        }
    }
    build::split_units(plan, &mut inputs);
    let ledger = match plan.spec.run.ledger {
        true => Ledger::open(work_dir, &plan.config_hash)?,
        false => Ledger::disabled(work_dir),
    };
    let (mut stats, exec, replays) = run_passes(plan, opts, &inputs, &ledger)?;
    stats.seen_inputs_skipped = skipped;
    if stats.status == crate::stats::RunStatus::Complete {
        // The outputs are committed: now the dedup indexes and the input history may learn
        // this run's documents, and the ledger has served.
        for (b, replay) in &replays {
            if let Some(spec) = &exec.barriers[*b] {
                replay.update_index(spec)?;
            }
        }
        history.record(&inputs, opts.incremental, &stats.inputs_to_retry)?;
        if stats.inputs_to_retry.is_empty() {
            ledger.remove()?;
        } else {
            // Kept: the rerun that reads the missing inputs replays everything else.
            tracing::warn!(
                inputs = stats.inputs_to_retry.len(),
                "some inputs could not be read; run again to complete the outputs"
            );
        }
    }
    stats.elapsed_secs = secs(started.elapsed());
    write_stats(&stats_path, &stats)?;
    Ok(stats)
}

/// Builds the operators, barriers and sinks (only now: an incremental run with nothing new never
/// loads a tokenizer or a model), runs every pass and closes the barriers between them.
fn run_passes<'p>(
    plan: &'p Plan,
    opts: &RunOptions,
    inputs: &[SourceInputs],
    ledger: &Ledger,
) -> anyhow::Result<(RunStats, Exec<'p>, HashMap<usize, barrier::Replay>)> {
    let work_dir = Path::new(&plan.spec.run.work_dir);
    let ops = build::operators(plan)?;
    let wheres = build::where_filters(plan)?;
    let barriers = barrier::barriers(plan)?;
    if ledger.finished_count() > 0 {
        tracing::info!(
            units = ledger.finished_count(),
            "resuming: finished work units in the ledger are replayed, not processed again"
        );
    }
    let sinks = build::sinks(plan, &ops, inputs, opts.incremental, &crate::sink::Naming::Whole)?
        .into_iter()
        .map(Some)
        .collect();
    let exec = Exec::new(plan, ops, wheres, barriers);
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tokenmill-worker-{i}"))
        .build()?;
    let total_bytes: u64 =
        inputs.iter().flat_map(|s| s.files.iter()).map(InputFile::unit_bytes).sum();
    let progress = Progress::new(opts.progress, total_bytes);
    let mut collectors = HashMap::new();
    for (id, b) in exec.barriers.iter().enumerate() {
        if let Some(spec) = b {
            collectors.insert(id, barrier::Collector::new(work_dir, &plan.nodes[id].name, spec)?);
        }
    }
    let mut writer =
        Writer::new(plan, &exec, sinks, progress, opts.cancel.clone(), ledger.clone(), collectors)?;
    let mut replays: HashMap<usize, barrier::Replay> = HashMap::new();
    for (pass, entries) in plan.passes.iter().enumerate() {
        if writer.stopped() {
            break;
        }
        let work = PassWork::new(plan, pass, entries, inputs, &replays);
        run_pass(plan, &exec, &pool, &mut writer, &work, &replays, threads, &opts.cancel, ledger);
        if writer.stopped() {
            break;
        }
        // Barriers whose inputs are now complete decide.
        for &b in plan.passes.get(pass + 1).into_iter().flatten() {
            match writer.close_barrier(b, &exec) {
                Ok(r) => {
                    replays.insert(b, r);
                }
                Err(e) => writer.fail(Failure::new(
                    FailureKind::Io,
                    format!("barrier `{}`: {e:#}", plan.nodes[b].name),
                )),
            }
        }
    }
    let stats = writer.finish(plan, threads, inputs);
    Ok((stats, exec, replays))
}

/// Local Megatron outputs, whose manifests list the inputs they hold.
fn manifest_dirs(plan: &Plan) -> Vec<std::path::PathBuf> {
    plan.spec
        .sinks
        .iter()
        .filter(|s| matches!(s, crate::config::SinkSpec::Megatron(_)))
        .map(|s| s.path())
        .filter(|p| !storage::is_url(p) || p.starts_with("file://"))
        .map(|p| std::path::PathBuf::from(p.strip_prefix("file://").unwrap_or(p)))
        .collect()
}

/// Locks the work dir (per task for job arrays) and every local output: no two runs share files.
fn locks(plan: &Plan) -> anyhow::Result<Vec<RunLock>> {
    let work_dir = Path::new(&plan.spec.run.work_dir);
    let mut locks = vec![RunLock::acquire(work_dir, "tokenmill.lock", "work dir")?];
    {
        for sink in &plan.spec.sinks {
            let path = sink.path();
            if storage::is_url(path) && !path.starts_with("file://") {
                continue;
            }
            // The lock sits beside the output directory, not in it, so outputs hold only data.
            let out = Path::new(path.strip_prefix("file://").unwrap_or(path));
            let name = out
                .file_name()
                .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
            let parent =
                out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            locks.push(RunLock::acquire(parent, &format!(".{name}.tokenmill.lock"), "output")?);
        }
    }
    Ok(locks)
}

fn write_stats(path: &Path, stats: &RunStats) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("stats.json");
    let mut file = crate::sink::AtomicFile::create(dir, name)?;
    serde_json::to_writer_pretty(&mut file, stats)?;
    file.commit()?;
    Ok(())
}

/// What one pass reads: for each entry, its files (or the listing errors of a source).
struct PassWork {
    pass: usize,
    items: Vec<(usize, Vec<InputFile>, Vec<source::InputError>, source::Format)>,
    /// A job-array task's share: the indexes (over the files of every entry, in order) of
    /// the units it does; `None` for all of them.
    share: Option<std::ops::Range<usize>>,
    /// Whether listing errors are counted here (by one task of a job array: rank 0).
    errors_here: bool,
}

impl PassWork {
    fn new(
        plan: &Plan,
        pass: usize,
        entries: &[usize],
        inputs: &[SourceInputs],
        replays: &HashMap<usize, barrier::Replay>,
    ) -> Self {
        let items = entries
            .iter()
            .map(|&e| {
                if pass == 0 {
                    let format = source::Format::of(&plan.spec.sources[e]);
                    (e, inputs[e].files.clone(), inputs[e].errors.clone(), format)
                } else {
                    let options = &plan.spec.run.storage;
                    let files = replays
                        .get(&e)
                        .map(|r| r.files.iter().map(|f| staged_file(f, options)).collect())
                        .unwrap_or_default();
                    (e, files, vec![], source::Format::Jsonl)
                }
            })
            .collect();
        Self { pass, items, share: None, errors_here: true }
    }

    /// Whether this run (or job-array task) does the `index`-th unit of the pass.
    fn mine(&self, index: usize) -> bool {
        self.share.as_ref().is_none_or(|r| r.contains(&index))
    }

    /// The size of every unit, in order (for dealing them over tasks).
    fn sizes(&self) -> Vec<u64> {
        self.items
            .iter()
            .flat_map(|(_, files, _, _)| files.iter().map(InputFile::unit_bytes))
            .collect()
    }
}

/// What the reader hands a worker.
enum Work {
    /// Raw records to process.
    Chunk(Chunk),
    /// A finished unit's recorded output.
    Spooled(Vec<u8>),
    /// The end of a unit.
    UnitEnd(usize),
    /// A finished unit's spool that cannot be read.
    Broken(String),
}

struct Item {
    seq: u64,
    unit: Option<Arc<Unit>>,
    work: Work,
}

/// A staged file to replay: a local path, or (a work dir on object storage) an object's URL.
/// One that cannot be found is read as such and reported by the reader.
fn staged_file(path: &str, options: &std::collections::BTreeMap<String, String>) -> InputFile {
    if storage::is_url(path) {
        match storage::list_inputs(path, options) {
            Ok(mut files) if files.len() == 1 => return files.remove(0),
            Ok(_) => tracing::error!(file = path, "staged file is missing"),
            Err(e) => tracing::error!(file = path, "cannot find a staged file: {e}"),
        }
    }
    local_file(path)
}

fn local_file(path: &str) -> InputFile {
    let meta = std::fs::metadata(path).ok();
    InputFile {
        url: path.to_string(),
        size: meta.as_ref().map_or(0, |m| m.len()),
        version: None,
        place: Place::Local(path.into()),
        span: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn run_pass(
    plan: &Plan,
    exec: &Exec<'_>,
    pool: &rayon::ThreadPool,
    writer: &mut Writer,
    work: &PassWork,
    replays: &HashMap<usize, barrier::Replay>,
    threads: usize,
    cancel: &Arc<AtomicBool>,
    ledger: &Ledger,
) {
    let window = 2 * threads + 2;
    let (permit_tx, permit_rx) = bounded::<()>(window);
    for _ in 0..window {
        let _ = permit_tx.send(());
    }
    let (work_tx, work_rx) = bounded::<Item>(window);
    let (result_tx, result_rx) = unbounded::<BatchOut>();
    std::thread::scope(|scope| {
        let cancel = cancel.clone();
        let read = writer.bytes_dispatched();
        scope.spawn(move || read_pass(plan, work, &permit_rx, work_tx, &cancel, ledger, &read));
        for _ in 0..threads {
            let (rx, tx) = (work_rx.clone(), result_tx.clone());
            scope.spawn(move || {
                for item in rx.iter() {
                    let out = pool.install(|| work_on(exec, item, replays));
                    if tx.send(out).is_err() {
                        break;
                    }
                }
            });
        }
        drop(result_tx);
        writer.drain(&result_rx, &permit_tx);
    });
}

/// Processes (or decodes) one item and, for a unit being recorded, encodes the result.
fn work_on(exec: &Exec<'_>, item: Item, replays: &HashMap<usize, barrier::Replay>) -> BatchOut {
    let Item { seq, unit, work } = item;
    let end = matches!(work, Work::UnitEnd(_));
    let mut out = match work {
        Work::Chunk(chunk) => {
            let mut out = exec.process(seq, chunk, replays);
            if out.failure.is_none() && unit.as_ref().is_some_and(|u| !u.replay) {
                match spool::encode(&out) {
                    Ok(bytes) => out.spooled = Some(bytes),
                    Err(e) => {
                        out.failure = Some(Failure::new(
                            FailureKind::Io,
                            format!("cannot record work unit: {e:#}"),
                        ))
                    }
                }
            }
            out
        }
        Work::Spooled(bytes) => spool::decode(&bytes, seq)
            .unwrap_or_else(|e| broken(seq, unit.as_deref(), &format!("{e:#}"))),
        Work::Broken(message) => broken(seq, unit.as_deref(), &message),
        Work::UnitEnd(entry) => BatchOut::empty(seq, entry),
    };
    out.unit = unit.map(|u| (u, end));
    out
}
fn broken(seq: u64, unit: Option<&Unit>, message: &str) -> BatchOut {
    let name = unit.map_or("?", |u| u.key.as_str());
    let mut out = BatchOut::empty(seq, 0);
    out.failure = Some(Failure::new(
        FailureKind::Io,
        format!("ledger unit {name}: {message}; rerun with --restart to discard the ledger"),
    ));
    out
}

/// The reader thread of a pass: every file of every entry, in order, cut into numbered chunks
/// for the workers (a finished unit of the ledger is replayed from its spool); `read` counts the
/// input bytes handed out, so the progress bar moves before the first batch is finished.
fn read_pass(
    plan: &Plan,
    work: &PassWork,
    permits: &Receiver<()>,
    out: Sender<Item>,
    cancel: &AtomicBool,
    ledger: &Ledger,
    read: &AtomicU64,
) {
    let run = &plan.spec.run;
    let limits = ChunkLimits {
        docs: run.batch_docs,
        bytes: usize::try_from(run.batch_bytes.0).unwrap_or(usize::MAX),
        max_record: usize::try_from(run.max_doc_bytes.0).unwrap_or(usize::MAX),
    };
    let mut seq = 0u64;
    let mut emit = |unit: &Option<Arc<Unit>>, work: Work| -> bool {
        loop {
            if cancel.load(Ordering::Relaxed) {
                return false;
            }
            match permits.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => break,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        if let Work::Chunk(c) = &work {
            read.fetch_add(c.raw_bytes, Ordering::Relaxed);
        }
        let ok = out.send(Item { seq, unit: unit.clone(), work }).is_ok();
        seq += 1;
        ok
    };
    let mut index = 0usize;
    for (entry, files, errors, format) in &work.items {
        let name = &plan.nodes[*entry].name;
        if !errors.is_empty() && work.errors_here {
            let chunk = Chunk {
                source: *entry,
                file: name.as_str().into(),
                body: source::ChunkBody::Docs(vec![]),
                errors: errors.clone(),
                raw_bytes: 0,
            };
            if !emit(&None, Work::Chunk(chunk)) {
                return;
            }
        }
        let spec = match plan.nodes[*entry].role {
            crate::config::Role::Source(i) => plan.spec.sources[i].file().clone(),
            _ => barrier::staged_spec(name),
        };
        for (i, file) in files.iter().enumerate() {
            index += 1;
            if !work.mine(index - 1) {
                continue;
            }
            let key = Ledger::key(work.pass, name, i);
            let id = UnitId::new(work.pass, name, file);
            let spool = ledger.finished(&key, &id);
            let unit =
                ledger.enabled().then(|| Arc::new(Unit { key, id, replay: spool.is_some() }));
            let going = match spool {
                Some(path) => replay_unit(&path, &unit, &mut emit),
                None => {
                    let mut going = true;
                    source::read_file(*entry, &spec, *format, file, limits, &mut |c| {
                        going = emit(&unit, Work::Chunk(c));
                        going
                    });
                    going
                }
            };
            if !going || !emit(&unit, Work::UnitEnd(*entry)) {
                return;
            }
        }
    }
}

/// Hands a finished unit's recorded outputs to the workers, in order.
fn replay_unit(
    path: &Path,
    unit: &Option<Arc<Unit>>,
    emit: &mut impl FnMut(&Option<Arc<Unit>>, Work) -> bool,
) -> bool {
    let mut reader = match SpoolReader::open(path) {
        Ok(r) => r,
        Err(e) => return emit(unit, Work::Broken(format!("{e:#}"))),
    };
    if let Err(e) = reader.id() {
        return emit(unit, Work::Broken(format!("{e:#}")));
    }
    loop {
        match reader.next_raw() {
            Ok(Some(record)) => {
                if !emit(unit, Work::Spooled(record)) {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(e) => return emit(unit, Work::Broken(format!("{e:#}"))),
        }
    }
}
