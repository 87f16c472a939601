//! `type = "parquet"` sink: documents as zstd-compressed Parquet, `part-00000.parquet`, ...
//!
//! Columns: `id`, `text`, `metadata` (the metadata object as JSON text, since JSON metadata has
//! no fixed schema) and `drop_reason` (null for kept documents).

use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{AtomicFile, Output, Sink, SinkReport};
use crate::document::Payload;

/// Writes documents as Parquet parts.
#[derive(Debug)]
pub struct ParquetSink {
    out: Output,
    max_file_bytes: u64,
    first_part: usize,
    /// File names: `{stem}-{n:05}{ext}`.
    stem: String,
    schema: SchemaRef,
    current: Option<(ArrowWriter<AtomicFile>, String, u64)>,
    report: SinkReport,
}

impl ParquetSink {
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
        let first_part = super::first_part(&out, ".parquet", append, naming)?;
        let stem = naming.doc_stem();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("metadata", DataType::Utf8, false),
            Field::new("drop_reason", DataType::Utf8, true),
        ]));
        Ok(Self {
            out,
            max_file_bytes: max_file_bytes.max(1),
            first_part,
            stem,
            schema,
            current: None,
            report: SinkReport::default(),
        })
    }

    fn close_part(&mut self) -> anyhow::Result<()> {
        if let Some((writer, name, _)) = self.current.take() {
            let file = writer.into_inner().with_context(|| format!("cannot finish {name}"))?;
            file.commit()?;
            self.out.publish(&name)?;
            self.report.files.push(self.out.url_of(&name));
        }
        Ok(())
    }
}

impl Sink for ParquetSink {
    fn write(&mut self, payload: Payload) -> anyhow::Result<()> {
        let Payload::Docs(docs) = payload else { anyhow::bail!("parquet sink received tokens") };
        if docs.is_empty() {
            return Ok(());
        }
        if self.current.is_none() {
            let name =
                format!("{}-{:05}.parquet", self.stem, self.first_part + self.report.files.len());
            let file = AtomicFile::create(self.out.dir(), &name)?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props))
                .context("cannot start parquet writer")?;
            self.current = Some((writer, name, 0));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.id.as_str()))),
            Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.text.as_str()))),
            Arc::new(StringArray::from_iter_values(
                docs.iter().map(|d| serde_json::Value::Object(d.metadata.clone()).to_string()),
            )),
            Arc::new(StringArray::from(
                docs.iter().map(|d| d.rejected.as_ref().map(|r| r.to_string())).collect::<Vec<_>>(),
            )),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let text_bytes = crate::document::text_bytes(&docs);
        self.report.documents += docs.len() as u64;
        self.report.bytes += text_bytes;
        let mut full = false;
        if let Some((writer, name, bytes)) = &mut self.current {
            writer.write(&batch).with_context(|| format!("cannot write {name}"))?;
            *bytes += text_bytes;
            full = *bytes >= self.max_file_bytes;
        }
        if full {
            self.close_part()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<SinkReport> {
        self.close_part()?;
        Ok(std::mem::take(&mut self.report))
    }

    fn abort(self: Box<Self>) {}
}
