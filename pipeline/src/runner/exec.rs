//! What a worker does with one chunk: parse it, run it through every node it reaches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use tokenmill_dedup::lines::{Boilerplate, LineUnit};

use super::barrier::{BarrierSpec, Decision, Keys, ORDINAL, Replay};
use super::ledger::Unit;
use crate::config::{Plan, Port, Role};
use crate::document::{Document, Payload, Rejection, text_bytes};
use crate::failure::{Failure, FailureKind};
use crate::source::{self, Chunk, InputError, InputErrorKind};
use crate::sql::SqlFilter;
use crate::stage::{LANGUAGE_FIELD, Operator, Outcome, Transform, Verdict};
use crate::stats::{NodeStats, secs};

/// Everything a worker needs, shared read-only.
pub(super) struct Exec<'a> {
    pub(super) plan: &'a Plan,
    ops: Vec<Option<Operator>>,
    wheres: Vec<Option<SqlFilter>>,
    pub(super) barriers: Vec<Option<BarrierSpec>>,
    /// Number of edges reading each (node, port).
    uses: HashMap<(usize, Port), usize>,
    /// Node id of each sink, in sink order.
    pub(super) sink_nodes: Vec<usize>,
    names: Vec<Arc<str>>,
    /// Whether a node counts the lengths of the documents it receives: sources (before any
    /// filter), tokenize stages and sinks of kept documents (after the last one).
    measured: Vec<bool>,
}

/// What one chunk produced.
pub(super) struct BatchOut {
    pub(super) seq: u64,
    /// The entry node the chunk came from.
    pub(super) entry: usize,
    pub(super) writes: Vec<(usize, Payload)>,
    /// Documents reaching a barrier, with their keys: (barrier node, docs, keys).
    pub(super) collected: Vec<(usize, Vec<Document>, Keys)>,
    pub(super) stats: Vec<NodeStats>,
    pub(super) errors: Vec<InputError>,
    pub(super) raw_bytes: u64,
    pub(super) decoded_bytes: u64,
    pub(super) failure: Option<Failure>,
    /// The work unit the chunk belongs to, and whether it was the unit's end marker.
    pub(super) unit: Option<(Arc<Unit>, bool)>,
    /// This output encoded for the unit's spool (units being processed, not replayed).
    pub(super) spooled: Option<Vec<u8>>,
}

impl BatchOut {
    /// An output with nothing in it.
    pub(super) fn empty(seq: u64, entry: usize) -> Self {
        BatchOut {
            seq,
            entry,
            writes: vec![],
            collected: vec![],
            stats: vec![],
            errors: vec![],
            raw_bytes: 0,
            decoded_bytes: 0,
            failure: None,
            unit: None,
            spooled: None,
        }
    }
}

impl<'a> Exec<'a> {
    /// Each tokenize node's encoder (fast path or reference, and why), by node id.
    pub(super) fn encode_paths(&self) -> Vec<(usize, tokenmill_tokenize::EncodePath)> {
        self.ops
            .iter()
            .enumerate()
            .filter_map(|(node, op)| match op {
                Some(Operator::Tokenize(t)) => Some((node, t.tokenizer().encode_path())),
                _ => None,
            })
            .collect()
    }
    pub(super) fn new(
        plan: &'a Plan,
        ops: Vec<Option<Operator>>,
        wheres: Vec<Option<SqlFilter>>,
        barriers: Vec<Option<BarrierSpec>>,
    ) -> Self {
        let mut uses = HashMap::new();
        for n in &plan.nodes {
            for e in &n.inputs {
                *uses.entry((e.from, e.port)).or_default() += 1;
            }
        }
        let measured = plan
            .nodes
            .iter()
            .zip(&ops)
            .map(|(n, op)| match n.role {
                Role::Source(_) => true,
                Role::Sink(_) => n.inputs.iter().all(|e| e.port == Port::Main),
                Role::Stage(_) => matches!(op, Some(Operator::Tokenize(_))),
            })
            .collect();
        Exec {
            plan,
            ops,
            wheres,
            barriers,
            uses,
            sink_nodes: plan
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| matches!(n.role, Role::Sink(_)))
                .map(|(i, _)| i)
                .collect(),
            names: plan.nodes.iter().map(|n| Arc::from(n.name.as_str())).collect(),
            measured,
        }
    }

    /// Runs one chunk from entry `chunk.source` through every node it reaches.
    pub(super) fn process(
        &self,
        seq: u64,
        chunk: Chunk,
        replays: &HashMap<usize, Replay>,
    ) -> BatchOut {
        let plan = self.plan;
        let entry = chunk.source;
        let is_source = matches!(plan.nodes[entry].role, Role::Source(_));
        let raw_bytes = if is_source { chunk.raw_bytes } else { 0 };
        let decoded_bytes = match (&chunk.body, is_source) {
            (_, false) => 0,
            (source::ChunkBody::JsonLines { data, lines }, true) => {
                (data.len() + lines.len()) as u64
            }
            (source::ChunkBody::Docs(d), true) => text_bytes(d),
        };
        let mut stats = vec![NodeStats::default(); plan.nodes.len()];
        let mut out = BatchOut { raw_bytes, decoded_bytes, ..BatchOut::empty(seq, entry) };
        let mut ports: Ports = HashMap::new();
        let started = Instant::now();
        self.enter(chunk, replays, &mut ports, &mut stats[entry], &mut out);
        stats[entry].compute_secs = secs(started.elapsed());
        for &id in &plan.reachable[entry] {
            let Some(input) = gather(&mut ports, &plan.nodes[id].inputs) else { continue };
            let t0 = Instant::now();
            let done = self.run_node(id, input, &mut ports, &mut stats[id], &mut out);
            stats[id].compute_secs += secs(t0.elapsed());
            if done.is_err() {
                break;
            }
        }
        out.stats = stats;
        out
    }

    /// Puts a chunk into the graph at its entry: a source parses and filters it; a barrier's
    /// staged output is parsed and replayed (its decisions applied).
    fn enter(
        &self,
        chunk: Chunk,
        replays: &HashMap<usize, Replay>,
        ports: &mut Ports,
        st: &mut NodeStats,
        out: &mut BatchOut,
    ) {
        let entry = chunk.source;
        match self.plan.nodes[entry].role {
            Role::Source(s) => {
                let docs = self.read_source(s, chunk, st, &mut out.errors);
                self.offer(ports, entry, Port::Main, Payload::Docs(docs));
            }
            _ => {
                let spec = super::barrier::staged_spec(&self.plan.nodes[entry].name);
                let (mut docs, errors) = source::parse_chunk(&spec, chunk);
                out.errors = errors;
                let verdicts = replay(&mut docs, replays.get(&entry), st);
                let (main, rejected) = self.split(entry, docs, verdicts, st);
                self.offer(ports, entry, Port::Main, main);
                if let Some(r) = rejected {
                    self.offer(ports, entry, Port::Rejected, Payload::Docs(r));
                }
            }
        }
    }

    /// Runs node `id` on its input: a barrier collects it, a stage applies its operator, a sink
    /// gets it to write. `Err` when a stage failed (recorded in `out.failure`).
    fn run_node(
        &self,
        id: usize,
        input: Payload,
        ports: &mut Ports,
        st: &mut NodeStats,
        out: &mut BatchOut,
    ) -> Result<(), ()> {
        st.docs_in = input.len() as u64;
        // `bytes_in`/`bytes_out` are text bytes on every edge, token edges included (the text
        // the tokens came from), so the columns add up from the sources to the sinks.
        st.bytes_in = match &input {
            Payload::Docs(d) => text_bytes(d),
            Payload::Tokens(t) => t.iter().map(|d| d.text_bytes).sum(),
        };
        if let Payload::Docs(d) = &input
            && self.measured[id]
        {
            count_lengths(d, st);
        }
        if let Some(barrier) = &self.barriers[id] {
            // A barrier downstream of the entry collects the batch.
            if let Payload::Docs(mut docs) = input {
                let keys = barrier.keys(&docs);
                forget_derived(&mut docs);
                out.collected.push((id, docs, keys));
            }
        } else if let Some(op) = &self.ops[id] {
            match self.apply(id, op, input, st) {
                Ok((main, rejected)) => {
                    self.offer(ports, id, Port::Main, main);
                    if let Some(r) = rejected {
                        self.offer(ports, id, Port::Rejected, Payload::Docs(r));
                    }
                }
                Err(e) => {
                    let name = &self.plan.nodes[id].name;
                    out.failure =
                        Some(Failure::new(FailureKind::Stage, format!("stage `{name}`: {e:#}")));
                    return Err(());
                }
            }
        } else {
            if let Payload::Tokens(t) = &input {
                st.tokens_out = t.iter().map(|d| d.tokens.len() as u64).sum();
            }
            st.docs_out = st.docs_in;
            st.bytes_out = st.bytes_in;
            let sink = self
                .sink_nodes
                .iter()
                .position(|&n| n == id)
                .unwrap_or_else(|| unreachable!("nodes without operators are sinks"));
            let mut input = input;
            if let Payload::Docs(d) = &mut input {
                forget_derived(d);
            }
            out.writes.push((sink, input));
        }
        Ok(())
    }

    /// Parses a source chunk and applies the source's `where`.
    fn read_source(
        &self,
        s: usize,
        chunk: Chunk,
        st: &mut NodeStats,
        errors: &mut Vec<InputError>,
    ) -> Vec<Document> {
        let file = chunk.file.clone();
        let (mut docs, errs) = source::parse_chunk(self.plan.spec.sources[s].file(), chunk);
        *errors = errs;
        st.docs_in = docs.len() as u64;
        st.bytes_in = text_bytes(&docs);
        count_lengths(&docs, st);
        if let Some(filter) = &self.wheres[s] {
            match filter.evaluate(&docs) {
                Ok(keep) => {
                    let before = docs.len();
                    let mut it = keep.iter();
                    docs.retain(|_| it.next().copied().unwrap_or(false));
                    if before > docs.len() {
                        st.dropped.insert("where".into(), (before - docs.len()) as u64);
                    }
                }
                Err(e) => {
                    let message = format!("{} documents skipped: {e}", docs.len());
                    errors.push(InputError {
                        kind: InputErrorKind::WhereFailed,
                        file,
                        line: None,
                        offset: None,
                        message,
                    });
                    st.docs_in = 0;
                    st.bytes_in = 0;
                    docs.clear();
                }
            }
        }
        st.docs_out = docs.len() as u64;
        st.bytes_out = text_bytes(&docs);
        docs
    }

    /// Makes a port's payload available to its readers (dropped at once if nobody reads it).
    fn offer(&self, ports: &mut Ports, node: usize, port: Port, payload: Payload) {
        if let Some(&n) = self.uses.get(&(node, port)) {
            ports.insert((node, port), (payload, n));
        }
    }

    fn apply(
        &self,
        id: usize,
        op: &Operator,
        input: Payload,
        st: &mut NodeStats,
    ) -> anyhow::Result<(Payload, Option<Vec<Document>>)> {
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
            Operator::Transform(t) => {
                let mut docs = docs;
                let outcomes: Vec<Outcome> = docs.par_iter_mut().map(|d| t.apply(d)).collect();
                if self.plan.nodes[id].kind == "language" {
                    count_languages(&docs, st);
                }
                let verdicts = tally(outcomes, st);
                Ok(self.split(id, docs, verdicts, st))
            }
            Operator::Sql(f) => {
                let verdicts = match f.evaluate(&docs) {
                    Ok(keep) => keep.into_iter().map(|k| (!k).then_some("sql_false")).collect(),
                    Err(e) => anyhow::bail!("`sql` failed on a batch: {e}"),
                };
                Ok(self.split(id, docs, verdicts, st))
            }
            Operator::Quality(q) => {
                let mut docs = docs;
                let verdicts = q.run(&mut docs)?;
                Ok(self.split(id, docs, verdicts, st))
            }
            Operator::Scorer(s) => {
                let mut docs = docs;
                let verdicts = s.run(&mut docs)?;
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

/// Applies a barrier's decision to the documents it replays (and removes their ordinals):
/// returns which are dropped; rewritten ones are changed in place, counted in `st`.
fn replay(
    docs: &mut [Document],
    replay: Option<&Replay>,
    st: &mut NodeStats,
) -> Vec<Option<&'static str>> {
    let verdicts = match replay.map(|r| &r.decision) {
        Some(Decision::RemoveUnits { boilerplate, unit, .. }) => {
            let outcomes: Vec<Outcome> =
                docs.par_iter_mut().map(|d| remove_boilerplate(boilerplate, *unit, d)).collect();
            tally(outcomes, st)
        }
        Some(Decision::Decontaminate { stage, .. }) => {
            let outcomes: Vec<Outcome> = docs.par_iter_mut().map(|d| stage.apply(d)).collect();
            tally(outcomes, st)
        }
        decision => docs
            .iter()
            .map(|d| {
                let ordinal = d.metadata.get(ORDINAL).and_then(serde_json::Value::as_u64);
                match (ordinal, decision) {
                    (Some(o), Some(Decision::RemoveDocuments { removed, .. }))
                        if removed.is_duplicate(o) =>
                    {
                        Some("duplicate")
                    }
                    (None, _) => Some("lost_ordinal"),
                    _ => None,
                }
            })
            .collect(),
    };
    for d in docs.iter_mut() {
        d.metadata.remove(ORDINAL);
    }
    verdicts
}

/// Removes the boilerplate units of one document. A document left blank is dropped with its
/// text unchanged (so a rejects sink shows what it was); only kept documents are counted.
fn remove_boilerplate(boilerplate: &Boilerplate, unit: LineUnit, doc: &mut Document) -> Outcome {
    let filtered = boilerplate.filter(&doc.text);
    if filtered.removed_units == 0 {
        return Outcome::keep();
    }
    if filtered.text.trim().is_empty() {
        return Outcome::drop("empty_after_line_dedup");
    }
    doc.text = filtered.text;
    let mut out = Outcome::keep();
    out.count("documents_changed", 1);
    out.count(
        match unit {
            LineUnit::Line => "lines_removed",
            LineUnit::Paragraph => "paragraphs_removed",
        },
        filtered.removed_units,
    );
    out.count("bytes_removed", filtered.removed_bytes);
    out
}

/// Adds transform outcomes' counters to `st`; returns their verdicts, in order.
fn tally(outcomes: Vec<Outcome>, st: &mut NodeStats) -> Vec<Option<&'static str>> {
    let mut verdicts = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        for (k, n) in o.counts {
            *st.transformed.entry(k.to_string()).or_default() += n;
        }
        verdicts.push(o.dropped);
    }
    verdicts
}

/// Adds the documents' lengths in characters to the node's histogram.
fn count_lengths(docs: &[Document], st: &mut NodeStats) {
    for d in docs {
        st.count_length(d.text.chars().count());
    }
}

/// Counts the documents by the language a `language` stage wrote into their metadata.
fn count_languages(docs: &[Document], st: &mut NodeStats) {
    for d in docs {
        let lang = d.metadata.get(LANGUAGE_FIELD).and_then(serde_json::Value::as_str);
        let lang = lang.unwrap_or("und");
        match st.languages.get_mut(lang) {
            Some(n) => *n += 1,
            None => {
                st.languages.insert(lang.to_string(), 1);
            }
        }
    }
}

/// Takes a port's payload for one reader: moved to the last one, cloned for the others.
/// What each node's ports hold within one batch: the payload and how many consumers are left.
type Ports = HashMap<(usize, Port), (Payload, usize)>;

/// A node's input: what its input edges offer, concatenated in edge order.
fn gather(ports: &mut Ports, inputs: &[crate::config::Edge]) -> Option<Payload> {
    let mut input: Option<Payload> = None;
    for e in inputs {
        if let Some(p) = take(ports, e.from, e.port) {
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
    input
}

fn take(ports: &mut Ports, node: usize, port: Port) -> Option<Payload> {
    let (payload, left) = ports.get_mut(&(node, port))?;
    *left -= 1;
    if *left == 0 { ports.remove(&(node, port)).map(|(p, _)| p) } else { Some(payload.clone()) }
}

/// Drops what stages derived from the texts (word splits) once documents leave the stages:
/// batches waiting for a writer or held by a barrier then take only their own memory.
fn forget_derived(docs: &mut [Document]) {
    for d in docs {
        d.derived = Default::default();
    }
}
