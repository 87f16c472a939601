//! `type = "jsonl"` sink: documents as zstd-compressed JSON Lines, `part-00000.jsonl.zst`, ...
//!
//! Each line is `{"id", "text", ...metadata}`, plus `"drop_reason": "stage:rule"` for
//! documents that a stage rejected. Files roll over after `max_file_bytes` of text.

use std::io::Write;

use anyhow::Context;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{AtomicFile, Output, Sink, SinkReport};
use crate::document::{Document, Payload};

/// Writes documents as JSONL.zst parts.
pub struct JsonlSink {
    out: Output,
    max_file_bytes: u64,
    /// Number of the first part this run writes (after the parts of earlier runs when appending).
    first_part: usize,
    /// File names: `{stem}-{n:05}{ext}`.
    stem: String,
    /// The part being written and the text bytes in it.
    current: Option<(JsonlPart, u64)>,
    report: SinkReport,
    /// zstd level of the parts.
    level: i32,
}

/// zstd level of a sink's parts: files that are kept, so size matters as much as speed.
const LEVEL: i32 = 3;

impl std::fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSink")
            .field("out", &self.out)
            .field("part", &self.current.as_ref().map(|c| &c.0.name))
            .finish()
    }
}

impl JsonlSink {
    /// Opens the output and removes parts of an earlier run, or, when `append`, numbers its
    /// parts after them.
    ///
    /// # Errors
    /// The output cannot be prepared.
    pub fn new(
        out: Output,
        max_file_bytes: u64,
        append: bool,
        naming: &super::Naming,
    ) -> anyhow::Result<Self> {
        let first_part = super::first_part(&out, ".jsonl.zst", append, naming)?;
        let stem = naming.doc_stem();
        Ok(Self {
            out,
            max_file_bytes: max_file_bytes.max(1),
            first_part,
            stem,
            current: None,
            report: SinkReport::default(),
            level: LEVEL,
        })
    }

    /// Compresses at zstd `level` instead of the default 3 (e.g. zstd's fast mode, -1, for
    /// files that live for one run).
    #[must_use]
    pub fn with_level(mut self, level: i32) -> Self {
        self.level = level;
        self
    }

    fn close_part(&mut self) -> anyhow::Result<()> {
        if let Some((part, _)) = self.current.take() {
            let name = part.finish(&self.out)?;
            self.report.files.push(self.out.url_of(&name));
        }
        Ok(())
    }
}

/// One zstd-compressed JSON Lines file, visible under its name only once finished.
struct JsonlPart {
    name: String,
    encoder: zstd::Encoder<'static, AtomicFile>,
    line: Vec<u8>,
}

impl JsonlPart {
    /// Starts `name` in the output's directory (as a temporary file), compressed at `level`.
    fn create(out: &Output, name: &str, level: i32) -> anyhow::Result<Self> {
        let file = AtomicFile::create(out.dir(), name)?;
        let encoder = zstd::Encoder::new(file, level).context("cannot start zstd")?;
        Ok(Self { name: name.to_string(), encoder, line: Vec::with_capacity(4096) })
    }

    /// Appends one document, with `drop_reason` when it was rejected.
    fn write(&mut self, doc: &Document, drop_reason: Option<&str>) -> anyhow::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &Record { doc, drop_reason })?;
        self.line.push(b'\n');
        self.encoder.write_all(&self.line).with_context(|| format!("cannot write {}", self.name))
    }

    /// Finishes the file, renames it into place and publishes it; returns its name.
    fn finish(self, out: &Output) -> anyhow::Result<String> {
        let file = self.encoder.finish().with_context(|| format!("cannot finish {}", self.name))?;
        file.commit()?;
        out.publish(&self.name)?;
        Ok(self.name)
    }
}

/// A document as one JSON object, in a fixed key order: `id`, `text`, metadata, then
/// `drop_reason` when given.
struct Record<'a> {
    doc: &'a Document,
    drop_reason: Option<&'a str>,
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.doc;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &d.id)?;
        map.serialize_entry("text", &d.text)?;
        for (k, v) in
            d.metadata.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "text" | "drop_reason"))
        {
            map.serialize_entry(k, v)?;
        }
        if let Some(r) = self.drop_reason {
            map.serialize_entry("drop_reason", r)?;
        }
        map.end()
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, payload: Payload) -> anyhow::Result<()> {
        let Payload::Docs(docs) = payload else { anyhow::bail!("jsonl sink received tokens") };
        for doc in &docs {
            if self.current.is_none() {
                let name = format!(
                    "{}-{:05}.jsonl.zst",
                    self.stem,
                    self.first_part + self.report.files.len()
                );
                self.current = Some((JsonlPart::create(&self.out, &name, self.level)?, 0));
            }
            if let Some((part, bytes)) = &mut self.current {
                let reason = doc.rejected.as_ref().map(ToString::to_string);
                part.write(doc, reason.as_deref())?;
                *bytes += doc.text.len() as u64;
                self.report.documents += 1;
                self.report.bytes += doc.text.len() as u64;
                if *bytes >= self.max_file_bytes {
                    self.close_part()?;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<SinkReport> {
        self.close_part()?;
        Ok(std::mem::take(&mut self.report))
    }

    fn abort(self: Box<Self>) {
        // Dropping the encoder drops the AtomicFile, which removes its temporary file.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of a JSONL output (kept and rejected documents): `id`, `text`,
    /// metadata in order, then `drop_reason`; metadata named like those keys is not repeated.
    #[test]
    fn records_keep_their_layout() {
        let mut doc = Document::new("d1", "hello");
        doc.metadata.insert("lang".into(), serde_json::json!("en"));
        doc.metadata.insert("text".into(), serde_json::json!("shadowed"));
        let line =
            serde_json::to_string(&Record { doc: &doc, drop_reason: Some("dedup:duplicate") })
                .unwrap_or_default();
        assert_eq!(
            line,
            r#"{"id":"d1","text":"hello","lang":"en","drop_reason":"dedup:duplicate"}"#
        );
        let kept =
            serde_json::to_string(&Record { doc: &doc, drop_reason: None }).unwrap_or_default();
        assert_eq!(kept, r#"{"id":"d1","text":"hello","lang":"en"}"#);
    }
}
