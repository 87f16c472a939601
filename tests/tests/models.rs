//! The engine from the command line: training a classifier, filtering with it, and proving that
//! shards train (`verify --train`).

mod common;

use common::*;

fn link_repo(dir: &std::path::Path) {
    for d in ["data", "tokenizers", "models"] {
        std::os::unix::fs::symlink(root().join(d), dir.join(d)).expect("link");
    }
}

#[test]
fn quality_model_stage_scores_and_filters_with_the_shipped_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    link_repo(dir.path());
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["run", &root().join("examples/quality.toml").display().to_string(), "--progress", "off"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let kept = read_parts(&dir.path().join("out/quality/kept"));
    let dropped = read_parts(&dir.path().join("out/quality/dropped"));
    assert_eq!(kept.len() + dropped.len(), 4785);
    assert!(
        kept.len() > 500 && dropped.len() > 3000,
        "{} kept, {} dropped",
        kept.len(),
        dropped.len()
    );
    for d in &kept {
        assert!(d["quality_score"].as_f64().expect("score") >= 0.5);
    }
    for d in &dropped {
        assert!(d["quality_score"].as_f64().expect("score") < 0.5);
        assert_eq!(d["drop_reason"], "docs_only:below_min_score");
    }
    // The model learned what it was trained for: Debian documentation scores high, poetry low.
    let doc_share = kept
        .iter()
        .filter(|d| d["source"].as_str().is_some_and(|s| s.contains("-doc") || s.contains("-help")))
        .count() as f64
        / kept.len() as f64;
    let poetry_kept = kept.iter().filter(|d| d["source"] == "npm:chinese-poetry").count();
    assert!(doc_share > 0.8, "share of documentation among kept: {doc_share}");
    assert!(poetry_kept < 10, "{poetry_kept} poems kept");
}

#[test]
fn train_classifier_reports_held_out_metrics_and_saves_a_model_that_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::new();
    for i in 0..400 {
        let (label, text) = if i % 2 == 0 {
            (
                "code",
                format!("fn main() {{ let x{i} = vec![1, 2, 3]; println!(\"{{:?}}\", x{i}); }}"),
            )
        } else {
            (
                "prose",
                format!(
                    "The river wound slowly through the valley as evening number {i} fell over the quiet town."
                ),
            )
        };
        lines.push(serde_json::json!({"text": text, "kind": label}).to_string());
    }
    std::fs::write(dir.path().join("labelled.jsonl"), lines.join("\n")).expect("write");
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &[
            "train-classifier",
            "labelled.jsonl",
            "-o",
            "m.bin",
            "--label-field",
            "kind",
            "--holdout",
            "0.25",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("held out:"), "{out}");
    let accuracy: f64 = out
        .split("accuracy ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("accuracy printed");
    assert!(accuracy > 0.95, "{out}");
    assert!(out.contains("2 labels: code, prose"), "{out}");
    assert!(out.contains("fastText supervised model"), "{out}");
    // The model works in a pipeline.
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "in"
type = "jsonl"
paths = ["labelled.jsonl"]
[[stage]]
name = "q"
type = "quality_model"
inputs = ["in"]
model = "m.bin"
label = "prose"
min_score = 0.5
[[sink]]
name = "out"
type = "jsonl"
inputs = ["q"]
path = "out/kept"
"#;
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let kept = read_parts(&dir.path().join("out/kept"));
    let prose = kept.iter().filter(|d| d["kind"] == "prose").count();
    assert!(
        prose as f64 / kept.len() as f64 > 0.95 && kept.len() > 180,
        "{} kept, {prose} prose",
        kept.len()
    );
    // On every device the same documents are kept with the same scores (within float rounding):
    // `auto` is the GPU where one is usable, else the CPU.
    for device in ["cpu", "auto"] {
        std::fs::write(
            dir.path().join("p.toml"),
            config.replace("min_score = 0.5", &format!("min_score = 0.5\ndevice = \"{device}\"")),
        )
        .expect("write");
        let (code, out, err) =
            outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off", "--restart"]));
        assert_eq!(code, 0, "{device}: {out}{err}");
        let again = read_parts(&dir.path().join("out/kept"));
        assert_eq!(again.len(), kept.len(), "{device}");
        for (a, b) in again.iter().zip(&kept) {
            let (sa, sb) = (
                a["quality_score"].as_f64().expect("score"),
                b["quality_score"].as_f64().expect("score"),
            );
            assert!(a["text"] == b["text"] && (sa - sb).abs() < 1e-4, "{device}: {sa} vs {sb}");
        }
    }
    // Not a device: an error in the pipeline file (exit 2, with its line); a device that is not
    // usable here: a pre-flight error naming the stage.
    std::fs::write(
        dir.path().join("p.toml"),
        config.replace("min_score = 0.5", "min_score = 0.5\ndevice = \"tpu\""),
    )
    .expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("p.toml:") && err.contains("expected auto, cpu, cuda or cuda:N"), "{err}");
    std::fs::write(
        dir.path().join("p.toml"),
        config.replace("min_score = 0.5", "min_score = 0.5\ndevice = \"cuda:7\""),
    )
    .expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml"]));
    if code != 0 {
        assert_eq!(code, 1);
        assert!(err.contains("stage `q`") && err.contains("cuda:7"), "{err}");
    }
    // The same file is a fastText model: `fasttext_classifier` reads it and gives the same
    // probability of `prose` for every document.
    let ft = config
        .replace("type = \"quality_model\"", "type = \"fasttext_classifier\"")
        .replace("label = \"prose\"\nmin_score = 0.5", "score_prefix = \"ft_\"");
    std::fs::write(dir.path().join("ft.toml"), ft).expect("write");
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["run", "ft.toml", "--progress", "off", "--restart"]));
    assert_eq!(code, 0, "{out}{err}");
    let scored = read_parts(&dir.path().join("out/kept"));
    assert_eq!(scored.len(), 400);
    let by_text: std::collections::HashMap<&str, f64> = scored
        .iter()
        .map(|d| (d["text"].as_str().expect("text"), d["ft_prose"].as_f64().unwrap_or(0.0)))
        .collect();
    for d in &kept {
        let (a, b) = (
            d["quality_score"].as_f64().expect("score"),
            by_text[d["text"].as_str().expect("text")],
        );
        assert!((a - b).abs() < 1e-5, "quality_model {a}, fasttext_classifier {b}");
    }
    // An unknown label is a clear pre-flight error.
    std::fs::write(
        dir.path().join("p.toml"),
        config.replace("label = \"prose\"", "label = \"poetry\""),
    )
    .expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml"]));
    assert_eq!(code, 1);
    assert!(err.contains("has no label `poetry` (labels: code, prose)"), "{err}");
    // A model in the retired `.tmcls` format is refused with what to do.
    let mut tmcls = b"TMCLASSF".to_vec();
    tmcls.extend([0u8; 40]);
    std::fs::write(dir.path().join("m.bin"), tmcls).expect("write");
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--restart"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("retired `.tmcls` format") && err.contains("train-classifier"), "{err}");
}

/// Writes a copy of a dataset whose tokens are globally shuffled: nothing left to learn.
fn shuffled_copy(src: &std::path::Path, dst: &std::path::Path) {
    let docs = tokenmill_shards::read_dataset_tokens(src).expect("read");
    let mut all: Vec<u32> = docs.concat();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for i in (1..all.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        all.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut manifest = tokenmill_shards::Manifest::read(src).expect("manifest");
    let dtype = tokenmill_shards::DType::for_vocab(manifest.vocab_size as usize);
    let mut w = tokenmill_shards::ShardSetWriter::new(
        dst,
        "train",
        dtype,
        tokenmill_shards::ShardTarget::default(),
    )
    .expect("writer");
    let mut at = 0;
    for d in &docs {
        w.add_document(&all[at..at + d.len()]).expect("add");
        at += d.len();
    }
    manifest.shards = w.finish().expect("finish");
    manifest.eos_id = None;
    manifest.write(dst).expect("manifest");
}

#[test]
fn verify_train_passes_on_quickstart_shards_and_fails_on_shuffled_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    link_repo(dir.path());
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["run", &root().join("examples/minimal.toml").display().to_string(), "--progress", "off"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let tok = tokenizer_path().display().to_string();
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["verify", "out/shards", "--train", "--tokenizer", &tok, "--device", "auto"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("train check ok"), "{out}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/shards/verify-report/report.json"))
            .expect("report"),
    )
    .expect("json");
    assert!(
        report["heldout_loss"].as_f64().expect("loss")
            < 0.95 * report["unigram_entropy"].as_f64().expect("entropy")
    );
    assert_eq!(report["losses"].as_array().map(Vec::len), Some(600));
    assert!(!report["generated"].as_str().expect("generated").is_empty());
    let svg =
        std::fs::read_to_string(dir.path().join("out/shards/verify-report/loss.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));

    // The same check on shuffled tokens must fail: it can tell learnable data from noise.
    shuffled_copy(&dir.path().join("out/shards"), &dir.path().join("shuffled"));
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["verify", "shuffled", "--train", "--steps", "150"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("train check FAILED"), "{out}");

    // cuda without a GPU is a clear error.
    let (code, _, err) =
        outcome(&run_in(dir.path(), &["verify", "out/shards", "--train", "--device", "cuda"]));
    if code != 0 {
        assert!(err.to_lowercase().contains("cuda"), "{err}");
    }
}

/// English documents of the sample (four in five) as reference text, the rest to be scored.
fn split_by_language(dir: &std::path::Path) {
    let (mut en, mut rest) = (String::new(), String::new());
    let mut n = 0;
    for name in ["sample-00.jsonl.zst", "sample-01.jsonl.zst"] {
        let bytes = zstd::decode_all(
            std::fs::File::open(root().join("data/sample").join(name)).expect("sample"),
        )
        .expect("zstd");
        for line in String::from_utf8(bytes).expect("utf8").lines() {
            let doc: serde_json::Value = serde_json::from_str(line).expect("json");
            let english = doc["lang"] == "en";
            if english && n % 5 != 0 { &mut en } else { &mut rest }
                .push_str(&(line.to_string() + "\n"));
            n += usize::from(english);
        }
    }
    std::fs::write(dir.join("en.jsonl"), en).expect("write");
    std::fs::write(dir.join("mixed.jsonl"), rest).expect("write");
}

#[test]
fn train_lm_then_the_perplexity_stage_prefers_text_like_the_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    split_by_language(dir.path());
    let tok = tokenizer_path().display().to_string();
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &[
            "train-lm",
            "en.jsonl",
            "--tokenizer",
            &tok,
            "-o",
            "en.tmlm",
            "--steps",
            "300",
            "--layers",
            "1",
            "--width",
            "32",
            "--heads",
            "2",
        ]
        .iter()
        .chain(&["--context", "32", "--vocab-cap", "1024", "--device", "cpu"])
        .copied()
        .collect::<Vec<_>>(),
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("wrote en.tmlm"), "{out}");
    let config = |max: &str| {
        format!(
            "version = 1\n[run]\nwork_dir = \"out/work\"\n[[source]]\nname = \"docs\"\ntype = \"jsonl\"\npaths = [\"mixed.jsonl\"]\nid_field = \"id\"\n\
             metadata_fields = [\"lang\"]\n[[stage]]\nname = \"ppl\"\ntype = \"perplexity\"\ninputs = [\"docs\"]\nmodel = \"en.tmlm\"\n\
             tokenizer = {tok:?}\nmax_tokens = 128\n{max}\n[[sink]]\nname = \"kept\"\ntype = \"jsonl\"\ninputs = [\"ppl\"]\npath = \"out/kept\"\n"
        )
    };
    std::fs::write(dir.path().join("p.toml"), config("")).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let mut by_lang: std::collections::BTreeMap<String, Vec<f64>> =
        std::collections::BTreeMap::new();
    for doc in read_parts(&dir.path().join("out/kept")) {
        if let Some(p) = doc["perplexity"].as_f64() {
            by_lang.entry(doc["lang"].as_str().unwrap_or("?").to_string()).or_default().push(p);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let en = median(by_lang.get_mut("en").expect("held-out English documents"));
    for (lang, scores) in by_lang.iter_mut().filter(|(l, s)| *l != "en" && s.len() >= 30) {
        let m = median(scores);
        assert!(en < m, "English (reference language) should score lower than {lang}: {en} vs {m}");
    }
    // As a filter: a threshold above most English keeps most English and little Chinese.
    std::fs::write(dir.path().join("p.toml"), config(&format!("max_perplexity = {}", en * 2.0)))
        .expect("write");
    std::fs::remove_dir_all(dir.path().join("out")).expect("clean");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let stats = stats(dir.path());
    assert!(node(&stats, "ppl")["dropped"]["above_max_perplexity"].as_u64().unwrap_or(0) > 0);
    let kept = read_parts(&dir.path().join("out/kept"));
    let share =
        |lang: &str, docs: &[serde_json::Value]| docs.iter().filter(|d| d["lang"] == lang).count();
    let kept_en = share("en", &kept) as f64 / by_lang["en"].len() as f64;
    let kept_zh = share("zh", &kept) as f64 / by_lang["zh"].len().max(1) as f64;
    assert!(
        kept_en > 0.6 && kept_zh < 0.1,
        "kept {kept_en:.2} of English, {kept_zh:.2} of Chinese"
    );
    // A model trained with another tokenizer is refused up front.
    let gpt2 = root().join("tests/fixtures/tokenizers/gpt2.json").display().to_string();
    std::fs::write(
        dir.path().join("p.toml"),
        config("").replace(&format!("{tok:?}"), &format!("{gpt2:?}")),
    )
    .expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_ne!(code, 0);
    assert!(err.contains("trained with another tokenizer"), "{err}");
}

/// `models/zh-spam.bin`, written by `tokenmill train-classifier`, predicts what the `fasttext`
/// Python package predicts with the same file: `tests/fixtures/fasttext/zh-spam-predictions.jsonl`
/// holds 20 documents of its training sources (the start of each, one line) with the
/// probabilities `fasttext.load_model(...).predict(text, k=-1)` gave (see
/// `scripts/train-classifier-check.py`). Fails if the model, the writer or the reader drifts.
#[test]
fn the_shipped_zh_spam_model_predicts_as_the_fasttext_package() {
    let model = tokenmill_filters::fasttext::FastText::load(&root().join("models/zh-spam.bin"))
        .expect("models/zh-spam.bin loads");
    let path = root().join("tests/fixtures/fasttext/zh-spam-predictions.jsonl");
    let fixture = std::fs::read_to_string(&path).expect("fixture");
    let mut spam = 0;
    for line in fixture.lines() {
        let d: serde_json::Value = serde_json::from_str(line).expect("json");
        let text = d["text"].as_str().expect("text");
        let got = model.predict_with(text, None, 0.0);
        let want = d["fasttext"].as_object().expect("fasttext probabilities");
        assert_eq!(got.len(), want.len(), "{}", d["id"]);
        for (label, p) in &got {
            let expected = want[*label].as_f64().expect("probability");
            assert!(
                (f64::from(*p) - expected).abs() < 1e-6,
                "{}: {label} {p} vs {expected}",
                d["id"]
            );
        }
        // Same top label (fastText's order is by probability).
        let top =
            want.iter().max_by(|a, b| a.1.as_f64().partial_cmp(&b.1.as_f64()).expect("finite"));
        assert_eq!(Some(got[0].0), top.map(|(l, _)| l.as_str()), "{}", d["id"]);
        spam += usize::from(got[0].0 == "__label__spam");
    }
    assert!(spam > 0 && spam < fixture.lines().count(), "{spam} predicted spam");
}
