//! Checks on real text that `zh_convert`'s table-based script judgement decides as OpenCC does
//! (BENCHMARKS.md, "Chinese-first cleaning"): reads JSONL documents (`text` field) on stdin and
//! compares `ZhConvert::detect` with `ZhConvert::detect_with_opencc` on every document, and the
//! converted text with OpenCC's conversion of the documents OpenCC judges traditional or mixed.
//!
//!   zstd -dc ../shared/data/corpus/slice100.jsonl.zst |
//!     cargo run --release -p tokenmill-filters --example zh_script_parity

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Instant;

use tokenmill_filters::zh_convert::{ZhConvert, ZhConvertConfig, ZhScript};

fn main() -> anyhow::Result<()> {
    let convert = ZhConvert::new(ZhConvertConfig::default())?;
    let (mut docs, mut undecided, mut differ) = (0usize, 0usize, 0usize);
    let mut scripts: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut t_table, mut t_opencc) = (0.0, 0.0);
    for line in std::io::stdin().lock().lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let text = v["text"].as_str().unwrap_or_default();
        docs += 1;
        let t = Instant::now();
        let by_table = convert.detect_by_table(text);
        let new = convert.detect(text);
        let converted = convert.apply(text).1;
        t_table += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let old = convert.detect_with_opencc(text);
        t_opencc += t.elapsed().as_secs_f64();
        undecided += usize::from(by_table.is_none());
        *scripts.entry(old.label()).or_default() += 1;
        let reference = match old {
            ZhScript::Traditional | ZhScript::Mixed => convert.convert_with_opencc(text),
            _ => text.to_string(),
        };
        if new != old || converted != reference {
            differ += 1;
            let id = v["id"].as_str().unwrap_or("?");
            println!("differs: {id}: table {new:?}, OpenCC {old:?}");
        }
    }
    println!("{docs} documents, OpenCC's scripts {scripts:?}");
    println!("table undecided (OpenCC asked): {undecided}; decisions or texts differing: {differ}");
    println!("judge + convert {t_table:.2} s; OpenCC's judgement alone {t_opencc:.2} s");
    if differ > 0 {
        anyhow::bail!("{differ} documents differ");
    }
    Ok(())
}
