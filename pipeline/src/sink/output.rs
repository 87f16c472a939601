//! An output directory on local disk or an object store, and atomic files in it.
//!
//! Local outputs are written in place: each file as `NAME.tmp`, fsynced, renamed. Object-store
//! outputs are staged in the work dir the same way, then uploaded one file at a time as each
//! completes (an object appears whole or not at all), the manifest last.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::storage;

/// Where a sink writes.
#[derive(Debug)]
pub struct Output {
    url: String,
    local: PathBuf,
    remote: Option<(Arc<dyn ObjectStore>, ObjectPath)>,
    options: BTreeMap<String, String>,
}

impl Output {
    /// Opens `path` (a local directory or a URL prefix); object-store outputs stage files in
    /// `work_dir/staging/{sink}`.
    ///
    /// # Errors
    /// The directory cannot be created or the URL's store configured.
    pub fn open(
        path: &str,
        options: &BTreeMap<String, String>,
        work_dir: &Path,
        sink: &str,
    ) -> anyhow::Result<Self> {
        let url = path.trim_end_matches('/').to_string();
        if storage::is_url(path) && !path.starts_with("file://") {
            let (store, prefix) = storage::store_for(&url, options)?;
            let local = work_dir.join("staging").join(sink);
            if local.exists() {
                std::fs::remove_dir_all(&local)
                    .with_context(|| format!("cannot clear staging dir {}", local.display()))?;
            }
            std::fs::create_dir_all(&local)
                .with_context(|| format!("cannot create staging dir {}", local.display()))?;
            Ok(Self { url, local, remote: Some((store, prefix)), options: options.clone() })
        } else {
            let local = PathBuf::from(path.strip_prefix("file://").unwrap_or(path));
            std::fs::create_dir_all(&local)
                .with_context(|| format!("cannot create output dir {}", local.display()))?;
            Ok(Self { url, local, remote: None, options: options.clone() })
        }
    }

    /// The local directory files are written to (the output itself, or its staging dir).
    pub fn dir(&self) -> &Path {
        &self.local
    }

    /// Whether files go to an object store.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The URL or path of a file in this output.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    /// Removes files of an earlier run that `is_ours` recognizes (local outputs only; object
    /// store outputs are overwritten object by object).
    ///
    /// # Errors
    /// A file cannot be removed.
    pub fn clear(&self, is_ours: impl Fn(&str) -> bool) -> anyhow::Result<usize> {
        if self.remote.is_some() {
            return Ok(0);
        }
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.local)
            .with_context(|| format!("cannot list {}", self.local.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_ours(&name) {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("cannot remove {}", entry.path().display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the files that `is_ours` recognizes, from object storage too (a job array's
    /// merge step removing files that no task of the job wrote).
    ///
    /// # Errors
    /// The output cannot be listed or a file cannot be removed.
    pub fn remove_everywhere(&self, is_ours: impl Fn(&str) -> bool) -> anyhow::Result<usize> {
        let Some((store, prefix)) = &self.remote else { return self.clear(is_ours) };
        let names = self.existing(is_ours)?;
        for name in &names {
            let path = prefix.clone().join(name.as_str());
            storage::runtime()
                .block_on(store.delete(&path))
                .with_context(|| format!("cannot remove {}", self.url_of(name)))?;
        }
        Ok(names.len())
    }

    /// Names of the files already in the output that `is_ours` recognizes, sorted (for
    /// appending after them).
    ///
    /// # Errors
    /// The output cannot be listed.
    pub fn existing(&self, is_ours: impl Fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        match &self.remote {
            None => {
                for entry in std::fs::read_dir(&self.local)
                    .with_context(|| format!("cannot list {}", self.local.display()))?
                {
                    names.push(entry?.file_name().to_string_lossy().into_owned());
                }
            }
            Some(_) => {
                for f in storage::list_inputs(&format!("{}/", self.url), &self.options)
                    .with_context(|| format!("cannot list {}", self.url))?
                {
                    names.push(f.url.rsplit('/').next().unwrap_or_default().to_string());
                }
            }
        }
        names.retain(|n| is_ours(n));
        names.sort();
        Ok(names)
    }

    /// Brings an existing file of the output into the local directory (a no-op for local
    /// outputs); `false` if it does not exist.
    ///
    /// # Errors
    /// It exists but cannot be read.
    pub fn fetch(&self, name: &str) -> anyhow::Result<bool> {
        let local = self.local.join(name);
        let Some((store, prefix)) = &self.remote else { return Ok(local.exists()) };
        let path = prefix.clone().join(name);
        match storage::runtime().block_on(store.get(&path)) {
            Ok(got) => {
                let bytes = storage::runtime()
                    .block_on(got.bytes())
                    .with_context(|| format!("cannot read {}", self.url_of(name)))?;
                std::fs::write(&local, &bytes)
                    .with_context(|| format!("cannot write {}", local.display()))?;
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", self.url_of(name))),
        }
    }

    /// Makes a completed file visible: a no-op locally, an upload (then local removal) for
    /// object stores.
    ///
    /// # Errors
    /// The upload failed.
    pub fn publish(&self, name: &str) -> anyhow::Result<()> {
        if let Some((store, prefix)) = &self.remote {
            let local = self.local.join(name);
            let target = prefix.clone().join(name);
            storage::upload_file(&local, store, &target, &self.url_of(name))?;
            std::fs::remove_file(&local)
                .with_context(|| format!("cannot remove staged {}", local.display()))?;
        }
        Ok(())
    }
}

/// A file written as `NAME.tmp` and renamed to `NAME` on [`AtomicFile::commit`]; dropped
/// uncommitted, the temporary file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `dir/name.tmp`.
    ///
    /// # Errors
    /// It cannot be created.
    pub fn create(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Self { tmp, path, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// The buffered writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().unwrap_or_else(|| unreachable!("writer taken only by commit"))
    }

    /// Flushes, fsyncs and renames into place, then fsyncs the directory.
    ///
    /// # Errors
    /// Any of those steps failed; the temporary file is removed.
    pub fn commit(mut self) -> anyhow::Result<PathBuf> {
        let writer = self.writer.take().unwrap_or_else(|| unreachable!("commit runs once"));
        let result = Self::persist(writer, &self.tmp, &self.path);
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result.map(|()| self.path.clone())
    }

    fn persist(writer: BufWriter<File>, tmp: &Path, path: &Path) -> anyhow::Result<()> {
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.sync_all().with_context(|| format!("cannot fsync {}", tmp.display()))?;
        std::fs::rename(tmp, path)
            .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
        if let Some(dir) = path.parent() {
            // Best effort: some filesystems refuse fsync on directories.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}
