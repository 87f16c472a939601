//! Benchmark files for the `decontaminate` stage, read with the sources' JSONL and Parquet
//! readers: one entry per record, its listed fields joined by newlines.
//!
//! The stage's [`BuildOperator`] is implemented here rather than next to its spec in
//! `stage::decontaminate`, because the readers are this layer's and the stages sit below it;
//! [`decontaminator`] also builds the matcher of the stage as a barrier, for the runner.

use std::collections::BTreeSet;

use anyhow::Context;
use serde_json::Value;
use tokenmill_filters::decontam::Decontaminator;

use super::{ChunkLimits, Format};
use crate::config::FileSourceSpec;
use crate::document::Document;
use crate::stage::decontaminate::{BenchmarkSpec, Decontaminate, DecontaminateSpec};
use crate::stage::{BuildOperator, Operator, StageKind};
use crate::storage;

impl BuildOperator for DecontaminateSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        if self.stage_kind() == StageKind::Barrier {
            // The runner counts its input first (`runner::barrier`).
            return Ok(None);
        }
        Ok(Some(Operator::Transform(Box::new(Decontaminate::new(decontaminator(self)?)))))
    }
}

/// The matcher of a `decontaminate` stage: its benchmarks and ignore files read and indexed.
///
/// # Errors
/// An option is out of range, benchmark names repeat, or a benchmark or ignore file cannot be
/// read or parsed.
pub fn decontaminator(spec: &DecontaminateSpec) -> anyhow::Result<Decontaminator> {
    let config = spec.config();
    Decontaminator::validate(&config)?;
    let mut builder = Decontaminator::builder(config);
    let mut names = BTreeSet::new();
    for b in &spec.benchmarks {
        if b.name.is_empty() || !names.insert(b.name.as_str()) {
            anyhow::bail!("benchmark names must be unique and non-empty: `{}`", b.name);
        }
        let id = builder.add_benchmark(&b.name)?;
        for_each_entry(b, &mut |text| builder.add_entry(id, text))?;
    }
    for path in &spec.ignore_files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read ignore file {}", path.display()))?;
        builder.ignore_text(&text);
    }
    let inner = builder.build()?;
    for b in inner.benchmarks() {
        tracing::info!(
            stage = %spec.name, benchmark = %b.name, entries = b.entries,
            short_entries = b.short_entries, ngrams = b.ngrams, "decontamination index"
        );
    }
    Ok(inner)
}

/// Calls `f` with each entry of a benchmark's files, in order; returns how many there were.
///
/// # Errors
/// No file matches, a file cannot be read or parsed, or a record lacks one of the fields (the
/// message names the file and line, or row for Parquet).
pub fn for_each_entry(b: &BenchmarkSpec, f: &mut dyn FnMut(&str)) -> anyhow::Result<u64> {
    let Some(first) = b.fields.first() else {
        anyhow::bail!("benchmark `{}` lists no `fields`", b.name);
    };
    let mut spec = FileSourceSpec::new(b.name.clone(), vec![b.path.clone()]);
    spec.text_field = first.clone();
    let files = storage::list_inputs(&b.path, &spec.storage)
        .with_context(|| format!("benchmark `{}`: cannot list {}", b.name, b.path))?;
    if files.is_empty() {
        anyhow::bail!("benchmark `{}`: no file matches {}", b.name, b.path);
    }
    let limits = ChunkLimits { docs: 1024, bytes: 8 << 20, max_record: 64 << 20 };
    let mut entries = 0u64;
    let mut text = String::new();
    for file in &files {
        let mut failure = None;
        super::read_file(0, &spec, Format::from_name(&file.url), file, limits, &mut |chunk| {
            let (docs, errors) = super::parse_chunk(&spec, chunk);
            if let Some(e) = errors.first() {
                failure = Some(anyhow::anyhow!("benchmark `{}`: {e}", b.name));
                return false;
            }
            for doc in &docs {
                if let Err(e) = entry_text(doc, &b.fields[1..], &mut text) {
                    failure = Some(anyhow::anyhow!("benchmark `{}`: {}: {e}", b.name, doc.id));
                    return false;
                }
                f(&text);
                entries += 1;
            }
            true
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(entries)
}

/// A record's fields as one entry: the text (first field), then each of `rest`, joined by
/// newlines.
fn entry_text(doc: &Document, rest: &[String], out: &mut String) -> Result<(), String> {
    out.clear();
    out.push_str(&doc.text);
    for field in rest {
        out.push('\n');
        match doc.metadata.get(field) {
            None | Some(Value::Null) => return Err(format!("no `{field}` field")),
            Some(value) => push_value(value, out),
        }
    }
    Ok(())
}

/// A field's text: a string as it is, a list item by item on lines of their own, anything else
/// as JSON (numbers, booleans).
fn push_value(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                push_value(item, out);
            }
        }
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(dir: &std::path::Path, fields: &[&str]) -> BenchmarkSpec {
        let path = dir.join("bench.jsonl");
        let line = serde_json::json!({ "question": "Q one", "answer": 42, "choices": ["a", "b"] });
        std::fs::write(&path, format!("{line}\n{{\"question\": \"Q two\"}}\n")).expect("write");
        BenchmarkSpec {
            name: "quiz".into(),
            path: path.display().to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn entries_join_their_fields_and_a_missing_one_names_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut seen = Vec::new();
        let n =
            for_each_entry(&bench(dir.path(), &["question"]), &mut |t| seen.push(t.to_string()))
                .expect("reads");
        assert_eq!((n, seen), (2, vec!["Q one".to_string(), "Q two".to_string()]));
        let mut first = None;
        let b = bench(dir.path(), &["question", "answer", "choices"]);
        let err = for_each_entry(&b, &mut |t| {
            first.get_or_insert_with(|| t.to_string());
        })
        .expect_err("line 2 has no answer");
        assert_eq!(first.as_deref(), Some("Q one\n42\na\nb"));
        let msg = format!("{err:#}");
        assert!(msg.contains("bench.jsonl:2") && msg.contains("no `answer` field"), "{msg}");
        let missing = BenchmarkSpec { path: "/nonexistent/*.jsonl".into(), ..b };
        let err = for_each_entry(&missing, &mut |_| {}).expect_err("nothing to read");
        assert!(format!("{err:#}").contains("/nonexistent/"), "{err:#}");
    }
}
