//! `type = "megatron"` sink: token shards as a Megatron indexed dataset plus `manifest.json`.
//!
//! One document is one sequence. Shards roll over at the configured size and are published as
//! each completes; the manifest is written last, so a dataset with a manifest is complete.

use std::path::PathBuf;

use tokenmill_shards::{DType, Manifest, ShardSetWriter, ShardTarget, VerifyOptions};

use super::{Output, Sink, SinkReport};
use crate::document::Payload;

/// What the sink needs to know about the tokens it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Vocabulary size: every id is below it.
    pub vocab_size: u64,
    /// EOS id, when every document ends with it.
    pub eos_id: Option<u32>,
    /// BOS id, when every document starts with it.
    pub bos_id: Option<u32>,
    /// Hash of the tokenizer.
    pub tokenizer_hash: String,
    /// Which encoder runs the tokenizer ([`tokenmill_tokenize::EncodePath`], displayed).
    pub encode_path: Option<String>,
}

/// A global shuffle applied when the sink finishes.
#[derive(Debug, Clone)]
pub struct ShuffleSpec {
    /// Seed of the permutation.
    pub seed: u64,
    /// Memory budget in bytes.
    pub memory: u64,
    /// Where the unshuffled shards wait (removed afterwards).
    pub staging: PathBuf,
}

/// Writes `.bin/.idx` shards and the manifest.
#[derive(Debug)]
pub struct MegatronSink {
    out: Output,
    prefix: String,
    target: ShardTarget,
    shuffle: Option<ShuffleSpec>,
    writer: Option<ShardSetWriter>,
    published: usize,
    dtype: DType,
    tokens: TokenSpec,
    config_hash: String,
    inputs: Vec<String>,
    report: SinkReport,
    /// The dataset this run appends to (incremental runs).
    previous: Option<Manifest>,
    /// A job-array task's part: no manifest in the output (the merge step writes it).
    part: bool,
}

impl MegatronSink {
    /// Shuffles the dataset complete in staging into the output; when appending, through a side
    /// directory, so that the new shards are numbered after the `first` old ones.
    fn shuffle_into_output(
        &self,
        s: &ShuffleSpec,
        manifest: &Manifest,
        first: usize,
    ) -> anyhow::Result<Manifest> {
        manifest.write(&s.staging)?;
        let target = if first > 0 {
            s.staging.with_extension("shuffled")
        } else {
            self.out.dir().to_path_buf()
        };
        let mut shuffled = tokenmill_shards::shuffle_dataset(
            &s.staging,
            &target,
            &self.prefix,
            s.seed,
            s.memory,
            self.target,
        )?;
        std::fs::remove_dir_all(&s.staging)?;
        if first > 0 {
            for (i, shard) in shuffled.shards.iter_mut().enumerate() {
                let name = format!("{}_{:05}", self.prefix, first + i);
                for ext in ["bin", "idx"] {
                    std::fs::rename(
                        target.join(format!("{}.{ext}", shard.name)),
                        self.out.dir().join(format!("{name}.{ext}")),
                    )?;
                }
                shard.name = name;
            }
            std::fs::remove_dir_all(&target)?;
        }
        Ok(shuffled)
    }

    /// Reads a part's shards back (checksums, token range, EOS) before reporting them done.
    fn verify_part(&self, manifest: &Manifest) -> anyhow::Result<()> {
        let opts = VerifyOptions {
            vocab_size: Some(self.tokens.vocab_size),
            eos_id: self.tokens.eos_id,
            check_checksums: true,
        };
        let report = tokenmill_shards::verify_shards(self.out.dir(), manifest, &opts);
        if !report.is_ok() {
            let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            anyhow::bail!("shards failed verification after writing:\n{}", problems.join("\n"));
        }
        Ok(())
    }

    /// Opens the output, removing the manifest and shards of an earlier run first (manifest
    /// first, so a dataset never has a manifest describing other shards). With `append`, an
    /// existing dataset is kept: new shards are numbered after its shards and the manifest
    /// written at the end lists both; old shards are neither rewritten nor read again.
    ///
    /// # Errors
    /// The output cannot be prepared, or the existing dataset was tokenized differently.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        out: Output,
        prefix: &str,
        target: ShardTarget,
        tokens: TokenSpec,
        config_hash: String,
        inputs: Vec<String>,
        shuffle: Option<ShuffleSpec>,
        append: bool,
        naming: &super::Naming,
    ) -> anyhow::Result<Self> {
        let dtype = DType::for_vocab(usize::try_from(tokens.vocab_size).unwrap_or(usize::MAX));
        let (prefix, writer, previous) = match naming {
            super::Naming::Part(tag) => {
                if shuffle.is_some() || append {
                    anyhow::bail!(
                        "a job array cannot shuffle or append to a megatron output: run `tokenmill shuffle` (or `merge`) on the dataset the array wrote"
                    );
                }
                // Only this part's shards: other tasks write beside it, and the merge step
                // removes files that no task of the job wrote.
                let prefix = format!("{prefix}_{tag}");
                let writer = ShardSetWriter::new(out.dir(), &prefix, dtype, target)?;
                (prefix, writer, None)
            }
            super::Naming::Whole => {
                let (writer, previous) =
                    Self::whole(&out, prefix, dtype, target, &tokens, shuffle.as_ref(), append)?;
                (prefix.to_string(), writer, previous)
            }
        };
        Ok(Self {
            out,
            prefix,
            target,
            shuffle,
            writer: Some(writer),
            published: 0,
            dtype,
            tokens,
            config_hash,
            inputs,
            report: SinkReport::default(),
            previous,
            part: matches!(naming, super::Naming::Part(_)),
        })
    }

    /// The writer of a whole dataset: an earlier run's shards removed first, or (appending)
    /// the dataset appended to, checked to be tokenized the same way.
    fn whole(
        out: &Output,
        prefix: &str,
        dtype: DType,
        target: ShardTarget,
        tokens: &TokenSpec,
        shuffle: Option<&ShuffleSpec>,
        append: bool,
    ) -> anyhow::Result<(ShardSetWriter, Option<Manifest>)> {
        let previous = if append && out.fetch(tokenmill_shards::MANIFEST_FILE)? {
            let m = Manifest::read(out.dir())?;
            let same = m.dtype == dtype.name()
                && m.vocab_size == tokens.vocab_size
                && m.tokenizer_hash == tokens.tokenizer_hash;
            if !same || m.eos_id != tokens.eos_id || m.bos_id != tokens.bos_id {
                anyhow::bail!(
                    "cannot append to {}: its shards were tokenized differently (tokenizer, vocabulary or EOS/BOS differ); write to a new output",
                    out.url_of(tokenmill_shards::MANIFEST_FILE)
                );
            }
            Some(m)
        } else {
            None
        };
        let stem = format!("{prefix}_");
        match &previous {
            None => {
                out.clear(|n| n == tokenmill_shards::MANIFEST_FILE)?;
                out.clear(|n| {
                    n.starts_with(&stem)
                        && (n.ends_with(".bin") || n.ends_with(".idx") || n.ends_with(".tmp"))
                })?;
            }
            Some(m) => {
                // Shards of an append that did not complete are not in the manifest: remove them.
                let listed: std::collections::HashSet<String> = m
                    .shards
                    .iter()
                    .flat_map(|s| [format!("{}.bin", s.name), format!("{}.idx", s.name)])
                    .collect();
                out.clear(|n| {
                    n.starts_with(&stem)
                        && !listed.contains(n)
                        && [".bin", ".idx", ".tmp"].iter().any(|e| n.ends_with(e))
                })?;
            }
        }
        let first = previous.as_ref().map_or(0, |m| m.shards.len());
        let dir = match shuffle {
            Some(s) => {
                if s.staging.exists() {
                    std::fs::remove_dir_all(&s.staging)?;
                }
                s.staging.clone()
            }
            None => out.dir().to_path_buf(),
        };
        // Unshuffled shards are renamed when moved into place; only direct writes continue the
        // numbering.
        let writer = ShardSetWriter::new(&dir, prefix, dtype, target)?
            .with_first_index(if shuffle.is_some() { 0 } else { first });
        Ok((writer, previous))
    }

    fn publish_completed(&mut self, shards: &[tokenmill_shards::ShardInfo]) -> anyhow::Result<()> {
        for shard in &shards[self.published..] {
            // Data first, index last: a visible .idx implies a complete .bin.
            for ext in ["bin", "idx"] {
                let name = format!("{}.{ext}", shard.name);
                self.out.publish(&name)?;
                self.report.files.push(self.out.url_of(&name));
            }
        }
        self.published = shards.len();
        Ok(())
    }
}

impl Sink for MegatronSink {
    fn write(&mut self, payload: Payload) -> anyhow::Result<()> {
        let Payload::Tokens(docs) = payload else {
            anyhow::bail!("megatron sink received documents")
        };
        let Some(writer) = self.writer.as_mut() else {
            anyhow::bail!("megatron sink already finished")
        };
        for doc in &docs {
            writer.add_document(&doc.tokens)?;
            self.report.documents += 1;
            self.report.tokens += doc.tokens.len() as u64;
        }
        if self.shuffle.is_none() && writer.completed().len() > self.published {
            let done = writer.completed().to_vec();
            self.publish_completed(&done)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<SinkReport> {
        let Some(writer) = self.writer.take() else {
            anyhow::bail!("megatron sink already finished")
        };
        let shards = writer.finish()?;
        let manifest = Manifest {
            format: tokenmill_shards::FORMAT_MEGATRON.into(),
            format_version: tokenmill_shards::FORMAT_VERSION,
            tool_version: format!("tokenmill {}", crate::LONG_VERSION),
            dtype: self.dtype.name().into(),
            vocab_size: self.tokens.vocab_size,
            eos_id: self.tokens.eos_id,
            bos_id: self.tokens.bos_id,
            tokenizer_hash: self.tokens.tokenizer_hash.clone(),
            tokenizer_encode_path: self.tokens.encode_path.clone(),
            config_hash: self.config_hash.clone(),
            inputs: std::mem::take(&mut self.inputs),
            documents: self.report.documents,
            tokens: self.report.tokens,
            shards,
        };
        if self.part {
            self.publish_completed(&manifest.shards)?;
            self.report.bytes = manifest.shards.iter().map(|s| s.bin_bytes).sum();
            if !self.out.is_remote() {
                self.verify_part(&manifest)?;
            }
            self.report.part = Some(manifest);
            return Ok(std::mem::take(&mut self.report));
        }
        let first = self.previous.as_ref().map_or(0, |m| m.shards.len());
        let mut manifest = match self.shuffle.clone() {
            None => manifest,
            Some(s) => self.shuffle_into_output(&s, &manifest, first)?,
        };
        self.publish_completed(&manifest.shards)?;
        self.report.bytes = manifest.shards.iter().map(|s| s.bin_bytes).sum();
        if let Some(previous) = self.previous.take() {
            manifest.documents += previous.documents;
            manifest.tokens += previous.tokens;
            let mut inputs = previous.inputs;
            inputs.append(&mut manifest.inputs);
            manifest.inputs = inputs;
            let mut shards = previous.shards;
            shards.append(&mut manifest.shards);
            manifest.shards = shards;
        }
        if !self.out.is_remote() {
            // Read back what was written before declaring it complete (what this run wrote).
            let manifest_path = self.out.dir().join(tokenmill_shards::MANIFEST_FILE);
            let old = if first > 0 { std::fs::read(&manifest_path).ok() } else { None };
            manifest.write(self.out.dir())?;
            let opts = VerifyOptions {
                vocab_size: Some(self.tokens.vocab_size),
                eos_id: self.tokens.eos_id,
                check_checksums: true,
            };
            let report = tokenmill_shards::verify_dir_from(self.out.dir(), &opts, first)?;
            if !report.is_ok() {
                // The dataset goes back to what it was: the old manifest, or none.
                let _ = match old {
                    Some(bytes) => std::fs::write(&manifest_path, bytes),
                    None => std::fs::remove_file(&manifest_path),
                };
                let problems: Vec<String> =
                    report.problems.iter().map(ToString::to_string).collect();
                anyhow::bail!("shards failed verification after writing:\n{}", problems.join("\n"));
            }
        } else {
            manifest.write(self.out.dir())?;
        }
        self.out.publish(tokenmill_shards::MANIFEST_FILE)?;
        self.report.files.push(self.out.url_of(tokenmill_shards::MANIFEST_FILE));
        Ok(std::mem::take(&mut self.report))
    }

    fn abort(mut self: Box<Self>) {
        if let Some(w) = self.writer.take() {
            w.abort();
        }
        if let Some(s) = &self.shuffle {
            let _ = std::fs::remove_dir_all(&s.staging);
        }
    }
}
