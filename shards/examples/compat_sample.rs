//! Writes small datasets for the Megatron compatibility check (`scripts/compat/check.sh`):
//! `uint16/` (several shards), `int32/` (ids past 65,535), and `shuffled/` and `merged/` made
//! from them by this crate. Each directory gets `expected.json`, the documents as token
//! lists, for the reader under test to match.
//!
//! `cargo run -p tokenmill-shards --example compat_sample -- OUT_DIR`

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use tokenmill_shards::{
    DType, FORMAT_MEGATRON, FORMAT_VERSION, Manifest, ShardSetWriter, ShardTarget, SplitMix64,
    merge_datasets, read_dataset_tokens, shuffle_dataset,
};

const TARGET: ShardTarget = ShardTarget { max_tokens: Some(4000), max_bytes: None };

/// `n` documents of 0 to 300 tokens below `vocab - 1`, each ending in EOS (`vocab - 1`).
fn documents(n: usize, vocab: u64, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(seed);
    let eos = (vocab - 1) as u32;
    (0..n)
        .map(|_| {
            let len = (rng.next_u64() % 301) as usize;
            let mut doc: Vec<u32> =
                (0..len).map(|_| (rng.next_u64() % (vocab - 1)) as u32).collect();
            doc.push(eos);
            doc
        })
        .collect()
}

fn write(dir: &Path, docs: &[Vec<u32>], vocab: u64) -> Result<(), Box<dyn Error>> {
    let dtype = DType::for_vocab(vocab as usize);
    let mut set = ShardSetWriter::new(dir, "train", dtype, TARGET)?;
    for doc in docs {
        set.add_document(doc)?;
    }
    let shards = set.finish()?;
    let manifest = Manifest {
        format: FORMAT_MEGATRON.into(),
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        dtype: dtype.name().into(),
        vocab_size: vocab,
        eos_id: Some((vocab - 1) as u32),
        bos_id: None,
        tokenizer_hash: format!("sample-{vocab}"),
        tokenizer_encode_path: None,
        config_hash: "compat".into(),
        inputs: vec!["generated".into()],
        documents: shards.iter().map(|s| s.documents).sum(),
        tokens: shards.iter().map(|s| s.tokens).sum(),
        shards,
    };
    manifest.write(dir)?;
    Ok(())
}

fn expect(dir: &Path) -> Result<(), Box<dyn Error>> {
    let docs = read_dataset_tokens(dir)?;
    fs::write(dir.join("expected.json"), serde_json::to_vec(&docs)?)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: compat_sample OUT_DIR")?);
    let (u16_dir, i32_dir) = (out.join("uint16"), out.join("int32"));
    write(&u16_dir, &documents(400, 50_257, 1), 50_257)?;
    write(&i32_dir, &documents(200, 128_256, 2), 128_256)?;
    shuffle_dataset(&u16_dir, &out.join("shuffled"), "train", 7, 64 << 10, TARGET)?;
    merge_datasets(&[u16_dir.clone(), out.join("shuffled")], &out.join("merged"), "train", TARGET)?;
    for name in ["uint16", "int32", "shuffled", "merged"] {
        expect(&out.join(name))?;
    }
    println!("wrote uint16, int32, shuffled and merged datasets under {}", out.display());
    Ok(())
}
