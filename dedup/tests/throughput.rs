//! Signature throughput per CPU-second on the near-dup fixture (34 MB of text).
//!
//! Ignored by default (meaningless in debug builds). Run in release:
//! `cargo test -p tokenmill-dedup --release --test throughput -- --ignored --nocapture`.
//! It measures this thread's CPU time (Linux `/proc/thread-self/schedstat`), so the figure
//! holds on a shared, oversubscribed machine where criterion's wall-clock numbers do not.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use tokenmill_dedup::{MinHashConfig, MinHasher};

/// Nanoseconds this thread has spent on a CPU, if the kernel says.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
#[ignore = "a measurement; run in release"]
fn signature_throughput_per_cpu_second() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/neardup/docs.jsonl.zst");
    let reader = std::io::BufReader::new(
        zstd::Decoder::new(std::fs::File::open(path).expect("fixture")).expect("zstd"),
    );
    let docs: Vec<String> = reader
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(&l.expect("line")).expect("json")["text"]
                .as_str()
                .expect("text")
                .to_string()
        })
        .collect();
    let bytes: usize = docs.iter().map(String::len).sum();
    for k in [112usize, 192, 256] {
        let h = MinHasher::new(MinHashConfig { num_perm: k, ..MinHashConfig::default() })
            .expect("config");
        let (cpu0, wall0) = (cpu_ns(), Instant::now());
        let mut acc = 0u64;
        for d in &docs {
            acc = acc.wrapping_add(h.signature(d)[0]);
        }
        let wall = wall0.elapsed().as_secs_f64();
        let cpu = match (cpu0, cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => wall,
        };
        eprintln!(
            "num_perm {k}: {:.1} MB in {cpu:.2} CPU-s ({wall:.2} wall-s): {:.1} MB/s per core (checksum {acc:x})",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / cpu
        );
    }
}
