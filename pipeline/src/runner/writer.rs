//! The writer: restores order, counts, feeds sinks and barriers, reports progress, releases
//! permits. It owns every output, so a failure or an interrupt can clean them all up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};

use super::barrier::{Collector, Replay};
use super::exec::{BatchOut, Exec};
use super::ledger::{Ledger, SpoolWriter};
use crate::build::SourceInputs;
use crate::config::{OnError, Plan};
use crate::failure::{Failure, FailureKind};
use crate::progress::{Docs, Progress};
use crate::sink::Sink;
use crate::source::InputErrorKind;
use crate::stats::{NodeStats, RunStats, RunStatus, UnitCounts};

/// Errors of one kind logged in full before the rest are only counted.
const LOGGED_PER_KIND: u64 = 20;

pub(super) struct Writer {
    sinks: Vec<Option<Box<dyn Sink>>>,
    sink_ids: Vec<usize>,
    /// Nodes `..source_count` are the sources.
    source_count: usize,
    collectors: HashMap<usize, Collector>,
    stats: Vec<NodeStats>,
    on_error: OnError,
    progress: Progress,
    cancel: Arc<AtomicBool>,
    failure: Option<Failure>,
    bytes_read: u64,
    bytes_decoded: u64,
    logged: HashMap<InputErrorKind, u64>,
    ledger: Ledger,
    /// The unit being recorded: its key, its spool, and whether it may not be kept (an input
    /// that could not be read is retried by the next run rather than remembered as done).
    spool: Option<(String, SpoolWriter, bool)>,
    units: UnitCounts,
    /// Inputs that could not be read (network, permissions): not recorded as done.
    retry: Vec<String>,
}

impl Writer {
    pub(super) fn new(
        plan: &Plan,
        exec: &Exec<'_>,
        sinks: Vec<Option<Box<dyn Sink>>>,
        progress: Progress,
        cancel: Arc<AtomicBool>,
        ledger: Ledger,
        collectors: HashMap<usize, Collector>,
    ) -> anyhow::Result<Self> {
        let mut stats: Vec<NodeStats> = plan
            .nodes
            .iter()
            .map(|n| NodeStats {
                name: n.name.clone(),
                kind: n.kind.into(),
                role: n.role.label().into(),
                ..NodeStats::default()
            })
            .collect();
        // A tokenize node reports which encoder ran its tokenizer (fast path or reference, and why).
        for (node, path) in exec.encode_paths() {
            stats[node].report = Some(
                serde_json::json!({"encode_path": path.name(), "encode_detail": path.detail()}),
            );
        }
        Ok(Self {
            sinks,
            sink_ids: exec.sink_nodes.clone(),
            source_count: plan.spec.sources.len(),
            collectors,
            stats,
            on_error: plan.spec.run.on_error,
            progress,
            cancel,
            failure: None,
            bytes_read: 0,
            bytes_decoded: 0,
            logged: HashMap::new(),
            ledger,
            spool: None,
            units: UnitCounts::default(),
            retry: Vec::new(),
        })
    }

    /// Whether the run is stopping (failure or interrupt).
    pub(super) fn stopped(&self) -> bool {
        self.failure.is_some() || self.cancel.load(Ordering::Relaxed)
    }

    pub(super) fn drain(&mut self, results: &Receiver<BatchOut>, permits: &Sender<()>) {
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

    pub(super) fn fail(&mut self, failure: Failure) {
        if self.failure.is_none() {
            tracing::error!(kind = failure.kind.label(), "{}", failure.message);
            self.failure = Some(failure);
        }
        self.cancel.store(true, Ordering::Relaxed);
    }

    fn apply(&mut self, mut out: BatchOut) {
        if self.failure.is_some() {
            return;
        }
        self.bytes_read += out.raw_bytes;
        self.bytes_decoded += out.decoded_bytes;
        for (node, st) in out.stats.iter().enumerate() {
            self.stats[node].merge(st);
        }
        for e in &out.errors {
            *self.stats[out.entry].input_errors.entry(e.kind.label().to_string()).or_default() += 1;
            let seen = self.logged.entry(e.kind).or_default();
            *seen += 1;
            if *seen <= LOGGED_PER_KIND {
                tracing::warn!(kind = e.kind.label(), "bad input: {e}");
            } else if *seen == LOGGED_PER_KIND + 1 {
                tracing::warn!(
                    kind = e.kind.label(),
                    "more `{}` errors: counted in the summary, not logged",
                    e.kind.label()
                );
            }
        }
        if let Some(f) = out.failure {
            return self.fail(f);
        }
        if self.on_error == OnError::Fail
            && let Some(e) = out.errors.first()
        {
            return self.fail(Failure::new(
                FailureKind::BadInput,
                format!("bad input with on_error = \"fail\": {e}"),
            ));
        }
        for (barrier, docs, sigs) in std::mem::take(&mut out.collected) {
            if let Some(c) = self.collectors.get_mut(&barrier)
                && let Err(e) = c.add(docs, sigs)
            {
                return self
                    .fail(Failure::new(FailureKind::Io, format!("barrier #{barrier}: {e:#}")));
            }
        }
        for (sink, payload) in std::mem::take(&mut out.writes) {
            if let Some(s) = self.sinks[sink].as_mut()
                && let Err(e) = s.write(payload)
            {
                return self.fail(Failure::new(FailureKind::Sink, format!("sink #{sink}: {e:#}")));
            }
        }
        if let Err(e) = self.record(&out) {
            return self.fail(Failure::new(
                FailureKind::Io,
                format!("cannot record finished work in the ledger: {e:#}"),
            ));
        }
        let (docs, tokens) = self.progress_counts();
        self.progress.update(self.bytes_read, docs, tokens);
    }

    /// The counter of input bytes handed to the workers, which the progress bar follows.
    pub(super) fn bytes_dispatched(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.progress.dispatched()
    }

    /// Documents read from the sources and written by the sinks so far, and tokens written.
    fn progress_counts(&self) -> (Docs, u64) {
        let read = self.stats[..self.source_count].iter().map(|n| n.docs_out).sum();
        let (written, tokens) = self.sink_ids.iter().fold((0, 0), |(d, t), &id| {
            (d + self.stats[id].docs_in, t + self.stats[id].tokens_out)
        });
        (Docs { read, written }, tokens)
    }

    /// Appends a processed chunk to its unit's spool; at the unit's end, marks it finished.
    fn record(&mut self, out: &BatchOut) -> anyhow::Result<()> {
        let Some((unit, end)) = &out.unit else { return Ok(()) };
        if unit.replay {
            if *end {
                self.units.reused += 1;
            }
            return Ok(());
        }
        if self.spool.as_ref().is_none_or(|(key, _, _)| *key != unit.key) {
            self.spool = Some((unit.key.clone(), self.ledger.start(&unit.key, &unit.id)?, false));
        }
        let Some((_, spool, transient)) = self.spool.as_mut() else { unreachable!("just set") };
        *transient |= out
            .errors
            .iter()
            .any(|e| matches!(e.kind, InputErrorKind::Unreadable | InputErrorKind::NotFound));
        if let Some(bytes) = &out.spooled {
            spool.append(bytes)?;
        }
        if *end {
            self.units.processed += 1;
            if let Some((key, spool, transient)) = self.spool.take() {
                if transient {
                    tracing::info!(
                        unit = key,
                        "input could not be read: the next run tries this unit again"
                    );
                    self.retry.push(unit.id.url.clone());
                } else {
                    spool.commit()?;
                }
            }
        }
        Ok(())
    }

    /// Closes every barrier's collection without deciding (a job-array task: the decision is a
    /// later step's), by barrier node.
    pub(super) fn close_collectors(
        &mut self,
    ) -> anyhow::Result<BTreeMap<usize, super::barrier::Staged>> {
        std::mem::take(&mut self.collectors).into_iter().map(|(b, c)| Ok((b, c.close()?))).collect()
    }

    /// Closes a barrier's collection and runs its global phases.
    pub(super) fn close_barrier(&mut self, node: usize, exec: &Exec<'_>) -> anyhow::Result<Replay> {
        let collector =
            self.collectors.remove(&node).ok_or_else(|| anyhow::anyhow!("not a barrier"))?;
        let Some(spec) = &exec.barriers[node] else { anyhow::bail!("not a barrier") };
        tracing::info!(node = exec.plan.nodes[node].name, "deduplicating collected documents");
        let replay = collector.finish(spec)?;
        replay.log(&exec.plan.nodes[node].name);
        self.stats[node].report = replay.report();
        Ok(replay)
    }

    pub(super) fn finish(
        mut self,
        plan: &Plan,
        threads: usize,
        inputs: &[SourceInputs],
    ) -> RunStats {
        let interrupted = self.cancel.load(Ordering::Relaxed) && self.failure.is_none();
        let mut reports = BTreeMap::new();
        let sink_ids = self.sink_ids.clone();
        for (k, slot) in self.sinks.iter_mut().enumerate() {
            let Some(sink) = slot.take() else { continue };
            let name = plan.nodes[sink_ids[k]].name.clone();
            if interrupted || self.failure.is_some() {
                sink.abort();
                // What reached the sink was discarded with its incomplete files: counted as
                // dropped, not as written.
                let st = &mut self.stats[sink_ids[k]];
                let reason =
                    if interrupted { "not_written_interrupted" } else { "not_written_failed" };
                if st.docs_out > 0 {
                    st.dropped.insert(reason.into(), st.docs_out);
                }
                (st.docs_out, st.bytes_out, st.tokens_out) = (0, 0, 0);
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
                    self.failure.get_or_insert(Failure::new(FailureKind::Sink, msg));
                }
            }
        }
        for (s, i) in inputs.iter().enumerate() {
            self.stats[s].files = files_of(i);
        }
        let written = reports.values().map(|r| r.documents).sum();
        let tokens = reports.values().map(|r| r.tokens).sum();
        let read = self.progress_counts().0.read;
        self.progress.finish(self.bytes_read, Docs { read, written }, tokens);
        let status = match (self.failure, interrupted) {
            (Some(f), _) => RunStatus::failed(f),
            (None, true) => RunStatus::Interrupted,
            (None, false) => RunStatus::Complete,
        };
        RunStats {
            status,
            tool_version: crate::LONG_VERSION.into(),
            config_hash: plan.config_hash.clone(),
            threads,
            elapsed_secs: 0.0,
            input_files: inputs.iter().map(files_of).sum(),
            input_bytes: self.bytes_read,
            decoded_bytes: self.bytes_decoded,
            peak_rss_bytes: crate::stats::peak_rss_bytes(),
            nodes: self.stats,
            sinks: reports,
            units: self.units,
            seen_inputs_skipped: 0,
            inputs_to_retry: self.retry,
            steps: Vec::new(),
        }
    }
}

/// The files of a source: a file cut into several units counts once (by its first unit).
pub(super) fn files_of(inputs: &SourceInputs) -> u64 {
    inputs.files.iter().filter(|f| is_first_unit(f)).count() as u64
}

/// Whether a unit is the whole file or its first part.
pub(super) fn is_first_unit(f: &crate::storage::InputFile) -> bool {
    match f.span {
        None => true,
        Some(crate::storage::Span::Bytes { start, .. }) => start == 0,
        Some(crate::storage::Span::RowGroups { start, .. }) => start == 0,
    }
}
