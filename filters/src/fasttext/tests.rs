//! Unit tests of the parent module.

use super::exact_cache::MAX_WORD_BYTES;
use super::*;

#[test]
fn words_split_on_fasttext_separators() {
    let w: Vec<&str> = words(" a\tbé\n\r\u{b}c\u{c}d\0e\u{a0}f  ").collect();
    assert_eq!(w, ["a", "bé", "c", "d", "e\u{a0}f"]);
    assert_eq!(words("").count(), 0);
}

#[test]
fn cached_word_sums_change_nothing() -> anyhow::Result<()> {
    let mut m = FastText::load_with(Path::new(crate::LID176_FIXTURE), Summation::PerWord)?;
    m.set_word_cache_bytes(256 << 10);
    let long = "x".repeat(MAX_WORD_BYTES + 5);
    let line = format!(
        "Zorblatt quxified the flurbs, zorblatt again; {long} {long} naïve Übergrößenträger"
    );
    let first = m.predict(&line, 3); // the unknown words are seen once
    assert_eq!(m.predict(&line, 3), first, "seen twice: cached");
    assert_eq!(m.predict(&line, 3), first, "served from the cache");
    // Fill the cache past its bound, twice over: it is emptied, and the words computed again.
    for _ in 0..2 {
        for chunk in (0..20_000).collect::<Vec<_>>().chunks(5000) {
            let words: Vec<String> = chunk.iter().map(|i| format!("w{i}q")).collect();
            m.predict(&words.join(" "), 1);
        }
    }
    assert_eq!(m.predict(&line, 3), first, "after the cache was emptied");
    // Another model on the same thread does not see this one's sums.
    let other = FastText::load_with(Path::new(crate::LID176_FIXTURE), Summation::PerWord)?;
    assert_eq!(other.predict(&line, 3), first);
    Ok(())
}

#[test]
fn huffman_tree_shape() {
    // Three labels: the two rarest merge first; the merged node (6) is then taken before the leaf (10).
    let t = load::build_tree(&[10, 5, 1]);
    assert_eq!(t, vec![(2, 1), (3, 0)]);
}

#[test]
fn lid176() -> anyhow::Result<()> {
    let path = Path::new(crate::LID176_FIXTURE);
    let m = FastText::load(path)?;
    assert_eq!(m.labels().len(), 176);
    let top = m.predict("The quick brown fox jumps over the lazy dog", 1);
    assert_eq!(top[0].0, "__label__en");
    assert_eq!(
        m.predict("Der schnelle braune Fuchs springt über den faulen Hund", 1)[0].0,
        "__label__de"
    );
    assert_eq!(m.predict("我们今天在公园里散步", 1)[0].0, "__label__zh");
    Ok(())
}

/// Models trained with the `fasttext` PyPI package and its predictions on 1,000 held-out
/// documents (`scripts/fasttext-parity.py`).
const PARITY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/fasttext");

/// What fastText's `predict` returned for one document: label and probability lists per model
/// and setting (`all`: k = -1, `top1`: k = 1, `k2t05`: k = 2, threshold 0.05).
type Expected =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<(String, f32)>>>;

fn parity_fixture() -> anyhow::Result<(Vec<String>, Vec<Expected>)> {
    let dir = Path::new(PARITY_DIR);
    let texts = std::fs::read_to_string(dir.join("heldout.jsonl"))?
        .lines()
        .map(|l| {
            Ok(serde_json::from_str::<serde_json::Value>(l)?["text"]
                .as_str()
                .unwrap_or("")
                .to_string())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let expected = std::fs::read_to_string(dir.join("predictions.jsonl"))?
        .lines()
        .map(|l| Ok(serde_json::from_str::<Expected>(l)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(texts.len() == 1000 && expected.len() == 1000, "fixture incomplete");
    Ok((texts, expected))
}

/// Same labels in the same order as fastText, probabilities within 1e-4, for every document,
/// model (softmax `.bin`, one-vs-all quantized `.ftz`, hierarchical softmax with word bigrams)
/// and `predict` setting.
#[test]
fn predictions_match_fasttext() -> anyhow::Result<()> {
    let (texts, expected) = parity_fixture()?;
    let settings: [(&str, Option<usize>, f32); 3] =
        [("all", None, 0.0), ("top1", Some(1), 0.0), ("k2t05", Some(2), 0.05)];
    for name in ["genre.bin", "genre-ova.ftz", "lang-bigram-hs.bin"] {
        let model = FastText::load(&Path::new(PARITY_DIR).join(name))?;
        let mut worst = 0f32;
        for (i, (text, want)) in texts.iter().zip(&expected).enumerate() {
            for (setting, k, threshold) in settings {
                let want = &want[name][setting];
                let got = model.predict_with(text, k, threshold);
                let labels =
                    |v: &[(&str, f32)]| v.iter().map(|p| p.0.to_string()).collect::<Vec<_>>();
                let want_labels: Vec<String> = want.iter().map(|p| p.0.clone()).collect();
                assert_eq!(
                    labels(&got),
                    want_labels,
                    "{name} {setting}, document {i}: {got:?} vs {want:?}"
                );
                for ((_, p), (_, q)) in got.iter().zip(want) {
                    worst = worst.max((p - q).abs());
                }
            }
        }
        assert!(worst <= 1e-4, "{name}: a probability differs by {worst}");
    }
    Ok(())
}

/// A quantized input matrix decoded at load (the default for one under
/// [`DECODED_INPUT_MAX_BYTES`]) predicts exactly what its rows decoded one at a time predict:
/// the same labels and probabilities to the bit, with either summation.
#[test]
fn decoding_a_quantized_matrix_changes_nothing() -> anyhow::Result<()> {
    let (texts, _) = parity_fixture()?;
    let path = Path::new(PARITY_DIR).join("genre-ova.ftz");
    for summation in [Summation::Exact, Summation::PerWord] {
        let decoded = FastText::load_with(&path, summation)?;
        let quantized = FastText::load_decoding(&path, summation, 0)?;
        assert!(decoded.input.dense_data().is_some() && quantized.input.dense_data().is_none());
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                decoded.predict_with(text, None, 0.0),
                quantized.predict_with(text, None, 0.0),
                "{summation:?} document {i}"
            );
        }
    }
    Ok(())
}

/// Predictions do not depend on the thread's word cache: with no cache, with one so small that
/// it is emptied over and over, and with the default one, every document gives the same labels
/// and the same probabilities to the bit, the first time and once its words are cached (with
/// either summation: the same input gives the same output on any thread, whatever it saw).
#[test]
fn word_row_cache_changes_nothing() -> anyhow::Result<()> {
    let (texts, _) = parity_fixture()?;
    for summation in [Summation::Exact, Summation::PerWord] {
        for name in ["genre.bin", "genre-ova.ftz", "lang-bigram-hs.bin"] {
            let path = Path::new(PARITY_DIR).join(name);
            let mut none = FastText::load_with(&path, summation)?;
            none.set_word_cache_bytes(0);
            let mut tiny = FastText::load_with(&path, summation)?;
            tiny.set_word_cache_bytes(64 << 10);
            let full = FastText::load_with(&path, summation)?;
            for pass in 0..2 {
                for (i, text) in texts.iter().take(300).enumerate() {
                    let want = none.predict_with(text, None, 0.0);
                    assert!(!want.is_empty(), "{name}: document {i} has no prediction");
                    let at = format!("{name} {summation:?} pass {pass} document {i}");
                    assert_eq!(tiny.predict_with(text, None, 0.0), want, "{at}: tiny cache");
                    assert_eq!(full.predict_with(text, None, 0.0), want, "{at}: full cache");
                }
            }
            // A budget changed after predictions takes effect.
            tiny.set_word_cache_bytes(0);
            assert_eq!(
                tiny.predict_with(&texts[0], None, 0.0),
                none.predict_with(&texts[0], None, 0.0)
            );
        }
    }
    Ok(())
}

/// Per-word sums on the dense models (softmax, hierarchical softmax with word bigrams): the
/// same top label as fastText for every document and setting, and every probability fastText
/// reports within 1e-4 of ours.
#[test]
fn per_word_sums_stay_within_1e_4_of_fasttext() -> anyhow::Result<()> {
    let (texts, expected) = parity_fixture()?;
    let settings: [(&str, Option<usize>, f32); 3] =
        [("all", None, 0.0), ("top1", Some(1), 0.0), ("k2t05", Some(2), 0.05)];
    for name in ["genre.bin", "lang-bigram-hs.bin"] {
        let model = FastText::load_with(&Path::new(PARITY_DIR).join(name), Summation::PerWord)?;
        let mut worst = 0f32;
        for _pass in 0..2 {
            for (i, (text, want)) in texts.iter().zip(&expected).enumerate() {
                let all: std::collections::HashMap<&str, f32> =
                    model.predict_with(text, None, 0.0).into_iter().collect();
                for (setting, k, threshold) in settings {
                    let want = &want[name][setting];
                    let got = model.predict_with(text, k, threshold);
                    assert_eq!(
                        got.first().map(|p| p.0),
                        want.first().map(|p| p.0.as_str()),
                        "{name} {setting}, document {i}: {got:?} vs {want:?}"
                    );
                    for (label, q) in want {
                        worst = worst.max((all[label.as_str()] - q).abs());
                    }
                }
            }
        }
        assert!(worst <= 1e-4, "{name}: a probability differs by {worst}");
    }
    Ok(())
}

/// With per-word sums, a line longer than [`PER_WORD_MAX_BYTES`] is summed in fastText's
/// order: the same probabilities to the bit as [`Summation::Exact`].
#[test]
fn per_word_sums_add_long_lines_exactly() -> anyhow::Result<()> {
    let (texts, _) = parity_fixture()?;
    let mut long = String::new();
    for t in texts.iter().cycle().take(2000) {
        long.push_str(t);
        long.push(' ');
        if long.len() > PER_WORD_MAX_BYTES + 1000 {
            break;
        }
    }
    assert!(long.len() > PER_WORD_MAX_BYTES);
    for name in ["genre.bin", "genre-ova.ftz", "lang-bigram-hs.bin"] {
        let path = Path::new(PARITY_DIR).join(name);
        let exact_model = FastText::load(&path)?;
        let exact = exact_model.predict_with(&long, None, 0.0);
        let per_word = FastText::load_with(&path, Summation::PerWord)?;
        assert_eq!(per_word.predict_with(&long, None, 0.0), exact, "{name}");
        assert_eq!(per_word.predict_with(&long, None, 0.0), exact, "{name}, cached");
        let short = &long[..long.floor_char_boundary(PER_WORD_MAX_BYTES / 2)];
        let short_exact = exact_model.predict_with(short, Some(1), 0.0);
        assert_eq!(per_word.predict_with(short, Some(1), 0.0)[0].0, short_exact[0].0);
    }
    Ok(())
}

/// Per-word sums follow the same rules at every row width, in the loop of a fixed width (up
/// to 8 lanes) and in the general one beyond: each line's hidden vector within float rounding
/// of fastText's row-by-row sum, with known and unknown words, a label token, a word longer
/// than the inline key, word bigrams and character n-grams.
#[test]
fn per_word_sums_agree_with_exact_sums_at_every_width() -> anyhow::Result<()> {
    use super::write::{Dictionary, ModelArgs, write_model};
    let lines = [
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat and a dog",
        "anextraordinarilylongword and the cat",
    ];
    let labels = [("pets".to_string(), 3), ("other".to_string(), 1)];
    let dict = Dictionary::build(lines, &labels, 1);
    let probes = [
        "the cat sat on the log",
        "an unknown zebra __label__pets sat",
        "anextraordinarilylongword anextraordinarilylongwords the dog",
        "",
    ];
    let dir = tempfile::tempdir()?;
    for (dim, maxn) in [(4, 0), (10, 3), (32, 0), (36, 3), (40, 0), (100, 3)] {
        let args =
            ModelArgs { dim, epoch: 1, min_count: 1, word_ngrams: 2, bucket: 50, minn: 2, maxn };
        let rows = dict.words() + 50;
        // Small pseudo-random weights (a fixed linear congruential sequence).
        let mut x = 12345u32;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let input: Vec<f32> = (0..rows * dim).map(|_| next()).collect();
        let output: Vec<f32> = (0..dict.labels() * dim).map(|_| next()).collect();
        let path = dir.path().join(format!("m{dim}.bin"));
        write_model(&path, &args, &dict, &input, &output)?;
        let exact = FastText::load_with(&path, Summation::Exact)?;
        let per_word = FastText::load_with(&path, Summation::PerWord)?;
        for line in probes {
            for _ in 0..3 {
                // Unknown words are cached the second time they are seen: three passes.
                let (a, b) = (exact.hidden(line), per_word.hidden(line));
                assert_eq!(a.is_some(), b.is_some(), "dim {dim}: {line:?}");
                for (p, q) in a.unwrap_or_default().iter().zip(b.unwrap_or_default()) {
                    assert!((p - q).abs() <= 1e-6, "dim {dim}: {line:?}: {p} vs {q}");
                }
            }
        }
    }
    Ok(())
}

#[test]
fn truncated_or_corrupt_models_are_errors_naming_file_and_offset() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for name in ["genre.bin", "genre-ova.ftz", "lang-bigram-hs.bin"] {
        let bytes = std::fs::read(Path::new(PARITY_DIR).join(name))?;
        // Inside the header, the dictionary, the matrices, and one byte short.
        let cuts = [3, 60, 200, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1];
        for cut in cuts {
            let path = dir.path().join(format!("cut-{cut}-{name}"));
            std::fs::write(&path, &bytes[..cut])?;
            let err = FastText::load(&path).expect_err("a cut model does not load").to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("at byte"), "{err}");
            assert!(err.contains("file ends") || err.contains("unterminated word"), "{err}");
        }
    }
    // A matrix header that promises more rows than the file holds fails before allocating.
    let mut bytes = std::fs::read(Path::new(PARITY_DIR).join("genre.bin"))?;
    let m = FastText::load(&Path::new(PARITY_DIR).join("genre.bin"))?;
    let rows = (m.nwords + 10_000) as i64; // the input matrix: words, then 10,000 buckets
    let shape = [rows.to_le_bytes(), (m.dim as i64).to_le_bytes()].concat();
    let at = bytes.windows(16).position(|w| w == shape).expect("the input matrix's shape");
    bytes[at..at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
    let path = dir.path().join("huge.bin");
    std::fs::write(&path, &bytes)?;
    let err = FastText::load(&path).expect_err("a matrix past the end").to_string();
    assert!(err.contains(&format!("at byte {}", at + 16)) && err.contains("file ends"), "{err}");
    let path = dir.path().join("not-a-model.bin");
    std::fs::write(&path, b"<html>not found</html>")?;
    let err = FastText::load(&path).expect_err("not a model").to_string();
    assert!(err.contains("bad magic") && err.contains("not-a-model.bin"), "{err}");
    let err = FastText::load(&dir.path().join("missing.bin")).expect_err("missing").to_string();
    assert!(err.contains("missing.bin"), "{err}");
    Ok(())
}
