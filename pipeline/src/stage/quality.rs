//! `type = "quality_model"`: score documents with a fastText supervised model, keep those in
//! range.
//!
//! The score is the model's probability of one label (`label`), written into the document's
//! metadata (`score_field`) so that later stages, sinks and `where` clauses can use it. The
//! model is any fastText `.bin`/`.ftz` (`tokenmill train-classifier` writes one), read by the
//! one fastText implementation (`tokenmill_filters::fasttext`).
//!
//! Documents are scored a batch at a time on the stage's `device`: on the CPU each document is
//! scored on the worker pool with fastText's own prediction; on a GPU each document's input rows
//! are computed on the CPU (in parallel, by the same fastText code), and the embedding bag,
//! output layer and softmax of the whole batch run on the device, one batch at a time (the
//! workers' batches queue for it; dense softmax models only). Scores agree between the two
//! within float rounding; the default device is the CPU, so that a config gives the same output
//! everywhere.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use tokenmill_engine::backend::{Backend, CudaBackend};
use tokenmill_engine::classifier::{Bag, OwnedScorer};
use tokenmill_engine::device::{Device, DeviceRequest};
use tokenmill_filters::fasttext::{FastText, LABEL_PREFIX, Loss};

use super::QualityModelSpec;
use crate::document::Document;

/// A model resident on a device, scoring input rows: an [`OwnedScorer`] on the CUDA backend
/// (or, in tests, on its CPU emulator).
trait Resident: Send + std::fmt::Debug {
    fn score_features(&self, ids: &[u32], offsets: &[u32]) -> tokenmill_engine::Result<Vec<f32>>;
    fn labels(&self) -> usize;
}

impl<B: Backend> Resident for OwnedScorer<B>
where
    Self: Send,
{
    fn score_features(&self, ids: &[u32], offsets: &[u32]) -> tokenmill_engine::Result<Vec<f32>> {
        OwnedScorer::score_features(self, ids, offsets)
    }
    fn labels(&self) -> usize {
        OwnedScorer::labels(self)
    }
}

/// A loaded model and the score range to keep.
#[derive(Debug)]
pub struct QualityModel {
    model: FastText,
    /// Where it scores, and the model on that GPU when it is one (device work one batch at a
    /// time).
    device: Device,
    gpu: Option<Mutex<Box<dyn Resident>>>,
    label: usize,
    field: String,
    min: Option<f32>,
    max: Option<f32>,
    max_chars: usize,
}

/// The first bytes of the retired `.tmcls` format.
const TMCLS_MAGIC: &[u8] = b"TMCLASSF";

/// Loads the model, explaining what to do with a `.tmcls` file.
fn load(path: &str) -> anyhow::Result<FastText> {
    let mut magic = [0u8; 8];
    let is_tmcls = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| magic == TMCLS_MAGIC);
    anyhow::ensure!(
        !is_tmcls,
        "model {path} is in tokenmill's retired `.tmcls` format, which is no longer read; \
         retrain it with `tokenmill train-classifier` (same labelled data), which writes a \
         fastText `.bin` (see the README, \"Model-based filtering\")"
    );
    FastText::load(std::path::Path::new(path)).map_err(|e| anyhow::anyhow!("model {path}: {e}"))
}

/// The index of `wanted` among the model's labels (with or without `__label__`).
fn label_index(model: &FastText, wanted: Option<&str>, path: &str) -> anyhow::Result<usize> {
    let Some(l) = wanted else { return Ok(0) };
    let bare = |m: &str| m.strip_prefix(LABEL_PREFIX).unwrap_or(m).to_string();
    model.labels().iter().position(|m| m == l || bare(m) == l).ok_or_else(|| {
        let names: Vec<String> = model.labels().iter().map(|m| bare(m)).collect();
        anyhow::anyhow!("model {path} has no label `{l}` (labels: {})", names.join(", "))
    })
}

/// The model on GPU `n`: its dense matrices as an embedding bag.
fn on_gpu(model: &FastText, n: usize) -> anyhow::Result<Box<dyn Resident>> {
    let (Some((input, output)), Loss::Softmax) = (model.dense_matrices(), model.loss()) else {
        anyhow::bail!(
            "only dense softmax models score on a GPU (this one is quantized or not softmax)"
        );
    };
    let bag = Bag {
        dim: model.dim(),
        labels: model.labels().len(),
        input: input.to_vec(),
        output: output[..model.labels().len() * model.dim()].to_vec(),
    };
    Ok(Box::new(OwnedScorer::for_bag(CudaBackend::new(n)?, &bag)?))
}

impl QualityModel {
    /// Loads the model named by the spec.
    ///
    /// # Errors
    /// The model cannot be read (or is a `.tmcls`), it has no such label, or the requested GPU
    /// cannot take it.
    pub fn new(spec: &QualityModelSpec) -> anyhow::Result<Self> {
        let model = load(&spec.model)?;
        let label = label_index(&model, spec.label.as_deref(), &spec.model)?;
        let request = spec.device.parse::<DeviceRequest>()?;
        let (mut device, why) = request.resolve()?;
        tracing::info!(stage = %spec.name, %device, "quality_model: {why}");
        let gpu = match device {
            Device::Cpu => None,
            Device::Cuda(n) => match on_gpu(&model, n) {
                Ok(scorer) => Some(Mutex::new(scorer)),
                // `auto` means "a GPU if it works": one that fails to take the model is not used.
                Err(e) if request == DeviceRequest::Auto => {
                    tracing::warn!(stage = %spec.name, "quality_model: scoring on the CPU: cuda:{n} could not take the model: {e}");
                    device = Device::Cpu;
                    None
                }
                Err(e) => anyhow::bail!("model {} on {device}: {e}", spec.model),
            },
        };
        Ok(Self {
            model,
            device,
            gpu,
            label,
            field: spec.score_field.clone(),
            min: spec.min_score,
            max: spec.max_score,
            max_chars: spec.max_chars,
        })
    }

    /// Where the model scores.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The probability of the stage's label for each text, on the stage's device.
    fn score(&self, texts: &[&str]) -> anyhow::Result<Vec<f32>> {
        let Some(gpu) = &self.gpu else {
            return Ok(texts
                .par_iter()
                .with_min_len(16)
                .map(|t| {
                    let probs = self.model.predict_ids(t, None, 0.0);
                    probs.iter().find(|&&(i, _)| i == self.label).map_or(0.0, |&(_, p)| p)
                })
                .collect());
        };
        // Rows are computed with rayon: never while holding the lock (a worker waiting inside
        // rayon may pick up another batch of this stage and ask for the lock again).
        let rows: Vec<Vec<u32>> = texts.par_iter().map(|t| self.model.line_rows(t)).collect();
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0u32);
        let mut ids = Vec::new();
        for r in rows {
            ids.extend_from_slice(&r);
            offsets.push(u32::try_from(ids.len())?);
        }
        let scorer = gpu.lock().unwrap_or_else(PoisonError::into_inner);
        let probs = scorer.score_features(&ids, &offsets)?;
        let labels = scorer.labels().max(1);
        Ok(probs.chunks_exact(labels).map(|p| p.get(self.label).copied().unwrap_or(0.0)).collect())
    }

    /// Scores a batch, writes each score into metadata, and returns which documents to keep
    /// (`None`) or drop (the rule).
    ///
    /// # Errors
    /// The device failed (a GPU error); the batch is not judged.
    pub fn run(&self, docs: &mut [Document]) -> anyhow::Result<Vec<Option<&'static str>>> {
        let texts: Vec<&str> = docs.iter().map(|d| prefix(&d.text, self.max_chars)).collect();
        let scores = self.score(&texts)?;
        Ok(docs
            .iter_mut()
            .zip(scores)
            .map(|(doc, score)| {
                let rounded = (f64::from(score) * 1e6).round() / 1e6;
                doc.metadata.insert(self.field.clone(), serde_json::Value::from(rounded));
                if self.min.is_some_and(|m| score < m) {
                    Some("below_min_score")
                } else if self.max.is_some_and(|m| score > m) {
                    Some("above_max_score")
                } else {
                    None
                }
            })
            .collect())
    }
}

fn prefix(text: &str, max_chars: usize) -> &str {
    text.char_indices().nth(max_chars).map_or(text, |(i, _)| &text[..i])
}

impl super::BuildOperator for QualityModelSpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        Ok(Some(super::Operator::Quality(Box::new(QualityModel::new(self)?))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    #[cfg(all(feature = "emulator", target_os = "linux"))]
    use tokenmill_engine::backend::EmulatedCuda;
    use tokenmill_engine::classifier::BagConfig;
    use tokenmill_filters::fasttext::{Dictionary, ModelArgs, write_model};

    use super::*;

    /// The stage's GPU path (features hashed outside the lock, one batch on the device at a
    /// time, probabilities cut per document) on the CUDA emulator, batches arriving from several
    /// workers at once: the same documents kept, and the same scores within float rounding, as
    /// on the CPU.
    #[cfg(all(feature = "emulator", target_os = "linux"))]
    #[test]
    fn the_device_path_keeps_what_the_cpu_keeps() {
        if let Err(why) = EmulatedCuda::compiler() {
            eprintln!("SKIPPED: no C++ compiler for the CUDA emulator: {why}");
            return;
        }
        let data = [
            ("install the package with apt", 0),
            ("the moon over the quiet sea", 1),
            ("run make install", 0),
            ("a rose", 1),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        let labels = [("doc".to_string(), 2), ("other".to_string(), 2)];
        let dict = Dictionary::build(data.iter().map(|(t, _)| *t), &labels, 1);
        let args = ModelArgs {
            dim: 8,
            epoch: 20,
            min_count: 1,
            word_ngrams: 2,
            bucket: 64,
            minn: 2,
            maxn: 3,
        };
        let rows = dict.words() + 64;
        write_model(&path, &ModelArgs { dim: 1, ..args }, &dict, &vec![0.0; rows], &[0.0; 2])
            .unwrap();
        let features = FastText::load(&path).unwrap();
        let ids: Vec<Vec<u32>> = data.iter().map(|(t, _)| features.line_rows(t)).collect();
        let examples: Vec<(&[u32], u32)> =
            ids.iter().zip(&data).map(|(r, (_, l))| (&r[..], *l)).collect();
        let config = BagConfig { dim: 8, epochs: 20, lr: 0.5, seed: 3 };
        let bag = Bag::train(&config, rows, 2, &examples).unwrap();
        write_model(&path, &args, &dict, &bag.input, &bag.output).unwrap();
        let spec: QualityModelSpec = toml::from_str(&format!(
            "name = \"q\"\ninputs = [\"in\"]\nmodel = {:?}\nlabel = \"doc\"\nmin_score = 0.5",
            path.display().to_string()
        ))
        .unwrap();
        let on_cpu = QualityModel::new(&spec).unwrap();
        assert_eq!(on_cpu.device(), Device::Cpu);
        let mut on_gpu = QualityModel::new(&spec).unwrap();
        let emulated = OwnedScorer::for_bag(EmulatedCuda::new().unwrap(), &bag).unwrap();
        on_gpu.gpu = Some(Mutex::new(Box::new(emulated)));
        let on_gpu = Arc::new(on_gpu);

        let texts: Vec<String> = (0..300)
            .map(|i| match i % 4 {
                0 => format!("install package {i} with apt and make"),
                1 => format!("the sea and the moon {i}"),
                2 => String::new(),
                _ => "ünïcödé ".repeat(i % 7),
            })
            .collect();
        let mut batches: Vec<Vec<Document>> =
            texts.chunks(37).map(|c| c.iter().map(|t| Document::new("id", t)).collect()).collect();
        // A batch of empty documents has no features at all: the device path must pad it.
        batches.push((0..5).map(|_| Document::new("id", "")).collect());
        let workers: Vec<_> = batches
            .into_iter()
            .map(|mut batch| {
                let on_gpu = Arc::clone(&on_gpu);
                std::thread::spawn(move || {
                    let verdicts = on_gpu.run(&mut batch).unwrap();
                    (batch, verdicts)
                })
            })
            .collect();
        let mut kept = 0;
        for worker in workers {
            let (gpu_docs, gpu_verdicts) = worker.join().unwrap();
            let mut cpu_docs: Vec<Document> =
                gpu_docs.iter().map(|d| Document::new("id", &d.text)).collect();
            let cpu_verdicts = on_cpu.run(&mut cpu_docs).unwrap();
            assert_eq!(gpu_verdicts, cpu_verdicts);
            kept += gpu_verdicts.iter().filter(|v| v.is_none()).count();
            for (g, c) in gpu_docs.iter().zip(&cpu_docs) {
                let (g, c) = (
                    g.metadata["quality_score"].as_f64().unwrap(),
                    c.metadata["quality_score"].as_f64().unwrap(),
                );
                // fastText adds 1e-5 to the probabilities it reports; the GPU path does not.
                assert!((g - c).abs() < 3e-5, "{g} on the emulated GPU, {c} on the CPU");
            }
        }
        assert!(
            kept > 0 && kept < texts.len(),
            "the threshold should split the documents (kept {kept})"
        );
    }
}
