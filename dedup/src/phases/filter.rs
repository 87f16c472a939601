//! Phase 4: which documents to drop.

use std::path::Path;

use super::{DedupConfig, check_fingerprint, remove_path};
use crate::error::Result;
use crate::format::{ArtifactKind, ArtifactReader, u64_at};

/// The sorted ids phase 3 removed, loaded in memory (8 bytes per removed document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveSet {
    ids: Vec<u64>,
}

impl RemoveSet {
    /// Loads `clusters/remove.ids` from `work_dir`, checking its checksum and that it was
    /// written with `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when missing or unreadable,
    /// [`Error::Format`](crate::Error::Format) when corrupt, [`Error::Mismatch`](crate::Error::Mismatch)
    /// for another config.
    pub fn open(work_dir: &Path, config: &DedupConfig) -> Result<Self> {
        let path = remove_path(work_dir);
        let mut r = ArtifactReader::open(&path, ArtifactKind::Removed, Some(8))?;
        check_fingerprint(&path, r.header().param, config)?;
        let mut ids = Vec::with_capacity(usize::try_from(r.header().count).unwrap_or(0));
        let mut rec = [0u8; 8];
        while r.next_record(&mut rec)? {
            ids.push(u64_at(&rec, 0));
        }
        Ok(RemoveSet { ids })
    }

    /// A set from ids (sorted here).
    pub fn from_ids(mut ids: Vec<u64>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        RemoveSet { ids }
    }

    /// Whether document `id` is a duplicate to drop.
    pub fn is_duplicate(&self, id: u64) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// The removed ids, ascending.
    pub fn ids(&self) -> &[u64] {
        &self.ids
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
