//! Input files: listing them in a fixed order, reading one in chunks, numbering documents.

use std::collections::HashSet;

use crate::config::FileSourceSpec;
use crate::document::Document;
use crate::source::{self, ChunkLimits, InputErrorKind};
use crate::storage::{self, InputFile};

use super::settings::usage;

/// Lists `patterns`: each one's matches sorted by URL, patterns in the order given, repeats
/// dropped. Position `i` in this list is input file `i`.
///
/// # Errors
/// A pattern cannot be listed, or nothing matches.
pub(super) fn list(patterns: &[String]) -> anyhow::Result<Vec<InputFile>> {
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for pattern in patterns {
        for file in storage::list_inputs(pattern, &Default::default())? {
            if seen.insert(file.url.clone()) {
                files.push(file);
            }
        }
    }
    if files.is_empty() {
        return Err(usage(format!("no input files match {}", patterns.join(", "))));
    }
    if files.len() > u32::MAX as usize {
        return Err(usage(format!("{} input files; at most 2^32 are supported", files.len())));
    }
    Ok(files)
}

/// The id of record `record` of input file `file`: `file << 32 | record`.
pub(super) fn doc_id(file: usize, record: u64) -> u64 {
    (file as u64) << 32 | record
}

/// The input file and record index of a document id.
pub(super) fn split_id(id: u64) -> (usize, u64) {
    ((id >> 32) as usize, id & u64::from(u32::MAX))
}

/// What reading one file found.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ReadCounts {
    /// Documents read.
    pub documents: u64,
    /// Records skipped because they could not be parsed.
    pub bad_records: u64,
}

/// Reads input file `file` in order, calling `f(first record index, documents)` chunk by
/// chunk. Records that cannot be parsed are logged and skipped (deterministically, so every
/// phase numbers documents alike).
///
/// # Errors
/// The file cannot be opened or read (it could succeed on a retry, so it is not skipped), a
/// file has 2^32 documents or more, or `f` failed.
pub(super) fn read_documents(
    spec: &FileSourceSpec,
    file: &InputFile,
    mut f: impl FnMut(u64, Vec<Document>) -> anyhow::Result<()>,
) -> anyhow::Result<ReadCounts> {
    let format = source::Format::from_name(&file.url);
    let limits = ChunkLimits { docs: 1024, bytes: 8 << 20, max_record: 64 << 20 };
    let mut counts = ReadCounts::default();
    let mut failure = None;
    source::read_file(0, spec, format, file, limits, &mut |chunk| {
        let (docs, errors) = source::parse_chunk(spec, chunk);
        for e in &errors {
            if matches!(e.kind, InputErrorKind::NotFound | InputErrorKind::Unreadable) {
                failure = Some(anyhow::anyhow!("cannot read input {e}"));
                return false;
            }
            tracing::warn!("bad input: {e}");
        }
        counts.bad_records += errors.len() as u64;
        let first = counts.documents;
        counts.documents += docs.len() as u64;
        if counts.documents > u64::from(u32::MAX) {
            failure = Some(anyhow::anyhow!(
                "{}: more than 2^32 documents in one file; split it",
                file.url
            ));
            return false;
        }
        match f(first, docs) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    failure.map_or(Ok(counts), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_file_then_record() {
        assert_eq!(doc_id(0, 7), 7);
        assert_eq!(doc_id(3, 1), 3 << 32 | 1);
        assert!(doc_id(1, 0) > doc_id(0, u64::from(u32::MAX)));
        assert_eq!(split_id(doc_id(5, 42)), (5, 42));
    }
}
