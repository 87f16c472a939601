//! Which inputs earlier runs have put into the outputs, for incremental runs.
//!
//! `{work_dir}/history/inputs.jsonl` holds one line per input a completed run processed: URL,
//! size and version (etag or modification time). A complete full run rewrites it; a complete
//! incremental run (`--incremental`) appends the inputs it added. An incremental run processes
//! only inputs whose identity is not in it, so a new object, or a changed one, is processed and
//! an unchanged one never again. The file is read into a set of 128-bit hashes (16 bytes per
//! input file, whatever the data volume).
//!
//! Outputs are committed before the history is: if a run dies between the two, the next
//! incremental run finds its inputs in a Megatron manifest and counts them as seen.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::build::SourceInputs;
use crate::storage::InputFile;

/// One input as the history records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Seen {
    pub(super) url: String,
    pub(super) size: u64,
    pub(super) version: Option<String>,
}

impl Seen {
    /// The identity of every listed input.
    pub(super) fn of(inputs: &[SourceInputs]) -> Vec<Seen> {
        let mut seen: Vec<Seen> = inputs
            .iter()
            .flat_map(|s| &s.files)
            .map(|f| Seen { url: f.url.clone(), size: f.size, version: f.version.clone() })
            .collect();
        // A file cut into several units is one input.
        seen.dedup_by(|a, b| a.url == b.url);
        seen
    }
}

fn identity(url: &str, size: u64, version: Option<&str>) -> u128 {
    xxh3_128(format!("{url}\u{0}{size}\u{0}{}", version.unwrap_or("")).as_bytes())
}

/// The inputs of earlier runs.
#[derive(Debug)]
pub(super) struct History {
    path: PathBuf,
    seen: HashSet<u128>,
    urls: HashSet<u128>,
    /// URLs listed in an output manifest but absent from the file (a run that died between
    /// committing its outputs and recording them).
    committed: HashSet<u128>,
}

impl History {
    /// Loads the history of `work_dir` (empty if there is none) plus the inputs recorded in the
    /// manifests at `manifests`.
    pub(super) fn load(work_dir: &Path, manifests: &[PathBuf]) -> anyhow::Result<Self> {
        let path = work_dir.join("history").join("inputs.jsonl");
        let mut h =
            Self { path, seen: HashSet::new(), urls: HashSet::new(), committed: HashSet::new() };
        match std::fs::File::open(&h.path) {
            Ok(f) => {
                for (n, line) in BufReader::new(f).lines().enumerate() {
                    let line = line.with_context(|| format!("cannot read {}", h.path.display()))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    // A torn last line (a crash while appending) is ignored: its input is
                    // processed again, nothing is lost.
                    let Ok(s) = serde_json::from_str::<Seen>(&line) else {
                        tracing::warn!(file = %h.path.display(), line = n + 1, "ignoring an unreadable history line");
                        continue;
                    };
                    h.seen.insert(identity(&s.url, s.size, s.version.as_deref()));
                    h.urls.insert(xxh3_128(s.url.as_bytes()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", h.path.display())),
        }
        for m in manifests {
            if let Ok(manifest) = tokenmill_shards::Manifest::read(m) {
                for url in manifest.inputs {
                    let key = xxh3_128(url.as_bytes());
                    if !h.urls.contains(&key) {
                        h.committed.insert(key);
                    }
                }
            }
        }
        Ok(h)
    }

    /// Whether an earlier run processed this input as it is now.
    pub(super) fn contains(&self, f: &InputFile) -> bool {
        self.seen.contains(&identity(&f.url, f.size, f.version.as_deref()))
            || self.committed.contains(&xxh3_128(f.url.as_bytes()))
    }

    /// Keeps only inputs not seen before; returns how many were left out.
    pub(super) fn keep_new(&self, inputs: &mut [SourceInputs]) -> u64 {
        let mut skipped = 0;
        for s in inputs {
            let before = s.files.len();
            s.files.retain(|f| !self.contains(f));
            skipped += (before - s.files.len()) as u64;
        }
        skipped
    }

    /// Records a completed run's inputs (less those it could not read): appended after an incremental run, replacing the
    /// history after a full one (whose outputs replaced the old ones).
    pub(super) fn record(
        &self,
        inputs: &[SourceInputs],
        append: bool,
        unread: &[String],
    ) -> anyhow::Result<()> {
        self.record_seen(&Seen::of(inputs), append, unread)
    }

    /// [`History::record`] of inputs given by identity.
    pub(super) fn record_seen(
        &self,
        inputs: &[Seen],
        append: bool,
        unread: &[String],
    ) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut lines = Vec::new();
        for seen in inputs.iter().filter(|f| !unread.contains(&f.url)) {
            serde_json::to_writer(&mut lines, seen)?;
            lines.push(b'\n');
        }
        if append {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .with_context(|| format!("cannot open {}", self.path.display()))?;
            file.write_all(&lines)?;
            file.sync_all()?;
        } else {
            let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("inputs.jsonl");
            let mut file = crate::sink::AtomicFile::create(dir, name)?;
            file.write_all(&lines)?;
            file.commit()?;
        }
        Ok(())
    }
}
