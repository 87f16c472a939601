//! Merging datasets: several dataset directories into one, re-sharded.
//!
//! [`merge_datasets`] streams the documents of each input in order (inputs in the order
//! given, shards in manifest order) into a [`ShardSetWriter`], so memory stays at one
//! document plus write buffers whatever the sizes. Every input must have the same dtype and
//! tokenizer hash; all of them are checked before anything is written.
//!
//! Large outputs: a shard's sequence pointers are `i64` byte offsets (see
//! [`format`](mod@crate::format)), computed in `i64` by
//! [`format::sequence_pointers`](crate::format::sequence_pointers), so a shard past 2³¹ tokens or bytes indexes correctly; the tests pin
//! that arithmetic on an index of more than 2³² tokens without writing its `.bin`.
//!
//! The merged manifest takes its provenance from the inputs: `inputs` is the concatenation of
//! theirs; `vocab_size` the largest; `eos_id`/`bos_id` kept where all inputs agree, else
//! `null` (no single convention holds); `config_hash` kept where all agree, else the XXH3-128
//! of the input config hashes joined by newlines.

use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_128;

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::reader::open_shards;
use crate::set::{ShardSetWriter, ShardTarget};
use crate::shuffle::{remove_if_exists, same_dir};
use crate::writer::hex128;

/// Merges the datasets in `inputs` into shards `{prefix}_{index:05}` in `output`, rolled over
/// at `target`, with documents in input order, and writes `output`'s manifest (see the
/// [module docs](self) for how provenance is combined). Any manifest already in `output` is
/// removed first, so an interrupted merge leaves no manifest.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for no inputs or an input that is the output directory;
/// [`Error::Incompatible`] naming the first input whose dtype or tokenizer hash differs from
/// the first input's; those of [`Manifest::read`] and
/// [`IndexedDataset::open`](crate::IndexedDataset::open) for the inputs, and of [`ShardSetWriter`] while writing.
/// Unfinished shards are removed on error.
pub fn merge_datasets(
    inputs: &[PathBuf],
    output: &Path,
    prefix: &str,
    target: ShardTarget,
) -> Result<Manifest> {
    let manifests = inputs.iter().map(|dir| Manifest::read(dir)).collect::<Result<Vec<_>>>()?;
    let merged = combine(inputs, &manifests)?;
    if let Some(dir) = inputs.iter().find(|dir| same_dir(dir, output)) {
        let message = format!("merge output {} is also an input; choose another", dir.display());
        return Err(Error::InvalidArgument { message });
    }
    // Until the new manifest is written, `output` must not look like a complete dataset.
    remove_if_exists(&output.join(MANIFEST_FILE))?;
    let mut set: Option<ShardSetWriter> = None;
    for (dir, manifest) in inputs.iter().zip(&manifests) {
        let (dtype, shards) = open_shards(dir, manifest)?;
        let set = match &mut set {
            Some(set) => set,
            // Created once the first input has opened, so a bad input leaves `output` alone.
            None => set.insert(ShardSetWriter::new(output, prefix, dtype, target)?),
        };
        // Documents are copied as encoded bytes: the dtypes match, so nothing is decoded.
        let mut doc = Vec::new();
        for ds in &shards {
            for j in 0..ds.num_documents() {
                let seqs = ds.document_sequences(j)?;
                if seqs.len() == 1 {
                    set.add_encoded(ds.get_checked_bytes(seqs.start)?)?;
                } else {
                    doc.clear();
                    for i in seqs {
                        doc.extend_from_slice(ds.get_checked_bytes(i)?);
                    }
                    set.add_encoded(&doc)?;
                }
            }
        }
    }
    let shards = match set {
        Some(set) => set.finish()?,
        None => Vec::new(),
    };
    let out = merged.derive(shards);
    out.write(output)?;
    Ok(out)
}

/// Checks that the inputs can be merged and combines their provenance (shards left empty).
fn combine(inputs: &[PathBuf], manifests: &[Manifest]) -> Result<Manifest> {
    let Some(first) = manifests.first() else {
        return Err(Error::InvalidArgument {
            message: "merge needs at least one input dataset".to_string(),
        });
    };
    for (dir, m) in inputs.iter().zip(manifests).skip(1) {
        let differs = |what: &str, theirs: &str, ours: &str| Error::Incompatible {
            path: dir.join(MANIFEST_FILE),
            message: format!(
                "{what} {theirs:?} differs from {ours:?} of the first input {}; datasets can only be \
                 merged when they share dtype and tokenizer",
                inputs[0].display()
            ),
        };
        if m.dtype != first.dtype {
            return Err(differs("dtype", &m.dtype, &first.dtype));
        }
        if m.tokenizer_hash != first.tokenizer_hash {
            return Err(differs("tokenizer_hash", &m.tokenizer_hash, &first.tokenizer_hash));
        }
    }
    let agreed = |f: fn(&Manifest) -> Option<u32>| {
        let v = f(first);
        manifests.iter().all(|m| f(m) == v).then_some(v).flatten()
    };
    let config_hash = if manifests.iter().all(|m| m.config_hash == first.config_hash) {
        first.config_hash.clone()
    } else {
        let joined: Vec<&str> = manifests.iter().map(|m| m.config_hash.as_str()).collect();
        hex128(xxh3_128(joined.join("\n").as_bytes()))
    };
    Ok(Manifest {
        vocab_size: manifests.iter().map(|m| m.vocab_size).max().unwrap_or(first.vocab_size),
        eos_id: agreed(|m| m.eos_id),
        bos_id: agreed(|m| m.bos_id),
        config_hash,
        tokenizer_encode_path: manifests
            .iter()
            .all(|m| m.tokenizer_encode_path == first.tokenizer_encode_path)
            .then(|| first.tokenizer_encode_path.clone())
            .flatten(),
        inputs: manifests.iter().flat_map(|m| m.inputs.iter().cloned()).collect(),
        shards: Vec::new(),
        ..first.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::format::{parse_idx, sequence_pointers, write_idx};
    use crate::testutil::{sample_docs, write_dataset};
    use crate::{VerifyOptions, read_dataset_tokens, verify_dir};
    use proptest::prelude::*;

    const TARGET: ShardTarget = ShardTarget { max_tokens: Some(256), max_bytes: None };

    #[test]
    fn documents_keep_input_order_and_reshard() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("in{i}"))).collect();
        let docs = sample_docs(150);
        let mut sources = Vec::new();
        for (dir, chunk) in dirs.iter().zip(docs.chunks(50)) {
            sources.push(write_dataset(dir, DType::U16, chunk, 100, "tok"));
        }
        let out = tmp.path().join("out");
        let manifest = merge_datasets(&dirs, &out, "merged", TARGET).expect("merge");
        assert_eq!(read_dataset_tokens(&out).expect("read"), docs);
        assert_eq!(manifest.tokens, sources.iter().map(|m| m.tokens).sum::<u64>());
        assert!(manifest.shards.iter().all(|s| s.tokens <= 256 && s.name.starts_with("merged_")));
        assert_eq!(manifest.inputs.len(), 3);
        assert_eq!((manifest.eos_id, manifest.config_hash.as_str()), (Some(0), "config"));
        let report = verify_dir(
            &out,
            &VerifyOptions { vocab_size: Some(1000), eos_id: Some(0), check_checksums: true },
        )
        .expect("verify");
        assert!(report.is_ok(), "{:?}", report.problems);
    }

    #[test]
    fn mismatches_name_the_input_and_write_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
        write_dataset(&a, DType::U16, &sample_docs(5), 100, "tok");
        write_dataset(&b, DType::I32, &sample_docs(5), 100, "tok");
        write_dataset(&c, DType::U16, &sample_docs(5), 100, "other");
        let out = tmp.path().join("out");
        let err =
            merge_datasets(&[a.clone(), b.clone()], &out, "m", TARGET).expect_err("dtype differs");
        assert!(matches!(&err, Error::Incompatible { path, .. } if path.starts_with(&b)), "{err}");
        assert!(err.to_string().contains("dtype \"int32\" differs from \"uint16\""), "{err}");
        let err = merge_datasets(&[a.clone(), c.clone()], &out, "m", TARGET)
            .expect_err("tokenizer differs");
        assert!(err.to_string().contains("tokenizer_hash \"other\""), "{err}");
        assert!(!out.exists());
        let err = merge_datasets(&[], &out, "m", TARGET).expect_err("no inputs");
        assert!(matches!(err, Error::InvalidArgument { .. }));
        let err = merge_datasets(&[a.clone(), a.clone()], &a, "m", TARGET).expect_err("in place");
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }

    #[test]
    fn disagreeing_provenance_is_combined() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        write_dataset(&a, DType::U16, &sample_docs(3), 100, "tok");
        let mut m = write_dataset(&b, DType::U16, &sample_docs(3), 100, "tok");
        (m.eos_id, m.vocab_size, m.config_hash) = (None, 2000, "other".into());
        m.write(&b).expect("rewrite manifest");
        let out = merge_datasets(&[a, b], &tmp.path().join("out"), "m", TARGET).expect("merge");
        assert_eq!((out.eos_id, out.vocab_size, out.documents), (None, 2000, 6));
        assert_eq!(out.config_hash, hex128(xxh3_128(b"config\nother")));
    }

    /// Sequence lengths that sum past 2^32 int32 tokens (16 GiB of `.bin`): pointers must be
    /// exact i64 byte offsets, far beyond what an i32 or u32 holds.
    #[test]
    fn pointers_past_2_pow_31_tokens_are_exact() {
        let lengths = [i32::MAX, i32::MAX, i32::MAX, 7];
        let pointers: Vec<i64> = sequence_pointers(DType::I32, &lengths).collect();
        let max = i64::from(i32::MAX);
        assert_eq!(pointers, [0, 4 * max, 8 * max, 12 * max]);
        assert_eq!(pointers[3], 25_769_803_764);
        let mut idx = Vec::new();
        write_idx(&mut idx, DType::I32, &lengths).expect("write to Vec");
        let index = parse_idx(&idx).expect("parses");
        assert_eq!(index.pointers().collect::<Vec<_>>(), pointers);
        assert_eq!(index.num_tokens(), 3 * max as u64 + 7);
        let bin_len = index.num_tokens() * 4;
        assert!(index.check_general(bin_len).is_empty());
        assert!(index.check_tokenmill().is_empty());
        assert!(
            !index.check_general(bin_len - 4).is_empty(),
            "the last sequence overruns a shorter .bin"
        );
    }

    proptest! {
        #[test]
        fn pointers_are_prefix_sums(lengths in prop::collection::vec(0i32..=i32::MAX, 0..20), code in 1u8..=8) {
            let dtype = DType::from_code(code).expect("valid code");
            let mut expected = 0i128;
            for (p, len) in sequence_pointers(dtype, &lengths).zip(&lengths) {
                prop_assert_eq!(i128::from(p), expected);
                expected += i128::from(*len) * dtype.size() as i128;
            }
        }
    }
}
