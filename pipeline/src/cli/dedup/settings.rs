//! The dedup configuration stored in the work dir, and errors in what the user asked.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenmill_dedup::{DedupConfig, MinHashConfig};

use super::{ConfigArgs, Keep};
use crate::failure::{Failure, FailureKind};
use crate::storage::{self, InputFile};

/// A problem with the command line or its agreement with the work dir (exit code 2).
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(FailureKind::Config, message).into()
}

/// Name of the stored configuration in the work dir.
pub(super) const CONFIG_FILE: &str = "dedup-config.json";

/// The version of [`WorkConfig`]'s layout (1 was the layout of the separate dedup driver).
const VERSION: u32 = 2;

/// `dedup-config.json`: what every phase of one work dir must agree on. It fixes the pipeline
/// the phases run (`jsonl` source -> `minhash_dedup` -> `jsonl` sink) up to the options that
/// are per invocation (`--memory`, `--index`, `--dump-clusters`, `--output`, `--rejects`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkConfig {
    /// Version of this file's layout.
    pub version: u32,
    /// Input files as listed by phase 1, in order: the pipeline's source paths.
    pub inputs: Vec<String>,
    /// The job array's size: the task count of phases 1, 2 and 4.
    pub world_size: usize,
    /// Field holding the text.
    pub text_field: String,
    /// Field holding the document id.
    pub id_field: String,
    /// The dedup stage's options, as the pipeline file writes them (`type` included).
    pub stage: serde_json::Map<String, Value>,
}

impl WorkConfig {
    /// Checks that `files` are the inputs phase 1 listed, in the same order.
    pub(super) fn check_inputs(&self, files: &[InputFile]) -> anyhow::Result<()> {
        let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
        if urls == self.inputs {
            return Ok(());
        }
        let first = urls
            .iter()
            .zip(&self.inputs)
            .position(|(a, b)| a != b)
            .unwrap_or(urls.len().min(self.inputs.len()));
        Err(usage(format!(
            "the inputs ({} files) are not those `dedup signatures` listed ({} files, in {CONFIG_FILE}); first difference at \
             file {first}: {} vs {}. Pass the same inputs to every phase",
            urls.len(),
            self.inputs.len(),
            urls.get(first).unwrap_or(&"(none)"),
            self.inputs.get(first).map_or("(none)", String::as_str),
        )))
    }

    /// Checks that this process's world size is the stored one.
    pub(super) fn check_world(&self, world: usize) -> anyhow::Result<()> {
        if world == self.world_size {
            return Ok(());
        }
        Err(usage(format!(
            "--world-size {world} disagrees with {CONFIG_FILE}, where phase 1 ran as {} task(s); pass the same world size to every phase",
            self.world_size
        )))
    }
}

/// Lists `patterns`: each one's matches sorted by URL, patterns in the order given, repeats
/// dropped. Position `i` in this list is input file `i`.
///
/// # Errors
/// A pattern cannot be listed, or nothing matches.
pub(super) fn list_inputs(patterns: &[String]) -> anyhow::Result<Vec<InputFile>> {
    let mut seen = std::collections::HashSet::new();
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
    Ok(files)
}

impl ConfigArgs {
    /// Whether any configuration flag was given.
    fn given(&self) -> bool {
        let c = self;
        c.threshold.is_some()
            || c.num_perm.is_some()
            || c.bands.is_some()
            || c.rows.is_some()
            || c.ngram.is_some()
            || c.seed.is_some()
            || c.keep.is_some()
            || c.score_field.is_some()
            || c.text_field.is_some()
            || c.id_field.is_some()
            || c.char_ngrams
            || c.no_verify
            || c.no_exact
            || c.exact_only
    }

    /// The stage options these flags ask for (defaults where absent), checked by the dedup
    /// library as the stage will be.
    fn stage(&self) -> anyhow::Result<serde_json::Map<String, Value>> {
        let keep = match self.keep.unwrap_or(Keep::First) {
            Keep::First => "first",
            Keep::Longest => "longest",
            Keep::HighestScore => "highest_score",
        };
        if keep == "highest_score" && self.score_field.is_none() {
            return Err(usage("--keep highest-score needs --score-field NAME"));
        }
        let mut stage = serde_json::Map::new();
        stage.insert("keep".into(), keep.into());
        if let Some(f) = &self.score_field {
            stage.insert("score_field".into(), f.as_str().into());
        }
        if self.exact_only {
            stage.insert("type".into(), "exact_dedup".into());
            return Ok(stage);
        }
        let defaults = DedupConfig::default();
        let threshold = self.threshold.unwrap_or(defaults.threshold);
        let num_perm = self.num_perm.unwrap_or(defaults.minhash.num_perm);
        // One of bands and rows gives the other; neither, the stage's defaults.
        let (bands, rows) = match (self.bands, self.rows) {
            (Some(b), Some(r)) => (Some(b), Some(r)),
            (Some(b), None) => (Some(b), Some(num_perm / b.max(1))),
            (None, Some(r)) => (Some(num_perm / r.max(1)), Some(r)),
            (None, None) => (None, None),
        };
        let minhash = match (bands, rows) {
            (Some(bands), Some(rows)) => {
                MinHashConfig { num_perm, bands, rows, ..defaults.minhash }
            }
            _ if num_perm == defaults.minhash.num_perm => defaults.minhash,
            _ => MinHashConfig::from_threshold(threshold, num_perm)
                .map_err(|e| usage(e.to_string()))?,
        };
        DedupConfig { minhash, threshold, ..defaults }
            .validate()
            .map_err(|e| usage(e.to_string()))?;
        stage.insert("type".into(), "minhash_dedup".into());
        stage.insert("threshold".into(), threshold.into());
        stage.insert("num_perm".into(), num_perm.into());
        if let (Some(b), Some(r)) = (bands, rows) {
            stage.insert("bands".into(), b.into());
            stage.insert("rows".into(), r.into());
        }
        stage.insert("ngram".into(), self.ngram.unwrap_or(defaults.minhash.ngram).into());
        stage.insert("char_ngrams".into(), self.char_ngrams.into());
        stage.insert("seed".into(), self.seed.unwrap_or(defaults.minhash.seed).into());
        stage.insert("verify".into(), (!self.no_verify).into());
        stage.insert("exact".into(), (!self.no_exact).into());
        Ok(stage)
    }

    /// The configuration these flags ask for, for `inputs` and `world_size` tasks.
    fn build(&self, inputs: Vec<String>, world_size: usize) -> anyhow::Result<WorkConfig> {
        Ok(WorkConfig {
            version: VERSION,
            inputs,
            world_size,
            text_field: self.text_field.clone().unwrap_or_else(|| "text".into()),
            id_field: self.id_field.clone().unwrap_or_else(|| "id".into()),
            stage: self.stage()?,
        })
    }
}

fn config_path(work_dir: &Path) -> PathBuf {
    work_dir.join(CONFIG_FILE)
}

fn read_stored(work_dir: &Path) -> anyhow::Result<Option<WorkConfig>> {
    let path = config_path(work_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let version = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["version"].as_u64());
    if version.is_some_and(|v| v != u64::from(VERSION)) {
        return Err(usage(format!(
            "{}: version {} was written by an older tokenmill (expected {VERSION}); use a new --work-dir",
            path.display(),
            version.unwrap_or(0)
        )));
    }
    let stored: WorkConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a dedup configuration", path.display()))?;
    Ok(Some(stored))
}

/// Phase 1 (and `dedup run`): the configuration of `args` for `files` and `world_size` tasks,
/// stored in the work dir; if one is stored already (another rank, or an earlier run), they
/// must agree.
pub(super) fn establish(
    work_dir: &Path,
    files: &[InputFile],
    world_size: usize,
    args: &ConfigArgs,
) -> anyhow::Result<WorkConfig> {
    let fresh = args.build(files.iter().map(|f| f.url.clone()).collect(), world_size)?;
    if let Some(stored) = read_stored(work_dir)? {
        stored.check_inputs(files)?;
        stored.check_world(world_size)?;
        compare(work_dir, &stored, &fresh)?;
        return Ok(stored);
    }
    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("cannot create work dir {}", work_dir.display()))?;
    let path = config_path(work_dir);
    // Ranks may race to write it: each writes its own temporary file; the contents are equal.
    let tmp = work_dir.join(format!("{CONFIG_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&fresh)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
    Ok(fresh)
}

/// Later phases: the stored configuration; flags, if any, must agree with it.
pub(super) fn load(work_dir: &Path, args: &ConfigArgs) -> anyhow::Result<WorkConfig> {
    let Some(stored) = read_stored(work_dir)? else {
        return Err(usage(format!(
            "{} has no {CONFIG_FILE}: run `tokenmill dedup signatures INPUT... --work-dir {0}` first",
            work_dir.display()
        )));
    };
    if args.given() {
        let fresh = args.build(stored.inputs.clone(), stored.world_size)?;
        compare(work_dir, &stored, &fresh)?;
    } else {
        tracing::debug!(config = %config_path(work_dir).display(), "using the stored dedup configuration");
    }
    Ok(stored)
}

/// Fails, listing every difference, unless `flags` equals `stored`.
fn compare(work_dir: &Path, stored: &WorkConfig, flags: &WorkConfig) -> anyhow::Result<()> {
    let mut diffs = Vec::new();
    diff("", &serde_json::to_value(stored)?, &serde_json::to_value(flags)?, &mut diffs);
    if diffs.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "the flags disagree with {}: {}. Pass the dedup flags given to `dedup signatures`, or none, or use a new --work-dir",
        config_path(work_dir).display(),
        diffs.join("; ")
    )))
}

fn diff(prefix: &str, stored: &Value, flags: &Value, out: &mut Vec<String>) {
    match (stored, flags) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                let (x, y) = (a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null));
                diff(&key, x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{prefix} is {a} in the work dir, {b} here")),
        _ => {}
    }
}

/// Where phase 3 records its `--index`: the merge that follows phase 4 adds the run to it.
const CLUSTER_FILE: &str = "dedup-cluster.json";

/// Records the index phase 3 used (or none).
///
/// # Errors
/// The file cannot be written.
pub(super) fn record_index(work_dir: &Path, index: Option<&Path>) -> anyhow::Result<()> {
    let path = work_dir.join(CLUSTER_FILE);
    let index = index.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
    std::fs::write(&path, serde_json::json!({ "index": index }).to_string())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The index phase 3 used, if any.
///
/// # Errors
/// The record exists but cannot be read.
pub(super) fn recorded_index(work_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let path = work_dir.join(CLUSTER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an index record", path.display()))?;
            Ok(v["index"].as_str().map(PathBuf::from))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
