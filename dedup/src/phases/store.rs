//! Random access to phase 1 signature records by document id.
//!
//! Ids increase within a split, so a lookup is a binary search over the records of each
//! split whose id range contains the id (usually exactly one: splits are input ranges), or a
//! single read where a split's ids have no gaps (the usual case). Only candidate documents are
//! looked up; the OS page cache does the caching.

use std::path::Path;

use super::{DedupConfig, check_fingerprint, signature_files};
use crate::error::Result;
use crate::format::{ArtifactKind, RandomReader};

#[derive(Debug)]
struct Split {
    reader: RandomReader,
    first: u64,
    last: u64,
}

/// Looks up signature records by id across all splits of a work dir.
#[derive(Debug)]
pub(crate) struct SignatureStore {
    splits: Vec<Split>,
    record_len: usize,
}

impl SignatureStore {
    /// Opens every split of `work_dir` (headers and size are checked, not checksums: the
    /// sequential passes of phase 2 verify those).
    pub(crate) fn open(work_dir: &Path, config: &DedupConfig) -> Result<Self> {
        let record_len = config.record_len();
        let mut splits = Vec::new();
        for path in signature_files(work_dir)? {
            let mut reader = RandomReader::open(&path, ArtifactKind::Signatures, Some(record_len))?;
            check_fingerprint(&path, reader.header().param, config)?;
            let count = reader.header().count;
            if count == 0 {
                continue;
            }
            let mut b = [0u8; 8];
            reader.read_at(0, &mut b)?;
            let first = u64::from_le_bytes(b);
            reader.read_at(count - 1, &mut b)?;
            let last = u64::from_le_bytes(b);
            splits.push(Split { reader, first, last });
        }
        Ok(SignatureStore { splits, record_len })
    }

    /// Reads the record of `id` into `rec`; `false` if no split has it.
    pub(crate) fn get(&mut self, id: u64, rec: &mut Vec<u8>) -> Result<bool> {
        rec.resize(self.record_len, 0);
        for split in &mut self.splits {
            if id < split.first || id > split.last {
                continue;
            }
            let count = split.reader.header().count;
            if split.last - split.first + 1 == count {
                // Ids without gaps (every document of the split has a record): one read.
                split.reader.read_at(id - split.first, rec)?;
                if u64::from_le_bytes(rec[..8].try_into().unwrap_or_default()) == id {
                    return Ok(true);
                }
            }
            let (mut lo, mut hi) = (0u64, count);
            let mut b = [0u8; 8];
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                split.reader.read_at(mid, &mut b)?;
                let at = u64::from_le_bytes(b);
                if at == id {
                    split.reader.read_at(mid, rec)?;
                    return Ok(true);
                }
                if at < id {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
        }
        Ok(false)
    }
}
