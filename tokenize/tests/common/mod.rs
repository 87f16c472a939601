//! Fixtures shared by the integration tests: tokenizer files and multilingual texts.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::LazyLock;

use tokenmill_tokenize::Tokenizer;

/// GPT-2's `tokenizer.json` (byte-level BPE, 50,257 ids).
pub const GPT2_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tokenizers/gpt2.json");

/// bert-base-uncased's `tokenizer.json` (WordPiece), saved with padding and truncation to 128.
pub const BERT_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tokenizers/bert-base-uncased-wordpiece.json");

/// GPT-2, loaded once per test binary (parsing 3.5 MB of JSON is slow in debug builds).
pub static GPT2: LazyLock<Tokenizer> = LazyLock::new(|| Tokenizer::from_file(Path::new(GPT2_JSON)).expect("GPT-2 fixture loads"));

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
