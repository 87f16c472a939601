//! `type = "transformer_classifier"`: score documents with a Hugging Face encoder classifier
//! (BERT, RoBERTa, XLM-R: FineWeb-Edu's, Chinese-FineWeb-Edu's, CCI3-HQ's), keep those in range.
//!
//! `model` is a directory as downloaded from the Hub: `config.json`, `model.safetensors`,
//! `tokenizer.json` ([`tokenmill_engine::encoder`] says which checkpoints load). Each document's
//! text (its first `max_chars` characters) is tokenized, framed with the model's first and last
//! special tokens (`[CLS]`/`[SEP]`, `<s>`/`</s>`) and truncated to the model's length (512
//! tokens), as the Hugging Face tokenizer does with `truncation=True`. The score written into
//! `score_field` is the regression output of a `num_labels = 1` model, or the softmax
//! probability of `label` (the sigmoid for multi-label models); `min_score` / `max_score` keep
//! a range.
//!
//! A batch is tokenized in parallel on the worker pool, sorted by length, and cut into groups of
//! at most `batch_tokens` tokens, each group one forward pass (no padding: the encoder packs
//! sequences). On the CPU, groups run in parallel on the pool, each on one thread. On a GPU
//! (`device = "cuda"`, or `"auto"` where one is usable; the CPU otherwise) the model is copied
//! there once and the groups run on it one at a time: the workers tokenize their batches on the
//! CPU while another batch holds the device, so tokenization overlaps device work.
//!
//! `precision` sets the format of the linear layers' products on a GPU: `bf16` by default (what
//! FineWeb-Edu's annotation runs: the classifier loaded with `torch_dtype=torch.bfloat16`; `fp16`
//! on GPUs before Ampere, which have no bf16 tensor cores), `fp16`, or `fp32`; half precision
//! rounds the products' inputs to 16 bits and sums in `f32` ([`tokenmill_engine::precision`]).
//! The model runs once on a two-token input when it is copied to the GPU, so a GPU that cannot
//! run it fails (or, with `auto`, falls back to the CPU) before the run starts. The CPU computes in fp32 only: `fp16` / `bf16` with
//! `device = "cpu"` is refused; with `auto` falling back to the CPU it is logged and fp32 used.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenmill_engine::backend::{Backend, CudaBackend};
use tokenmill_engine::device::{Device, DeviceRequest};
use tokenmill_engine::encoder::{DeviceEncoder, Encoder, Family, Problem};
use tokenmill_engine::precision::Precision;
use tokenmill_tokenize::Tokenizer;

use super::{BatchScorer, BuildOperator, Operator};
use crate::document::Document;

/// `type = "transformer_classifier"`: an encoder classifier's score as a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerClassifierSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// Model directory: `config.json`, `model.safetensors`, `tokenizer.json`.
    pub model: String,
    /// Where it runs: `cpu` (default), `cuda` / `cuda:N` (an error when that GPU is not
    /// usable), or `auto` (GPU 0 when usable, else the CPU).
    #[serde(default = "default_device")]
    pub device: String,
    /// The linear layers' products on a GPU: `bf16` (default on a GPU from Ampere on; `fp16`
    /// before), `fp16` (inputs rounded to 16 bits, sums in fp32) or `fp32`. The CPU computes fp32 only: `fp16` / `bf16` with
    /// `device = "cpu"` is an error.
    #[serde(default)]
    pub precision: Option<Precision>,
    /// Tokens per forward pass (documents are grouped by length up to this many tokens).
    #[serde(default = "default_batch_tokens")]
    pub batch_tokens: usize,
    /// For a classification model, the label whose probability is the score (a name from the
    /// config's `id2label`); default: the last label. Not allowed for a regression model, whose
    /// score is its output.
    #[serde(default)]
    pub label: Option<String>,
    /// Metadata field the score is written to.
    #[serde(default = "default_score_field")]
    pub score_field: String,
    /// Drop documents scoring below this.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Drop documents scoring above this.
    #[serde(default)]
    pub max_score: Option<f32>,
    /// Characters of each document tokenized (its start); tokens past the model's length are
    /// cut anyway, this bounds the tokenizer's work on huge documents.
    #[serde(default = "default_max_chars")]
    pub max_chars: usize,
}

fn default_device() -> String {
    "cpu".into()
}
fn default_batch_tokens() -> usize {
    8192
}
fn default_score_field() -> String {
    "classifier_score".into()
}
fn default_max_chars() -> usize {
    100_000
}

/// An encoder resident on a device: a [`DeviceEncoder`] on the CUDA backend (or, in tests, on
/// its CPU emulator).
trait Resident: Send + std::fmt::Debug {
    fn logits(&self, seqs: &[&[u32]]) -> tokenmill_engine::Result<Vec<Vec<f32>>>;
}

impl<B: Backend> Resident for DeviceEncoder<B>
where
    Self: Send,
{
    fn logits(&self, seqs: &[&[u32]]) -> tokenmill_engine::Result<Vec<Vec<f32>>> {
        DeviceEncoder::logits(self, seqs)
    }
}

/// The model on a GPU; one group of documents at a time holds it.
type OnGpu = Mutex<Box<dyn Resident>>;

/// A loaded encoder, its tokenizer and the range to keep.
#[derive(Debug)]
pub struct TransformerClassifier {
    encoder: Encoder,
    /// The model on a GPU, when the stage runs there (device work one group at a time).
    gpu: Option<OnGpu>,
    device: Device,
    precision: Precision,
    tokenizer: Tokenizer,
    /// The special tokens framing every input.
    first: u32,
    last: u32,
    /// `None`: the regression output; `Some(i)`: the probability of label `i`.
    label: Option<usize>,
    spec: TransformerClassifierSpec,
}

impl TransformerClassifier {
    /// Loads the model directory the spec names.
    ///
    /// # Errors
    /// A file cannot be read or is not a supported checkpoint, the tokenizer lacks the special
    /// tokens, the label does not exist, or the GPU requested is not usable.
    pub fn new(spec: &TransformerClassifierSpec) -> anyhow::Result<Self> {
        let dir = std::path::Path::new(&spec.model);
        let request = spec.device.parse::<DeviceRequest>()?;
        if let (DeviceRequest::Cpu, Some(p @ (Precision::Fp16 | Precision::Bf16))) =
            (request, spec.precision)
        {
            anyhow::bail!(
                "transformer_classifier {}: precision = \"{p}\" needs a GPU, but device = \"cpu\": \
                 the CPU computes in fp32 (set device = \"cuda\" or \"auto\", or precision = \"fp32\")",
                spec.name
            );
        }
        anyhow::ensure!(
            spec.batch_tokens > 0,
            "transformer_classifier {}: batch_tokens is 0",
            spec.name
        );
        let encoder =
            Encoder::load(dir).map_err(|e| anyhow::anyhow!("model {}: {e}", spec.model))?;
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| anyhow::anyhow!("model {}: {e}", spec.model))?;
        let config = encoder.config();
        let (first, last) = match config.family {
            Family::Bert => ("[CLS]", "[SEP]"),
            Family::Roberta => ("<s>", "</s>"),
        };
        let special = |t: &str| {
            tokenizer.token_to_id(t).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no {t} token for a {} model",
                    tok_path.display(),
                    config.model_type
                )
            })
        };
        let (first, last) = (special(first)?, special(last)?);
        let label = match (config.problem, &spec.label) {
            (Problem::Regression, None) => None,
            (Problem::Regression, Some(l)) => anyhow::bail!(
                "model {} is a regression model (one score): it has no label {l:?}",
                spec.model
            ),
            (_, None) => Some(config.num_labels - 1),
            (_, Some(l)) => Some(config.labels.iter().position(|m| m == l).ok_or_else(|| {
                anyhow::anyhow!(
                    "model {} has no label {l:?} (labels: {})",
                    spec.model,
                    config.labels.join(", ")
                )
            })?),
        };
        let (device, gpu, precision) = on_device(&encoder, request, spec, (first, last))?;
        tracing::info!(
            stage = %spec.name,
            model_type = %config.model_type,
            layers = config.num_layers,
            hidden = config.hidden_size,
            %device,
            %precision,
            "transformer_classifier: scoring on {device} in {precision}"
        );
        let spec = spec.clone();
        Ok(Self { encoder, gpu, device, precision, tokenizer, first, last, label, spec })
    }

    /// Where the model scores.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The format of the linear layers' products where the model scores.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The head's outputs of one group of inputs, on the stage's device.
    fn logits(&self, seqs: &[&[u32]]) -> tokenmill_engine::Result<Vec<Vec<f32>>> {
        match &self.gpu {
            None => self.encoder.logits(seqs),
            Some(gpu) => gpu.lock().unwrap_or_else(PoisonError::into_inner).logits(seqs),
        }
    }

    /// The model's input for one text, or why it has none.
    fn input(&self, text: &str) -> Result<Vec<u32>, &'static str> {
        let text = text.char_indices().nth(self.spec.max_chars).map_or(text, |(i, _)| &text[..i]);
        let ids = self.tokenizer.encode(text).map_err(|_| "tokenize_failed")?;
        let vocab = self.encoder.config().vocab_size;
        if ids.iter().any(|&id| id as usize >= vocab) {
            return Err("token_out_of_vocab");
        }
        Ok(self.encoder.frame(&ids, self.first, self.last))
    }

    /// The score of one output row.
    fn score(&self, logits: &[f32]) -> f32 {
        let Some(i) = self.label else { return logits[0] };
        if self.encoder.config().problem == Problem::MultiLabel {
            return 1.0 / (1.0 + (-logits[i]).exp());
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
        (logits[i] - max).exp() / sum
    }
}

impl BatchScorer for TransformerClassifier {
    /// Drops documents the tokenizer fails on (`tokenize_failed`) or that hold ids outside the
    /// model's vocabulary (`token_out_of_vocab`); an error means the encoder refused an input
    /// it was given (a bug: inputs are checked first).
    fn run(&self, docs: &mut [Document]) -> anyhow::Result<Vec<Option<&'static str>>> {
        let inputs: Vec<Result<Vec<u32>, &'static str>> =
            docs.par_iter().map(|d| self.input(&d.text)).collect();
        // Scorable documents by length, cut into groups of at most `batch_tokens` tokens.
        let mut order: Vec<usize> = (0..docs.len()).filter(|&i| inputs[i].is_ok()).collect();
        order.sort_by_key(|&i| inputs[i].as_ref().map_or(0, Vec::len));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut tokens = usize::MAX;
        for i in order {
            let n = inputs[i].as_ref().map_or(0, Vec::len);
            if tokens.saturating_add(n) > self.spec.batch_tokens {
                groups.push(Vec::new());
                tokens = 0;
            }
            tokens += n;
            if let Some(g) = groups.last_mut() {
                g.push(i);
            }
        }
        let score_group = |g: &Vec<usize>| -> anyhow::Result<Vec<(usize, f32)>> {
            let seqs: Vec<&[u32]> =
                g.iter().map(|&i| inputs[i].as_ref().map_or(&[][..], Vec::as_slice)).collect();
            let logits = self.logits(&seqs)?;
            Ok(g.iter().zip(&logits).map(|(&i, l)| (i, self.score(l))).collect())
        };
        // On a GPU the groups take turns on the device anyway: this worker runs them in order
        // rather than parking pool threads on the lock.
        let scored: Vec<Vec<(usize, f32)>> = if self.gpu.is_some() {
            groups.iter().map(score_group).collect::<anyhow::Result<_>>()?
        } else {
            groups.par_iter().map(score_group).collect::<anyhow::Result<_>>()?
        };
        let mut scores = vec![None; docs.len()];
        for (i, s) in scored.into_iter().flatten() {
            scores[i] = Some(s);
        }
        Ok(docs
            .iter_mut()
            .zip(scores.into_iter().zip(&inputs))
            .map(|(doc, (score, input))| {
                let score = match (score, input) {
                    (Some(s), _) => s,
                    (None, Err(rule)) => return Some(*rule),
                    (None, Ok(_)) => return Some("unscored"),
                };
                let rounded = (f64::from(score) * 1e6).round() / 1e6;
                doc.metadata
                    .insert(self.spec.score_field.clone(), serde_json::Value::from(rounded));
                if self.spec.min_score.is_some_and(|m| score < m) {
                    Some("below_min_score")
                } else if self.spec.max_score.is_some_and(|m| score > m) {
                    Some("above_max_score")
                } else {
                    None
                }
            })
            .collect())
    }
}

/// Resolves the device and, for a GPU, copies the model there in the spec's precision (unless
/// set, bf16, or fp16 before Ampere) and runs it once on `[first, last]`; `auto` falls back to
/// the CPU, in fp32, when no GPU is usable or the one found cannot take or run the model.
fn on_device(
    encoder: &Encoder,
    request: DeviceRequest,
    spec: &TransformerClassifierSpec,
    (first, last): (u32, u32),
) -> anyhow::Result<(Device, Option<OnGpu>, Precision)> {
    let (device, why) = request.resolve()?;
    tracing::info!(stage = %spec.name, %device, "transformer_classifier: {why}");
    let on_cpu = |device| {
        if let Some(p @ (Precision::Fp16 | Precision::Bf16)) = spec.precision {
            tracing::warn!(stage = %spec.name, "transformer_classifier: precision {p} applies on a GPU; the CPU computes in fp32");
        }
        Ok((device, None, Precision::Fp32))
    };
    let Device::Cuda(n) = device else { return on_cpu(device) };
    let resident = CudaBackend::new(n).and_then(|be| {
        let p = spec.precision.unwrap_or(Precision::half_for_gpu(be.compute_capability()));
        let dev = encoder.into_device_with(be, p)?;
        // One tiny forward pass: a product this GPU cannot run fails here, not mid-run.
        dev.logits(&[&[first, last]])?;
        Ok((dev, p))
    });
    match resident {
        Ok((dev, p)) => Ok((device, Some(Mutex::new(Box::new(dev))), p)),
        Err(e) if request == DeviceRequest::Auto => {
            tracing::warn!(stage = %spec.name, "transformer_classifier: scoring on the CPU: cuda:{n} could not take the model: {e}");
            on_cpu(Device::Cpu)
        }
        Err(e) => anyhow::bail!("model {} on {device}: {e}", spec.model),
    }
}

impl BuildOperator for TransformerClassifierSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        Ok(Some(Operator::Scorer(Box::new(TransformerClassifier::new(self)?))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join("engine/tests/fixtures/encoder").join(name).display().to_string()
    }

    fn spec(extra: &str) -> TransformerClassifierSpec {
        toml::from_str(&format!(
            "name = \"t\"\ninputs = [\"in\"]\nmodel = {:?}\n{extra}",
            fixture("xlmr-2labels")
        ))
        .unwrap()
    }

    #[test]
    fn groups_by_tokens_and_scores_every_document() {
        let one = TransformerClassifier::new(&spec("batch_tokens = 1")).unwrap();
        let many = TransformerClassifier::new(&spec("label = \"LABEL_0\"")).unwrap();
        let texts = ["短文本", "", "a longer English text about the weather", &"诗 ".repeat(400)];
        let mut a: Vec<Document> = texts.iter().map(|t| Document::new("d", *t)).collect();
        let mut b = a.clone();
        assert_eq!(one.run(&mut a).unwrap(), vec![None; 4]);
        assert_eq!(many.run(&mut b).unwrap(), vec![None; 4]);
        for (x, y) in a.iter().zip(&b) {
            let (p1, p0) = (
                x.metadata["classifier_score"].as_f64().unwrap(),
                y.metadata["classifier_score"].as_f64().unwrap(),
            );
            assert!((p1 + p0 - 1.0).abs() < 2e-6, "{p1} + {p0}");
        }
    }

    /// The stage on the CUDA backend (its CPU emulator here) scores as on the CPU; `auto`
    /// without a GPU is the CPU.
    #[cfg(all(feature = "emulator", target_os = "linux"))]
    #[test]
    fn scores_on_the_cuda_backend_as_on_the_cpu() {
        use tokenmill_engine::backend::EmulatedCuda;
        if let Err(why) = EmulatedCuda::compiler() {
            eprintln!(
                "SKIPPED transformer_classifier on the emulator: no C++ compiler for the CUDA emulator: {why}"
            );
            return;
        }
        let cpu = TransformerClassifier::new(&spec("device = \"auto\"")).unwrap();
        if tokenmill_engine::backend::probe_cuda(0).is_err() {
            assert_eq!(cpu.device(), Device::Cpu);
        }
        let texts = ["短文本", "", "a longer English text about the weather", &"诗 ".repeat(100)];
        let mut a: Vec<Document> = texts.iter().map(|t| Document::new("d", *t)).collect();
        cpu.run(&mut a).unwrap();
        // fp32 agrees to rounding; bf16 (the GPU default) within its tolerance: the engine's
        // tests bound the logits' error by (4L + 2) * 2u * scale (u = 2^-8, L = 2 layers, logits
        // below 2 here: 0.16), and a two-label softmax moves by at most half of that.
        for (precision, tol) in [(Precision::Fp32, 1e-5), (Precision::Bf16, 0.08)] {
            let mut dev = TransformerClassifier::new(&spec("")).unwrap();
            let emulated =
                dev.encoder.into_device_with(EmulatedCuda::new().unwrap(), precision).unwrap();
            dev.gpu = Some(Mutex::new(Box::new(emulated)));
            dev.precision = precision;
            let mut b: Vec<Document> = texts.iter().map(|t| Document::new("d", *t)).collect();
            assert_eq!(dev.run(&mut b).unwrap(), vec![None; 4]);
            for (x, y) in a.iter().zip(&b) {
                let (p, q) = (&x.metadata["classifier_score"], &y.metadata["classifier_score"]);
                let d = (p.as_f64().unwrap() - q.as_f64().unwrap()).abs();
                assert!(d < tol, "{precision}: {p} vs {q}");
                eprintln!("ok {precision}: score {q} vs {p} on the CPU (tolerance {tol})");
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        if tokenmill_engine::backend::probe_cuda(0).is_err() {
            let err = TransformerClassifier::new(&spec("device = \"cuda\"")).unwrap_err();
            assert!(err.to_string().contains("cuda:0"), "{err}");
        }
        let err = TransformerClassifier::new(&spec("precision = \"bf16\"")).unwrap_err();
        assert!(err.to_string().contains("the CPU computes in fp32"), "{err}");
        let cpu = TransformerClassifier::new(&spec("device = \"cpu\"\nprecision = \"fp32\""));
        assert_eq!(cpu.unwrap().precision(), Precision::Fp32);
        if tokenmill_engine::backend::probe_cuda(0).is_err() {
            // `auto` without a GPU scores on the CPU, in fp32, whatever the precision asked.
            let auto = spec("device = \"auto\"\nprecision = \"fp16\"");
            let auto = TransformerClassifier::new(&auto).unwrap();
            assert_eq!((auto.device(), auto.precision()), (Device::Cpu, Precision::Fp32));
        }
        let bad = toml::from_str::<TransformerClassifierSpec>(
            "name = \"t\"\ninputs = []\nmodel = \"m\"\nprecision = \"fp8\"",
        );
        let err = bad.unwrap_err().to_string();
        assert!(err.contains("fp8") && err.contains("bf16"), "{err}");
        let err = TransformerClassifier::new(&spec("label = \"nope\"")).unwrap_err();
        assert!(err.to_string().contains("LABEL_0, LABEL_1"), "{err}");
        let mut s = spec("");
        s.model = fixture("bert-regression");
        s.label = Some("x".into());
        assert!(TransformerClassifier::new(&s).unwrap_err().to_string().contains("regression"));
    }
}
