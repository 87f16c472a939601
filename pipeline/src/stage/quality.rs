//! `type = "quality_model"`: score documents with a trained classifier, keep those in range.
//!
//! The score is the model's probability of one label (`label`), written into the document's
//! metadata (`score_field`) so that later stages, sinks and `where` clauses can use it.
//!
//! Documents are scored a batch at a time on the stage's `device`: on the CPU each document is
//! scored on the worker pool; on a GPU the features are hashed on the CPU (in parallel) and the
//! embedding bag, linear layer and softmax of the whole batch run on the device, one batch at a
//! time (the workers' batches queue for it). Scores agree between the two within float
//! rounding; the default device is the CPU, so that a config gives the same output everywhere.

use std::sync::{Mutex, PoisonError};

use tokenmill_engine::backend::{Backend, CudaBackend};
use tokenmill_engine::classifier::{Classifier, OwnedScorer, features_batch};
use tokenmill_engine::device::{Device, DeviceRequest};

use super::QualityModelSpec;
use crate::document::Document;

/// A classifier resident on a device, scoring hashed features: an [`OwnedScorer`] on the CUDA
/// backend (or, in tests, on its CPU emulator).
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

/// The model resident on a GPU: device work one batch at a time.
#[derive(Debug)]
struct Gpu {
    scorer: Mutex<Box<dyn Resident>>,
    buckets: u32,
    word_ngrams: u32,
}

impl Gpu {
    fn new(model: &Classifier, scorer: impl Resident + 'static) -> Self {
        Self {
            scorer: Mutex::new(Box::new(scorer)),
            buckets: model.buckets(),
            word_ngrams: model.word_ngrams(),
        }
    }
}

/// A loaded classifier and the score range to keep.
#[derive(Debug)]
pub struct QualityModel {
    model: Classifier,
    /// Where it scores, and the model on that GPU when it is one.
    device: Device,
    gpu: Option<Gpu>,
    label: usize,
    field: String,
    min: Option<f32>,
    max: Option<f32>,
    max_chars: usize,
}

impl QualityModel {
    /// Loads the model named by the spec.
    ///
    /// # Errors
    /// The model cannot be read, or it has no such label.
    pub fn new(spec: &QualityModelSpec) -> anyhow::Result<Self> {
        let model = Classifier::load(std::path::Path::new(&spec.model))
            .map_err(|e| anyhow::anyhow!("model {}: {e}", spec.model))?;
        let label = match &spec.label {
            None => 0,
            Some(l) => model.labels().iter().position(|m| m == l).ok_or_else(|| {
                anyhow::anyhow!(
                    "model {} has no label `{l}` (labels: {})",
                    spec.model,
                    model.labels().join(", ")
                )
            })?,
        };
        let request = spec.device.parse::<DeviceRequest>()?;
        let (mut device, why) = request.resolve()?;
        tracing::info!(stage = %spec.name, %device, "quality_model: {why}");
        let gpu = match device {
            Device::Cpu => None,
            Device::Cuda(n) => match CudaBackend::new(n).and_then(|be| model.into_scorer(be)) {
                Ok(scorer) => Some(Gpu::new(&model, scorer)),
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

    /// Label probabilities of each text, on the stage's device.
    fn score(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let Some(gpu) = &self.gpu else { return Ok(self.model.score_batch(texts)) };
        // Hashing uses rayon: never while holding the lock (a worker waiting inside rayon may
        // pick up another batch of this stage and ask for the lock again).
        let (ids, offsets) = features_batch(texts, gpu.buckets, gpu.word_ngrams)?;
        let scorer = gpu.scorer.lock().unwrap_or_else(PoisonError::into_inner);
        let probs = scorer.score_features(&ids, &offsets)?;
        Ok(probs.chunks_exact(scorer.labels().max(1)).map(<[f32]>::to_vec).collect())
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
            .map(|(doc, probs)| {
                let score = probs.get(self.label).copied().unwrap_or(0.0);
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
    use tokenmill_engine::classifier::ClassifierConfig;

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
        let config =
            ClassifierConfig { buckets: 1 << 12, epochs: 20, ..ClassifierConfig::default() };
        let model = Classifier::train(&config, vec!["doc".into(), "other".into()], &data).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tmcls");
        model.save(&path).unwrap();
        let spec: QualityModelSpec = toml::from_str(&format!(
            "name = \"q\"\ninputs = [\"in\"]\nmodel = {:?}\nlabel = \"doc\"\nmin_score = 0.5",
            path.display().to_string()
        ))
        .unwrap();
        let on_cpu = QualityModel::new(&spec).unwrap();
        assert_eq!(on_cpu.device(), Device::Cpu);
        let mut on_gpu = QualityModel::new(&spec).unwrap();
        let emulated = on_gpu.model.clone().into_scorer(EmulatedCuda::new().unwrap()).unwrap();
        on_gpu.gpu = Some(Gpu::new(&on_gpu.model, emulated));
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
                assert!((g - c).abs() < 1e-5, "{g} on the emulated GPU, {c} on the CPU");
            }
        }
        assert!(
            kept > 0 && kept < texts.len(),
            "the threshold should split the documents (kept {kept})"
        );
    }
}
