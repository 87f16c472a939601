//! Spec to [`Plan`]: resolve names, type-check edges, order the DAG, report every error at once.
//!
//! Edges carry one of two kinds of data, documents or tokens. Filtering stages have a second
//! output port, `NAME.rejected`, carrying what they dropped (with the reason), so a rejects sink
//! is an ordinary sink. Nothing runs until the plan compiles without errors.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_128;

use super::diagnostic::Diagnostics;
use super::parse::{Reporter, SpecLocations, parse_partial};
use super::spec::{PipelineSpec, SinkSpec, StageKind, StageSpec};

/// Index of a node in [`Plan::nodes`].
pub type NodeId = usize;

/// What flows on an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Documents with text.
    Docs,
    /// Tokenized documents.
    Tokens,
}

impl EdgeKind {
    fn describe(self) -> &'static str {
        match self {
            EdgeKind::Docs => "documents",
            EdgeKind::Tokens => "tokens",
        }
    }
}

/// Which output of a node an edge leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// What the node keeps or produces.
    Main,
    /// What a filtering stage dropped (`NAME.rejected`).
    Rejected,
}

/// An edge into a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Upstream node.
    pub from: NodeId,
    /// Upstream port.
    pub port: Port,
}

/// What a node is, with its index into the spec's list of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `spec.sources[i]`.
    Source(usize),
    /// `spec.stages[i]`.
    Stage(usize),
    /// `spec.sinks[i]`.
    Sink(usize),
}

impl Role {
    /// `source`, `stage` or `sink`.
    pub fn label(self) -> &'static str {
        match self {
            Role::Source(_) => "source",
            Role::Stage(_) => "stage",
            Role::Sink(_) => "sink",
        }
    }
}

/// One node of the compiled DAG.
#[derive(Debug, Clone)]
pub struct Node {
    /// Name from the config.
    pub name: String,
    /// Kind and spec index.
    pub role: Role,
    /// Its `type` label.
    pub kind: &'static str,
    /// Resolved inputs, in the order written.
    pub inputs: Vec<Edge>,
}

/// A compiled pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The parsed spec.
    pub spec: PipelineSpec,
    /// The pipeline file.
    pub config_path: PathBuf,
    /// Sources, then stages, then sinks.
    pub nodes: Vec<Node>,
    /// For each entry node (a source, or a barrier stage replaying what it collected), the
    /// nodes a batch from it flows through, in topological order; empty for other nodes. A
    /// barrier downstream of an entry is included: it collects the batch.
    pub reachable: Vec<Vec<NodeId>>,
    /// Entry nodes by pass: pass 0 reads the sources; pass k + 1 replays the barriers whose
    /// inputs were complete after pass k.
    pub passes: Vec<Vec<NodeId>>,
    /// xxh3-128 of the normalized spec: equal configs hash equal whatever their comments.
    pub config_hash: String,
    /// Findings that do not stop the run.
    pub warnings: Diagnostics,
}

impl Plan {
    /// The node named `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Nodes that read `from`'s `port`.
    pub fn consumers(&self, from: NodeId, port: Port) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(_, n)| n.inputs.iter().any(|e| e.from == from && e.port == port))
            .map(|(i, _)| i)
    }
}

/// Reads and compiles a pipeline file.
///
/// # Errors
/// Every problem found, each with its line.
pub fn load(path: &Path) -> Result<Plan, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(text) => compile(&text, path),
        Err(e) => {
            let mut rep = Reporter::new(path, "");
            rep.error(None, format!("cannot read the pipeline file: {e}"));
            Err(Diagnostics(rep.out))
        }
    }
}

/// Parses and compiles pipeline text; `file` names it in diagnostics.
///
/// # Errors
/// Every problem found, each with its line.
pub fn compile(text: &str, file: &Path) -> Result<Plan, Diagnostics> {
    let partial = parse_partial(text, file)?;
    let (spec, locs) = (partial.spec, partial.locations);
    let mut rep = Reporter::new(file, text);
    rep.out = partial.diagnostics;
    let nodes = build_nodes(&spec, &locs, &partial.broken, &mut rep);
    if partial.broken.is_empty() {
        check_run(&spec, text, &mut rep);
    }
    check_sinks(&spec, &locs, &mut rep);
    check_sql(&spec, &locs, &mut rep);
    let barriers: Vec<bool> = nodes
        .iter()
        .map(|n| matches!(n.role, Role::Stage(i) if spec.stages[i].is_barrier()))
        .collect();
    let (reachable, passes) = order(&nodes, &barriers, &locs, &mut rep);
    // A node that failed to parse lists no inputs here: the outputs it reads would be reported
    // as going nowhere, falsely.
    if partial.broken.is_empty() {
        check_unused(&nodes, &locs, &mut rep);
    }
    rep.out.sort_by_key(|d| (d.line, d.column));
    if rep.out.iter().any(|d| d.severity == super::Severity::Error) {
        return Err(Diagnostics(rep.out));
    }
    let normalized = serde_json::to_vec(&spec).unwrap_or_default();
    Ok(Plan {
        config_hash: format!("{:032x}", xxh3_128(&normalized)),
        spec,
        config_path: file.to_path_buf(),
        nodes,
        reachable,
        passes,
        warnings: Diagnostics(rep.out),
    })
}

fn location(locs: &SpecLocations, role: Role) -> usize {
    match role {
        Role::Source(i) => locs.sources[i],
        Role::Stage(i) => locs.stages[i],
        Role::Sink(i) => locs.sinks[i],
    }
}

/// What a node produces on its main port, and whether it has a rejected port.
fn output(spec: &PipelineSpec, role: Role) -> Option<(EdgeKind, bool)> {
    match role {
        Role::Source(_) => Some((EdgeKind::Docs, false)),
        Role::Stage(i) => Some(match spec.stages[i].stage_kind() {
            StageKind::Docs | StageKind::Barrier => (EdgeKind::Docs, true),
            StageKind::Tokens => (EdgeKind::Tokens, false),
        }),
        Role::Sink(_) => None,
    }
}

/// What a node accepts.
fn accepts(spec: &PipelineSpec, role: Role) -> EdgeKind {
    match role {
        Role::Sink(i) if matches!(spec.sinks[i], SinkSpec::Megatron(_) | SinkSpec::Llmc(_)) => {
            EdgeKind::Tokens
        }
        _ => EdgeKind::Docs,
    }
}

fn build_nodes(
    spec: &PipelineSpec,
    locs: &SpecLocations,
    broken: &[String],
    rep: &mut Reporter<'_>,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (i, s) in spec.sources.iter().enumerate() {
        nodes.push(Node {
            name: s.name().into(),
            role: Role::Source(i),
            kind: s.kind(),
            inputs: vec![],
        });
    }
    for (i, s) in spec.stages.iter().enumerate() {
        nodes.push(Node {
            name: s.name().into(),
            role: Role::Stage(i),
            kind: s.kind(),
            inputs: vec![],
        });
    }
    for (i, s) in spec.sinks.iter().enumerate() {
        nodes.push(Node {
            name: s.name().into(),
            role: Role::Sink(i),
            kind: s.kind(),
            inputs: vec![],
        });
    }
    let by_name = check_names(&nodes, locs, rep);
    let graph = Graph { spec, nodes: &nodes, by_name: &by_name, broken };
    let mut resolved = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let written: &[String] = match n.role {
            Role::Source(_) => &[],
            Role::Stage(i) => spec.stages[i].inputs(),
            Role::Sink(i) => spec.sinks[i].inputs(),
        };
        let at = rep.key_or_table(location(locs, n.role), "inputs");
        if written.is_empty() && !matches!(n.role, Role::Source(_)) {
            rep.error(
                Some(at),
                format!("`{}` has no inputs: list upstream nodes in `inputs`", n.name),
            );
        }
        let mut edges: Vec<super::Edge> = Vec::new();
        for input in written {
            match graph.edge(n, input) {
                Ok(Some(e)) if edges.contains(&e) => {
                    rep.error(Some(at), format!("`{}`: input `{input}` is listed twice", n.name))
                }
                Ok(Some(e)) => edges.push(e),
                Ok(None) => {}
                Err(message) => rep.error(Some(at), message),
            }
        }
        resolved.push(edges);
    }
    for (n, edges) in nodes.iter_mut().zip(resolved) {
        n.inputs = edges;
    }
    nodes
}

/// Reports invalid and duplicate node names; returns each name's node.
fn check_names<'n>(
    nodes: &'n [Node],
    locs: &SpecLocations,
    rep: &mut Reporter<'_>,
) -> HashMap<&'n str, NodeId> {
    let mut by_name: HashMap<&str, NodeId> = HashMap::new();
    for (id, n) in nodes.iter().enumerate() {
        let at = location(locs, n.role);
        if n.name.is_empty() || n.name.contains(['.', '/', ' ']) {
            rep.error(
                Some(rep.key_or_table(at, "name")),
                format!("invalid node name {:?}: use letters, digits, `_` or `-`", n.name),
            );
        }
        if let Some(&first) = by_name.get(n.name.as_str()) {
            let (line, _) = rep.lines.position(location(locs, nodes[first].role));
            rep.error(
                Some(rep.key_or_table(at, "name")),
                format!("duplicate node name `{}` (first defined on line {line})", n.name),
            );
        } else {
            by_name.insert(&n.name, id);
        }
    }
    by_name
}

/// The nodes by name, for resolving inputs.
struct Graph<'a> {
    spec: &'a PipelineSpec,
    nodes: &'a [Node],
    by_name: &'a HashMap<&'a str, NodeId>,
    /// Nodes that failed to parse: inputs naming them were reported where they are defined.
    broken: &'a [String],
}

impl Graph<'_> {
    /// The edge an input as written (`node` or `node.rejected`) makes into `n`: `Ok(None)` for
    /// a node already reported broken, `Err` with the message when it is not a valid input.
    fn edge(&self, n: &Node, input: &str) -> Result<Option<super::Edge>, String> {
        let (target, port) = match input.split_once('.') {
            Some((t, "rejected")) => (t, Port::Rejected),
            Some((_, p)) => {
                return Err(format!(
                    "`{}`: unknown port `{p}` in input `{input}` (the only port is `rejected`)",
                    n.name
                ));
            }
            None => (input, Port::Main),
        };
        let Some(&from) = self.by_name.get(target) else {
            if self.broken.iter().any(|b| b == target) {
                return Ok(None);
            }
            // Candidates: every other node, those that failed to parse included.
            let names = self.by_name.keys().copied().chain(self.broken.iter().map(String::as_str));
            let hint = closest(target, names.filter(|c| *c != n.name))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(format!("`{}`: unknown input node `{target}`{hint}", n.name));
        };
        let Some((kind, has_rejects)) = output(self.spec, self.nodes[from].role) else {
            return Err(format!("`{}`: input `{target}` is a sink; sinks have no output", n.name));
        };
        if port == Port::Rejected && !has_rejects {
            return Err(format!(
                "`{}`: `{target}` ({}) drops nothing, so it has no `rejected` port",
                n.name, self.nodes[from].kind
            ));
        }
        let kind = if port == Port::Rejected { EdgeKind::Docs } else { kind };
        let want = accepts(self.spec, n.role);
        if kind != want {
            let hint =
                if want == EdgeKind::Tokens { ": put a `tokenize` stage in between" } else { "" };
            return Err(format!(
                "`{}` ({}) takes {}, but `{input}` ({}) gives {}{hint}",
                n.name,
                n.kind,
                want.describe(),
                self.nodes[from].kind,
                kind.describe(),
            ));
        }
        Ok(Some(super::Edge { from, port }))
    }
}

/// Topological order per entry and the passes; reports cycles by printing one.
fn order(
    nodes: &[Node],
    barriers: &[bool],
    locs: &SpecLocations,
    rep: &mut Reporter<'_>,
) -> (Vec<Vec<NodeId>>, Vec<Vec<NodeId>>) {
    let mut indegree: Vec<usize> = nodes.iter().map(|n| n.inputs.len()).collect();
    let mut ready: Vec<NodeId> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    let mut topo = Vec::new();
    while let Some(id) = ready.pop() {
        topo.push(id);
        for (j, n) in nodes.iter().enumerate() {
            let edges = n.inputs.iter().filter(|e| e.from == id).count();
            if edges > 0 {
                indegree[j] -= edges;
                if indegree[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if topo.len() < nodes.len() {
        let cycle = find_cycle(nodes, &indegree);
        let names: Vec<&str> = cycle.iter().map(|&i| nodes[i].name.as_str()).collect();
        let at = location(locs, nodes[cycle[0]].role);
        rep.error(Some(at), format!("cycle in the pipeline: {}", names.join(" -> ")));
        return (vec![], vec![]);
    }
    // Keep file order among independent nodes so execution order is stable and readable: a
    // node's depth (longest path from a source) first, then its index. Barrier depth counts
    // the barriers on the way: a barrier replays in pass (its barrier depth + 1).
    let mut depth = vec![0usize; nodes.len()];
    let mut barrier_depth = vec![0usize; nodes.len()];
    for &n in &topo {
        depth[n] = nodes[n].inputs.iter().map(|e| depth[e.from] + 1).max().unwrap_or(0);
        barrier_depth[n] = nodes[n]
            .inputs
            .iter()
            .map(|e| barrier_depth[e.from] + usize::from(barriers[e.from]))
            .max()
            .unwrap_or(0);
    }
    topo.sort_by_key(|&id| (depth[id], id));
    let entries: Vec<NodeId> = (0..nodes.len())
        .filter(|&i| matches!(nodes[i].role, Role::Source(_)) || barriers[i])
        .collect();
    let mut reachable = vec![Vec::new(); nodes.len()];
    for &entry in &entries {
        let mut reach = vec![false; nodes.len()];
        reach[entry] = true;
        for &id in &topo {
            // A batch stops at a barrier (which collects it), except at the entry itself.
            if id != entry
                && nodes[id]
                    .inputs
                    .iter()
                    .any(|e| reach[e.from] && !(barriers[e.from] && e.from != entry))
            {
                reach[id] = true;
                reachable[entry].push(id);
            }
        }
    }
    let mut passes: Vec<Vec<NodeId>> =
        vec![entries.iter().copied().filter(|&e| !barriers[e]).collect()];
    for &e in entries.iter().filter(|&&e| barriers[e]) {
        let pass = barrier_depth[e] + 1;
        if passes.len() <= pass {
            passes.resize(pass + 1, Vec::new());
        }
        passes[pass].push(e);
    }
    (reachable, passes)
}

fn find_cycle(nodes: &[Node], indegree: &[usize]) -> Vec<NodeId> {
    // Every node left with indegree > 0 has an input also left: walk inputs until one repeats.
    let Some(start) = (0..nodes.len()).find(|&i| indegree[i] > 0) else { return vec![] };
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let Some(next) = nodes[cur].inputs.iter().map(|e| e.from).find(|&f| indegree[f] > 0) else {
            return path;
        };
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<NodeId> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return cycle;
        }
        path.push(next);
        cur = next;
    }
}

fn check_run(spec: &PipelineSpec, text: &str, rep: &mut Reporter<'_>) {
    let run_at = text.find("[run]");
    let at = |rep: &Reporter<'_>, key: &str| run_at.map(|r| rep.key_or_table(r, key));
    if spec.run.batch_docs == 0 {
        rep.error(at(rep, "batch_docs"), "`run.batch_docs` must be at least 1".into());
    }
    if spec.run.batch_bytes.0 == 0 {
        rep.error(at(rep, "batch_bytes"), "`run.batch_bytes` must be at least 1".into());
    }
    if spec.sinks.is_empty() {
        rep.error(None, "the pipeline has no `[[sink]]`: nothing would be written".into());
    }
    if spec.sources.is_empty() {
        rep.error(None, "the pipeline has no `[[source]]`: nothing would be read".into());
    }
}

fn check_sinks(spec: &PipelineSpec, locs: &SpecLocations, rep: &mut Reporter<'_>) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (i, s) in spec.sinks.iter().enumerate() {
        let at = rep.key_or_table(locs.sinks[i], "path");
        let key = normalize_path(s.path());
        if s.path().trim().is_empty() {
            rep.error(Some(at), format!("sink `{}`: `path` is empty", s.name()));
        } else if let Some(other) = seen.get(&key) {
            rep.error(
                Some(at),
                format!(
                    "sinks `{other}` and `{}` both write to `{}`: give each its own path",
                    s.name(),
                    s.path()
                ),
            );
        } else {
            seen.insert(key, s.name());
        }
        if let SinkSpec::Megatron(m) = s
            && (m.shard_max_tokens == Some(0) || m.shard_max_bytes.is_some_and(|b| b.0 == 0))
        {
            rep.error(Some(at), format!("sink `{}`: shard size limits must be positive", s.name()));
        }
    }
    for (i, s) in spec.sources.iter().enumerate() {
        if s.file().paths.is_empty() {
            let at = rep.key_or_table(locs.sources[i], "paths");
            rep.error(Some(at), format!("source `{}`: `paths` is empty", s.name()));
        }
        if let Some(records) = &s.file().records {
            let at = Some(rep.key_or_table(locs.sources[i], "records"));
            if let Some(problem) = records_problem(s, records) {
                rep.error(at, format!("source `{}`: `records` {problem}", s.name()));
            }
        }
    }
}

/// What is wrong with a source's `records` list, if anything.
fn records_problem(source: &super::spec::SourceSpec, records: &[String]) -> Option<String> {
    const KINDS: [&str; 7] =
        ["response", "resource", "conversion", "request", "metadata", "warcinfo", "revisit"];
    if !matches!(source.kind(), "warc" | "wet") {
        return Some(format!("applies to `warc` and `wet` sources, not `{}`", source.kind()));
    }
    if records.is_empty() {
        return Some("is empty: list the WARC record types to read, e.g. [\"response\"]".into());
    }
    records
        .iter()
        .find(|r| !KINDS.contains(&r.to_ascii_lowercase().as_str()))
        .map(|r| format!("has an unknown record type `{r}` (known: {})", KINDS.join(", ")))
}

fn check_sql(spec: &PipelineSpec, locs: &SpecLocations, rep: &mut Reporter<'_>) {
    for (i, s) in spec.stages.iter().enumerate() {
        if let StageSpec::Where(w) = s
            && let Err(e) = crate::sql::check_syntax(&w.sql)
        {
            let at = rep.key_or_table(locs.stages[i], "sql");
            rep.error(Some(at), format!("stage `{}`: invalid `sql` expression: {e}", w.name));
        }
    }
    for (i, s) in spec.sources.iter().enumerate() {
        if let Some(sql) = &s.file().where_sql
            && let Err(e) = crate::sql::check_syntax(sql)
        {
            let at = rep.key_or_table(locs.sources[i], "where");
            rep.error(Some(at), format!("source `{}`: invalid `where` expression: {e}", s.name()));
        }
    }
}

fn check_unused(nodes: &[Node], locs: &SpecLocations, rep: &mut Reporter<'_>) {
    for (id, n) in nodes.iter().enumerate() {
        if matches!(n.role, Role::Sink(_)) {
            continue;
        }
        let used =
            nodes.iter().any(|m| m.inputs.iter().any(|e| e.from == id && e.port == Port::Main));
        if !used {
            rep.warning(
                Some(location(locs, n.role)),
                format!("the output of `{}` goes nowhere: no node lists it in `inputs`", n.name),
            );
        }
    }
}

fn normalize_path(p: &str) -> String {
    let p = p.trim().trim_end_matches('/');
    let p = p.strip_prefix("file://").unwrap_or(p);
    let p = p.strip_prefix("./").unwrap_or(p);
    p.to_string()
}

pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates.map(|c| (edit_distance(name, c), c)).filter(|(d, _)| *d <= 2).min().map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
