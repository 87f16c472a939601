//! `type = "llmc"` sink: tokens as one llm.c / nanoGPT flat `.bin` file (a 1 KiB header of 256
//! int32 values, then the tokens back to back; documents are separated by the EOS token the
//! tokenize stage appends). The file is written as `*.tmp` and renamed when complete.

use tokenmill_shards::{FlatFormat, FlatWriter};

use super::{Output, Sink, SinkReport};
use crate::document::Payload;

/// Writes one flat token file.
#[derive(Debug)]
pub struct FlatSink {
    out: Output,
    file: String,
    writer: Option<FlatWriter>,
    report: SinkReport,
}

impl FlatSink {
    /// Starts `file` in the output (uint16 tokens for vocabularies up to 65,536 ids, else uint32).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn new(out: Output, file: &str, vocab_size: u64) -> anyhow::Result<Self> {
        let writer = FlatWriter::create(&out.dir().join(file), FlatFormat::for_vocab(vocab_size))?;
        Ok(Self { out, file: file.into(), writer: Some(writer), report: SinkReport::default() })
    }
}

impl Sink for FlatSink {
    fn write(&mut self, payload: Payload) -> anyhow::Result<()> {
        let Payload::Tokens(docs) = payload else { anyhow::bail!("llmc sink received documents") };
        let Some(w) = self.writer.as_mut() else { anyhow::bail!("llmc sink already finished") };
        for d in &docs {
            w.add_tokens(&d.tokens)?;
            self.report.documents += 1;
            self.report.tokens += d.tokens.len() as u64;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<SinkReport> {
        let Some(w) = self.writer.take() else { anyhow::bail!("llmc sink already finished") };
        w.finish()?;
        self.report.bytes =
            std::fs::metadata(self.out.dir().join(&self.file)).map_or(0, |m| m.len());
        self.out.publish(&self.file)?;
        self.report.files.push(self.out.url_of(&self.file));
        Ok(std::mem::take(&mut self.report))
    }

    fn abort(self: Box<Self>) {
        // Dropping the unfinished writer removes its temporary file.
    }
}
