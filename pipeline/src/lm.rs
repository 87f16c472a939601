//! Small language models over a tokenizer's ids: the compacted vocabulary they work on, and the
//! `.tmlm` file that `tokenmill train-lm` writes and the `perplexity` stage reads.
//!
//! A model trained in minutes on two cores cannot afford a 50k-row embedding, so it sees a
//! compacted vocabulary: the `cap - 1` most frequent ids of its training text keep an id of their
//! own, every other id shares one "rare" id ([`Compaction`]).
//!
//! File layout (little-endian): magic `TMLMFILE`, version u32 = 1, tokenizer hash (u32 length +
//! UTF-8), number of kept ids u32, the kept ids u32 each (compact id `i` is original id
//! `kept[i]`; the rare id is `kept.len()`), the GPT's own file (`TMGPTLM1`, with its checksum),
//! and an `xxh3_64` checksum of everything before it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use tokenmill_engine::gpt::Gpt;
use xxhash_rust::xxh3::xxh3_64;

const MAGIC: &[u8; 8] = b"TMLMFILE";
const VERSION: u32 = 1;

/// The most frequent ids keep a compact id of their own; the rest share the last one.
#[derive(Debug, Clone)]
pub struct Compaction {
    to_compact: HashMap<u32, u32>,
    to_original: Vec<u32>,
}

impl Compaction {
    /// Keeps the `cap - 1` most frequent ids of `tokens` (ties by id).
    pub fn fit(tokens: &[u32], cap: usize) -> Self {
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for &t in tokens {
            *counts.entry(t).or_default() += 1;
        }
        let mut by_freq: Vec<(u32, u64)> = counts.into_iter().collect();
        by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let keep = by_freq.len().min(cap.max(2) - 1);
        Self::from_kept(by_freq[..keep].iter().map(|(t, _)| *t).collect())
    }

    fn from_kept(to_original: Vec<u32>) -> Self {
        let to_compact = to_original.iter().enumerate().map(|(i, &t)| (t, i as u32)).collect();
        Self { to_compact, to_original }
    }

    /// Compact vocabulary size, the shared rare id included.
    pub fn size(&self) -> usize {
        self.to_original.len() + 1
    }

    /// Original ids to compact ids.
    pub fn apply(&self, tokens: &[u32]) -> Vec<u32> {
        let rare = self.to_original.len() as u32;
        tokens.iter().map(|t| self.to_compact.get(t).copied().unwrap_or(rare)).collect()
    }

    /// Compact ids back to original ids (the rare id has none and is left out).
    pub fn invert(&self, ids: &[u32]) -> Vec<u32> {
        ids.iter().filter_map(|&i| self.to_original.get(i as usize).copied()).collect()
    }
}

/// A GPT with the compaction it was trained on and the tokenizer it expects.
#[derive(Debug, Clone)]
pub struct LanguageModel {
    /// Hash of the tokenizer whose ids the model reads.
    pub tokenizer_hash: String,
    /// Its vocabulary compaction.
    pub compaction: Compaction,
    /// The model.
    pub gpt: Gpt,
}

impl LanguageModel {
    /// Writes the model durably (`.tmp`, fsync, rename).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.tokenizer_hash.len() as u32).to_le_bytes());
        out.extend_from_slice(self.tokenizer_hash.as_bytes());
        out.extend_from_slice(&(self.compaction.to_original.len() as u32).to_le_bytes());
        for id in &self.compaction.to_original {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out.extend_from_slice(&self.gpt.to_bytes());
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name =
            path.file_name().and_then(|n| n.to_str()).context("the model path has no file name")?;
        let mut file = crate::sink::AtomicFile::create(dir, name)?;
        std::io::Write::write_all(&mut file, &out)?;
        file.commit()?;
        Ok(())
    }

    /// Reads a model written by [`LanguageModel::save`].
    ///
    /// # Errors
    /// The file cannot be read, or it is not a valid model (the error names the file and offset).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let bad = |at: usize, why: &str| anyhow::anyhow!("{}: byte {at}: {why}", path.display());
        if bytes.len() < 28 || &bytes[..8] != MAGIC {
            bail!(bad(
                0,
                "not a tokenmill language model (bad magic); train one with `tokenmill train-lm`"
            ));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        if xxh3_64(body).to_le_bytes() != tail {
            bail!(bad(body.len(), "checksum mismatch: the file is truncated or corrupt"));
        }
        let u32_at = |at: usize| -> anyhow::Result<u32> {
            body.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| bad(at, "truncated"))
        };
        let version = u32_at(8)?;
        if version != VERSION {
            bail!(bad(8, &format!("version {version}; this build reads version {VERSION}")));
        }
        let hash_len = u32_at(12)? as usize;
        let hash = body.get(16..16 + hash_len).ok_or_else(|| bad(16, "truncated"))?;
        let tokenizer_hash =
            String::from_utf8(hash.to_vec()).map_err(|_| bad(16, "tokenizer hash is not UTF-8"))?;
        let mut at = 16 + hash_len;
        let kept = u32_at(at)? as usize;
        at += 4;
        let ids: Vec<u32> = (0..kept).map(|i| u32_at(at + 4 * i)).collect::<anyhow::Result<_>>()?;
        at += 4 * kept;
        let gpt = Gpt::from_bytes(&body[at..]).map_err(|e| bad(at, &e.to_string()))?;
        if gpt.config().vocab_size != kept + 1 {
            bail!(bad(
                at,
                &format!(
                    "the model reads {} ids, the compaction makes {}",
                    gpt.config().vocab_size,
                    kept + 1
                )
            ));
        }
        Ok(Self { tokenizer_hash, compaction: Compaction::from_kept(ids), gpt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmill_engine::gpt::GptConfig;

    #[test]
    fn compaction_keeps_the_frequent_ids() {
        let c = Compaction::fit(&[5, 5, 5, 9, 9, 2, 7], 3);
        assert_eq!(c.size(), 3);
        assert_eq!(c.apply(&[5, 9, 2, 7]), [0, 1, 2, 2]);
        assert_eq!(c.invert(&[0, 1, 2]), [5, 9]);
    }

    #[test]
    fn a_model_file_round_trips_and_rejects_damage() {
        let compaction = Compaction::fit(&[1, 2, 3, 4, 1, 2, 1], 4);
        let cfg = GptConfig {
            vocab_size: compaction.size(),
            context: 8,
            layers: 1,
            width: 8,
            heads: 2,
            ..GptConfig::default()
        };
        let lm = LanguageModel {
            tokenizer_hash: "abc".into(),
            compaction,
            gpt: Gpt::new(cfg).expect("gpt"),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.tmlm");
        lm.save(&path).expect("save");
        let back = LanguageModel::load(&path).expect("load");
        assert_eq!(back.tokenizer_hash, "abc");
        assert_eq!(back.compaction.apply(&[1, 2, 3, 4]), lm.compaction.apply(&[1, 2, 3, 4]));
        let doc = [0u32, 1, 2, 1, 0];
        assert_eq!(back.gpt.perplexity(&doc).expect("ppl"), lm.gpt.perplexity(&doc).expect("ppl"));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[20] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let err = LanguageModel::load(&path).expect_err("corrupt").to_string();
        assert!(err.contains("checksum") && err.contains("m.tmlm"), "{err}");
    }
}
