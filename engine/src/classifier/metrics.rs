//! Classification metrics: accuracy and macro-averaged F1.

use serde::{Deserialize, Serialize};

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LabelMetrics {
    /// Correct predictions of this label over all predictions of it (0 when never predicted).
    pub precision: f64,
    /// Correct predictions of this label over all examples of it (0 when it never occurs).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Number of examples with this label.
    pub support: usize,
}

/// Metrics over a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Examples evaluated.
    pub examples: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Mean F1 over labels that occur in the data or the predictions.
    pub macro_f1: f64,
    /// Per label, indexed like the model's labels.
    pub per_label: Vec<LabelMetrics>,
}

/// Computes [`Metrics`] from predicted and actual label indices (`< labels`).
pub fn metrics(predicted: &[u32], actual: &[u32], labels: usize) -> Metrics {
    let (mut tp, mut pred, mut act) =
        (vec![0usize; labels], vec![0usize; labels], vec![0usize; labels]);
    for (&p, &a) in predicted.iter().zip(actual) {
        pred[p as usize] += 1;
        act[a as usize] += 1;
        if p == a {
            tp[p as usize] += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_label: Vec<LabelMetrics> = (0..labels)
        .map(|l| {
            let (precision, recall) = (ratio(tp[l], pred[l]), ratio(tp[l], act[l]));
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            LabelMetrics { precision, recall, f1, support: act[l] }
        })
        .collect();
    let present: Vec<f64> =
        (0..labels).filter(|&l| pred[l] + act[l] > 0).map(|l| per_label[l].f1).collect();
    Metrics {
        examples: actual.len(),
        accuracy: ratio(tp.iter().sum(), actual.len()),
        macro_f1: if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        },
        per_label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_by_hand() {
        // Label 0: tp 2, predicted 3, actual 2 -> p 2/3, r 1, f1 0.8. Label 1: tp 1, pred 1, act 2 -> p 1, r 0.5, f1 2/3.
        let m = metrics(&[0, 0, 0, 1], &[0, 0, 1, 1], 3);
        assert_eq!(m.accuracy, 0.75);
        assert!((m.per_label[0].f1 - 0.8).abs() < 1e-12);
        assert!((m.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.per_label[2].support, 0);
    }
}
