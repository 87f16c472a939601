//! Paths and URLs: listing inputs (with globs), reading them as byte streams, publishing outputs.
//!
//! A plain path is local disk and goes through `std::fs` (the fast path). Anything with a scheme
//! goes through `object_store`: `s3://`, `gs://`, `az://` (and `abfs://`, `azure://`),
//! `memory://` (one in-process store, for tests and embedding). Credentials and endpoints come
//! from the usual environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...) and from a node's `storage`
//! table, which wins. They are never logged.
//!
//! Async stays here: callers are plain threads that block on one shared tokio runtime.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use globset::{Glob, GlobMatcher};
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// An error reaching storage. Messages name the path or URL, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL could not be understood or its store configured.
    #[error("{url}: {message}")]
    Config {
        /// The URL as written.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Nothing exists at a path without globs.
    #[error("{url}: not found")]
    NotFound {
        /// The URL or path.
        url: String,
    },
    /// Listing, reading or writing failed.
    #[error("{url}: {source}")]
    Io {
        /// The URL or path.
        url: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// A result of this module.
pub type StorageResult<T> = std::result::Result<T, StorageError>;

/// One input file found by [`list_inputs`].
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Full URL, or the local path as given.
    pub url: String,
    /// Size in bytes as stored (compressed size for compressed files).
    pub size: u64,
    /// Where it is.
    pub place: Place,
    /// What changes when the content does: the object's etag (or modification time), the local
    /// file's modification time in nanoseconds. Part of the identity runs record for resuming
    /// and incremental processing.
    pub version: Option<String>,
    /// The part of a large input that is a work unit of its own; `None` for the whole file.
    pub span: Option<Span>,
}

/// A part of a large input, read as a work unit of its own (`run.unit_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// The lines of an uncompressed JSONL file that start in `start..end` (bytes): a line
    /// belongs to the range holding its first byte.
    Bytes {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// Row groups `start..end` of a Parquet file.
    RowGroups {
        /// First row group.
        start: usize,
        /// One past the last row group.
        end: usize,
        /// Their stored (compressed) size.
        bytes: u64,
    },
}

impl InputFile {
    /// The stored bytes of this unit: the file, or its part.
    pub fn unit_bytes(&self) -> u64 {
        match self.span {
            None => self.size,
            Some(Span::Bytes { start, end }) => end - start,
            Some(Span::RowGroups { bytes, .. }) => bytes,
        }
    }
}

/// Where an input lives.
#[derive(Debug, Clone)]
pub enum Place {
    /// Local disk.
    Local(PathBuf),
    /// An object store.
    Object(Arc<dyn ObjectStore>, ObjectPath),
}

/// The tokio runtime that object-store I/O runs on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tokenmill-io")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the I/O runtime: {e}"))
    })
}

/// The process-wide `memory://` store.
pub fn memory_store() -> Arc<InMemory> {
    static MEM: OnceLock<Arc<InMemory>> = OnceLock::new();
    MEM.get_or_init(|| Arc::new(InMemory::new())).clone()
}

/// Whether `s` is a URL with a scheme (as opposed to a local path).
pub fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Builds the store for a URL and returns it with the object path inside it.
///
/// # Errors
/// Unknown scheme, malformed URL, or a store option it does not know.
pub fn store_for(
    url_str: &str,
    options: &BTreeMap<String, String>,
) -> StorageResult<(Arc<dyn ObjectStore>, ObjectPath)> {
    let config = |message: String| StorageError::Config { url: url_str.to_string(), message };
    let (retry, options) = retry_policy(options).map_err(config)?;
    let options = &options;
    let url = url::Url::parse(url_str).map_err(|e| config(format!("invalid URL: {e}")))?;
    let path = ObjectPath::from_url_path(url.path())
        .map_err(|e| config(format!("invalid object path: {e}")))?;
    let bucket_url = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "memory" => memory_store(),
        "file" => Arc::new(object_store::local::LocalFileSystem::new()),
        "s3" | "s3a" => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_url(bucket_url)
                .with_retry(retry.clone());
            for (k, v) in options {
                let key =
                    k.parse().map_err(|_| config(format!("unknown S3 storage option `{k}`")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| config(e.to_string()))?)
        }
        "gs" => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(bucket_url)
                .with_retry(retry.clone());
            for (k, v) in options {
                let key =
                    k.parse().map_err(|_| config(format!("unknown GCS storage option `{k}`")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| config(e.to_string()))?)
        }
        "az" | "abfs" | "abfss" | "azure" | "adl" => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url_str)
                .with_retry(retry.clone());
            for (k, v) in options {
                let key =
                    k.parse().map_err(|_| config(format!("unknown Azure storage option `{k}`")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| config(e.to_string()))?)
        }
        other => {
            return Err(config(format!(
                "unsupported scheme `{other}` (use a local path, file://, s3://, gs://, az:// or memory://; http(s):// URLs name single files such as a tokenizer)"
            )));
        }
    };
    Ok((store, path))
}

/// Whether the object or file `url` is among those a source path `pattern` names: the same
/// scheme and bucket, and the key matching the glob, equal to the path, or under it as a folder.
pub fn pattern_matches(pattern: &str, url: &str) -> bool {
    fn split(s: &str) -> (String, String, String) {
        match s.split_once("://") {
            Some((scheme, rest)) => {
                let (host, key) = rest.split_once('/').unwrap_or((rest, ""));
                let scheme = if scheme == "s3a" { "s3" } else { scheme };
                (scheme.to_string(), host.to_string(), key.to_string())
            }
            None => ("file".into(), String::new(), s.trim_start_matches("./").to_string()),
        }
    }
    let ((ps, ph, pk), (us, uh, uk)) = (split(pattern), split(url));
    if ps != us || ph != uh {
        return false;
    }
    if has_glob(&pk) {
        return Glob::new(&pk).is_ok_and(|g| g.compile_matcher().is_match(&uk));
    }
    let dir = pk.trim_end_matches('/');
    uk == pk || dir.is_empty() || uk.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// Retries of object-store requests: `max_retries` (default 6) and `retry_timeout` (default
/// `60s`, the longest a request is retried, with exponential backoff from 100 ms) from a
/// source's or sink's `storage` options; returns the policy and the other options.
fn retry_policy(
    options: &BTreeMap<String, String>,
) -> Result<(object_store::RetryConfig, BTreeMap<String, String>), String> {
    let mut rest = options.clone();
    let mut retry = object_store::RetryConfig {
        max_retries: 6,
        retry_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    if let Some(v) = rest.remove("max_retries") {
        retry.max_retries = v
            .trim()
            .parse()
            .map_err(|_| format!("storage option max_retries = `{v}` is not a number"))?;
    }
    if let Some(v) = rest.remove("retry_timeout") {
        retry.retry_timeout = crate::duration::parse_duration(&v)
            .map_err(|e| format!("storage option retry_timeout: {e}"))?;
    }
    Ok((retry, rest))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Splits `a/b/*.jsonl` into the literal prefix `a/b` and a matcher for the whole path.
fn split_glob(path: &str) -> StorageResult<(String, Option<GlobMatcher>)> {
    if !has_glob(path) {
        return Ok((path.to_string(), None));
    }
    let first = path.find(['*', '?', '[', '{']).unwrap_or(path.len());
    let base = path[..first].rfind('/').map_or(String::new(), |i| path[..i].to_string());
    let glob = Glob::new(path).map_err(|e| StorageError::Config {
        url: path.into(),
        message: format!("invalid glob: {e}"),
    })?;
    Ok((base, Some(glob.compile_matcher())))
}

/// Expands a path or URL (with globs; a directory or `prefix/` means everything under it) into
/// input files, sorted by URL so every run sees the same order.
///
/// # Errors
/// [`StorageError::NotFound`] when a path without globs does not exist; listing failures.
pub fn list_inputs(
    pattern: &str,
    options: &BTreeMap<String, String>,
) -> StorageResult<Vec<InputFile>> {
    let mut files = if let Some(local) = pattern.strip_prefix("file://") {
        list_local(local)?
    } else if is_url(pattern) {
        list_remote(pattern, options)?
    } else {
        list_local(pattern)?
    };
    files.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(files)
}

fn list_local(pattern: &str) -> StorageResult<Vec<InputFile>> {
    let io_err =
        |url: &Path, source: io::Error| StorageError::Io { url: url.display().to_string(), source };
    let (base, matcher) = split_glob(pattern)?;
    let base = if base.is_empty() { PathBuf::from(".") } else { PathBuf::from(&base) };
    if matcher.is_none() {
        let meta = std::fs::metadata(&base).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound { url: pattern.into() },
            _ => io_err(&base, e),
        })?;
        if meta.is_file() {
            return Ok(vec![InputFile {
                url: pattern.into(),
                size: meta.len(),
                place: Place::Local(base),
                version: mtime(&meta),
                span: None,
            }]);
        }
    }
    let mut out = Vec::new();
    // Links are followed (a corpus directory of links is common); walkdir reports a link that
    // points back at its own ancestor instead of walking it forever.
    for entry in walkdir::WalkDir::new(&base).follow_links(true) {
        let (path, meta) = match entry {
            Ok(e) if e.file_type().is_dir() => continue,
            Ok(e) => {
                let meta = e.metadata().ok();
                (e.into_path(), meta)
            }
            Err(e) if e.loop_ancestor().is_some() => {
                tracing::warn!(
                    "{}: a link loop, not followed: {e}",
                    e.path().map_or(String::new(), |p| p.display().to_string())
                );
                continue;
            }
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| base.clone());
                match e.io_error().map(io::Error::kind) {
                    // The base of a glob that matches nothing is an empty listing.
                    Some(io::ErrorKind::NotFound) if e.depth() == 0 && matcher.is_some() => {
                        continue;
                    }
                    // A dangling link is still listed: reading it then fails with an error that
                    // names it, and the rest of the listing goes on.
                    Some(io::ErrorKind::NotFound) if e.depth() > 0 => (path, None),
                    _ => {
                        return Err(io_err(
                            &path,
                            e.into_io_error().unwrap_or_else(|| io::Error::other("walk failed")),
                        ));
                    }
                }
            }
        };
        let shown = path.to_string_lossy().trim_start_matches("./").to_string();
        let keep = match &matcher {
            Some(m) => m.is_match(&shown) || m.is_match(&path),
            None => !is_hidden(&path),
        };
        if keep {
            out.push(InputFile {
                url: shown,
                size: meta.as_ref().map_or(0, |m| m.len()),
                version: meta.as_ref().and_then(mtime),
                place: Place::Local(path),
                span: None,
            });
        }
    }
    Ok(out)
}

/// A local file's modification time in nanoseconds since the epoch.
pub fn mtime(meta: &std::fs::Metadata) -> Option<String> {
    let t = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("mtime:{}", t.as_nanos()))
}

/// An object's etag, or its modification time when the store gives no etag.
fn object_version(meta: &object_store::ObjectMeta) -> Option<String> {
    match &meta.e_tag {
        Some(tag) => Some(format!("etag:{tag}")),
        None => Some(format!(
            "modified:{}",
            meta.last_modified.timestamp_nanos_opt().unwrap_or_default()
        )),
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

fn list_remote(pattern: &str, options: &BTreeMap<String, String>) -> StorageResult<Vec<InputFile>> {
    let (scheme_host, key) = match pattern.split_once("://") {
        Some((scheme, rest)) => {
            let (host, key) = rest.split_once('/').unwrap_or((rest, ""));
            (format!("{scheme}://{host}"), key.to_string())
        }
        None => (String::new(), pattern.to_string()),
    };
    let (base, matcher) = split_glob(&key)?;
    let (store, _) = store_for(&format!("{scheme_host}/{base}"), options)?;
    let io_err = |e: object_store::Error| StorageError::Io {
        url: pattern.into(),
        source: io::Error::other(e),
    };
    if matcher.is_none() && !key.ends_with('/') && !key.is_empty() {
        let path = ObjectPath::from(key.as_str());
        match runtime().block_on(store.head(&path)) {
            Ok(meta) => {
                return Ok(vec![InputFile {
                    url: pattern.into(),
                    size: meta.size,
                    version: object_version(&meta),
                    place: Place::Object(store, path),
                    span: None,
                }]);
            }
            Err(object_store::Error::NotFound { .. }) => {} // maybe a prefix; list below
            Err(e) => return Err(io_err(e)),
        }
    }
    let prefix = ObjectPath::from(base.as_str());
    let metas: Vec<object_store::ObjectMeta> = runtime().block_on(async {
        let mut out = Vec::new();
        let mut stream = store.list(if base.is_empty() { None } else { Some(&prefix) });
        while let Some(m) = stream.next().await {
            out.push(m.map_err(io_err)?);
        }
        Ok::<_, StorageError>(out)
    })?;
    let files: Vec<InputFile> = metas
        .into_iter()
        .filter(|m| matcher.as_ref().is_none_or(|g| g.is_match(m.location.as_ref())))
        .map(|m| InputFile {
            url: format!("{scheme_host}/{}", m.location),
            size: m.size,
            version: object_version(&m),
            place: Place::Object(store.clone(), m.location),
            span: None,
        })
        .collect();
    if files.is_empty() && matcher.is_none() {
        return Err(StorageError::NotFound { url: pattern.into() });
    }
    Ok(files)
}

/// Opens an input for streaming reads of its raw (still compressed) bytes.
///
/// # Errors
/// The file or object cannot be opened.
///
/// For a [`Span::Bytes`] unit the stream starts one byte before the span (so that its reader
/// can tell whether the span starts a line) and, for an object, ends `max_record` bytes after
/// it (the last line the span holds ends there at the latest).
pub fn open_raw(file: &InputFile) -> StorageResult<Box<dyn Read + Send>> {
    open_span(file, u64::MAX)
}

/// [`open_raw`], reading at most `max_record` bytes past the end of a byte-range unit.
///
/// # Errors
/// The file or object cannot be opened.
pub fn open_span(file: &InputFile, max_record: u64) -> StorageResult<Box<dyn Read + Send>> {
    let (from, to) = match file.span {
        Some(Span::Bytes { start, end }) => (
            start.saturating_sub(1),
            end.saturating_add(max_record).saturating_add(1).min(file.size),
        ),
        _ => (0, file.size),
    };
    match &file.place {
        Place::Local(p) => {
            let io = |source| StorageError::Io { url: file.url.clone(), source };
            let mut f = std::fs::File::open(p).map_err(io)?;
            if from > 0 {
                io::Seek::seek(&mut f, io::SeekFrom::Start(from)).map_err(io)?;
            }
            Ok(Box::new(f))
        }
        Place::Object(store, path) => {
            let range = match file.span {
                Some(Span::Bytes { .. }) => Some(object_store::GetRange::Bounded(from..to)),
                _ => None,
            };
            Ok(Box::new(ObjectReader::open(store.clone(), path.clone(), &file.url, range)?))
        }
    }
}

/// Reads an object as a blocking stream; chunks arrive from the I/O runtime through a small
/// bounded channel, so memory stays at a few chunks whatever the object's size.
struct ObjectReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ObjectReader {
    fn open(
        store: Arc<dyn ObjectStore>,
        path: ObjectPath,
        url: &str,
        range: Option<object_store::GetRange>,
    ) -> StorageResult<Self> {
        let options = object_store::GetOptions { range, ..Default::default() };
        let got = runtime().block_on(store.get_opts(&path, options)).map_err(|e| match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound { url: url.into() },
            e => StorageError::Io { url: url.into(), source: io::Error::other(e) },
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        runtime().spawn(async move {
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                if tx.send(chunk.map_err(io::Error::other)).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Self { rx, current: Bytes::new() })
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Whether a read error came from the object store (network, server, timeout) rather than from
/// the data: such an input is worth reading again later, a corrupt one is not.
pub fn is_transport_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<object_store::Error>())
}

/// Writes `bytes` to a URL in one put (small files: manifests, markers).
///
/// # Errors
/// The store refuses the write.
pub fn put_object(
    store: &Arc<dyn ObjectStore>,
    path: &ObjectPath,
    url: &str,
    bytes: Bytes,
) -> StorageResult<()> {
    runtime()
        .block_on(store.put(path, bytes.into()))
        .map(|_| ())
        .map_err(|e| StorageError::Io { url: url.into(), source: io::Error::other(e) })
}

/// Uploads a local file to an object store in parts of 8 MiB (multipart above that size).
///
/// # Errors
/// Reading the file or the upload failed; a failed multipart upload is aborted by the store.
pub fn upload_file(
    local: &Path,
    store: &Arc<dyn ObjectStore>,
    path: &ObjectPath,
    url: &str,
) -> StorageResult<()> {
    let io_err = |source: io::Error| StorageError::Io { url: url.into(), source };
    let mut file = std::fs::File::open(local).map_err(io_err)?;
    runtime().block_on(async {
        use tokio::io::AsyncWriteExt;
        let mut w =
            object_store::buffered::BufWriter::with_capacity(store.clone(), path.clone(), 8 << 20);
        loop {
            let mut chunk = vec![0u8; 8 << 20];
            let n = read_full(&mut file, &mut chunk).map_err(io_err)?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            w.put(Bytes::from(chunk)).await.map_err(|e| io_err(io::Error::other(e)))?;
        }
        w.shutdown().await.map_err(io_err)
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

mod web;
pub use web::{fetch_web, is_web_url};

#[cfg(test)]
mod tests;
