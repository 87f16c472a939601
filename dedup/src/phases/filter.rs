//! Phase 4: which documents to drop.
//!
//! [`RemoveSet`] maps the removal list for random access (no heap per removed document);
//! [`RemoveCursor`] streams it for documents visited in ascending id order (input order),
//! merging it with the input in constant memory.

use std::path::{Path, PathBuf};

use super::{DedupConfig, check_fingerprint, remove_path};
use crate::error::{Error, Result};
use crate::format::{ArtifactKind, ArtifactReader, SortedIds, u64_at};

/// The sorted ids phase 3 removed, for random access: the removal list is memory-mapped (the
/// page cache holds it, not the heap), so its size costs no process memory whatever the corpus;
/// [`RemoveSet::from_ids`] holds a list in memory instead. For documents visited in ascending
/// id order, [`RemoveCursor`] streams the list.
#[derive(Debug, Default)]
pub struct RemoveSet {
    ids: SortedIds,
}

impl RemoveSet {
    /// Opens `clusters/remove.ids` in `work_dir`, checking its checksum (one streaming pass)
    /// and that it was written with `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when missing or unreadable,
    /// [`Error::Format`](crate::Error::Format) when corrupt, [`Error::Mismatch`](crate::Error::Mismatch)
    /// for another config.
    pub fn open(work_dir: &Path, config: &DedupConfig) -> Result<Self> {
        let path = remove_path(work_dir);
        let ids = SortedIds::open(&path, ArtifactKind::Removed, |param| {
            check_fingerprint(&path, param, config)
        })?;
        Ok(RemoveSet { ids })
    }

    /// A set from ids (sorted here), held in memory.
    pub fn from_ids(ids: Vec<u64>) -> Self {
        RemoveSet { ids: SortedIds::owned(ids) }
    }

    /// Whether document `id` is a duplicate to drop.
    pub fn is_duplicate(&self, id: u64) -> bool {
        self.ids.contains(id)
    }

    /// The removed ids, ascending (copied out: for tests and small lists).
    pub fn ids(&self) -> Vec<u64> {
        (0..self.ids.len()).map(|i| self.ids.get(i)).collect()
    }

    /// Number of removed documents.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is removed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Streams `clusters/remove.ids` against documents visited in ascending id order: a merge
/// of two sorted sequences, in the memory of a read buffer whatever the number of removed
/// documents. The file's checksum is verified once the cursor has read to its end.
#[derive(Debug)]
pub struct RemoveCursor {
    reader: ArtifactReader,
    /// The smallest removed id not yet passed, `None` after the last one.
    next: Option<u64>,
    /// The id asked last.
    previous: Option<u64>,
}

impl RemoveCursor {
    /// Opens `clusters/remove.ids` in `work_dir`, checking that it was written with `config`.
    ///
    /// # Errors
    ///
    /// As [`RemoveSet::open`] (a checksum mismatch surfaces from
    /// [`is_duplicate`](Self::is_duplicate) when the end is reached).
    pub fn open(work_dir: &Path, config: &DedupConfig) -> Result<Self> {
        let path = remove_path(work_dir);
        let reader = ArtifactReader::open(&path, ArtifactKind::Removed, Some(8))?;
        check_fingerprint(&path, reader.header().param, config)?;
        let mut cursor = RemoveCursor { reader, next: None, previous: None };
        cursor.advance()?;
        Ok(cursor)
    }

    fn advance(&mut self) -> Result<()> {
        let mut rec = [0u8; 8];
        self.next = self.reader.next_record(&mut rec)?.then(|| u64_at(&rec, 0));
        Ok(())
    }

    /// Whether document `id` is a duplicate to drop. Ids must not decrease from one call to
    /// the next (asking the same id twice is fine).
    ///
    /// # Errors
    ///
    /// [`Error::Format`](crate::Error::Format) when the file is corrupt,
    /// [`Error::Io`](crate::Error::Io) on a read failure, [`Error::IdOrder`] when `id` is
    /// below the id asked before.
    pub fn is_duplicate(&mut self, id: u64) -> Result<bool> {
        if let Some(previous) = self.previous
            && id < previous
        {
            return Err(Error::IdOrder { path: self.path(), id, previous });
        }
        self.previous = Some(id);
        while self.next.is_some_and(|n| n < id) {
            self.advance()?;
        }
        Ok(self.next == Some(id))
    }

    /// The removal list being read.
    pub fn path(&self) -> PathBuf {
        self.reader.path().to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ArtifactWriter;

    fn write_removed(work: &Path, config: &DedupConfig, ids: &[u64]) {
        let path = remove_path(work);
        let mut w =
            ArtifactWriter::create(&path, ArtifactKind::Removed, 8, config.fingerprint()).unwrap();
        for id in ids {
            w.write_record(&id.to_le_bytes()).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn cursor_agrees_with_set_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let config = DedupConfig::default();
        let ids = [3, 4, 9, 200, u64::MAX];
        write_removed(dir.path(), &config, &ids);
        let set = RemoveSet::open(dir.path(), &config).unwrap();
        let mut cursor = RemoveCursor::open(dir.path(), &config).unwrap();
        for id in (0..300).chain([u64::MAX - 1, u64::MAX, u64::MAX]) {
            assert_eq!(cursor.is_duplicate(id).unwrap(), set.is_duplicate(id), "{id}");
        }
        let e = cursor.is_duplicate(5).unwrap_err().to_string();
        assert!(e.contains("remove.ids") && e.contains("document id 5"), "{e}");
    }

    #[test]
    fn cursor_reports_a_corrupt_list_with_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let config = DedupConfig::default();
        write_removed(dir.path(), &config, &[1, 2, 3]);
        let path = remove_path(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[24 + 8..24 + 16].copy_from_slice(&[0xff, 0xfe, 0xfd, 0x80, 0xc3, 0x28, 0xa0, 0xa1]);
        std::fs::write(&path, &bytes).unwrap();
        let mut cursor = RemoveCursor::open(dir.path(), &config).unwrap();
        let e = (0..10)
            .chain([u64::MAX])
            .map(|id| cursor.is_duplicate(id))
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert!(
            e.contains("remove.ids") && e.contains("at byte 56") && e.contains("checksum"),
            "{e}"
        );
        let e = RemoveSet::open(dir.path(), &config).unwrap_err().to_string();
        assert!(e.contains("remove.ids") && e.contains("at byte 56"), "{e}");
    }
}
