//! The dedup configuration stored in the work dir, and errors in what the user asked.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenmill_dedup::{DedupConfig, KeepRule, MinHashConfig};

use super::{ConfigArgs, Keep, WorkArgs};
use crate::config::FileSourceSpec;
use crate::failure::{Failure, FailureKind};
use crate::storage::InputFile;

/// A problem with the command line or its agreement with the work dir (exit code 2).
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(FailureKind::Config, message).into()
}

/// Name of the stored configuration in the work dir.
pub(super) const CONFIG_FILE: &str = "dedup-config.json";

/// `dedup-config.json`: what every phase of one work dir must agree on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkConfig {
    /// Version of this file's layout.
    pub version: u32,
    /// Input files as listed by phase 1; file `i` is split `i`, its documents have ids `i << 32 | n`.
    pub inputs: Vec<String>,
    /// Field holding the text.
    pub text_field: String,
    /// Field holding the document id.
    pub id_field: String,
    /// Numeric field holding the quality score, for `keep = "highest_score"`.
    pub score_field: Option<String>,
    /// The library configuration. `memory_budget` and `dump_clusters` are per invocation
    /// (`--memory`, `--dump-clusters`); they are stored as their defaults and not used.
    pub dedup: DedupConfig,
}

impl WorkConfig {
    /// The library configuration for one invocation.
    pub(super) fn runtime(&self, work: &WorkArgs, dump_clusters: bool) -> DedupConfig {
        DedupConfig {
            memory_budget: usize::try_from(work.memory).unwrap_or(usize::MAX),
            dump_clusters,
            ..self.dedup
        }
    }

    /// How input files are read.
    pub(super) fn source_spec(&self) -> FileSourceSpec {
        FileSourceSpec {
            text_field: self.text_field.clone(),
            id_field: Some(self.id_field.clone()),
            ..FileSourceSpec::new("dedup", vec![])
        }
    }

    /// Checks that `files` are the inputs phase 1 signed, in the same order (ids depend on it).
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

    /// The configuration these flags ask for (defaults where absent), for `inputs`.
    fn build(&self, inputs: Vec<String>) -> anyhow::Result<WorkConfig> {
        let defaults = DedupConfig::default();
        let threshold = self.threshold.unwrap_or(defaults.threshold);
        let num_perm = self.num_perm.unwrap_or(defaults.minhash.num_perm);
        let (bands, rows) = match (self.bands, self.rows) {
            (Some(b), Some(r)) => (b, r),
            (Some(b), None) => (b, num_perm / b.max(1)),
            (None, Some(r)) => (num_perm / r.max(1), r),
            (None, None) if num_perm == defaults.minhash.num_perm => {
                (defaults.minhash.bands, defaults.minhash.rows)
            }
            (None, None) => {
                let m = MinHashConfig::from_threshold(threshold, num_perm)
                    .map_err(|e| usage(e.to_string()))?;
                (m.bands, m.rows)
            }
        };
        let minhash = MinHashConfig {
            num_perm,
            bands,
            rows,
            ngram: self.ngram.unwrap_or(defaults.minhash.ngram),
            char_ngrams: self.char_ngrams,
            shingles: defaults.minhash.shingles,
            seed: self.seed.unwrap_or(defaults.minhash.seed),
        };
        let keep = match self.keep.unwrap_or(Keep::First) {
            Keep::First => KeepRule::First,
            Keep::Longest => KeepRule::Longest,
            Keep::HighestScore => KeepRule::HighestScore,
        };
        if keep == KeepRule::HighestScore && self.score_field.is_none() {
            return Err(usage("--keep highest-score needs --score-field NAME"));
        }
        let dedup = DedupConfig {
            minhash,
            fuzzy: !self.exact_only,
            exact: !self.no_exact,
            verify: !self.no_verify,
            threshold,
            keep,
            ..defaults
        };
        dedup.validate().map_err(|e| usage(e.to_string()))?;
        Ok(WorkConfig {
            version: 1,
            inputs,
            text_field: self.text_field.clone().unwrap_or_else(|| "text".into()),
            id_field: self.id_field.clone().unwrap_or_else(|| "id".into()),
            score_field: self.score_field.clone(),
            dedup,
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
    let stored: WorkConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a dedup configuration", path.display()))?;
    anyhow::ensure!(
        stored.version == 1,
        "{}: version {} is not supported (expected 1)",
        path.display(),
        stored.version
    );
    Ok(Some(stored))
}

/// Phase 1: the configuration of `args` for `files`, stored in the work dir; if one is stored
/// already (another rank, or an earlier run), they must agree.
pub(super) fn establish(
    work_dir: &Path,
    files: &[InputFile],
    args: &ConfigArgs,
) -> anyhow::Result<WorkConfig> {
    let fresh = args.build(files.iter().map(|f| f.url.clone()).collect())?;
    if let Some(stored) = read_stored(work_dir)? {
        stored.check_inputs(files)?;
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
        let fresh = args.build(stored.inputs.clone())?;
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
            for (k, v) in a {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                diff(&key, v, b.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (a, b) if a != b => out.push(format!("{prefix} is {a} in the work dir, {b} here")),
        _ => {}
    }
}
