//! The runner: one reader thread, a pool of workers, one writer.
//!
//! ```text
//!  reader ──chunks──► workers (rayon pool) ──results──► writer (restores order) ──► sinks
//!     ▲                                                    │
//!     └──────────────── permits (window of W chunks) ◄─────┘
//! ```
//! The reader cuts inputs into chunks (capped by documents and bytes) and numbers them. Workers
//! run a chunk through every stage it reaches; documents within a batch are processed in
//! parallel on the rayon pool. The writer applies results strictly in sequence order, so the
//! output is byte-identical at any thread count. The reader needs a permit per chunk and the
//! writer returns it once the chunk is written, so at most W chunks are in memory whatever the
//! input size: memory is bounded by `threads`, `batch_docs` and `batch_bytes`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, bounded, unbounded};
use rayon::prelude::*;

use crate::build::{self, SourceInputs};
use crate::config::{OnError, Plan, Port, Role};
use crate::document::{Document, Payload, Rejection, text_bytes};
use crate::progress::{Progress, ProgressMode};
use crate::sink::Sink;
use crate::source::sql::SqlFilter;
use crate::source::{self, Chunk, ChunkLimits, InputError, InputErrorKind};
use crate::stage::{Operator, Verdict};
use crate::stats::{NodeStats, RunStats, RunStatus, secs};

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

/// Everything a worker needs, shared read-only.
struct Exec<'a> {
    plan: &'a Plan,
    ops: Vec<Option<Operator>>,
    wheres: Vec<Option<SqlFilter>>,
    /// Number of edges reading each (node, port).
    uses: HashMap<(usize, Port), usize>,
    /// Node id of each sink, in sink order.
    sink_nodes: Vec<usize>,
    names: Vec<Arc<str>>,
}

/// What one chunk produced.
struct BatchOut {
    seq: u64,
    source: usize,
    writes: Vec<(usize, Payload)>,
    stats: Vec<NodeStats>,
    errors: Vec<InputError>,
    raw_bytes: u64,
    decoded_bytes: u64,
    failure: Option<String>,
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
    std::fs::create_dir_all(&plan.spec.run.work_dir)
        .map_err(|e| anyhow::anyhow!("cannot create work dir {}: {e}", plan.spec.run.work_dir))?;
    let sinks = build::sinks(plan, &ops, &inputs)?;
    let mut uses = HashMap::new();
    for n in &plan.nodes {
        for e in &n.inputs {
            *uses.entry((e.from, e.port)).or_default() += 1;
        }
    }
    let exec = Exec {
        plan,
        ops,
        wheres,
        uses,
        sink_nodes: plan.nodes.iter().enumerate().filter(|(_, n)| matches!(n.role, Role::Sink(_))).map(|(i, _)| i).collect(),
        names: plan.nodes.iter().map(|n| Arc::from(n.name.as_str())).collect(),
    };
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("tokenmill-worker-{i}")).build()?;
    let total_bytes: u64 = inputs.iter().flat_map(|s| s.files.iter()).map(|f| f.size).sum();
    let mut writer = Writer::new(plan, sinks, Progress::new(opts.progress, total_bytes), opts.cancel.clone());

    let window = 2 * threads + 2;
    let (permit_tx, permit_rx) = bounded::<()>(window);
    for _ in 0..window {
        let _ = permit_tx.send(());
    }
    let (work_tx, work_rx) = bounded::<(u64, Chunk)>(window);
    let (result_tx, result_rx) = unbounded::<BatchOut>();
    std::thread::scope(|scope| {
        let cancel = opts.cancel.clone();
        let reader_inputs = &inputs;
        scope.spawn(move || read_all(plan, reader_inputs, &permit_rx, work_tx, &cancel));
        for _ in 0..threads {
            let (rx, tx, exec, pool) = (work_rx.clone(), result_tx.clone(), &exec, &pool);
            scope.spawn(move || {
                for (seq, chunk) in rx.iter() {
                    let out = pool.install(|| exec.process(seq, chunk));
                    if tx.send(out).is_err() {
                        break;
                    }
                }
            });
        }
        drop(result_tx);
        writer.drain(&result_rx, &permit_tx);
    });
    let mut stats = writer.finish(plan, threads, &inputs);
    stats.elapsed_secs = secs(started.elapsed());
    let stats_path = opts.stats_path.clone().unwrap_or_else(|| Path::new(&plan.spec.run.work_dir).join("stats.json"));
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

/// The reader thread: every file of every source, in order, cut into numbered chunks.
fn read_all(
    plan: &Plan,
    inputs: &[SourceInputs],
    permits: &crossbeam_channel::Receiver<()>,
    work: crossbeam_channel::Sender<(u64, Chunk)>,
    cancel: &AtomicBool,
) {
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
        let ok = work.send((seq, chunk)).is_ok();
        seq += 1;
        ok
    };
    for (s, source_inputs) in inputs.iter().enumerate() {
        let spec = &plan.spec.sources[s];
        if !source_inputs.errors.is_empty() {
            let chunk = Chunk {
                source: s,
                file: spec.name().into(),
                body: source::ChunkBody::Docs(vec![]),
                errors: source_inputs.errors.clone(),
                raw_bytes: 0,
            };
            if !emit(chunk) {
                return;
            }
        }
        for file in &source_inputs.files {
            let mut going = true;
            source::read_file(s, spec.file(), build::is_parquet(spec), file, limits, &mut |c| {
                going = emit(c);
                going
            });
            if !going {
                return;
            }
        }
    }
}

impl Exec<'_> {
    /// Runs one chunk through every node its source reaches.
    fn process(&self, seq: u64, chunk: Chunk) -> BatchOut {
        let plan = self.plan;
        let s = chunk.source;
        let raw_bytes = chunk.raw_bytes;
        let decoded_bytes = match &chunk.body {
            source::ChunkBody::JsonLines { data, lines } => (data.len() + lines.len()) as u64,
            source::ChunkBody::Docs(d) => text_bytes(d),
        };
        let mut stats = vec![NodeStats::default(); plan.nodes.len()];
        let started = Instant::now();
        let file = chunk.file.clone();
        let (mut docs, mut errors) = source::parse_chunk(plan.spec.sources[s].file(), chunk);
        // Sources are the first nodes, so source index == node id.
        stats[s].docs_in = docs.len() as u64;
        stats[s].bytes_in = text_bytes(&docs);
        if let Some(filter) = &self.wheres[s] {
            match filter.evaluate(&docs) {
                Ok(keep) => {
                    let before = docs.len();
                    let mut it = keep.iter();
                    docs.retain(|_| it.next().copied().unwrap_or(false));
                    if before > docs.len() {
                        stats[s].dropped.insert("where".into(), (before - docs.len()) as u64);
                    }
                }
                Err(e) => {
                    errors.push(InputError {
                        kind: InputErrorKind::WhereFailed,
                        file,
                        line: None,
                        offset: None,
                        message: format!("{} documents skipped: {e}", docs.len()),
                    });
                    stats[s].docs_in = 0;
                    stats[s].bytes_in = 0;
                    docs.clear();
                }
            }
        }
        stats[s].docs_out = docs.len() as u64;
        stats[s].bytes_out = text_bytes(&docs);
        stats[s].compute_secs = secs(started.elapsed());
        let mut out = BatchOut { seq, source: s, writes: vec![], stats: vec![], errors, raw_bytes, decoded_bytes, failure: None };
        let mut ports: HashMap<(usize, Port), (Payload, usize)> = HashMap::new();
        self.offer(&mut ports, s, Port::Main, Payload::Docs(docs));
        for &id in &plan.reachable[s] {
            let node = &plan.nodes[id];
            let mut input: Option<Payload> = None;
            for e in &node.inputs {
                if let Some(p) = take(&mut ports, e.from, e.port) {
                    input = Some(match (input, p) {
                        (None, p) => p,
                        (Some(Payload::Docs(mut a)), Payload::Docs(b)) => {
                            a.extend(b);
                            Payload::Docs(a)
                        }
                        (Some(Payload::Tokens(mut a)), Payload::Tokens(b)) => {
                            a.extend(b);
                            Payload::Tokens(a)
                        }
                        (Some(a), _) => a,
                    });
                }
            }
            let Some(input) = input else { continue };
            let st = &mut stats[id];
            st.docs_in = input.len() as u64;
            if let Payload::Docs(d) = &input {
                st.bytes_in = text_bytes(d);
            }
            let t0 = Instant::now();
            match &self.ops[id] {
                Some(op) => match self.apply(id, op, input, st) {
                    Ok((main, rejected)) => {
                        self.offer(&mut ports, id, Port::Main, main);
                        if let Some(r) = rejected {
                            self.offer(&mut ports, id, Port::Rejected, Payload::Docs(r));
                        }
                    }
                    Err(e) => {
                        out.failure = Some(format!("stage `{}`: {e}", node.name));
                        break;
                    }
                },
                None => {
                    if let Payload::Tokens(t) = &input {
                        st.tokens_out = t.iter().map(|d| d.tokens.len() as u64).sum();
                    }
                    st.docs_out = st.docs_in;
                    let sink =
                        self.sink_nodes.iter().position(|&n| n == id).unwrap_or_else(|| unreachable!("nodes without operators are sinks"));
                    out.writes.push((sink, input));
                }
            }
            stats[id].compute_secs += secs(t0.elapsed());
        }
        out.stats = stats;
        out
    }

    /// Makes a port's payload available to its readers (dropped at once if nobody reads it).
    fn offer(&self, ports: &mut HashMap<(usize, Port), (Payload, usize)>, node: usize, port: Port, payload: Payload) {
        if let Some(&n) = self.uses.get(&(node, port)) {
            ports.insert((node, port), (payload, n));
        }
    }

    fn apply(&self, id: usize, op: &Operator, input: Payload, st: &mut NodeStats) -> anyhow::Result<(Payload, Option<Vec<Document>>)> {
        let Payload::Docs(docs) = input else { anyhow::bail!("received tokens") };
        match op {
            Operator::Filter(f) => {
                let verdicts: Vec<Option<&'static str>> = docs
                    .par_iter()
                    .map(|d| match f.check(d) {
                        Verdict::Keep => None,
                        Verdict::Drop(rule) => Some(rule),
                    })
                    .collect();
                Ok(self.split(id, docs, verdicts, st))
            }
            Operator::Quality(q) => {
                let mut docs = docs;
                let verdicts = q.run(&mut docs);
                Ok(self.split(id, docs, verdicts, st))
            }
            Operator::Tokenize(t) => {
                let tokens = t.run(&docs)?;
                st.docs_out = tokens.len() as u64;
                st.bytes_out = st.bytes_in;
                st.tokens_out = tokens.iter().map(|d| d.tokens.len() as u64).sum();
                Ok((Payload::Tokens(tokens), None))
            }
        }
    }
}

impl Exec<'_> {
    /// Splits a batch by per-document verdicts into kept documents and, when something reads
    /// the `rejected` port, rejected ones marked with their reason.
    fn split(
        &self,
        id: usize,
        docs: Vec<Document>,
        verdicts: Vec<Option<&'static str>>,
        st: &mut NodeStats,
    ) -> (Payload, Option<Vec<Document>>) {
        let keep_rejects = self.uses.contains_key(&(id, Port::Rejected));
        let (mut kept, mut rejected) = (Vec::with_capacity(docs.len()), Vec::new());
        for (mut doc, v) in docs.into_iter().zip(verdicts) {
            match v {
                None => kept.push(doc),
                Some(rule) => {
                    *st.dropped.entry(rule.to_string()).or_default() += 1;
                    if keep_rejects {
                        doc.rejected = Some(Rejection { node: self.names[id].clone(), rule });
                        rejected.push(doc);
                    }
                }
            }
        }
        st.docs_out = kept.len() as u64;
        st.bytes_out = text_bytes(&kept);
        (Payload::Docs(kept), keep_rejects.then_some(rejected))
    }
}

/// Takes a port's payload for one reader: moved to the last one, cloned for the others.
fn take(ports: &mut HashMap<(usize, Port), (Payload, usize)>, node: usize, port: Port) -> Option<Payload> {
    let (payload, left) = ports.get_mut(&(node, port))?;
    *left -= 1;
    if *left == 0 { ports.remove(&(node, port)).map(|(p, _)| p) } else { Some(payload.clone()) }
}

/// The writer: restores order, counts, writes to sinks, reports progress, releases permits.
struct Writer {
    sinks: Vec<Option<Box<dyn Sink>>>,
    stats: Vec<NodeStats>,
    on_error: OnError,
    progress: Progress,
    cancel: Arc<AtomicBool>,
    failure: Option<String>,
    bytes_read: u64,
    bytes_decoded: u64,
    logged: HashMap<InputErrorKind, u64>,
    sink_ids: Vec<usize>,
}

/// Errors of one kind logged in full before the rest are only counted.
const LOGGED_PER_KIND: u64 = 20;

impl Writer {
    fn new(plan: &Plan, sinks: Vec<Box<dyn Sink>>, progress: Progress, cancel: Arc<AtomicBool>) -> Self {
        let stats = plan.nodes.iter().map(|n| NodeStats { name: n.name.clone(), kind: n.kind.into(), ..NodeStats::default() }).collect();
        let sink_ids = plan.nodes.iter().enumerate().filter(|(_, n)| matches!(n.role, Role::Sink(_))).map(|(i, _)| i).collect();
        Self {
            sinks: sinks.into_iter().map(Some).collect(),
            stats,
            on_error: plan.spec.run.on_error,
            progress,
            cancel,
            failure: None,
            bytes_read: 0,
            bytes_decoded: 0,
            logged: HashMap::new(),
            sink_ids,
        }
    }

    fn drain(&mut self, results: &crossbeam_channel::Receiver<BatchOut>, permits: &crossbeam_channel::Sender<()>) {
        let mut pending: BTreeMap<u64, BatchOut> = BTreeMap::new();
        let mut next = 0u64;
        for out in results.iter() {
            pending.insert(out.seq, out);
            while let Some(out) = pending.remove(&next) {
                next += 1;
                self.apply(out);
                let _ = permits.try_send(());
            }
        }
    }

    fn fail(&mut self, message: String) {
        if self.failure.is_none() {
            tracing::error!("{message}");
            self.failure = Some(message);
        }
        self.cancel.store(true, Ordering::Relaxed);
    }

    fn apply(&mut self, out: BatchOut) {
        if self.failure.is_some() {
            return;
        }
        self.bytes_read += out.raw_bytes;
        self.bytes_decoded += out.decoded_bytes;
        for (node, st) in out.stats.iter().enumerate() {
            self.stats[node].merge(st);
        }
        for e in &out.errors {
            let seen = self.logged.entry(e.kind).or_default();
            *seen += 1;
            if *seen <= LOGGED_PER_KIND {
                tracing::warn!(kind = e.kind.label(), "bad input: {e}");
            } else if *seen == LOGGED_PER_KIND + 1 {
                tracing::warn!(kind = e.kind.label(), "more `{}` errors: counted in the summary, not logged", e.kind.label());
            }
        }
        for e in &out.errors {
            *self.stats[out.source].input_errors.entry(e.kind.label().to_string()).or_default() += 1;
        }
        if let Some(f) = out.failure {
            return self.fail(f);
        }
        if self.on_error == OnError::Fail
            && let Some(e) = out.errors.first()
        {
            return self.fail(format!("bad input with on_error = \"fail\": {e}"));
        }
        for (sink, payload) in out.writes {
            if let Some(s) = self.sinks[sink].as_mut()
                && let Err(e) = s.write(payload)
            {
                return self.fail(format!("sink #{sink}: {e:#}"));
            }
        }
        let (docs, tokens) = self.sink_ids.iter().fold((0, 0), |(d, t), &id| (d + self.stats[id].docs_in, t + self.stats[id].tokens_out));
        self.progress.update(self.bytes_read, docs, tokens);
    }

    fn finish(mut self, plan: &Plan, threads: usize, inputs: &[SourceInputs]) -> RunStats {
        let interrupted = self.cancel.load(Ordering::Relaxed) && self.failure.is_none();
        let mut reports = BTreeMap::new();
        let sink_ids = self.sink_ids.clone();
        for (k, slot) in self.sinks.iter_mut().enumerate() {
            let Some(sink) = slot.take() else { continue };
            let name = plan.nodes[sink_ids[k]].name.clone();
            if interrupted || self.failure.is_some() {
                sink.abort();
                continue;
            }
            match sink.finish() {
                Ok(r) => {
                    self.stats[sink_ids[k]].files = r.files.len() as u64;
                    reports.insert(name, r);
                }
                Err(e) => {
                    let msg = format!("sink `{name}`: {e:#}");
                    tracing::error!("{msg}");
                    self.failure.get_or_insert(msg);
                }
            }
        }
        for (s, i) in inputs.iter().enumerate() {
            self.stats[s].files = i.files.len() as u64;
        }
        let docs = reports.values().map(|r| r.documents).sum();
        let tokens = reports.values().map(|r| r.tokens).sum();
        self.progress.finish(self.bytes_read, docs, tokens);
        let status = match (self.failure, interrupted) {
            (Some(f), _) => RunStatus::Failed(f),
            (None, true) => RunStatus::Interrupted,
            (None, false) => RunStatus::Complete,
        };
        RunStats {
            status,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            config_hash: plan.config_hash.clone(),
            threads,
            elapsed_secs: 0.0,
            input_files: inputs.iter().map(|s| s.files.len() as u64).sum(),
            input_bytes: self.bytes_read,
            decoded_bytes: self.bytes_decoded,
            peak_rss_bytes: crate::stats::peak_rss_bytes(),
            nodes: self.stats,
            sinks: reports,
        }
    }
}
