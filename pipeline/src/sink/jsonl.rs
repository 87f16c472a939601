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
    current: Option<(zstd::Encoder<'static, AtomicFile>, String, u64)>,
    report: SinkReport,
}

impl std::fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSink").field("out", &self.out).field("part", &self.current.as_ref().map(|c| &c.1)).finish()
    }
}

impl JsonlSink {
    /// Opens the output and removes parts of an earlier run, or, when `append`, numbers its
    /// parts after them.
    ///
    /// # Errors
    /// The output cannot be prepared.
    pub fn new(out: Output, max_file_bytes: u64, append: bool, naming: &super::Naming) -> anyhow::Result<Self> {
        let first_part = super::first_part(&out, ".jsonl.zst", append, naming)?;
        let stem = naming.doc_stem();
        Ok(Self { out, max_file_bytes: max_file_bytes.max(1), first_part, stem, current: None, report: SinkReport::default() })
    }

    fn close_part(&mut self) -> anyhow::Result<()> {
        if let Some((encoder, name, _)) = self.current.take() {
            let file = encoder.finish().with_context(|| format!("cannot finish {name}"))?;
            file.commit()?;
            self.out.publish(&name)?;
            self.report.files.push(self.out.url_of(&name));
        }
        Ok(())
    }
}

/// Serializes a document as one JSON object, in a fixed key order.
pub(crate) struct Record<'a>(pub(crate) &'a Document);

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &d.id)?;
        map.serialize_entry("text", &d.text)?;
        for (k, v) in d.metadata.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "text" | "drop_reason")) {
            map.serialize_entry(k, v)?;
        }
        if let Some(r) = &d.rejected {
            map.serialize_entry("drop_reason", &r.to_string())?;
        }
        map.end()
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, payload: Payload) -> anyhow::Result<()> {
        let Payload::Docs(docs) = payload else { anyhow::bail!("jsonl sink received tokens") };
        let mut line = Vec::with_capacity(4096);
        for doc in &docs {
            if self.current.is_none() {
                let name = format!("{}-{:05}.jsonl.zst", self.stem, self.first_part + self.report.files.len());
                let file = AtomicFile::create(self.out.dir(), &name)?;
                let encoder = zstd::Encoder::new(file, 3).context("cannot start zstd")?;
                self.current = Some((encoder, name, 0));
            }
            line.clear();
            serde_json::to_writer(&mut line, &Record(doc))?;
            line.push(b'\n');
            if let Some((encoder, name, bytes)) = &mut self.current {
                encoder.write_all(&line).with_context(|| format!("cannot write {name}"))?;
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
