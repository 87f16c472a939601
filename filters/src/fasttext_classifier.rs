//! `fasttext_classifier`: label probabilities from a fastText supervised model (`.bin` or
//! quantized `.ftz`, trained with the `fasttext` tool), and a keep/drop decision on them, as
//! datatrove's `FastTextClassifierFilter` makes it.
//!
//! The text is first prepared as the model expects ([`Preprocess`]): lines joined as DCLM does
//! (`" ".join(text.strip().splitlines())`), newlines replaced, lowercased, Chinese segmented
//! with jieba. Then [`FastText::predict_with`] gives up to `k` labels with their probabilities.
//!
//! Decision: with `remove_labels`, a document is dropped (`fasttext_removed_label`) when one of
//! them reaches its threshold; with `keep_labels`, it is kept only when one of them reaches its
//! threshold (otherwise `fasttext_low_score`); with neither, every document is kept (scores
//! only). Labels are written without fastText's `__label__` prefix (`hq`, not `__label__hq`);
//! either form is accepted.
//!
//! ```no_run
//! use tokenmill_filters::fasttext_classifier::{FastTextClassifier, FastTextClassifierConfig};
//! let cfg = FastTextClassifierConfig {
//!     model: "dclm_hq.bin".into(),
//!     keep_labels: [("hq".to_string(), 0.018)].into_iter().collect(),
//!     ..Default::default()
//! };
//! let f = FastTextClassifier::new(cfg).expect("the model loads");
//! let scores = f.scores("Some text to judge.");
//! println!("{:?} {:?}", scores, f.decide(&scores));
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Verdict;
use crate::error::{Result, invalid};
use crate::fasttext::{FastText, LABEL_PREFIX, Summation};
use crate::words::{jieba_lcut, py_splitlines, py_strip};

const FILTER: &str = "fasttext_classifier";

/// How the text is prepared before prediction: as the model's training text was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Preprocess {
    /// Join the lines with single spaces after stripping the text, as DCLM's classifier does
    /// (Python's `" ".join(text.strip().splitlines())`).
    pub join_lines: bool,
    /// What each remaining `\n` becomes (fastText predicts one line). A space (default) is what
    /// fastText makes of it anyway; `""` is datatrove's `FastTextClassifierFilter` default.
    pub newline: String,
    /// Lowercase the text (Unicode lowercasing, as Python's `str.lower`).
    pub lowercase: bool,
    /// Word segmentation for scripts without spaces: `none` (default) or `jieba` (Python jieba's
    /// `" ".join(jieba.lcut(text))`, for a Chinese model trained on segmented text).
    pub segment: Segment,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self { join_lines: false, newline: " ".into(), lowercase: false, segment: Segment::None }
    }
}

/// Word segmentation applied before prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// The text as it is.
    None,
    /// jieba's default mode, words joined by spaces.
    Jieba,
}

impl Preprocess {
    /// The text as the model should see it (borrowed when nothing changes).
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut t = Cow::Borrowed(text);
        if self.join_lines {
            t = Cow::Owned(py_splitlines(py_strip(&t)).join(" "));
        }
        if self.newline != " " && t.contains('\n') {
            t = Cow::Owned(t.replace('\n', &self.newline));
        }
        if self.lowercase {
            t = Cow::Owned(t.to_lowercase());
        }
        if self.segment == Segment::Jieba {
            t = Cow::Owned(jieba_lcut(&t).join(" "));
        }
        t
    }
}

/// Config of [`FastTextClassifier`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FastTextClassifierConfig {
    /// The fastText model (`.bin` or `.ftz`, supervised).
    pub model: PathBuf,
    /// Keep a document only if one of these labels has at least its probability (label ->
    /// minimum, 0..=1); empty: no such condition.
    pub keep_labels: BTreeMap<String, f64>,
    /// Drop a document if one of these labels has at least its probability (label -> minimum,
    /// 0..=1).
    pub remove_labels: BTreeMap<String, f64>,
    /// Labels predicted per document (labels; default: all, fastText's `k = -1`).
    pub k: Option<usize>,
    /// Labels below this probability are not reported (fastText's `threshold`; 0..=1).
    pub threshold: f64,
    /// How the text is prepared for the model.
    pub preprocess: Preprocess,
    /// `true`: add input rows in fastText's order, for fastText's probabilities to the bit
    /// ([`Summation::Exact`]); `false`: add per-word sums ([`Summation::PerWord`]), faster,
    /// probabilities within float rounding of fastText's. Default (unset): per-word sums for
    /// softmax and hierarchical-softmax models (within 4e-5 of fastText's probabilities on
    /// the parity set, same top labels), fastText's order for one-vs-all ones, whose table
    /// sigmoid can turn a rounding difference into another label ([`Summation::Auto`]).
    pub exact: Option<bool>,
}

impl Default for FastTextClassifierConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::new(),
            keep_labels: BTreeMap::new(),
            remove_labels: BTreeMap::new(),
            k: None,
            threshold: 0.0,
            preprocess: Preprocess::default(),
            exact: None,
        }
    }
}

/// A loaded model and its decision rule.
#[derive(Debug)]
pub struct FastTextClassifier {
    model: FastText,
    /// Each model label without the `__label__` prefix.
    names: Vec<String>,
    /// (label index, minimum probability).
    keep: Vec<(usize, f32)>,
    remove: Vec<(usize, f32)>,
    k: Option<usize>,
    threshold: f32,
    preprocess: Preprocess,
}

/// A label without fastText's prefix.
fn bare(label: &str) -> &str {
    label.strip_prefix(LABEL_PREFIX).unwrap_or(label)
}

impl FastTextClassifier {
    /// Loads the model and checks the labels and thresholds against it.
    ///
    /// # Errors
    /// No model given, an unreadable or malformed model, a threshold outside `0..=1`, or a
    /// label the model does not have (the message lists the model's labels).
    pub fn new(cfg: FastTextClassifierConfig) -> Result<Self> {
        if cfg.model.as_os_str().is_empty() {
            return Err(invalid(FILTER, "model", "is required: a fastText .bin or .ftz file"));
        }
        let summation = match cfg.exact {
            Some(true) => Summation::Exact,
            Some(false) => Summation::PerWord,
            None => Summation::Auto,
        };
        let model = FastText::load_with(&cfg.model, summation)?;
        let names: Vec<String> = model.labels().iter().map(|l| bare(l).to_string()).collect();
        let rule = |field: &'static str, labels: &BTreeMap<String, f64>| {
            labels
                .iter()
                .map(|(label, &min)| {
                    if !(0.0..=1.0).contains(&min) {
                        return Err(invalid(
                            FILTER,
                            field,
                            format!("`{label}` = {min}: not in 0..=1"),
                        ));
                    }
                    let i = names.iter().position(|n| n == bare(label)).ok_or_else(|| {
                        invalid(
                            FILTER,
                            field,
                            format!(
                                "the model has no label `{label}` (it has: {})",
                                names.join(", ")
                            ),
                        )
                    })?;
                    Ok((i, min as f32))
                })
                .collect::<Result<Vec<_>>>()
        };
        let keep = rule("keep_labels", &cfg.keep_labels)?;
        let remove = rule("remove_labels", &cfg.remove_labels)?;
        if !(0.0..=1.0).contains(&cfg.threshold) {
            return Err(invalid(
                FILTER,
                "threshold",
                format!("is {}, not in 0..=1", cfg.threshold),
            ));
        }
        Ok(Self {
            model,
            names,
            keep,
            remove,
            k: cfg.k,
            threshold: cfg.threshold as f32,
            preprocess: cfg.preprocess,
        })
    }

    /// The model's labels without the `__label__` prefix, by label index.
    pub fn labels(&self) -> &[String] {
        &self.names
    }

    /// The loaded model.
    pub fn model(&self) -> &FastText {
        &self.model
    }

    /// The predicted labels of a document (indices into [`FastTextClassifier::labels`]) with
    /// their probabilities, best first, after preprocessing.
    pub fn scores(&self, text: &str) -> Vec<(usize, f32)> {
        self.model.predict_ids(&self.preprocess.apply(text), self.k, self.threshold)
    }

    /// Keeps or drops a document given its [`FastTextClassifier::scores`]. A label that was not
    /// predicted (below `threshold` or past `k`) counts as probability 0.
    pub fn decide(&self, scores: &[(usize, f32)]) -> Verdict {
        let reached = |rule: &[(usize, f32)]| {
            rule.iter().any(|&(label, min)| scores.iter().any(|&(l, p)| l == label && p >= min))
        };
        if reached(&self.remove) {
            Verdict::Drop("fasttext_removed_label")
        } else if !self.keep.is_empty() && !reached(&self.keep) {
            Verdict::Drop("fasttext_low_score")
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/fasttext/genre.bin");

    fn classifier(cfg: FastTextClassifierConfig) -> Result<FastTextClassifier> {
        FastTextClassifier::new(FastTextClassifierConfig { model: MODEL.into(), ..cfg })
    }

    #[test]
    fn preprocess_like_dclm_and_datatrove() {
        let p = Preprocess { join_lines: true, lowercase: true, ..Preprocess::default() };
        assert_eq!(p.apply("  Hello\r\nWORLD\u{2028}Ünïcode \n"), "hello world ünïcode");
        let dt = Preprocess { newline: String::new(), ..Preprocess::default() };
        assert_eq!(dt.apply("a\nb"), "ab");
        assert!(matches!(Preprocess::default().apply("Keep\nme"), Cow::Borrowed("Keep\nme")));
        let zh = Preprocess { segment: Segment::Jieba, ..Preprocess::default() };
        assert_eq!(zh.apply("我们今天在公园里散步"), "我们 今天 在 公园 里 散步");
    }

    #[test]
    fn keeps_and_removes_by_label() -> anyhow::Result<()> {
        let scores_only = classifier(FastTextClassifierConfig::default())?;
        assert_eq!(scores_only.labels().len(), 5);
        let poem = "春宵一刻值千金，花有清香月有陰。 歌管樓臺聲細細，鞦韆院落夜沉沉。";
        let s = scores_only.scores(poem);
        assert_eq!(scores_only.labels()[s[0].0], "poetry", "{s:?}");
        assert_eq!(scores_only.decide(&s), Verdict::Keep);
        let keep_poetry = classifier(FastTextClassifierConfig {
            keep_labels: [("__label__poetry".to_string(), 0.5)].into_iter().collect(),
            ..Default::default()
        })?;
        assert_eq!(keep_poetry.decide(&keep_poetry.scores(poem)), Verdict::Keep);
        let prose = "Use cargo build --release to compile the crate with optimizations.";
        assert_eq!(
            keep_poetry.decide(&keep_poetry.scores(prose)),
            Verdict::Drop("fasttext_low_score")
        );
        let no_poetry = classifier(FastTextClassifierConfig {
            remove_labels: [("poetry".to_string(), 0.5)].into_iter().collect(),
            ..Default::default()
        })?;
        assert_eq!(
            no_poetry.decide(&no_poetry.scores(poem)),
            Verdict::Drop("fasttext_removed_label")
        );
        assert_eq!(no_poetry.decide(&no_poetry.scores(prose)), Verdict::Keep);
        Ok(())
    }

    #[test]
    fn rejects_unknown_labels_and_bad_thresholds() {
        let Err(err) = classifier(FastTextClassifierConfig {
            keep_labels: [("hq".to_string(), 0.5)].into_iter().collect(),
            ..Default::default()
        }) else {
            panic!("a label the model lacks was accepted")
        };
        let err = err.to_string();
        assert!(err.contains("no label `hq`") && err.contains("poetry"), "{err}");
        let bad = FastTextClassifierConfig {
            remove_labels: [("mail".to_string(), 1.5)].into_iter().collect(),
            ..Default::default()
        };
        assert!(classifier(bad).is_err());
        assert!(FastTextClassifier::new(FastTextClassifierConfig::default()).is_err());
    }
}
