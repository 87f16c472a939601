//! `tokenmill dedup synth`: a synthetic corpus with planted duplicates, for scale runs.
//!
//! Document `i`'s text is a pure function of `(seed, i)`: 20 to 80 pseudo-words drawn from a
//! fixed vocabulary of 4,096 syllable words. A planted exact duplicate of document `j < i`
//! regenerates `j`'s text; a planted near duplicate regenerates it and replaces about 5% of its
//! words. So duplicates reach across files with no memory, and the corpus is the same for the
//! same arguments whatever the thread count.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

/// `tokenmill dedup synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output directory (`synth-NNNNN.jsonl.zst`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Number of documents.
    #[arg(long, default_value_t = 20_000_000)]
    pub docs: u64,
    /// Number of files.
    #[arg(long, default_value_t = 200)]
    pub files: u64,
    /// Fraction of documents that are exact copies of an earlier one.
    #[arg(long, default_value_t = 0.05)]
    pub exact: f64,
    /// Fraction of documents that are near copies (about 5% of words replaced) of an earlier one.
    #[arg(long, default_value_t = 0.05)]
    pub near: f64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A small deterministic stream of random numbers.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "da", "pe", "gu", "zo", "fi", "ha", "ju", "we",
];

/// Word `w` of the vocabulary: 2 or 3 syllables.
fn word(w: u64, out: &mut String) {
    let n = 2 + (w & 1) as usize;
    let mut x = w >> 1;
    for _ in 0..n {
        out.push_str(SYLLABLES[(x % 16) as usize]);
        x /= 16;
    }
}

/// The original text of document `i`.
fn original(seed: u64, i: u64, words: &mut Vec<u64>) {
    let mut s = Stream(splitmix(seed ^ splitmix(i)));
    let n = 20 + s.below(61);
    words.clear();
    words.extend((0..n).map(|_| s.below(4096)));
}

/// What document `i` is.
enum Kind {
    Original,
    Exact(u64),
    Near(u64),
}

fn kind(args: &SynthArgs, i: u64) -> Kind {
    let mut s = Stream(splitmix(args.seed.wrapping_mul(31) ^ splitmix(i ^ 0xD1B5)));
    let u = s.unit();
    if i == 0 {
        Kind::Original
    } else if u < args.exact {
        Kind::Exact(s.below(i))
    } else if u < args.exact + args.near {
        Kind::Near(s.below(i))
    } else {
        Kind::Original
    }
}

/// The text of document `i`: a copy's text is its source's (a near copy's then perturbed), so
/// the chain of copies is walked back to an original and replayed forwards.
fn text(args: &SynthArgs, i: u64, words: &mut Vec<u64>, out: &mut String) {
    let mut near_copies = Vec::new();
    let mut j = i;
    loop {
        match kind(args, j) {
            Kind::Original => break,
            Kind::Exact(k) => j = k,
            Kind::Near(k) => {
                near_copies.push(j);
                j = k;
            }
        }
    }
    original(args.seed, j, words);
    for &n in near_copies.iter().rev() {
        let mut s = Stream(splitmix(args.seed ^ n.rotate_left(17)));
        let changes = (words.len() / 20).max(1);
        for _ in 0..changes {
            let at = s.below(words.len() as u64) as usize;
            words[at] = s.below(4096);
        }
    }
    out.clear();
    for (n, &w) in words.iter().enumerate() {
        if n > 0 {
            out.push(if n % 12 == 0 { '\n' } else { ' ' });
        }
        word(w, out);
    }
    out.push('.');
}

pub(super) fn synth(args: &SynthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.files > 0 && args.docs > 0, "--docs and --files must be positive");
    anyhow::ensure!(
        args.exact >= 0.0 && args.near >= 0.0 && args.exact + args.near < 1.0,
        "--exact + --near must be below 1"
    );
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let started = std::time::Instant::now();
    let per = args.docs.div_ceil(args.files);
    let counts: Vec<(u64, u64, u64)> = (0..args.files)
        .into_par_iter()
        .map(|f| -> anyhow::Result<(u64, u64, u64)> {
            let (start, end) = (f * per, ((f + 1) * per).min(args.docs));
            let name = format!("synth-{f:05}.jsonl.zst");
            let mut file = crate::sink::AtomicFile::create(&args.output, &name)?;
            let mut enc = zstd::Encoder::new(&mut file, 1)?;
            let (mut words, mut out, mut line) = (Vec::new(), String::new(), Vec::new());
            let (mut bytes, mut exact, mut near) = (0, 0, 0);
            for i in start..end {
                text(args, i, &mut words, &mut out);
                match kind(args, i) {
                    Kind::Exact(_) => exact += 1,
                    Kind::Near(_) => near += 1,
                    Kind::Original => {}
                }
                line.clear();
                serde_json::to_writer(
                    &mut line,
                    &serde_json::json!({ "id": format!("d{i}"), "text": out }),
                )?;
                line.push(b'\n');
                enc.write_all(&line)?;
                bytes += out.len() as u64;
            }
            enc.finish()?;
            file.commit()?;
            Ok((bytes, exact, near))
        })
        .collect::<anyhow::Result<_>>()?;
    let bytes: u64 = counts.iter().map(|c| c.0).sum();
    let exact: u64 = counts.iter().map(|c| c.1).sum();
    let near: u64 = counts.iter().map(|c| c.2).sum();
    println!(
        "{}",
        serde_json::json!({
            "output": args.output.display().to_string(), "documents": args.docs, "files": args.files,
            "text_bytes": bytes, "planted_exact": exact, "planted_near": near,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(docs: u64) -> SynthArgs {
        SynthArgs { output: PathBuf::new(), docs, files: 1, exact: 0.1, near: 0.1, seed: 7 }
    }

    #[test]
    fn copies_repeat_their_original() {
        let a = args(2000);
        let (mut w, mut t, mut o) = (Vec::new(), String::new(), String::new());
        let (mut exact, mut near) = (0, 0);
        for i in 0..a.docs {
            match kind(&a, i) {
                Kind::Exact(j) => {
                    text(&a, i, &mut w, &mut t);
                    text(&a, j, &mut w, &mut o);
                    assert_eq!(t, o, "exact copy {i} of {j}");
                    exact += 1;
                }
                Kind::Near(j) => {
                    text(&a, i, &mut w, &mut t);
                    text(&a, j, &mut w, &mut o);
                    let (x, y): (Vec<&str>, Vec<&str>) =
                        (t.split_whitespace().collect(), o.split_whitespace().collect());
                    assert_eq!(x.len(), y.len());
                    let same = x.iter().zip(&y).filter(|(p, q)| p == q).count();
                    assert!(same * 10 >= x.len() * 8, "near copy {i} of {j} keeps most words");
                    near += 1;
                }
                Kind::Original => {}
            }
        }
        assert!((150..250).contains(&exact) && (150..250).contains(&near), "{exact} {near}");
    }
}
