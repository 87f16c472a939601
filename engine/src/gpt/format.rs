//! The GPT's binary model file, version 1. All integers and floats little-endian.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic `TMGPTLM1` |
//! | 8 | 4 | format version, u32 = 1 |
//! | 12 | 4 | dtype, u32 = 1 (f32) |
//! | 16 | 8 each | `vocab_size`, `context`, `layers`, `width`, `heads`, u64; `tied_embeddings` u64 (0/1); `seed` u64 |
//! | 72 | 8 | number of parameters `P`, u64 |
//! | 80 | 4·P | parameters, f32, in the layout of the model's flat buffer |
//! | end − 8 | 8 | checksum, u64 = `xxh3_64` of every byte before it |

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use super::{Gpt, GptConfig, params};
use crate::error::{Error, Result};

/// The first eight bytes of a GPT model file.
pub const MAGIC: [u8; 8] = *b"TMGPTLM1";
const FORMAT_VERSION: u32 = 1;
const DTYPE_F32: u32 = 1;
const HEADER: usize = 80;

impl Gpt {
    /// Serialises the model (format above).
    pub fn to_bytes(&self) -> Vec<u8> {
        let c = &self.config;
        let mut out = Vec::with_capacity(HEADER + 4 * self.params.len() + 8);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&DTYPE_F32.to_le_bytes());
        for v in [
            c.vocab_size as u64,
            c.context as u64,
            c.layers as u64,
            c.width as u64,
            c.heads as u64,
            u64::from(c.tied_embeddings),
            c.seed,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.params.len() as u64).to_le_bytes());
        for x in &self.params {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses a model from bytes.
    ///
    /// # Errors
    /// [`Error::Format`] for a wrong magic, version or dtype, a shape that does not make a
    /// model, a parameter count that does not match the shape, truncation or a bad checksum.
    pub fn from_bytes(bytes: &[u8]) -> Result<Gpt> {
        let err = |offset: usize, reason: String| Error::Format {
            context: format!("bytes at offset {offset}"),
            reason,
        };
        if bytes.len() < HEADER + 8 || bytes[..8] != MAGIC {
            return Err(err(
                0,
                "not a tokenmill GPT model (bad magic or shorter than the header)".into(),
            ));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let u32_at =
            |at: usize| u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap_or([0; 8]));
        let (version, dtype) = (u32_at(8), u32_at(12));
        if version != FORMAT_VERSION || dtype != DTYPE_F32 {
            return Err(err(
                8,
                format!(
                    "version {version} dtype {dtype}; this build reads version {FORMAT_VERSION} with f32"
                ),
            ));
        }
        let stored =
            u64::from_le_bytes(tail.try_into().map_err(|_| err(body.len(), "no checksum".into()))?);
        if xxh3_64(body) != stored {
            return Err(err(
                body.len(),
                "checksum mismatch: the file is truncated or corrupt".into(),
            ));
        }
        let field = |i: usize| {
            usize::try_from(u64_at(16 + 8 * i))
                .map_err(|_| err(16 + 8 * i, "value too large".into()))
        };
        let config = GptConfig {
            vocab_size: field(0)?,
            context: field(1)?,
            layers: field(2)?,
            width: field(3)?,
            heads: field(4)?,
            tied_embeddings: u64_at(56) != 0,
            seed: u64_at(64),
        };
        let mut gpt = Gpt::new(config).map_err(|e| err(16, e.to_string()))?;
        let count =
            usize::try_from(u64_at(72)).map_err(|_| err(72, "parameter count too large".into()))?;
        if count != params::count(&config) || body.len() != HEADER + 4 * count {
            return Err(err(
                72,
                format!(
                    "{count} parameters in {} bytes; the shape needs {}",
                    body.len() - HEADER,
                    params::count(&config)
                ),
            ));
        }
        for (p, raw) in gpt.params.iter_mut().zip(body[HEADER..].chunks_exact(4)) {
            *p = f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        }
        Ok(gpt)
    }

    /// Writes the model to `path` durably: a `.tmp` sibling, fsync, rename.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written or renamed.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::file::save(path, &self.to_bytes())
    }

    /// Reads a model written by [`Gpt::save`].
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::Format`] if it is not a valid model.
    pub fn load(path: &Path) -> Result<Gpt> {
        crate::file::load(path, Gpt::from_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_survives_the_round_trip_and_damage_is_reported() {
        let cfg = GptConfig {
            vocab_size: 50,
            context: 8,
            layers: 1,
            width: 16,
            heads: 2,
            ..GptConfig::default()
        };
        let gpt = Gpt::new(cfg).expect("model");
        let bytes = gpt.to_bytes();
        let back = Gpt::from_bytes(&bytes).expect("parses");
        assert_eq!(back.config, gpt.config);
        assert_eq!(back.params, gpt.params);
        let doc = [1u32, 5, 7, 9, 3, 2];
        assert_eq!(back.perplexity(&doc).expect("ppl"), gpt.perplexity(&doc).expect("ppl"));
        let mut flipped = bytes.clone();
        flipped[HEADER + 10] ^= 1;
        assert!(Gpt::from_bytes(&flipped).expect_err("corrupt").to_string().contains("checksum"));
        assert!(Gpt::from_bytes(&bytes[..bytes.len() - 20]).is_err());
        assert!(Gpt::from_bytes(b"TMCLASSF and more bytes than a header needs, surely more than eighty-eight of them....").is_err());
        let dir = std::env::temp_dir().join(format!("tm-gpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("m.tmgpt");
        gpt.save(&path).expect("save");
        assert_eq!(Gpt::load(&path).expect("load").params, gpt.params);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
