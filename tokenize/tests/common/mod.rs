//! Fixtures shared by the integration tests: tokenizer files and multilingual texts.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::LazyLock;

use tokenmill_tokenize::Tokenizer;

/// GPT-2's `tokenizer.json` (byte-level BPE, 50,257 ids).
pub const GPT2_JSON: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tokenizers/gpt2.json");

/// bert-base-uncased's `tokenizer.json` (WordPiece), saved with padding and truncation to 128.
pub const BERT_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/tokenizers/bert-base-uncased-wordpiece.json"
);

/// Qwen3's `tokenizer.json` (byte-level BPE, 151,669 ids, NFC, single-digit pattern), zstd-compressed.
pub const QWEN3_JSON_ZST: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tokenizers/qwen3.json.zst");

/// Qwen3's `tokenizer.json` as JSON, for tests that build variants of it.
pub static QWEN3_VALUE: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let bytes =
        zstd::decode_all(std::fs::File::open(QWEN3_JSON_ZST).expect("the Qwen3 fixture opens"))
            .expect("the Qwen3 fixture decompresses");
    serde_json::from_slice(&bytes).expect("the Qwen3 fixture is JSON")
});

/// Qwen3, loaded once per test binary.
pub static QWEN3: LazyLock<Tokenizer> = LazyLock::new(|| from_value(&QWEN3_VALUE));

/// Meta Llama 3's `tokenizer.json`, which the repository does not carry (its licence is not the
/// project's): `TOKENMILL_LLAMA3_JSON`, else `../shared/data/tokenizers/llama3.json` beside the
/// checkout, if there.
pub static LLAMA3: LazyLock<Option<Tokenizer>> = LazyLock::new(|| {
    let path = std::env::var_os("TOKENMILL_LLAMA3_JSON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tokenizers/llama3.json")
        });
    if !path.exists() {
        eprintln!("skipping Llama 3: {} is not there (set TOKENMILL_LLAMA3_JSON)", path.display());
        return None;
    }
    Some(Tokenizer::from_file(&path).expect("Llama 3 loads"))
});

/// A tokenizer from `tokenizer.json` content.
pub fn from_value(value: &serde_json::Value) -> Tokenizer {
    Tokenizer::from_bytes(&serde_json::to_vec(value).expect("serializes")).expect("loads")
}

/// Qwen3's vocabulary and merges with another normalizer, pre-tokenizer and `ignore_merges`:
/// the shape of Llama 3, DeepSeek V3, GPT-4o and RoBERTa-style tokenizers, without their files.
pub fn qwen3_variant(
    normalizer: serde_json::Value,
    pre_tokenizer: serde_json::Value,
    ignore_merges: bool,
) -> Tokenizer {
    let mut value = QWEN3_VALUE.clone();
    value["normalizer"] = normalizer;
    value["pre_tokenizer"] = pre_tokenizer;
    value["model"]["ignore_merges"] = serde_json::Value::Bool(ignore_merges);
    from_value(&value)
}

/// A `Sequence` of `Split`s (`Isolated`) then `ByteLevel` without a regex, as `tokenizer.json` writes it.
pub fn splits_then_byte_level(patterns: &[&str]) -> serde_json::Value {
    let mut steps: Vec<serde_json::Value> = patterns
        .iter()
        .map(|p| serde_json::json!({"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": false}))
        .collect();
    steps.push(serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}));
    serde_json::json!({"type": "Sequence", "pretokenizers": steps})
}

/// GPT-2, loaded once per test binary (parsing 3.5 MB of JSON is slow in debug builds).
pub static GPT2: LazyLock<Tokenizer> =
    LazyLock::new(|| Tokenizer::from_file(Path::new(GPT2_JSON)).expect("GPT-2 fixture loads"));

/// A handful of texts covering several scripts, emoji, code, odd whitespace and long words.
pub fn multilingual_texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "我们在北京吃了烤鸭，味道非常好。",
        "東京タワーは、日本の電波塔です。ひらがなとカタカナ。",
        "한국어 문장도 잘 처리되어야 합니다.",
        "Ünïcödé àccents, Straße, naïve café, Ελληνικά, русский, العربية",
        "Rust 🦀 + ❤️ = 👨‍👩‍👧‍👦 🎉🎉 🇯🇵",
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n\tif x != y { return; }",
        "  leading and trailing spaces  \n\n\r\n\t",
        "",
    ]
    .map(String::from)
    .to_vec();
    texts.push("abcdefghij".repeat(500));
    texts.push("漢字かな🦀".repeat(300));
    texts
}

/// A SentencePiece-style BPE in the layout of Llama 2's `tokenizer.json`: normalizer
/// `Prepend("▁")` then `Replace(" ", "▁")`, no pre-tokenizer, BPE over chars with
/// `byte_fallback` and the 256 `<0xXX>` tokens. Trained here on the sample corpus (a few hundred
/// KB) with a small alphabet, so rare chars take the byte fallback.
pub static SENTENCEPIECE_LIKE: LazyLock<Tokenizer> = LazyLock::new(|| {
    use tokenizers::models::TrainerWrapper;
    use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
    use tokenizers::normalizers::{Prepend, Replace, Sequence};
    use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
    use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

    let mut texts = multilingual_texts();
    texts.extend(sample_texts(400_000));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(3_000)
        .limit_alphabet(300)
        .special_tokens(["<unk>", "<s>", "</s>"].map(|t| AddedToken::from(t, true)).to_vec())
        .show_progress(false)
        .build()
        .into();
    let mut inner = HfTokenizer::new(BPE::default());
    let normalizer = Sequence::new(vec![
        Prepend::new("▁".into()).into(),
        Replace::new(" ", "▁").expect("a literal").into(),
    ]);
    inner.with_normalizer(Some(normalizer)).expect("sets the normalizer");
    // Trained on ▁-words, as SentencePiece does; encoded, as converted Llama 2 files are, without
    // a pre-tokenizer.
    inner.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Never, true)));
    inner.train(&mut trainer, texts.into_iter()).expect("trains");
    let mut value: serde_json::Value =
        serde_json::from_str(&inner.to_string(false).expect("serializes")).expect("JSON");
    value["pre_tokenizer"] = serde_json::Value::Null;
    let model = &mut value["model"];
    model["byte_fallback"] = serde_json::Value::Bool(true);
    model["fuse_unk"] = serde_json::Value::Bool(true);
    model["unk_token"] = serde_json::Value::String("<unk>".into());
    let vocab = model["vocab"].as_object_mut().expect("a vocabulary");
    let next = vocab.values().filter_map(serde_json::Value::as_u64).max().unwrap_or(0) + 1;
    for byte in 0..=255u64 {
        vocab.insert(format!("<0x{byte:02X}>"), serde_json::Value::from(next + byte));
    }
    from_value(&value)
});

/// The texts of the sample corpus's first documents, `limit` bytes' worth.
pub fn sample_texts(limit: usize) -> Vec<String> {
    use std::io::BufRead;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sample");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("data/sample exists")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    let mut docs = Vec::new();
    let mut bytes = 0;
    for path in paths.iter().filter(|p| p.to_string_lossy().ends_with(".jsonl.zst")) {
        let reader = std::io::BufReader::new(
            zstd::Decoder::new(std::fs::File::open(path).expect("opens")).expect("zstd"),
        );
        for line in reader.lines() {
            let value: serde_json::Value =
                serde_json::from_str(&line.expect("reads")).expect("json line");
            let text = value["text"].as_str().expect("a text field").to_owned();
            bytes += text.len();
            docs.push(text);
            if bytes >= limit {
                return docs;
            }
        }
    }
    docs
}
