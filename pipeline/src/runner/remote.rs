//! A work dir on object storage (`work_dir = "s3://bucket/prefix"`, gs://, az://).
//!
//! A process works in a local scratch directory (`$TOKENMILL_SCRATCH` or the system temp dir,
//! then `tokenmill-{hash of the URL}`) laid out exactly like a local work dir, and moves whole
//! files between it and the store: a job-array task downloads what its step reads (the markers
//! of earlier steps, the dedup decisions, the signatures or edges of a dedup phase) and uploads
//! what it wrote (staged documents, signatures, edges, decisions), its completion marker last. A
//! map task reads the documents other tasks staged straight from the store. Each object appears
//! whole or not at all, so a task that dies leaves nothing that looks complete, and a retried
//! task rewrites the same objects with the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::storage::{self, runtime};

/// The object-store side of a work dir.
#[derive(Debug, Clone)]
pub(super) struct RemoteWork {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl RemoteWork {
    /// The store of `work_dir`, if it is an object-store URL.
    ///
    /// # Errors
    /// The URL's store cannot be configured.
    pub(super) fn of(
        work_dir: &str,
        options: &BTreeMap<String, String>,
    ) -> anyhow::Result<Option<Self>> {
        if !storage::is_url(work_dir) || work_dir.starts_with("file://") {
            return Ok(None);
        }
        let url = work_dir.trim_end_matches('/').to_string();
        let (store, prefix) =
            storage::store_for(&url, options).with_context(|| format!("work dir {url}"))?;
        Ok(Some(Self { url, store, prefix }))
    }

    /// The local scratch directory mirroring this work dir, under `name`.
    pub(super) fn scratch(&self, name: &str) -> PathBuf {
        let base =
            std::env::var_os("TOKENMILL_SCRATCH").map_or_else(std::env::temp_dir, PathBuf::from);
        base.join(format!("tokenmill-{:016x}", xxhash_rust::xxh3::xxh3_64(self.url.as_bytes())))
            .join(name)
    }

    fn path(&self, rel: &str) -> ObjectPath {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The URL of a file of the work dir.
    pub(super) fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// The bytes of `rel`, or `None` if there is no such object.
    pub(super) fn get(&self, rel: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.path(rel);
        match runtime().block_on(async { self.store.get(&path).await?.bytes().await }) {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", self.url(rel))),
        }
    }

    /// Uploads `root/rel` to `rel`.
    pub(super) fn upload(&self, root: &Path, rel: &str) -> anyhow::Result<()> {
        storage::upload_file(&root.join(rel), &self.store, &self.path(rel), &self.url(rel))
            .map_err(Into::into)
    }

    /// Uploads every file under `root/rel` (a directory; nothing if it does not exist).
    pub(super) fn upload_dir(&self, root: &Path, rel: &str) -> anyhow::Result<usize> {
        let mut n = 0;
        let Ok(entries) = std::fs::read_dir(root.join(rel)) else { return Ok(0) };
        for e in entries {
            let e = e?;
            let name = format!("{rel}/{}", e.file_name().to_string_lossy());
            if e.file_type()?.is_dir() {
                n += self.upload_dir(root, &name)?;
            } else if !name.ends_with(".tmp") {
                self.upload(root, &name)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Downloads `rel` to `root/rel`; `false` if there is no such object.
    pub(super) fn download(&self, rel: &str, root: &Path) -> anyhow::Result<bool> {
        let Some(bytes) = self.get(rel)? else { return Ok(false) };
        let local = root.join(rel);
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&local, bytes)
            .with_context(|| format!("cannot write {}", local.display()))?;
        Ok(true)
    }

    /// Downloads every object under `rel/` to `root/rel/`.
    pub(super) fn download_dir(&self, rel: &str, root: &Path) -> anyhow::Result<usize> {
        let prefix = self.path(rel);
        let listed: Vec<ObjectPath> = runtime()
            .block_on(async {
                let mut out = Vec::new();
                let mut stream = self.store.list(Some(&prefix));
                while let Some(m) = stream.next().await {
                    out.push(m?.location);
                }
                Ok::<_, object_store::Error>(out)
            })
            .with_context(|| format!("cannot list {}", self.url(rel)))?;
        let base = self.prefix.as_ref();
        let mut n = 0;
        for location in listed {
            let full = location.as_ref();
            let inner = full.strip_prefix(base).unwrap_or(full).trim_start_matches('/');
            if self.download(inner, root)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl RemoteWork {
    /// The bytes of `ranges` of the object `rel` (adjacent ranges fetched together).
    pub(super) fn get_ranges(
        &self,
        rel: &str,
        ranges: &[std::ops::Range<u64>],
    ) -> anyhow::Result<Vec<bytes::Bytes>> {
        let path = self.path(rel);
        runtime()
            .block_on(self.store.get_ranges(&path, ranges))
            .with_context(|| format!("cannot read {}", self.url(rel)))
    }

    /// Removes every object under `rel/`.
    pub(super) fn delete_dir(&self, rel: &str) -> anyhow::Result<usize> {
        let prefix = self.path(rel);
        runtime()
            .block_on(async {
                let mut n = 0;
                let mut stream = self.store.list(Some(&prefix));
                while let Some(m) = stream.next().await {
                    self.store.delete(&m?.location).await?;
                    n += 1;
                }
                Ok::<_, object_store::Error>(n)
            })
            .with_context(|| format!("cannot remove {}", self.url(rel)))
    }
}

/// `path` relative to `root`, with `/` separators (how the work dir's files are named).
pub(super) fn relative(root: &Path, path: &Path) -> anyhow::Result<String> {
    let rel = path
        .strip_prefix(root)
        .with_context(|| format!("{} is not in {}", path.display(), root.display()))?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/"))
}
