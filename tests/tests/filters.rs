//! The text filter stages against references, on fixtures in `tests/fixtures/filters/`:
//!
//! * parity with datatrove 0.10.1 (`datatrove_decisions.jsonl.zst`: its Gopher quality, Gopher
//!   repetition and C4 decisions on `corpus.jsonl.zst`, a 777-document slice of the shared
//!   corpus with 420 English, 70 Chinese and 70 Japanese documents and a dozen of each other
//!   language, all under 6,000 characters);
//! * Chinese and Japanese prose kept, junk dropped, with per-script words;
//! * language-id accuracy of fastText (`models/lid.176.ftz`) and whatlang;
//! * `examples/filters.toml` end to end, drops by rule in `stats.json`;
//! * `examples/fineweb2.toml` end to end: the `fineweb2` preset per document language.
//!
//! Filters are built the way the runner builds them: a stage spec (`type`-tagged, as in the
//! pipeline file) through `tokenmill::build::stage_operator`.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};
use tokenmill::config::StageSpec;
use tokenmill::document::Document;
use tokenmill::stage::{Operator, Verdict};
use tokenmill_filters::language::{LanguageConfig, LanguageFilter};

fn fixture(name: &str) -> Vec<Value> {
    read_jsonl_zst(&root().join("tests/fixtures/filters").join(name))
}

fn read_jsonl_zst(path: &std::path::Path) -> Vec<Value> {
    let bytes = zstd::decode_all(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("zstd");
    String::from_utf8(bytes)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// A filter stage built from its spec (extra options as JSON), judging one text.
struct Stage(Operator);

impl Stage {
    fn new(kind: &str, options: Value) -> Self {
        let mut spec = json!({"type": kind, "name": kind, "inputs": ["in"]});
        if let (Some(s), Some(o)) = (spec.as_object_mut(), options.as_object()) {
            s.extend(o.clone());
        }
        let spec: StageSpec = serde_json::from_value(spec).expect("valid stage spec");
        Stage(
            tokenmill::build::stage_operator(&spec)
                .expect("stage builds")
                .expect("a per-batch stage"),
        )
    }

    fn judge(&self, text: &str) -> Verdict {
        let mut doc = Document::new("d", text);
        match &self.0 {
            Operator::Filter(f) => f.check(&doc),
            Operator::Transform(t) => {
                t.apply(&mut doc).dropped.map_or(Verdict::Keep, Verdict::Drop)
            }
            other => panic!("not a text filter: {other:?}"),
        }
    }
}

/// On the fixture slice; on the whole shared reference (67,097 documents) with
/// `TOKENMILL_PARITY_CORPUS=../shared/data/corpus/slice100.jsonl.zst
/// TOKENMILL_PARITY_DECISIONS=../shared/data/reference/datatrove_decisions_slice100.jsonl.zst`.
#[test]
fn english_decisions_agree_with_datatrove() {
    let (docs, refs) = match (
        std::env::var_os("TOKENMILL_PARITY_CORPUS"),
        std::env::var_os("TOKENMILL_PARITY_DECISIONS"),
    ) {
        // Relative to the repository root.
        (Some(c), Some(d)) => (read_jsonl_zst(&root().join(c)), read_jsonl_zst(&root().join(d))),
        _ => (fixture("corpus.jsonl.zst"), fixture("datatrove_decisions.jsonl.zst")),
    };
    assert_eq!(docs.len(), refs.len());
    // datatrove's configuration: English words for every script, C4 drops lines without
    // terminal punctuation.
    let english = json!({"words": "english"});
    let stages = [
        ("gopher_quality", Stage::new("gopher_quality", english.clone())),
        ("gopher_repetition", Stage::new("gopher_repetition", english.clone())),
        (
            "c4",
            Stage::new("c4_quality", json!({"words": "english", "filter_no_terminal_punct": true})),
        ),
    ];
    let mut tally: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (d, r) in docs.iter().zip(&refs) {
        assert_eq!(d["id"], r["id"]);
        if d["lang"] != "en" {
            continue;
        }
        let text = d["text"].as_str().expect("text");
        for (name, stage) in &stages {
            let v = stage.judge(text);
            let reason = match v {
                Verdict::Keep => None,
                Verdict::Drop(rule) => Some(rule),
            };
            let t = tally.entry(name).or_default();
            t.0 += 1;
            t.1 += usize::from(v.is_keep() == r[name]["keep"].as_bool().expect("keep"));
            t.2 += usize::from(reason == r[name]["reason"].as_str());
        }
    }
    for (name, (n, agree, same_reason)) in &tally {
        let pct = |x: usize| 100.0 * x as f64 / *n as f64;
        eprintln!(
            "{name:<18} {n} English docs: keep/drop agreement {:.2}% ({} differ), same reason {:.2}%",
            pct(*agree),
            n - agree,
            pct(*same_reason)
        );
        assert!(*n >= 400, "{name}: only {n} English documents");
        assert!(pct(*agree) >= 99.0, "{name}: {:.2}% agreement", pct(*agree));
    }
}

/// Keep flags of the four word-based filters, with the given word mode.
fn keeps(stages: &[Stage], text: &str) -> Vec<bool> {
    stages.iter().map(|s| s.judge(text).is_keep()).collect()
}

fn chain(words: &str) -> Vec<Stage> {
    ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"]
        .map(|k| Stage::new(k, json!({"words": words})))
        .into()
}

#[test]
fn chinese_and_japanese_prose_is_kept_and_junk_is_dropped() {
    let docs = fixture("corpus.jsonl.zst");
    let (auto, english) = (chain("auto"), chain("english"));
    // Help pages and man pages: real prose, in Chinese and Japanese.
    let prose: Vec<&str> = docs
        .iter()
        .filter(|d| {
            (d["lang"] == "zh" || d["lang"] == "ja")
                && d["source"]
                    .as_str()
                    .is_some_and(|s| s.contains("libreoffice-help") || s.contains("manpages"))
        })
        .map(|d| d["text"].as_str().expect("text"))
        .collect();
    assert!(prose.len() >= 60, "{} prose documents", prose.len());
    let (mut kept_auto, mut kept_english) = ([0usize; 4], [0usize; 4]);
    for text in &prose {
        for (i, k) in keeps(&auto, text).into_iter().enumerate() {
            kept_auto[i] += usize::from(k);
        }
        for (i, k) in keeps(&english, text).into_iter().enumerate() {
            kept_english[i] += usize::from(k);
        }
    }
    eprintln!(
        "{} zh/ja prose docs kept (gq, gr, c4, fw): auto words {kept_auto:?}, English words {kept_english:?}",
        prose.len()
    );
    for (i, name) in
        ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"].iter().enumerate()
    {
        assert!(kept_auto[i] * 2 >= prose.len(), "{name} keeps {}/{}", kept_auto[i], prose.len());
    }
    // datatrove's English-only words make Gopher quality throw most of this prose away.
    assert!(
        kept_auto[0] >= 2 * kept_english[0],
        "gopher_quality auto {} vs english {}",
        kept_auto[0],
        kept_english[0]
    );

    let line =
        prose.iter().find_map(|t| t.lines().find(|l| l.chars().count() > 10)).expect("a line");
    let junk = [
        ("repeated line", format!("{line}\n").repeat(30)),
        ("keyword spam", "免费下载 最新电影 高清 在线观看 免费下载 最新电影\n".repeat(20)),
        ("navigation menu", "首页\n关于我们\n产品中心\n联系我们\n新闻动态\n".repeat(5)),
        ("Japanese menu", "ホーム\n会社概要\n製品情報\nお問い合わせ\n".repeat(6)),
    ];
    for (what, text) in &junk {
        assert!(!keeps(&auto, text).iter().all(|&k| k), "{what} kept by every filter");
    }
}

#[test]
fn language_id_accuracy_on_the_labelled_fixture() {
    let docs = fixture("corpus.jsonl.zst");
    let model = root().join("models/lid.176.ftz");
    let identifiers = [
        (
            "fastText lid.176.ftz",
            LanguageFilter::new(LanguageConfig { model: Some(model), ..Default::default() })
                .expect("model loads"),
        ),
        ("whatlang", LanguageFilter::new(LanguageConfig::default()).expect("whatlang")),
    ];
    let mut overall = BTreeMap::new();
    for (name, f) in &identifiers {
        let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for d in &docs {
            let lang = d["lang"].as_str().expect("lang");
            let guess = f
                .identify(d["text"].as_str().expect("text"))
                .into_iter()
                .next()
                .map(|g| g.0)
                .unwrap_or_default();
            let e = per.entry(lang).or_default();
            e.0 += 1;
            e.1 += usize::from(guess == lang || (lang == "nb" && guess == "no"));
        }
        let (n, ok) = per.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let rate = |l: &str| per.get(l).map_or(0.0, |(n, ok)| 100.0 * *ok as f64 / *n as f64);
        eprintln!(
            "{name:<22} overall {:.1}% of {n}; en {:.1}%, zh {:.1}%, ja {:.1}%, de {:.1}%, ru {:.1}%, es {:.1}%",
            100.0 * ok as f64 / n as f64,
            rate("en"),
            rate("zh"),
            rate("ja"),
            rate("de"),
            rate("ru"),
            rate("es")
        );
        overall.insert(*name, (rate("en"), rate("ja")));
    }
    // Loose floors: the point is the printed comparison; these catch a broken reader.
    let (ft_en, ft_ja) = overall["fastText lid.176.ftz"];
    assert!(ft_en >= 90.0 && ft_ja >= 70.0, "fastText en {ft_en:.1}%, ja {ft_ja:.1}%");
    assert!(overall["whatlang"].0 >= 80.0, "whatlang en {:.1}%", overall["whatlang"].0);
}

#[test]
fn example_chain_counts_drops_per_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join("examples/filters.toml"), dir.path().join("filters.toml"))
        .expect("copy config");
    for d in ["data", "tokenizers"] {
        std::os::unix::fs::symlink(root().join(d), dir.path().join(d)).expect("link");
    }
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "filters.toml", "--progress", "off"]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let stats: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/filters/work/stats.json")).expect("stats.json"),
    )
    .expect("json");
    let nodes = stats["nodes"].as_array().expect("nodes");
    let node = |name: &str| {
        nodes.iter().find(|n| n["name"] == name).unwrap_or_else(|| panic!("no node {name}"))
    };
    for n in nodes {
        let dropped: u64 =
            n["dropped"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        if n["kind"] != "jsonl" && n["kind"] != "megatron" {
            assert_eq!(
                n["docs_in"].as_u64(),
                Some(n["docs_out"].as_u64().unwrap_or(0) + dropped),
                "in = out + dropped: {n}"
            );
        }
    }
    let rules = [
        ("language", "unwanted_language"),
        ("repetition", "top_4_gram"),
        ("gopher", "gopher_short_doc"),
        ("c4", "too_few_sentences"),
        ("fineweb", "short_line_ratio"),
    ];
    for (name, rule) in rules {
        assert!(
            node(name)["dropped"][rule].as_u64().is_some_and(|n| n > 0),
            "{name}: no `{rule}` drops: {}",
            node(name)
        );
    }
    assert!(node("normalize")["transformed"]["whitespace_bytes"].as_u64().is_some_and(|n| n > 0));
    assert!(
        node("pii")["transformed"]["emails"].as_u64().is_some_and(|n| n > 0),
        "{}",
        node("pii")
    );
    assert!(node("shards")["docs_in"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn fineweb2_preset_judges_by_language_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join("examples/fineweb2.toml"), dir.path().join("fineweb2.toml"))
        .expect("copy config");
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("data")).expect("link");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "fineweb2.toml", "--progress", "off"]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let stats: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/fineweb2/work/stats.json")).expect("stats.json"),
    )
    .expect("json");
    let nodes = stats["nodes"].as_array().expect("nodes");
    let node = |name: &str| {
        nodes.iter().find(|n| n["name"] == name).unwrap_or_else(|| panic!("no node {name}"))
    };
    let count = |n: &Value, group: &str, key: &str| n[group][key].as_u64().unwrap_or(0);
    for name in ["repetition", "fineweb", "gopher"] {
        let n = node(name);
        let docs_in = n["docs_in"].as_u64().expect("docs_in");
        let dropped: u64 =
            n["dropped"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        assert_eq!(docs_in, n["docs_out"].as_u64().unwrap_or(0) + dropped, "{n}");
        // Every document is judged once, by its language's values or by the stage's options.
        let (configured, fallback) = (
            count(n, "transformed", "fineweb2_configured"),
            count(n, "transformed", "fineweb2_fallback"),
        );
        assert_eq!(configured + fallback, docs_in, "{n}");
        assert!(configured > 0 && fallback > 0, "{name}: Chinese configured, English not: {n}");
    }
    // The sample's Chinese poems are short and repeat 4-grams of jieba words.
    assert!(count(node("repetition"), "dropped", "top_4_gram") > 0, "{}", node("repetition"));
    assert!(count(node("gopher"), "dropped", "gopher_short_doc") > 0, "{}", node("gopher"));
}
