//! Unit tests of the parent module.

use super::*;
use crate::backend::CpuBackend;

#[test]
fn pieces_cover_the_flat_buffer_and_indices_match() {
    for tied in [true, false] {
        let cfg = GptConfig {
            vocab_size: 11,
            context: 8,
            layers: 3,
            width: 8,
            heads: 2,
            tied_embeddings: tied,
            seed: 1,
        };
        let pieces = piece_sizes(&cfg);
        assert_eq!(pieces.iter().sum::<usize>(), super::super::params::count(&cfg));
        assert_eq!(pieces.len(), 2 + 12 * 3 + 2 + usize::from(!tied));
        assert_eq!(pieces[idx(3, QKVW, 2)], 3 * 8 * 8);
        assert_eq!(pieces[idx(3, LNFB, 0)], 8);
    }
}

#[test]
fn backend_training_on_cpu_matches_the_reference_trainer() {
    let tokens: Vec<u32> = (0..600).map(|i| ((i * 7 + i / 5) % 13) as u32).collect();
    for tied in [true, false] {
        let cfg = GptConfig {
            vocab_size: 13,
            context: 12,
            layers: 2,
            width: 16,
            heads: 2,
            tied_embeddings: tied,
            seed: 3,
        };
        let train = GptTrainConfig {
            steps: 12,
            batch_size: 3,
            warmup_steps: 3,
            weight_decay: 0.01,
            ..GptTrainConfig::default()
        };
        let (mut reference, mut generic) = (Gpt::new(cfg).unwrap(), Gpt::new(cfg).unwrap());
        let want = reference.train(&tokens, &train, |_| {}).unwrap();
        let got = generic.train_with(&CpuBackend, &tokens, &train, |_| {}).unwrap();
        for (a, b) in want.losses.iter().zip(&got.losses) {
            assert!((a - b).abs() < 1e-4, "losses differ: {:?} vs {:?}", want.losses, got.losses);
        }
        let diff = reference
            .params
            .iter()
            .zip(&generic.params)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "parameters differ by {diff}");
    }
}
