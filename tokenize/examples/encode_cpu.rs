//! Encoding throughput of one tokenizer on one thread, in CPU time rather than wall time, so a
//! figure taken on a busy machine can stand next to `../shared/bench/modern_tok.py` (which
//! reports `time.process_time()`).
//!
//! ```text
//! cargo run --release -p tokenmill-tokenize --example encode_cpu -- TOKENIZER.json DOCS.jsonl [all|en|zh|...] [PASSES]
//! ```
//!
//! Reads the `text` of every line of `DOCS.jsonl` (only those whose `lang` is the given one,
//! unless `all`), encodes them all `PASSES` times (default 3) and prints the documents, bytes,
//! tokens and MB/s (10^6 bytes of text per CPU second of the encoding loop, user and system).
//! CPU time comes from `/proc/self/stat` (Linux); elsewhere the wall clock is used, and said.

use std::io::BufRead as _;
use std::path::Path;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// CPU seconds (user + system) this process has used, if `/proc/self/stat` can tell.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (in parentheses, which may hold spaces): state is the
    // first, utime the 12th and stime the 13th, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, tokenizer, docs_path, rest @ ..] = &args[..] else {
        return Err("usage: encode_cpu TOKENIZER.json DOCS.jsonl [all|LANG] [PASSES]".into());
    };
    let lang = rest.first().map_or("all", String::as_str);
    let passes: usize =
        rest.get(1).map_or(Ok(3), |p| p.parse()).map_err(|e| format!("PASSES: {e}"))?;
    let tok = tokenmill_tokenize::Tokenizer::from_file(Path::new(tokenizer))?;
    let file = std::fs::File::open(docs_path).map_err(|e| format!("{docs_path}: {e}"))?;
    let mut docs = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        if lang == "all" || value["lang"].as_str() == Some(lang) {
            docs.push(value["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    let bytes: usize = docs.iter().map(String::len).sum();
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let mut tokens = 0;
    for _ in 0..passes.max(1) {
        tokens = 0;
        for doc in &docs {
            tokens += tok.encode(doc)?.len();
        }
    }
    let seconds = match (cpu, cpu_seconds()) {
        (Some(start), Some(end)) => end - start,
        _ => {
            eprintln!("no CPU time on this system: wall time instead");
            wall.elapsed().as_secs_f64()
        }
    };
    let mb_per_s = (bytes * passes.max(1)) as f64 / seconds / 1e6;
    println!(
        "{}: {lang}: {} docs, {bytes} bytes, {tokens} tokens, {mb_per_s:.2} MB/s ({})",
        Path::new(tokenizer).display(),
        docs.len(),
        tok.encode_path()
    );
    Ok(())
}
