//! `tokenmill verify --train`: prove the shards train. A small GPT learns from them, its
//! held-out loss must fall well below the unigram entropy of their tokens, and what it
//! generates must decode.
//!
//! Vocabularies of LLM tokenizers (16k-200k ids) would make the output layer dominate a model
//! meant to train in a minute on two cores, so the model works on a compacted vocabulary: the
//! `vocab_cap - 1` most frequent ids of the training split keep their own id, every other id
//! shares one "rare" id. Entropy and losses are measured on that same compacted stream, so they
//! compare like with like; generated rare ids are left out when decoding.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use tokenmill_engine::device::{Device, DeviceRequest};
use tokenmill_engine::gpt::{
    Gpt, GptConfig, GptTrainConfig, Sampling, TrainReport, unigram_entropy,
};
use tokenmill_shards::{IndexedDataset, Manifest};

use crate::lm::Compaction;

/// The small GPT's shape and training budget (`verify --train` and `train-lm`).
#[derive(Debug, Args)]
pub struct LmArgs {
    /// Training steps (600 lets the default model clearly beat the unigram entropy on a
    /// few MB of shards from a cl100k-style tokenizer, whose tokens carry more per id).
    #[arg(long, default_value_t = 600)]
    pub steps: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Model width.
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Context length in tokens.
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Peak learning rate (AdamW, warmup then cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f32,
    /// Size of the compacted vocabulary the model trains on: the most frequent ids keep their
    /// own, the rest share one.
    #[arg(long, default_value_t = 2048)]
    pub vocab_cap: usize,
    /// Tokens read at most (training and held-out together).
    #[arg(long, default_value_t = 2_000_000)]
    pub max_tokens: usize,
}

impl LmArgs {
    /// The model shape for a compacted vocabulary of `vocab` ids.
    pub fn config(&self, vocab: usize) -> GptConfig {
        GptConfig {
            vocab_size: vocab,
            context: self.context,
            layers: self.layers,
            width: self.width,
            heads: self.heads,
            ..GptConfig::default()
        }
    }

    /// The training run.
    pub fn train_config(&self) -> GptTrainConfig {
        GptTrainConfig {
            steps: self.steps,
            batch_size: self.batch,
            lr: self.lr,
            ..GptTrainConfig::default()
        }
    }

    /// A new model of this shape for `vocab` compacted ids, trained on `tokens` on `device`,
    /// logging the loss ten times along the way.
    ///
    /// # Errors
    /// A bad shape, tokens outside the vocabulary, device errors.
    pub fn train(
        &self,
        vocab: usize,
        device: Device,
        tokens: &[u32],
    ) -> anyhow::Result<(Gpt, TrainReport)> {
        let mut gpt = Gpt::new(self.config(vocab))?;
        let every = (self.steps / 10).max(1);
        let report = gpt.train_on(device, tokens, &self.train_config(), |s| {
            if s.step % every == 0 || s.step + 1 == self.steps {
                tracing::info!(step = s.step, loss = format!("{:.3}", s.loss), "training");
            }
        })?;
        Ok((gpt, report))
    }
}

/// Options of the training check (`tokenmill verify --train`).
#[derive(Debug, Args)]
pub struct TrainCheckArgs {
    /// Also train a small GPT on the shards and check that it learns (see --steps etc.).
    #[arg(long)]
    pub train: bool,
    /// The model and how long it trains.
    #[command(flatten)]
    pub model: LmArgs,
    /// Pass when held-out loss <= this fraction of the unigram entropy. A model that learned
    /// nothing scores the entropy itself; on the quickstart shards the default model reaches
    /// about 0.92, as good as a smoothed bigram model fitted to the same tokens.
    #[arg(long, default_value_t = 0.95)]
    pub pass_ratio: f64,
    /// Tokenizer to decode generated text with (default: none, ids are printed).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Where to write report.json and loss.svg [default: DIR/verify-report].
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Compute device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceRequest,
}

/// What `report.json` holds.
#[derive(Debug, Serialize)]
struct Report {
    passed: bool,
    device: String,
    parameters: usize,
    train_tokens: usize,
    heldout_tokens: usize,
    vocab_cap: usize,
    unigram_entropy: f64,
    heldout_loss: f64,
    pass_ratio: f64,
    final_train_loss: f32,
    seconds: f64,
    losses: Vec<f32>,
    prompt: String,
    generated: String,
}

/// Runs the training check; returns whether it passed.
pub(super) fn train_check(dir: &Path, args: &TrainCheckArgs) -> anyhow::Result<bool> {
    let (device, why) = args.device.resolve()?;
    tracing::info!(%device, "verify --train: {why}");
    let manifest = Manifest::read(dir)?;
    let (train, heldout) = read_split(dir, &manifest, args.model.max_tokens)?;
    anyhow::ensure!(
        train.len() > args.model.context * 4 && heldout.len() > args.model.context + 1,
        "too few tokens to train on: {} train, {} held out",
        train.len(),
        heldout.len()
    );
    let map = Compaction::fit(&train, args.model.vocab_cap);
    let (train_c, heldout_c) = (map.apply(&train), map.apply(&heldout));
    let entropy = unigram_entropy(&heldout_c);
    let (gpt, report) = args.model.train(map.size(), device, &train_c)?;
    let heldout_loss = gpt.eval_loss(&heldout_c, 64)?;
    let passed = heldout_loss <= args.pass_ratio * entropy;
    let prompt_c: Vec<u32> = heldout_c.iter().copied().take(16).collect();
    let generated_c = gpt.generate(&prompt_c, 48, Sampling::Temperature(0.8), 42)?;
    let tokenizer =
        args.tokenizer.as_deref().map(tokenmill_tokenize::Tokenizer::from_file).transpose()?;
    let decode = |ids: &[u32]| -> anyhow::Result<String> {
        let original = map.invert(ids);
        Ok(match &tokenizer {
            Some(t) => t.decode(&original)?,
            None => format!("{original:?}"),
        })
    };
    let r = Report {
        passed,
        device: device.to_string(),
        parameters: gpt.parameter_count(),
        train_tokens: train.len(),
        heldout_tokens: heldout.len(),
        vocab_cap: map.size(),
        unigram_entropy: entropy,
        heldout_loss,
        pass_ratio: args.pass_ratio,
        final_train_loss: report.final_loss,
        seconds: report.seconds,
        prompt: decode(&prompt_c)?,
        generated: decode(&generated_c[prompt_c.len().min(generated_c.len())..])?,
        losses: report.losses,
    };
    let out = args.report.clone().unwrap_or_else(|| dir.join("verify-report"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&r)?)?;
    std::fs::write(out.join("loss.svg"), loss_svg(&r.losses, entropy, heldout_loss))?;
    println!(
        "train check {}: held-out loss {heldout_loss:.3} nats vs unigram entropy {entropy:.3} (pass at <= {:.3}); {} parameters, {} steps in {:.1}s on {device}",
        if passed { "ok" } else { "FAILED" },
        args.pass_ratio * entropy,
        r.parameters,
        args.model.steps,
        r.seconds
    );
    println!("prompt:    {}", r.prompt.replace('\n', "\\n"));
    println!("generated: {}", r.generated.replace('\n', "\\n"));
    println!(
        "report: {} and {}",
        out.join("report.json").display(),
        out.join("loss.svg").display()
    );
    Ok(passed)
}

/// Reads up to `max_tokens`; every tenth document goes to the held-out split.
fn read_split(
    dir: &Path,
    manifest: &Manifest,
    max_tokens: usize,
) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
    let (mut train, mut heldout) = (Vec::new(), Vec::new());
    let mut n = 0usize;
    'shards: for shard in &manifest.shards {
        let ds = IndexedDataset::open(&dir.join(&shard.name))?;
        for i in 0..ds.len() {
            let doc = ds.get(i)?;
            if n % 10 == 9 {
                heldout.extend(doc)
            } else {
                train.extend(doc)
            }
            n += 1;
            if train.len() + heldout.len() >= max_tokens {
                break 'shards;
            }
        }
    }
    Ok((train, heldout))
}

/// A plain SVG line chart of the training loss, with the entropy and held-out loss marked.
fn loss_svg(losses: &[f32], entropy: f64, heldout: f64) -> String {
    let (w, h, pad) = (720.0, 360.0, 40.0);
    let top = losses.iter().map(|&l| f64::from(l)).fold(entropy, f64::max) * 1.05;
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (losses.len().max(2) - 1) as f64;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v / top);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        h - pad,
        w - pad,
        h - pad
    );
    let _ = writeln!(
        s,
        "<line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"black\"/>",
        h - pad
    );
    let points: Vec<String> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| format!("{:.1},{:.1}", x(i), y(f64::from(l))))
        .collect();
    let _ = writeln!(
        s,
        "<polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"1.5\" points=\"{}\"/>",
        points.join(" ")
    );
    for (v, color, label) in
        [(entropy, "firebrick", "unigram entropy"), (heldout, "seagreen", "held-out loss")]
    {
        let _ = writeln!(
            s,
            "<line x1=\"{pad}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\"/>",
            y(v),
            w - pad
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" fill=\"{color}\" text-anchor=\"end\">{label} {v:.3}</text>",
            w - pad,
            y(v) - 4.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">training step ({} steps); loss in nats</text>",
        w / 2.0,
        h - 10.0,
        losses.len()
    );
    let _ = writeln!(s, "<text x=\"{pad}\" y=\"{}\">{top:.2}</text>", pad - 6.0);
    s.push_str("</svg>\n");
    s
}
