//! Helpers shared by unit tests: small datasets written the way the pipeline writes them.

use std::path::Path;

use crate::{DType, FORMAT_MEGATRON, FORMAT_VERSION, Manifest, ShardSetWriter, ShardTarget};

/// Writes `docs` into shards of at most `max_tokens` tokens under `dir`, plus a manifest whose
/// tokenizer hash is `tokenizer_hash`, and returns the manifest.
pub(crate) fn write_dataset(
    dir: &Path,
    dtype: DType,
    docs: &[Vec<u32>],
    max_tokens: u64,
    tokenizer_hash: &str,
) -> Manifest {
    let target = ShardTarget { max_tokens: Some(max_tokens), max_bytes: None };
    let mut set = ShardSetWriter::new(dir, "train", dtype, target).expect("new shard set");
    for doc in docs {
        set.add_document(doc).expect("add document");
    }
    let shards = set.finish().expect("finish shard set");
    let manifest = Manifest {
        format: FORMAT_MEGATRON.into(),
        format_version: FORMAT_VERSION,
        tool_version: "test".into(),
        dtype: dtype.name().into(),
        vocab_size: 1000,
        eos_id: Some(0),
        bos_id: None,
        tokenizer_hash: tokenizer_hash.into(),
        tokenizer_encode_path: None,
        config_hash: "config".into(),
        inputs: vec![format!("{}.jsonl", dir.display())],
        documents: shards.iter().map(|s| s.documents).sum(),
        tokens: shards.iter().map(|s| s.tokens).sum(),
        shards,
    };
    manifest.write(dir).expect("write manifest");
    manifest
}

/// `n` documents of 2 to 41 tokens, each ending in EOS (0), with ids below 1000; document `i`
/// starts with `1 + i % 998`, so the first 998 are distinct.
pub(crate) fn sample_docs(n: usize) -> Vec<Vec<u32>> {
    (0..n)
        .map(|i| {
            let len = 1 + (i * 7919) % 40;
            let mut doc: Vec<u32> =
                (0..len).map(|k| 1 + ((i * 31 + k * 17) % 998) as u32).collect();
            doc[0] = 1 + (i % 998) as u32;
            doc.push(0);
            doc
        })
        .collect()
}
