//! `manifest.json`: what a dataset directory holds and how it was made.
//!
//! The manifest is written last, atomically (`manifest.json.tmp`, fsync, rename, fsync of
//! the directory), so its presence marks a complete dataset. Example:
//!
//! ```json
//! {
//!   "format": "megatron",
//!   "format_version": 1,
//!   "tool_version": "0.1.0",
//!   "dtype": "uint16",
//!   "vocab_size": 50257,
//!   "eos_id": 50256,
//!   "bos_id": null,
//!   "tokenizer_hash": "…",
//!   "tokenizer_encode_path": "fast (gpt2 regex (hand-written), byte-level BPE)",
//!   "config_hash": "…",
//!   "inputs": ["data/a.jsonl.zst"],
//!   "documents": 2,
//!   "tokens": 4,
//!   "shards": [{ "name": "train_00000", "documents": 2, "tokens": 4, "bin_bytes": 8,
//!                "idx_bytes": 82, "bin_xxh3": "…", "idx_xxh3": "…" }]
//! }
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::writer::{ShardInfo, sync_dir};

/// File name of the manifest inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The value of [`Manifest::format`] for Megatron indexed datasets.
pub const FORMAT_MEGATRON: &str = "megatron";
/// The manifest version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Description of a dataset directory: provenance, totals and every shard with checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Shard format, [`FORMAT_MEGATRON`].
    pub format: String,
    /// Manifest version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Version of the tool that wrote the dataset.
    pub tool_version: String,
    /// Token dtype, by numpy name (see [`DType::name`](crate::DType::name)).
    pub dtype: String,
    /// Tokenizer vocabulary size; every token id is below it.
    pub vocab_size: u64,
    /// End-of-sequence token appended to each document, if any.
    pub eos_id: Option<u32>,
    /// Beginning-of-sequence token prepended to each document, if any.
    pub bos_id: Option<u32>,
    /// Hash identifying the tokenizer.
    pub tokenizer_hash: String,
    /// Which encoder tokenized the documents, and what it ran or why the fast path did not
    /// take the tokenizer, e.g. `fast (NFC, qwen2 split (hand-written), byte-level BPE)`.
    /// Absent in manifests written before it was recorded; ids are the same either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_encode_path: Option<String>,
    /// Hash identifying the pipeline configuration.
    pub config_hash: String,
    /// Input files or URLs, in processing order.
    pub inputs: Vec<String>,
    /// Total documents over all shards.
    pub documents: u64,
    /// Total tokens over all shards.
    pub tokens: u64,
    /// The shards, in dataset order.
    pub shards: Vec<ShardInfo>,
}

impl Manifest {
    /// Writes `dir/manifest.json` atomically, replacing any previous manifest.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the temporary file cannot be written, synced or renamed.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let path = dir.join(MANIFEST_FILE);
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::Io {
            action: "serialize",
            path: path.clone(),
            source: e.into(),
        })?;
        json.push(b'\n');
        let result = (|| {
            let mut file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
            file.write_all(&json).map_err(Error::io("write", &tmp))?;
            file.sync_all().map_err(Error::io("fsync", &tmp))?;
            fs::rename(&tmp, &path).map_err(Error::io("rename", &tmp))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        sync_dir(dir)
    }

    /// The manifest of a dataset made from this one (shuffled, merged, re-sharded):
    /// provenance copied, `tool_version` set to this build's, shards and totals replaced.
    pub(crate) fn derive(&self, shards: Vec<ShardInfo>) -> Manifest {
        Manifest {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            documents: shards.iter().map(|s| s.documents).sum(),
            tokens: shards.iter().map(|s| s.tokens).sum(),
            shards,
            ..self.clone()
        }
    }

    /// Reads `dir/manifest.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be read (e.g. the dataset is incomplete);
    /// [`Error::ManifestJson`] if it is not a valid manifest; [`Error::UnsupportedManifest`]
    /// for another format or a newer version.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|source| Error::ManifestJson { path: path.clone(), source })?;
        if manifest.format != FORMAT_MEGATRON {
            return Err(Error::UnsupportedManifest {
                path,
                message: format!("format {:?}, expected {FORMAT_MEGATRON:?}", manifest.format),
            });
        }
        if manifest.format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedManifest {
                path,
                message: format!(
                    "format_version {}, this build reads {FORMAT_VERSION}; use a matching \
                     tokenmill version",
                    manifest.format_version
                ),
            });
        }
        Ok(manifest)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format: FORMAT_MEGATRON.to_string(),
            format_version: FORMAT_VERSION,
            tool_version: "0.1.0".to_string(),
            dtype: "uint16".to_string(),
            vocab_size: 50_257,
            eos_id: Some(50_256),
            bos_id: None,
            tokenizer_hash: "ab".repeat(16),
            tokenizer_encode_path: None,
            config_hash: "cd".repeat(16),
            inputs: vec!["in/a.jsonl".to_string(), "in/b.parquet".to_string()],
            documents: 2,
            tokens: 4,
            shards: vec![ShardInfo {
                name: "train_00000".to_string(),
                documents: 2,
                tokens: 4,
                bin_bytes: 8,
                idx_bytes: 82,
                bin_xxh3: "0".repeat(32),
                idx_xxh3: "f".repeat(32),
                bin_blocks_xxh3: vec!["0123456789abcdef".into()],
            }],
        }
    }

    #[test]
    fn round_trip_leaves_no_tmp() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = sample();
        m.write(tmp.path()).expect("write");
        assert_eq!(Manifest::read(tmp.path()).expect("read"), m);
        assert!(!tmp.path().join("manifest.json.tmp").exists());
        let text = fs::read_to_string(tmp.path().join(MANIFEST_FILE)).expect("read text");
        assert!(text.contains("\"format\": \"megatron\""), "{text}");
    }

    #[test]
    fn missing_bad_and_foreign_manifests_are_errors() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(matches!(Manifest::read(tmp.path()), Err(Error::Io { .. })));
        fs::write(tmp.path().join(MANIFEST_FILE), "{\"format\": 1}").expect("write");
        assert!(matches!(Manifest::read(tmp.path()), Err(Error::ManifestJson { .. })));
        let mut m = sample();
        m.format_version = 2;
        m.write(tmp.path()).expect("write");
        let err = Manifest::read(tmp.path()).expect_err("version 2 is unsupported");
        assert!(err.to_string().contains("format_version 2"), "{err}");
    }
}
