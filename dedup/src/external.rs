//! External sort of fixed-size records within a memory budget.
//!
//! Records are buffered in memory; when the buffer reaches the budget it is sorted and spilled
//! as a run ([`ArtifactKind::SortRun`]) into a scratch directory under the work dir. At the
//! end the runs are merged k ways (`k` bounded so the merge's read buffers fit the budget too;
//! more runs are merged in several passes). With no spill the sort stays in memory. The scratch
//! directory is removed when the sorted stream is dropped.
//!
//! Output is the records in ascending order, duplicates kept.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, u64_at, u128_at};

/// A fixed-size, totally ordered record that can be sorted out of core.
pub trait SortRecord: Copy + Ord + Debug {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Writes the record into `out` (`SIZE` bytes), little-endian.
    fn encode(&self, out: &mut [u8]);
    /// Reads a record from `buf` (`SIZE` bytes).
    fn decode(buf: &[u8]) -> Self;
}

impl SortRecord for (u64, u64) {
    const SIZE: usize = 16;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.1.to_le_bytes());
    }
    fn decode(buf: &[u8]) -> Self {
        (u64_at(buf, 0), u64_at(buf, 8))
    }
}

impl SortRecord for (u128, u64) {
    const SIZE: usize = 24;
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.0.to_le_bytes());
        out[16..24].copy_from_slice(&self.1.to_le_bytes());
    }
    fn decode(buf: &[u8]) -> Self {
        (u128_at(buf, 0), u64_at(buf, 16))
    }
}

impl SortRecord for u64 {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.to_le_bytes());
    }
    fn decode(buf: &[u8]) -> Self {
        u64_at(buf, 0)
    }
}

impl SortRecord for u128 {
    const SIZE: usize = 16;
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.to_le_bytes());
    }
    fn decode(buf: &[u8]) -> Self {
        u128_at(buf, 0)
    }
}

/// Read buffer per run during a merge.
const MERGE_BUFFER: usize = 64 << 10;

/// Sorts records within `budget` bytes of memory, spilling to disk.
#[derive(Debug)]
pub struct ExternalSorter<R: SortRecord> {
    scratch: tempfile::TempDir,
    budget: usize,
    capacity: usize,
    buffer: Vec<R>,
    runs: Vec<PathBuf>,
    next_run: usize,
}

impl<R: SortRecord> ExternalSorter<R> {
    /// A sorter whose runs go to a fresh scratch directory under `work_dir`, using about
    /// `budget` bytes of memory (at least one record).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the scratch directory cannot be created.
    pub fn new(work_dir: &Path, budget: usize) -> Result<Self> {
        std::fs::create_dir_all(work_dir).map_err(Error::io("create directory", work_dir))?;
        let scratch = tempfile::Builder::new()
            .prefix("sort-")
            .tempdir_in(work_dir)
            .map_err(Error::io("create scratch directory in", work_dir))?;
        let capacity = (budget / std::mem::size_of::<R>().max(1)).max(1);
        Ok(ExternalSorter {
            scratch,
            budget,
            capacity,
            buffer: Vec::new(),
            runs: Vec::new(),
            next_run: 0,
        })
    }

    /// Adds a record, spilling a sorted run when the buffer is full.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a run cannot be written.
    pub fn push(&mut self, record: R) -> Result<()> {
        self.buffer.push(record);
        if self.buffer.len() >= self.capacity {
            self.spill()?;
        }
        Ok(())
    }

    /// Number of runs spilled so far.
    pub fn runs_spilled(&self) -> usize {
        self.next_run
    }

    fn run_path(&mut self) -> PathBuf {
        self.next_run += 1;
        self.scratch.path().join(format!("run_{:06}", self.next_run))
    }

    fn spill(&mut self) -> Result<()> {
        self.buffer.sort_unstable();
        let path = self.run_path();
        let mut w = ArtifactWriter::create(&path, ArtifactKind::SortRun, R::SIZE, 0)?;
        let mut rec = vec![0u8; R::SIZE];
        for r in self.buffer.drain(..) {
            r.encode(&mut rec);
            w.write_record(&rec)?;
        }
        w.finish_scratch()?;
        self.runs.push(path);
        Ok(())
    }

    /// Finishes the sort and returns the records in ascending order.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Format`] when runs cannot be written or read back.
    pub fn finish(mut self) -> Result<SortedStream<R>> {
        if self.runs.is_empty() {
            self.buffer.sort_unstable();
            let records = std::mem::take(&mut self.buffer).into_iter();
            return Ok(SortedStream { source: Source::Memory(records), _scratch: self.scratch });
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        self.buffer = Vec::new();
        let fan_in = (self.budget / MERGE_BUFFER).clamp(2, 256);
        let buffer = (self.budget / fan_in).clamp(256, MERGE_BUFFER);
        // Merge the oldest runs first until one pass suffices.
        while self.runs.len() > fan_in {
            let group: Vec<PathBuf> = self.runs.drain(..fan_in).collect();
            let path = self.run_path();
            let mut merge = Merge::<R>::open(&group, buffer)?;
            let mut w = ArtifactWriter::create(&path, ArtifactKind::SortRun, R::SIZE, 0)?;
            let mut rec = vec![0u8; R::SIZE];
            while let Some(r) = merge.next_record()? {
                r.encode(&mut rec);
                w.write_record(&rec)?;
            }
            w.finish_scratch()?;
            for p in group {
                std::fs::remove_file(&p).map_err(Error::io("remove", &p))?;
            }
            self.runs.push(path);
        }
        let merge = Merge::open(&self.runs, buffer)?;
        Ok(SortedStream { source: Source::Merge(merge), _scratch: self.scratch })
    }
}

/// K-way merge of sorted runs.
#[derive(Debug)]
struct Merge<R: SortRecord> {
    readers: Vec<ArtifactReader>,
    heap: BinaryHeap<Reverse<(R, usize)>>,
    buf: Vec<u8>,
}

impl<R: SortRecord> Merge<R> {
    fn open(paths: &[PathBuf], buffer: usize) -> Result<Self> {
        let mut m = Merge {
            readers: Vec::with_capacity(paths.len()),
            heap: BinaryHeap::new(),
            buf: vec![0; R::SIZE],
        };
        for p in paths {
            m.readers.push(ArtifactReader::open_with_buffer(
                p,
                ArtifactKind::SortRun,
                Some(R::SIZE),
                buffer,
            )?);
        }
        for i in 0..m.readers.len() {
            m.refill(i)?;
        }
        Ok(m)
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        if self.readers[i].next_record(&mut self.buf)? {
            self.heap.push(Reverse((R::decode(&self.buf), i)));
        }
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<R>> {
        let Some(Reverse((r, i))) = self.heap.pop() else { return Ok(None) };
        self.refill(i)?;
        Ok(Some(r))
    }
}

#[derive(Debug)]
enum Source<R: SortRecord> {
    Memory(std::vec::IntoIter<R>),
    Merge(Merge<R>),
}

/// The sorted output of an [`ExternalSorter`]; an iterator of `Result<R>`.
#[derive(Debug)]
pub struct SortedStream<R: SortRecord> {
    source: Source<R>,
    _scratch: tempfile::TempDir,
}

impl<R: SortRecord> Iterator for SortedStream<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        match &mut self.source {
            Source::Memory(it) => it.next().map(Ok),
            Source::Merge(m) => m.next_record().transpose(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sort_with_budget(records: &[(u64, u64)], budget: usize) -> (Vec<(u64, u64)>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ExternalSorter::new(dir.path(), budget).unwrap();
        for &r in records {
            s.push(r).unwrap();
        }
        let spilled = s.runs_spilled();
        let out = s.finish().unwrap().collect::<Result<Vec<_>>>().unwrap();
        // Scratch files are gone once the stream is dropped.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        (out, spilled)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// With a budget of a few records (many runs, multi-pass merge) the result equals an
        /// in-memory sort.
        #[test]
        fn equals_in_memory_sort(records in prop::collection::vec((0u64..50, any::<u64>()), 0..300), budget in 16usize..200) {
            let (out, _) = sort_with_budget(&records, budget);
            let mut expect = records.clone();
            expect.sort_unstable();
            prop_assert_eq!(out, expect);
        }
    }

    #[test]
    fn tiny_budget_spills_and_merges_in_passes() {
        let records: Vec<(u64, u64)> =
            (0..2000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 97, i)).collect();
        let (out, spilled) = sort_with_budget(&records, 64);
        assert!(spilled > 256, "{spilled}");
        let mut expect = records;
        expect.sort_unstable();
        assert_eq!(out, expect);
    }

    #[test]
    fn wide_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ExternalSorter::<(u128, u64)>::new(dir.path(), 48).unwrap();
        for i in (0..10u64).rev() {
            s.push((u128::from(i) << 70, i)).unwrap();
        }
        let out: Vec<_> = s.finish().unwrap().map(|r| r.unwrap().1).collect();
        assert_eq!(out, (0..10).collect::<Vec<_>>());
    }
}
