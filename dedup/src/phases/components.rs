//! Connected components out of core, for phase 3 when the union-find would not fit the
//! memory budget.
//!
//! Every document is labelled with the smallest id of its component by min-label
//! propagation with pointer jumping over sorted files:
//!
//! 1. The edges, both directions, are sorted and deduplicated into an adjacency file
//!    `(node, neighbor)`. The first labels are `L(v) = min(v, smallest neighbor)`.
//! 2. A round joins the adjacency with the labels on the source node and lowers every
//!    target's label to its neighbors' smallest (`L'(v) = min(L(v), L(u))` over edges
//!    `u - v`), then jumps once (`L''(v) = L'(L'(v))`). Each join is an external sort and a
//!    merge of two sorted files, so memory stays within the budget whatever the graph.
//! 3. Rounds repeat until no label changes. Labels only decrease and always name a member of
//!    the component, so at the fixed point neighbors agree and every label is the
//!    component's smallest id. Jumping keeps the number of rounds near logarithmic in the
//!    diameter on chains; near-duplicate clusters are shallow anyway.
//!
//! The result is the same partition the in-memory union-find finds, in files: `(node,
//! label)` sorted by node and `(label, node)` sorted by label then node, which is the
//! clusters in order of their smallest member with members ascending. Scratch files are
//! [`ArtifactKind::SortRun`] artifacts (checksummed like everything else) in a directory
//! removed on drop.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::external::{ExternalSorter, SortRecord, SortedStream};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, HEADER_LEN};

/// Builds the components of the edges added to it; see the module docs.
#[derive(Debug)]
pub(crate) struct ComponentsBuilder {
    scratch: tempfile::TempDir,
    budget: usize,
    adjacency: ExternalSorter<(u64, u64)>,
}

/// The labelled nodes (every document with an edge), in scratch files removed on drop.
#[derive(Debug)]
pub(crate) struct Components {
    _scratch: tempfile::TempDir,
    /// `(node, label)` sorted by node.
    pub(crate) by_node: PathBuf,
    /// `(label, node)` sorted by label, then node.
    pub(crate) by_label: PathBuf,
    /// Label propagation rounds run.
    #[cfg_attr(not(test), expect(dead_code, reason = "only tests look at the round count"))]
    pub(crate) rounds: usize,
}

impl ComponentsBuilder {
    /// A builder whose scratch files go under `dir` and whose sorts use `budget` bytes each
    /// (at most two are held at once).
    pub(crate) fn new(dir: &Path, budget: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let scratch = tempfile::Builder::new()
            .prefix("components-")
            .tempdir_in(dir)
            .map_err(Error::io("create scratch directory in", dir))?;
        let adjacency = ExternalSorter::new(scratch.path(), budget)?;
        Ok(ComponentsBuilder { scratch, budget, adjacency })
    }

    /// Adds the undirected edge `a - b` (a self-loop just adds the node).
    pub(crate) fn add_edge(&mut self, a: u64, b: u64) -> Result<()> {
        self.adjacency.push((a, b))?;
        self.adjacency.push((b, a))
    }

    /// Labels every node with its component's smallest id.
    pub(crate) fn finish(self) -> Result<Components> {
        let dir = self.scratch.path().to_path_buf();
        let adjacency = dir.join("adjacency");
        let mut labels = dir.join("labels_0");
        {
            let mut adj = ArtifactWriter::create(&adjacency, ArtifactKind::SortRun, 16, 0)?;
            let mut lab = ArtifactWriter::create(&labels, ArtifactKind::SortRun, 16, 0)?;
            let mut last = None;
            let mut rec = [0u8; 16];
            for edge in self.adjacency.finish()? {
                let (u, v) = edge?;
                if last == Some((u, v)) {
                    continue;
                }
                // Sorted by (node, neighbor): the first record of a node has its smallest neighbor.
                if last.is_none_or(|(lu, _)| lu != u) {
                    write_pair(&mut lab, (u, u.min(v)), &mut rec)?;
                }
                write_pair(&mut adj, (u, v), &mut rec)?;
                last = Some((u, v));
            }
            adj.finish_scratch()?;
            lab.finish_scratch()?;
        }
        let mut rounds = 0;
        loop {
            rounds += 1;
            let lowered = dir.join(format!("lowered_{rounds}"));
            propagate(&dir, self.budget, &adjacency, &labels, &lowered)?;
            let next = dir.join(format!("labels_{rounds}"));
            let changed = jump(&dir, self.budget, &lowered, &labels, &next)?;
            remove(&lowered)?;
            remove(&labels)?;
            labels = next;
            if !changed {
                break;
            }
        }
        remove(&adjacency)?;
        let by_label = dir.join("by_label");
        let mut sorter = ExternalSorter::new(&dir, self.budget)?;
        let mut r = PairReader::open(&labels)?;
        while let Some((node, label)) = r.next()? {
            sorter.push((label, node))?;
        }
        write_stream(&by_label, sorter.finish()?)?;
        Ok(Components { _scratch: self.scratch, by_node: labels, by_label, rounds })
    }
}

/// `out(v) = min(labels(v), labels(u) for every edge u - v)`.
fn propagate(dir: &Path, budget: usize, adjacency: &Path, labels: &Path, out: &Path) -> Result<()> {
    let mut offers = ExternalSorter::<(u64, u64)>::new(dir, budget)?;
    let mut adj = PairReader::open(adjacency)?;
    let mut lab = PairReader::open(labels)?;
    while let Some((u, v)) = adj.next()? {
        let lu = lab.seek(u)?;
        // L(v) <= v, so only a label below v can lower it.
        if lu < v {
            offers.push((v, lu))?;
        }
    }
    let mut offers = offers.finish()?.peekable();
    let mut lab = PairReader::open(labels)?;
    let mut w = ArtifactWriter::create(out, ArtifactKind::SortRun, 16, 0)?;
    let mut rec = [0u8; 16];
    while let Some((node, mut label)) = lab.next()? {
        while let Some(offer) = offers.next_if(|o| o.as_ref().map_or(true, |&(v, _)| v <= node)) {
            let (v, l) = offer?;
            if v == node {
                label = label.min(l);
            }
        }
        write_pair(&mut w, (node, label), &mut rec)?;
    }
    w.finish_scratch()?;
    Ok(())
}

/// `out(v) = lowered(lowered(v))`; returns whether `out` differs from `before`.
fn jump(dir: &Path, budget: usize, lowered: &Path, before: &Path, out: &Path) -> Result<bool> {
    let mut by_label = ExternalSorter::<(u64, u64)>::new(dir, budget)?;
    let mut r = PairReader::open(lowered)?;
    while let Some((node, label)) = r.next()? {
        by_label.push((label, node))?;
    }
    let mut jumped = ExternalSorter::<(u64, u64)>::new(dir, budget)?;
    let mut lab = PairReader::open(lowered)?;
    for pair in by_label.finish()? {
        let (label, node) = pair?;
        jumped.push((node, lab.seek(label)?))?;
    }
    let mut before = PairReader::open(before)?;
    let mut w = ArtifactWriter::create(out, ArtifactKind::SortRun, 16, 0)?;
    let mut rec = [0u8; 16];
    let mut changed = false;
    for pair in jumped.finish()? {
        let (node, label) = pair?;
        changed |= before.seek(node)? != label;
        write_pair(&mut w, (node, label), &mut rec)?;
    }
    w.finish_scratch()?;
    Ok(changed)
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(Error::io("remove", path))
}

fn write_pair(w: &mut ArtifactWriter, pair: (u64, u64), rec: &mut [u8; 16]) -> Result<()> {
    pair.encode(rec);
    w.write_record(rec)
}

/// Writes a sorted stream of pairs to a scratch file.
fn write_stream(path: &Path, stream: SortedStream<(u64, u64)>) -> Result<()> {
    let mut w = ArtifactWriter::create(path, ArtifactKind::SortRun, 16, 0)?;
    let mut rec = [0u8; 16];
    for pair in stream {
        write_pair(&mut w, pair?, &mut rec)?;
    }
    w.finish_scratch()?;
    Ok(())
}

/// Reads a scratch file of `(u64, u64)` pairs in order.
#[derive(Debug)]
pub(crate) struct PairReader {
    reader: ArtifactReader,
    rec: [u8; 16],
    read: u64,
    found: Option<(u64, u64)>,
}

impl PairReader {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(PairReader {
            reader: ArtifactReader::open(path, ArtifactKind::SortRun, Some(16))?,
            rec: [0; 16],
            read: 0,
            found: None,
        })
    }

    /// The next pair, `None` at the end (after the checksum is verified).
    pub(crate) fn next(&mut self) -> Result<Option<(u64, u64)>> {
        if !self.reader.next_record(&mut self.rec)? {
            return Ok(None);
        }
        self.read += 1;
        Ok(Some(<(u64, u64)>::decode(&self.rec)))
    }

    /// Skips to the pair whose first element is `key` and returns its second; the file is
    /// sorted by first element with each at most once, and keys are asked in ascending
    /// order (the same key again is answered from memory). A missing key means a scratch
    /// file is inconsistent.
    pub(crate) fn seek(&mut self, key: u64) -> Result<u64> {
        if let Some((k, value)) = self.found
            && k == key
        {
            return Ok(value);
        }
        loop {
            match self.next()? {
                Some((k, value)) if k == key => {
                    self.found = Some((k, value));
                    return Ok(value);
                }
                Some((k, _)) if k < key => {}
                _ => {
                    let offset = HEADER_LEN + self.read.saturating_sub(1) * 16;
                    return Err(Error::format(
                        self.reader.path(),
                        offset,
                        format!("node {key} missing from a sorted scratch file"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::unionfind::{CompactIds, UnionFind};

    type Pairs = Vec<(u64, u64)>;

    /// `(by_node, by_label, rounds)` of the components of `edges`.
    fn labels(edges: &[(u64, u64)], budget: usize) -> (Pairs, Pairs, usize) {
        let dir = tempfile::tempdir().unwrap();
        let mut b = ComponentsBuilder::new(dir.path(), budget).unwrap();
        for &(a, c) in edges {
            b.add_edge(a, c).unwrap();
        }
        let comps = b.finish().unwrap();
        let read = |p: &Path| {
            let mut r = PairReader::open(p).unwrap();
            let mut out = Vec::new();
            while let Some(pair) = r.next().unwrap() {
                out.push(pair);
            }
            out
        };
        let out = (read(&comps.by_node), read(&comps.by_label), comps.rounds);
        drop(comps);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "scratch files left behind");
        out
    }

    /// `(node, smallest id of its component)` by the in-memory union-find.
    fn expected(edges: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let (mut ids, mut uf) = (CompactIds::default(), UnionFind::default());
        for &(a, b) in edges {
            let (ia, ib) = (ids.get_or_insert(a), ids.get_or_insert(b));
            uf.grow(ids.len());
            uf.union(ia, ib);
        }
        let mut min = std::collections::HashMap::new();
        for i in 0..ids.len() as u32 {
            let m = min.entry(uf.find(i)).or_insert(u64::MAX);
            *m = (*m).min(ids.id(i));
        }
        let mut out: Vec<(u64, u64)> =
            (0..ids.len() as u32).map(|i| (ids.id(i), min[&uf.find(i)])).collect();
        out.sort_unstable();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the graph and budget, the labels are the union-find's components named by
        /// their smallest member.
        #[test]
        fn agrees_with_union_find(edges in prop::collection::vec((0u64..40, 0u64..40), 0..60), budget in 16usize..400) {
            let (by_node, by_label, _) = labels(&edges, budget);
            let expect = expected(&edges);
            prop_assert_eq!(&by_node, &expect);
            let mut flipped: Vec<(u64, u64)> = expect.iter().map(|&(n, l)| (l, n)).collect();
            flipped.sort_unstable();
            prop_assert_eq!(by_label, flipped);
        }
    }

    #[test]
    fn long_chain_in_worst_order() {
        // A path n-1 - n-2 - ... - 0 whose smallest id sits at one end.
        let edges: Vec<(u64, u64)> = (1..300u64).map(|i| (i, i - 1)).collect();
        let (by_node, _, rounds) = labels(&edges, 64);
        assert!(by_node.iter().all(|&(_, l)| l == 0));
        assert_eq!(by_node.len(), 300);
        assert!(rounds < 30, "{rounds} rounds");
        // Sparse, huge ids and a self-loop.
        let (by_node, _, _) = labels(&[(u64::MAX, 5), (7, 7), (u64::MAX - 1, u64::MAX)], 64);
        assert_eq!(by_node, [(5, 5), (7, 7), (u64::MAX - 1, 5), (u64::MAX, 5)]);
    }
}
