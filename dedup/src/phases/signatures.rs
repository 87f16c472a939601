//! Phase 1: signatures per input split.

use std::path::{Path, PathBuf};

use super::{DedupConfig, SIG_HEADER, signature_path};
use crate::error::{Error, Result};
use crate::exact::ExactHasher;
use crate::format::{ArtifactKind, ArtifactWriter};
use crate::minhash::MinHasher;

/// Everything phase 1 records about one document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocSignature {
    /// The caller's document id (input order).
    pub id: u64,
    /// Text length in bytes.
    pub len: u64,
    /// Quality score, if any (for [`KeepRule::HighestScore`](super::KeepRule::HighestScore)).
    pub score: Option<f64>,
    /// XXH3-128 of the normalized text.
    pub exact: u128,
    /// Number of shingles; 0 when the text has no tokens.
    pub shingles: u64,
    /// MinHash signature (`num_perm` values).
    pub signature: Vec<u64>,
}

impl DocSignature {
    /// Encodes the record (see [the record layout](super#signature-records)).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.score.unwrap_or(f64::NAN).to_bits().to_le_bytes());
        out.extend_from_slice(&self.exact.to_le_bytes());
        out.extend_from_slice(&self.shingles.to_le_bytes());
        debug_assert_eq!(out.len(), SIG_HEADER);
        for v in &self.signature {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Computes [`DocSignature`]s. `&self` only, so one can be shared by worker threads.
#[derive(Debug, Clone)]
pub struct Signer {
    minhash: MinHasher,
    config: DedupConfig,
}

impl Signer {
    /// A signer for `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the config does not validate.
    pub fn new(config: &DedupConfig) -> Result<Self> {
        config.validate()?;
        Ok(Signer { minhash: MinHasher::new(config.minhash)?, config: *config })
    }

    /// Signs one document.
    pub fn sign(&self, id: u64, text: &str, score: Option<f64>) -> DocSignature {
        let mut signature = vec![u64::MAX; self.config.minhash.num_perm];
        let shingles =
            if self.config.fuzzy { self.minhash.signature_into(text, &mut signature) } else { 0 };
        let exact =
            if self.config.exact { ExactHasher::new(self.config.normalize).hash(text) } else { 0 };
        DocSignature { id, len: text.len() as u64, score, exact, shingles, signature }
    }
}

/// Writes one split's signature file (phase 1).
#[derive(Debug)]
pub struct SignatureWriter {
    path: PathBuf,
    out: ArtifactWriter,
    signer: Signer,
    last: Option<u64>,
    rec: Vec<u8>,
}

impl SignatureWriter {
    /// Starts `signatures/split_{split:05}.sig` in `work_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid config, [`Error::Io`] when the file cannot be created.
    pub fn create(work_dir: &Path, split: u32, config: &DedupConfig) -> Result<Self> {
        let signer = Signer::new(config)?;
        let path = signature_path(work_dir, split);
        let out = ArtifactWriter::create(
            &path,
            ArtifactKind::Signatures,
            config.record_len(),
            config.fingerprint(),
        )?;
        Ok(SignatureWriter {
            path,
            out,
            signer,
            last: None,
            rec: Vec::with_capacity(config.record_len()),
        })
    }

    /// The signer, to sign documents on other threads and [`write`](Self::write) them here.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Signs and writes one document. Ids must increase within a split.
    ///
    /// # Errors
    ///
    /// [`Error::IdOrder`] when `id` is not above the previous id; [`Error::Io`] on write failure.
    pub fn add(&mut self, id: u64, text: &str, score: Option<f64>) -> Result<()> {
        let sig = self.signer.sign(id, text, score);
        self.write(&sig)
    }

    /// Writes a document signed by [`signer`](Self::signer).
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add); also [`Error::Config`] when the signature has the wrong length.
    pub fn write(&mut self, sig: &DocSignature) -> Result<()> {
        if let Some(previous) = self.last
            && sig.id <= previous
        {
            return Err(Error::IdOrder { path: self.path.clone(), id: sig.id, previous });
        }
        if sig.signature.len() != self.signer.config.minhash.num_perm {
            return Err(Error::Config(format!(
                "signature of doc {} has {} values, expected {}",
                sig.id,
                sig.signature.len(),
                self.signer.config.minhash.num_perm
            )));
        }
        self.last = Some(sig.id);
        sig.encode(&mut self.rec);
        self.out.write_record(&self.rec)
    }

    /// Completes the file; returns the number of documents.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be flushed, synced or renamed.
    pub fn finish(self) -> Result<u64> {
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{ArtifactReader, HEADER_LEN};

    #[test]
    fn golden_record_bytes() {
        let sig = DocSignature {
            id: 7,
            len: 300,
            score: Some(0.5),
            exact: 1 << 64 | 2,
            shingles: 3,
            signature: vec![9, u64::MAX],
        };
        let mut rec = Vec::new();
        sig.encode(&mut rec);
        let mut expect = vec![7, 0, 0, 0, 0, 0, 0, 0, 0x2c, 1, 0, 0, 0, 0, 0, 0];
        expect.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0xe0, 0x3f]);
        expect.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        expect.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
        expect.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0]);
        expect.extend_from_slice(&[0xff; 8]);
        assert_eq!(rec, expect);
    }

    #[test]
    fn writes_a_checked_file_and_rejects_out_of_order_ids() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DedupConfig::default();
        let mut w = SignatureWriter::create(dir.path(), 3, &cfg).unwrap();
        w.add(1, "some text here", None).unwrap();
        let e = w.add(1, "again", None).unwrap_err().to_string();
        assert!(e.contains("split_00003.sig") && e.contains("must increase"), "{e}");
        assert_eq!(w.finish().unwrap(), 1);
        let path = signature_path(dir.path(), 3);
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, HEADER_LEN + 16 + cfg.record_len() as u64);
        let mut r =
            ArtifactReader::open(&path, ArtifactKind::Signatures, Some(cfg.record_len())).unwrap();
        assert_eq!(r.header().param, cfg.fingerprint());
        let mut buf = vec![0; cfg.record_len()];
        assert!(r.next_record(&mut buf).unwrap());
        assert!(!r.next_record(&mut buf).unwrap());
    }
}
