use super::forward::{Activations, Scratch, backward, forward};
use super::*;

/// A stream of fixed "words" (token patterns) chosen at random: low conditional entropy, high
/// unigram entropy.
fn pattern_stream(n: usize, seed: u64) -> Vec<u32> {
    let words: [&[u32]; 6] = [
        &[1, 2, 3, 4, 5],
        &[6, 7, 8, 9, 10, 11],
        &[12, 13, 3, 14],
        &[15, 1, 9, 2, 7, 4, 0],
        &[5, 5, 6, 13],
        &[11, 10, 15, 12, 14],
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(words[rng.below(words.len())]);
    }
    out.truncate(n);
    out
}

fn model_gradient_check(tied: bool) {
    let cfg = GptConfig {
        vocab_size: 7,
        context: 4,
        layers: 2,
        width: 8,
        heads: 2,
        tied_embeddings: tied,
        seed: 3,
    };
    let mut model = Gpt::new(cfg).unwrap();
    // Larger weights than the real initialisation, so gradients are well above rounding noise.
    let mut rng = Rng::new(9);
    model.params.iter_mut().for_each(|p| *p += rng.normal() * 0.3);
    let (b, t) = (2, 4);
    let tokens = [0u32, 3, 6, 2, 5, 1, 1, 4];
    let targets = [3u32, 6, 2, 5, 1, 1, 4, 0];
    let loss = |params: &[f32]| {
        let mut acts = Activations::new(&cfg, b, t);
        forward(&cfg, params, &mut acts, &tokens, Some(&targets));
        acts.losses.iter().map(|&x| x as f64).sum::<f64>() / (b * t) as f64
    };
    let mut acts = Activations::new(&cfg, b, t);
    forward(&cfg, &model.params, &mut acts, &tokens, Some(&targets));
    let mut grads = vec![0.0; model.params.len()];
    backward(
        &cfg,
        &model.params,
        &mut grads,
        &acts,
        &mut Scratch::new(&cfg, b, t),
        &tokens,
        &targets,
    );
    let eps = 1e-2f32;
    let mut p = model.params.clone();
    let mut worst = 0.0f64;
    for i in 0..p.len() {
        let x = p[i];
        p[i] = x + eps;
        let up = loss(&p);
        p[i] = x - eps;
        let down = loss(&p);
        p[i] = x;
        let numeric = (up - down) / (2.0 * eps as f64);
        let err = (numeric - grads[i] as f64).abs() / (1e-3 + 0.05 * numeric.abs());
        worst = worst.max(err);
        assert!(err <= 1.0, "param {i}: analytic {} vs numeric {numeric} (tied {tied})", grads[i]);
    }
    assert!(grads.iter().any(|g| g.abs() > 1e-2), "gradients should not all vanish");
}

#[test]
fn whole_model_gradients_match_finite_differences() {
    model_gradient_check(true);
    model_gradient_check(false);
}

#[test]
fn trains_well_below_unigram_entropy_and_generates_and_scores() {
    let (train, held_out) = (pattern_stream(20_000, 1), pattern_stream(3_000, 2));
    let cfg = GptConfig {
        vocab_size: 16,
        context: 32,
        layers: 2,
        width: 32,
        heads: 2,
        ..GptConfig::default()
    };
    let mut model = Gpt::new(cfg).unwrap();
    let mut seen = 0;
    let report = model
        .train(
            &train,
            &GptTrainConfig { steps: 300, batch_size: 8, lr: 5e-3, ..Default::default() },
            |_| seen += 1,
        )
        .unwrap();
    assert_eq!(seen, 300);
    let entropy = unigram_entropy(&held_out);
    let eval = model.eval_loss(&held_out, 50).unwrap();
    assert!(
        eval < 0.5 * entropy,
        "held-out loss {eval} vs unigram entropy {entropy}; train {}",
        report.final_loss
    );
    assert!(report.final_loss < report.losses[0] * 0.5);

    // After "6 7 8" the pattern continues "9 10 11".
    let out = model.generate(&[1, 2, 3, 4, 5, 6, 7, 8], 3, Sampling::Greedy, 0).unwrap();
    assert_eq!(out, vec![9, 10, 11]);
    let sampled = model.generate(&[6], 20, Sampling::Temperature(0.8), 1).unwrap();
    assert!(sampled.len() == 20 && sampled.iter().all(|&t| t < 16));

    let mut shuffled = held_out[..500].to_vec();
    Rng::new(5).shuffle(&mut shuffled);
    let (good, bad) =
        (model.perplexity(&held_out[..500]).unwrap(), model.perplexity(&shuffled).unwrap());
    assert!(good < 2.0 && bad > 2.0 * good, "perplexity in-distribution {good}, shuffled {bad}");
    let both = model.perplexities(&[&held_out[..100], &shuffled[..100]]).unwrap();
    assert!(both[0] < both[1]);
}

#[test]
fn unigram_entropy_by_hand() {
    assert_eq!(unigram_entropy(&[]), 0.0);
    assert_eq!(unigram_entropy(&[3, 3, 3]), 0.0);
    assert!((unigram_entropy(&[0, 1, 2, 3]) - 4f64.ln()).abs() < 1e-12);
}

#[test]
fn errors_are_reported() {
    assert!(Gpt::new(GptConfig { heads: 3, ..GptConfig::default() }).is_err());
    let model = Gpt::new(GptConfig {
        vocab_size: 8,
        context: 4,
        layers: 1,
        width: 8,
        heads: 2,
        ..GptConfig::default()
    })
    .unwrap();
    assert!(model.generate(&[9], 1, Sampling::Greedy, 0).is_err());
    assert!(model.generate(&[], 1, Sampling::Greedy, 0).is_err());
    assert!(model.generate(&[1], 1, Sampling::Temperature(0.0), 0).is_err());
    assert!(model.perplexity(&[1]).is_err());
    // Documents longer than the context are scored window by window.
    let p = model.perplexity(&[1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]).unwrap();
    assert!(p > 1.0 && p < 16.0, "{p}");
    assert!(model.clone().train(&[1], &GptTrainConfig::default(), |_| {}).is_err());
}

/// Run with `--ignored --nocapture` to time the default configuration on this machine.
#[test]
#[ignore = "timing run of the default config; about 50 s in release on 2 shared cores"]
fn default_config_timing() {
    let train = pattern_stream(200_000, 1);
    let held_out = pattern_stream(10_000, 2);
    let mut model = Gpt::new(GptConfig::default()).unwrap();
    let report = model.train(&train, &GptTrainConfig::default(), |_| {}).unwrap();
    let eval = model.eval_loss(&held_out, 100).unwrap();
    let entropy = unigram_entropy(&held_out);
    println!(
        "default config: {} params, {} steps in {:.1}s ({:.0} tokens/s); train loss {:.3}, held-out {eval:.3}, unigram entropy {entropy:.3}",
        model.parameter_count(),
        report.losses.len(),
        report.seconds,
        report.tokens as f64 / report.seconds,
        report.final_loss
    );
    assert!(eval < 0.5 * entropy);
}
