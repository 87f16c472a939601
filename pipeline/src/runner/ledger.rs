//! The run ledger: finished work units, kept so that a killed run resumes where it stopped.
//!
//! A work unit is one input file of one pass. While a unit is processed, the writer appends the
//! output of each of its chunks (see [`super::spool`]) to `{work_dir}/ledger/units/{key}.spool`
//! (written as `.tmp`); when the unit's last chunk is applied the file is fsynced and renamed:
//! from then on the unit is finished. A later run of the same config replays a finished unit's
//! spool instead of reading and processing its input again, so its outputs are byte-identical
//! to an uninterrupted run's, and the work repeated after `kill -9` is at most the units that
//! were in flight. A spool records the input's identity (URL, size, etag or modification
//! time): a changed input is processed again. `ledger/run.json` records the config hash; a
//! changed config starts over. The ledger is removed when a run completes.
//!
//! The tasks of a job array's steps share the ledger of their work dir: a task killed mid-step
//! and run again replays the units of its share that it finished (see `steps`).
//!
//! A [`RunLock`] (an advisory `flock` held for the life of the run) keeps two runs from writing
//! one work dir or one output; the kernel releases it when a process dies, so a lock file left
//! by a killed run is recognized as stale and taken over.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::sink::AtomicFile;
use crate::storage::InputFile;

/// The spool format's magic and version (3: collected batches carry a keys tag, line hashes
/// besides signatures). A spool of another version is not reused: its unit is processed again.
const MAGIC: &[u8; 8] = b"TMSPOOL3";

/// What identifies a unit's input: a unit is reused only if all of it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UnitId {
    pub(super) pass: usize,
    pub(super) node: String,
    pub(super) url: String,
    pub(super) size: u64,
    pub(super) version: Option<String>,
    /// The part of the file, when it is cut into several units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) span: Option<crate::storage::Span>,
}

impl UnitId {
    pub(super) fn new(pass: usize, node: &str, file: &InputFile) -> Self {
        Self {
            pass,
            node: node.to_string(),
            url: file.url.clone(),
            size: file.size,
            version: file.version.clone(),
            span: file.span,
        }
    }
}

/// One unit as the runner tracks it.
#[derive(Debug)]
pub(super) struct Unit {
    /// File name stem in the ledger.
    pub(super) key: String,
    pub(super) id: UnitId,
    /// Replayed from the ledger rather than processed.
    pub(super) replay: bool,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct RunRecord {
    config_hash: String,
    tool_version: String,
}

/// The ledger directory of a work dir.
#[derive(Debug, Clone)]
pub(super) struct Ledger {
    units: PathBuf,
    root: PathBuf,
    enabled: bool,
    /// A work dir on object storage: each finished unit's spool is also uploaded there (as
    /// `ledger/units/{key}.spool`), so that a retried task on another machine finds it.
    mirror: Option<(super::remote::RemoteWork, PathBuf)>,
}

impl Ledger {
    /// Opens (or starts) the ledger of `work_dir` for a config; the units of a different config
    /// or tool version are discarded.
    pub(super) fn open(work_dir: &Path, config_hash: &str) -> anyhow::Result<Self> {
        let root = work_dir.join("ledger");
        let units = root.join("units");
        let record = RunRecord {
            config_hash: config_hash.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
        };
        let existing: Option<RunRecord> =
            std::fs::read(root.join("run.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if existing.as_ref().is_some_and(|e| *e != record) && units.exists() {
            tracing::info!(ledger = %root.display(), "the config or tool version changed since the ledger was written: starting over");
            std::fs::remove_dir_all(&units)
                .with_context(|| format!("cannot clear {}", units.display()))?;
        }
        std::fs::create_dir_all(&units)
            .with_context(|| format!("cannot create {}", units.display()))?;
        if existing.as_ref() != Some(&record) {
            // Job-array tasks may write this at the same moment: each through its own temporary.
            let tmp = root.join(format!("run.json.{}.tmp", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec_pretty(&record)?)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, root.join("run.json"))
                .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
        }
        Ok(Self { units, root, enabled: true, mirror: None })
    }

    /// Mirrors this ledger to the object-storage work dir whose local scratch is `scratch`:
    /// downloads the finished spools of `keys` recorded there by an earlier attempt (of this
    /// config and tool version), and uploads each spool this run finishes.
    pub(super) fn mirrored(
        mut self,
        remote: &super::remote::RemoteWork,
        scratch: &Path,
        keys: &[String],
    ) -> anyhow::Result<Self> {
        if !self.enabled {
            return Ok(self);
        }
        let ours: Option<RunRecord> = std::fs::read(self.root.join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let theirs: Option<RunRecord> =
            remote.get("ledger/run.json")?.and_then(|b| serde_json::from_slice(&b).ok());
        if ours.is_some() && ours == theirs {
            let mut found = 0;
            for key in keys {
                if remote.download(&format!("ledger/units/{key}.spool"), scratch)? {
                    found += 1;
                }
            }
            if found > 0 {
                tracing::info!(
                    units = found,
                    "resuming: an earlier attempt of this task finished these units"
                );
            }
        } else {
            remote.upload(scratch, "ledger/run.json")?;
        }
        self.mirror = Some((remote.clone(), scratch.to_path_buf()));
        Ok(self)
    }

    /// A ledger that records nothing (`ledger = false`): every unit is processed, nothing is
    /// written, an existing ledger is left alone.
    pub(super) fn disabled(work_dir: &Path) -> Self {
        let root = work_dir.join("ledger");
        Self { units: root.join("units"), root, enabled: false, mirror: None }
    }

    /// Whether units are recorded.
    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The ledger key of the `index`-th file of `node` in `pass`.
    pub(super) fn key(pass: usize, node: &str, index: usize) -> String {
        format!("p{pass}-{node}-{index:07}")
    }

    /// The spool of a finished unit, if it is finished for this very input.
    pub(super) fn finished(&self, key: &str, id: &UnitId) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        let path = self.units.join(format!("{key}.spool"));
        let mut reader = SpoolReader::open(&path).ok()?;
        (reader.id().ok()? == *id).then_some(path)
    }

    /// Starts recording a unit.
    pub(super) fn start(&self, key: &str, id: &UnitId) -> anyhow::Result<SpoolWriter> {
        let mut file = AtomicFile::create(&self.units, &format!("{key}.spool"))?;
        let header = serde_json::to_vec(id)?;
        file.write_all(MAGIC)?;
        file.write_all(&(header.len() as u64).to_le_bytes())?;
        file.write_all(&header)?;
        Ok(SpoolWriter { file, mirror: self.mirror.clone() })
    }

    /// Number of finished units.
    pub(super) fn finished_count(&self) -> usize {
        if !self.enabled {
            return 0;
        }
        std::fs::read_dir(&self.units)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Removes the ledger (the run it served is complete).
    pub(super) fn remove(self) -> anyhow::Result<()> {
        if !self.enabled || !self.root.exists() {
            return Ok(());
        }
        std::fs::remove_dir_all(&self.root)
            .with_context(|| format!("cannot remove {}", self.root.display()))
    }
}

/// The spool of a unit being processed.
#[derive(Debug)]
pub(super) struct SpoolWriter {
    file: AtomicFile,
    mirror: Option<(super::remote::RemoteWork, PathBuf)>,
}

impl SpoolWriter {
    /// Appends one encoded chunk output.
    pub(super) fn append(&mut self, record: &[u8]) -> anyhow::Result<()> {
        self.file.write_all(&(record.len() as u64).to_le_bytes())?;
        self.file.write_all(record)?;
        Ok(())
    }

    /// Makes the unit finished (fsync, rename; then the upload to a mirror).
    pub(super) fn commit(self) -> anyhow::Result<()> {
        let path = self.file.commit()?;
        if let Some((remote, scratch)) = &self.mirror {
            remote.upload(scratch, &super::remote::relative(scratch, &path)?)?;
        }
        Ok(())
    }
}

/// Reads a finished unit's spool.
pub(super) struct SpoolReader {
    file: BufReader<File>,
    path: PathBuf,
}

impl SpoolReader {
    pub(super) fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { file: BufReader::with_capacity(1 << 20, file), path: path.to_path_buf() })
    }

    /// The unit's identity (the header); call first.
    pub(super) fn id(&mut self) -> anyhow::Result<UnitId> {
        let mut magic = [0u8; 8];
        self.file.read_exact(&mut magic)?;
        if &magic != MAGIC {
            bail!("{} is not a spool file", self.path.display());
        }
        let header =
            self.next_raw()?.with_context(|| format!("{}: no header", self.path.display()))?;
        Ok(serde_json::from_slice(&header)?)
    }

    /// The next record, or `None` at the end.
    pub(super) fn next_raw(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let mut len = [0u8; 8];
        match self.file.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()));
            }
        }
        let len = usize::try_from(u64::from_le_bytes(len))?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact(&mut buf)
            .with_context(|| format!("{}: truncated record", self.path.display()))?;
        Ok(Some(buf))
    }
}

/// An exclusive lock on a directory for the life of a run.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// Who holds (or held) a lock.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    started: String,
    command: String,
}

impl RunLock {
    /// Takes `dir/name`, failing with an explanation if a live run holds it. A lock file left
    /// by a run that died is taken over with a warning.
    ///
    /// # Errors
    /// Another run holds the lock, or the file cannot be created.
    pub fn acquire(dir: &Path, name: &str, what: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        let holder: Option<Holder> = serde_json::from_str(&previous).ok();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = holder.map_or_else(
                    || "another process".to_string(),
                    |h| {
                        format!(
                            "pid {} on {}, started {} (`{}`)",
                            h.pid, h.host, h.started, h.command
                        )
                    },
                );
                bail!(
                    "{what} {} is in use by a running tokenmill ({who}); wait for it to finish or stop it (lock file {})",
                    dir.display(),
                    path.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // One warning per run is enough: the work dir's lock speaks for the outputs' too.
        if let Some(h) = holder.filter(|_| what == "work dir") {
            tracing::warn!(
                lock = %path.display(),
                "a previous run (pid {} on {}, started {}) stopped without finishing (killed or crashed); its lock is stale, taking over",
                h.pid,
                h.host,
                h.started
            );
        }
        let me = Holder {
            pid: std::process::id(),
            host: hostname(),
            started: crate::stats::now_rfc3339(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        };
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(serde_json::to_string(&me)?.as_bytes())?;
        file.sync_all()?;
        Ok(Self { file, path })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An empty lock file means "released cleanly"; the flock goes with the descriptor.
        let _ = self.file.set_len(0);
        let _ = &self.path;
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}
