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
mod exec;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};

use crate::build::{self, SourceInputs};
use crate::config::Plan;
use crate::progress::{Progress, ProgressMode};
use crate::source::{self, Chunk, ChunkLimits};
use crate::stats::{RunStats, secs};
use crate::storage::{InputFile, Place};
use exec::{BatchOut, Exec};
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
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { threads: default_threads(), progress: ProgressMode::Off, cancel: Arc::default(), stats_path: None }
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
    let started = Instant::now();
    let inputs = build::list_sources(plan);
    let ops = build::operators(plan)?;
    let wheres = build::where_filters(plan)?;
    let barriers = barrier::barriers(plan)?;
    let work_dir = Path::new(&plan.spec.run.work_dir);
    std::fs::create_dir_all(work_dir).map_err(|e| anyhow::anyhow!("cannot create work dir {}: {e}", work_dir.display()))?;
    let sinks = build::sinks(plan, &ops, &inputs)?;
    let exec = Exec::new(plan, ops, wheres, barriers);
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("tokenmill-worker-{i}")).build()?;
    let total_bytes: u64 = inputs.iter().flat_map(|s| s.files.iter()).map(|f| f.size).sum();
    let mut writer = Writer::new(plan, &exec, sinks, Progress::new(opts.progress, total_bytes), opts.cancel.clone())?;
    let mut replays: HashMap<usize, barrier::Replay> = HashMap::new();
    for (pass, entries) in plan.passes.iter().enumerate() {
        if writer.stopped() {
            break;
        }
        let work = PassWork::new(plan, pass, entries, &inputs, &replays);
        run_pass(plan, &exec, &pool, &mut writer, &work, &replays, threads, &opts.cancel);
        if writer.stopped() {
            break;
        }
        // Barriers whose inputs are now complete decide.
        for &b in plan.passes.get(pass + 1).into_iter().flatten() {
            match writer.close_barrier(b, &exec) {
                Ok(r) => {
                    replays.insert(b, r);
                }
                Err(e) => writer.fail(format!("barrier `{}`: {e:#}", plan.nodes[b].name)),
            }
        }
    }
    let mut stats = writer.finish(plan, threads, &inputs);
    stats.elapsed_secs = secs(started.elapsed());
    let stats_path = opts.stats_path.clone().unwrap_or_else(|| work_dir.join("stats.json"));
    write_stats(&stats_path, &stats)?;
    Ok(stats)
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
    items: Vec<(usize, Vec<InputFile>, Vec<source::InputError>, bool)>,
}

impl PassWork {
    fn new(plan: &Plan, pass: usize, entries: &[usize], inputs: &[SourceInputs], replays: &HashMap<usize, barrier::Replay>) -> Self {
        let items = entries
            .iter()
            .map(|&e| {
                if pass == 0 {
                    let parquet = build::is_parquet(&plan.spec.sources[e]);
                    (e, inputs[e].files.clone(), inputs[e].errors.clone(), parquet)
                } else {
                    let files = replays.get(&e).map(|r| r.files.iter().map(|f| local_file(f)).collect()).unwrap_or_default();
                    (e, files, vec![], false)
                }
            })
            .collect();
        Self { items }
    }
}

fn local_file(path: &str) -> InputFile {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    InputFile { url: path.to_string(), size, place: Place::Local(path.into()) }
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
) {
    let window = 2 * threads + 2;
    let (permit_tx, permit_rx) = bounded::<()>(window);
    for _ in 0..window {
        let _ = permit_tx.send(());
    }
    let (work_tx, work_rx) = bounded::<(u64, Chunk)>(window);
    let (result_tx, result_rx) = unbounded::<BatchOut>();
    std::thread::scope(|scope| {
        let cancel = cancel.clone();
        scope.spawn(move || read_pass(plan, work, &permit_rx, work_tx, &cancel));
        for _ in 0..threads {
            let (rx, tx) = (work_rx.clone(), result_tx.clone());
            scope.spawn(move || {
                for (seq, chunk) in rx.iter() {
                    let out = pool.install(|| exec.process(seq, chunk, replays));
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

/// The reader thread of a pass: every file of every entry, in order, cut into numbered chunks.
fn read_pass(plan: &Plan, work: &PassWork, permits: &Receiver<()>, out: Sender<(u64, Chunk)>, cancel: &AtomicBool) {
    let run = &plan.spec.run;
    let limits = ChunkLimits {
        docs: run.batch_docs,
        bytes: usize::try_from(run.batch_bytes.0).unwrap_or(usize::MAX),
        max_record: usize::try_from(run.max_doc_bytes.0).unwrap_or(usize::MAX),
    };
    let mut seq = 0u64;
    let mut emit = |chunk: Chunk| -> bool {
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
        let ok = out.send((seq, chunk)).is_ok();
        seq += 1;
        ok
    };
    for (entry, files, errors, parquet) in &work.items {
        let name = &plan.nodes[*entry].name;
        if !errors.is_empty() {
            let chunk = Chunk {
                source: *entry,
                file: name.as_str().into(),
                body: source::ChunkBody::Docs(vec![]),
                errors: errors.clone(),
                raw_bytes: 0,
            };
            if !emit(chunk) {
                return;
            }
        }
        let spec = match plan.nodes[*entry].role {
            crate::config::Role::Source(i) => plan.spec.sources[i].file().clone(),
            _ => barrier::staged_spec(name),
        };
        for file in files {
            let mut going = true;
            source::read_file(*entry, &spec, *parquet, file, limits, &mut |c| {
                going = emit(c);
                going
            });
            if !going {
                return;
            }
        }
    }
}
