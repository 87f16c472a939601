//! `tokenmill inspect`: what a shard directory holds.

use std::path::PathBuf;

use clap::Args;
use tokenmill_shards::{IndexedDataset, Manifest};

use super::Exit;

/// `tokenmill inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The shard directory (holding `manifest.json`).
    pub dir: PathBuf,
    /// Tokenizer to decode with (token frequencies and `--doc`).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Decode and print document N (0-based, across all shards in manifest order).
    #[arg(long)]
    pub doc: Option<u64>,
    /// How many of the most frequent tokens to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

pub(super) fn inspect(args: InspectArgs) -> anyhow::Result<Exit> {
    let manifest = Manifest::read(&args.dir)?;
    let tokenizer =
        args.tokenizer.as_deref().map(tokenmill_tokenize::Tokenizer::from_file).transpose()?;
    if let Some(t) = &tokenizer
        && t.info().hash != manifest.tokenizer_hash
    {
        eprintln!(
            "warning: this tokenizer's hash differs from the manifest's ({}): decoding may be wrong",
            manifest.tokenizer_hash
        );
    }
    println!(
        "{}: {} shards, {} documents, {} tokens, dtype {}, vocab {}",
        args.dir.display(),
        manifest.shards.len(),
        manifest.documents,
        manifest.tokens,
        manifest.dtype,
        manifest.vocab_size
    );
    println!(
        "tokenizer {}: {}",
        manifest.tokenizer_hash,
        manifest.tokenizer_encode_path.as_deref().unwrap_or("encode path not recorded")
    );
    let mut counts = vec![0u64; usize::try_from(manifest.vocab_size).unwrap_or(0)];
    let mut histogram = [0u64; 33];
    let (mut seen, mut shown) = (0u64, false);
    for shard in &manifest.shards {
        let ds = IndexedDataset::open(&args.dir.join(&shard.name))?;
        for i in 0..ds.len() {
            let doc = ds.get(i)?;
            histogram[(usize::BITS - doc.len().leading_zeros()) as usize] += 1;
            for &t in &doc {
                if let Some(c) = counts.get_mut(t as usize) {
                    *c += 1;
                }
            }
            if args.doc == Some(seen) {
                shown = true;
                println!("document {seen} ({} tokens, shard {} #{i}):", doc.len(), shard.name);
                match &tokenizer {
                    Some(t) => println!("{}", t.decode(&doc)?),
                    None => println!("{doc:?}"),
                }
            }
            seen += 1;
        }
    }
    if let (Some(n), false) = (args.doc, shown) {
        anyhow::bail!("document {n} does not exist: the dataset has {seen}");
    }
    println!("document length (tokens) histogram:");
    for (bits, n) in histogram.iter().enumerate().filter(|(_, n)| **n > 0) {
        let lo = if bits == 0 { 0 } else { 1u64 << (bits - 1) };
        println!("  {:>10} - {:<10} {n}", lo, (1u64 << bits) - 1);
    }
    let mut top: Vec<(usize, u64)> =
        counts.iter().copied().enumerate().filter(|(_, c)| *c > 0).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("most frequent tokens:");
    for (id, c) in top.into_iter().take(args.top) {
        let text = tokenizer
            .as_ref()
            .and_then(|t| t.decode(&[id as u32]).ok())
            .map(|s| format!(" {s:?}"))
            .unwrap_or_default();
        println!("  {id:>8}{text}: {c}");
    }
    Ok(Exit::Ok)
}
