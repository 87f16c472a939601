//! The byte-level BPE fast path gives exactly the ids of the `tokenizers` crate.
//!
//! `Tokenizer::encode` takes the fast path for byte-level BPE tokenizers and
//! `Tokenizer::reference_encode` always asks `tokenizers`; every test holds one against the other
//! on GPT-2, the tokenizer tokenmill ships, Qwen3, Llama 3 (when `../shared` has it) and Qwen3's
//! vocabulary under the pre-tokenizers of Llama 3, DeepSeek V3, GPT-4o, Mistral Tekken and
//! RoBERTa: random mixed-script text, real documents from the sample corpus, and long inputs
//! without spaces. `TOKENMILL_SLICE` names a JSONL(.zst) corpus to compare whole (Llama 3 and
//! Qwen3), e.g. the 100 MB shared slice.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::LazyLock;

use common::{
    BERT_JSON, GPT2, LLAMA3, QWEN3, SENTENCEPIECE_LIKE, multilingual_texts, qwen3_variant,
    sample_texts, splits_then_byte_level,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokenmill_tokenize::patterns::{CL100K, DEEPSEEK_V3, O200K, TEKKEN};
use tokenmill_tokenize::{EncodePath, Tokenizer};

/// The byte-level BPE tokenizer tokenmill ships (16,384 ids).
const TOKENMILL_16K_JSON: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenizers/tokenmill-16k.json");

static TOKENMILL_16K: LazyLock<Tokenizer> = LazyLock::new(|| {
    Tokenizer::from_file(Path::new(TOKENMILL_16K_JSON)).expect("tokenmill-16k loads")
});

/// Qwen3's vocabulary with Llama 3's pre-tokenizer and `ignore_merges`.
static LLAMA3_LIKE: LazyLock<Tokenizer> =
    LazyLock::new(|| qwen3_variant(Value::Null, splits_then_byte_level(&[CL100K]), true));
/// ... with DeepSeek V3's three splits and an empty normalizer sequence.
static DEEPSEEK_LIKE: LazyLock<Tokenizer> = LazyLock::new(|| {
    qwen3_variant(
        json!({"type": "Sequence", "normalizers": []}),
        splits_then_byte_level(&DEEPSEEK_V3),
        false,
    )
});
/// ... with GPT-4o's pattern.
static O200K_LIKE: LazyLock<Tokenizer> =
    LazyLock::new(|| qwen3_variant(Value::Null, splits_then_byte_level(&[O200K]), false));
/// ... with Mistral Tekken's pattern.
static TEKKEN_LIKE: LazyLock<Tokenizer> =
    LazyLock::new(|| qwen3_variant(Value::Null, splits_then_byte_level(&[TEKKEN]), false));
/// ... with RoBERTa's pre-tokenizer: GPT-2's regex after a prefix space.
static ROBERTA_LIKE: LazyLock<Tokenizer> = LazyLock::new(|| {
    qwen3_variant(
        Value::Null,
        json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        false,
    )
});

fn tokenizers() -> Vec<&'static Tokenizer> {
    let mut all: Vec<&'static Tokenizer> = vec![
        &GPT2,
        &TOKENMILL_16K,
        &QWEN3,
        &LLAMA3_LIKE,
        &DEEPSEEK_LIKE,
        &O200K_LIKE,
        &TEKKEN_LIKE,
        &ROBERTA_LIKE,
        &SENTENCEPIECE_LIKE,
    ];
    all.extend(LLAMA3.as_ref());
    all
}

/// Fails with the first differing position, so a mismatch is readable.
fn assert_same_ids(tok: &Tokenizer, text: &str, what: &str) {
    let fast = tok.encode(text).expect("fast path encodes");
    let reference = tok.reference_encode(text).expect("reference encodes");
    if fast != reference {
        let at = fast
            .iter()
            .zip(&reference)
            .position(|(a, b)| a != b)
            .unwrap_or(fast.len().min(reference.len()));
        let lo = at.saturating_sub(3);
        panic!(
            "{what}: fast and reference differ at id {at} (of {} / {}): fast {:?} reference {:?}; decoded context {:?}",
            fast.len(),
            reference.len(),
            &fast[lo..(at + 3).min(fast.len())],
            &reference[lo..(at + 3).min(reference.len())],
            tok.decode(&reference[lo..(at + 3).min(reference.len())]).unwrap_or_default(),
        );
    }
}

#[test]
fn byte_level_bpe_tokenizers_take_the_fast_path_others_do_not() {
    assert!(GPT2.has_fast_path());
    assert!(TOKENMILL_16K.has_fast_path());
    let bert = Tokenizer::from_file(Path::new(BERT_JSON)).expect("loads");
    assert!(!bert.has_fast_path(), "WordPiece stays on the reference");
    assert_eq!(
        bert.encode("Hello world").expect("encodes"),
        bert.reference_encode("Hello world").expect("encodes")
    );
}

#[test]
fn every_family_names_its_path_and_unsupported_pipelines_say_why() {
    let fast = |tok: &Tokenizer| match tok.encode_path() {
        EncodePath::Fast(detail) => detail,
        EncodePath::Reference(reason) => {
            panic!("expected the fast path, got the reference: {reason}")
        }
    };
    assert_eq!(fast(&GPT2), "gpt2 regex (hand-written), byte-level BPE");
    assert_eq!(fast(&QWEN3), "NFC, qwen2 split (hand-written), byte-level BPE");
    assert_eq!(
        fast(&LLAMA3_LIKE),
        "cl100k/llama3 split (hand-written), byte-level BPE, ignore_merges"
    );
    if let Some(llama3) = LLAMA3.as_ref() {
        assert_eq!(
            fast(llama3),
            "cl100k/llama3 split (hand-written), byte-level BPE, ignore_merges"
        );
    }
    assert_eq!(
        fast(&DEEPSEEK_LIKE),
        "split regex (DFA), split regex (DFA), split regex (DFA), byte-level BPE"
    );
    assert_eq!(fast(&O200K_LIKE), "split regex (DFA), byte-level BPE");
    assert_eq!(fast(&ROBERTA_LIKE), "prefix space, gpt2 regex (hand-written), byte-level BPE");
    assert_eq!(
        fast(&SENTENCEPIECE_LIKE),
        r#"prepend "▁", replace " " by "▁", char-level BPE with byte fallback"#
    );

    let reference = |tok: &Tokenizer| match tok.encode_path() {
        EncodePath::Reference(reason) => reason,
        EncodePath::Fast(detail) => panic!("expected the reference, got the fast path: {detail}"),
    };
    let bert = Tokenizer::from_file(Path::new(BERT_JSON)).expect("loads");
    assert_eq!(reference(&bert), "the model is not BPE");
    let lookbehind =
        qwen3_variant(Value::Null, splits_then_byte_level(&[r"(?<=\s)\w+|\s+|."]), false);
    assert!(
        reference(&lookbehind).contains(r"the split pattern `(?<=\s)\w+|\s+|.`"),
        "{}",
        reference(&lookbehind)
    );
    let nfkc = qwen3_variant(json!({"type": "NFKC"}), splits_then_byte_level(&[CL100K]), false);
    assert_eq!(reference(&nfkc), "the normalizer NFKC is not on the fast path");
    let merged = qwen3_variant(
        Value::Null,
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CL100K}, "behavior": "MergedWithPrevious", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
        false,
    );
    assert_eq!(
        reference(&merged),
        "a Split pre-tokenizer has behavior MergedWithPrevious, not Isolated"
    );
    // Whatever path they take, every one of them gives the reference's ids.
    for tok in [&bert, &lookbehind, &nfkc, &merged] {
        let text = "Hello world, 你好 12345 it's\n\n";
        assert_eq!(
            tok.encode(text).expect("encodes"),
            tok.reference_encode(text).expect("encodes")
        );
    }
}

#[test]
fn fast_path_matches_on_multilingual_texts_and_edge_cases() {
    let mut texts = multilingual_texts();
    texts.extend(
        [
            "<|endoftext|>",
            "a<|endoftext|>b <|endoftext|> c<|endoftext|><|endoftext|>",
            "<|endoftext|",
            "it's I'M we'd they'll you're 've ''s x''ll",
            "   \n\n   x  \u{a0}\u{3000}y\u{85}z\u{2028}\r\n\r\n",
            "\u{301}\u{345}a\u{301}Ⅻ½①٣",
            "👨‍👩‍👧‍👦👍🏽🏳️‍🌈 🇯🇵",
            "x\u{0}\u{1}\u{7f}\u{200b}y",
            // NFC composes these (Qwen3): a combining accent, the Angstrom sign, Hangul jamo.
            "e\u{301}te\u{301} \u{212b}ngstr\u{f6}m \u{1100}\u{1161}\u{11a8} \u{1e9b}\u{323}",
            "<|im_start|>user\nHi<|im_end|>\n<|endoftext|>",
            "12345678901 3.14159 ٣٤٥ 一二三",
            "ſtraße 'S 'ſ THEY'RE",
        ]
        .map(String::from),
    );
    for tok in tokenizers() {
        for text in &texts {
            assert_same_ids(tok, text, &format!("{text:?}"));
        }
    }
}

/// Fragments drawn from many scripts and shapes of whitespace, concatenated at random.
fn mixed_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        "[a-zA-Z]{1,12}",
        "[ ]?[a-z]{1,8}'(s|t|re|ve|m|ll|d|S|x)",
        "[.,;:!?'\"()\\[\\]{}<>=+*/\\\\|&^%$#@~`_-]{1,4}",
        "[ \\t\\n\\r]{1,5}",
        "[\u{a0}\u{3000}\u{85}\u{2028}\u{1680}\u{200b}]{1,3}",
        "[0-9]{1,6}",
        "[一-龥]{1,20}",
        "[ぁ-んァ-ン]{1,10}",
        "[가-힣]{1,6}",
        "[À-ɏ]{1,6}",
        "[Ѐ-ӿ]{1,8}",
        "[\u{600}-\u{6ff}]{1,6}",
        "[\u{900}-\u{97f}\u{e00}-\u{e7f}]{1,6}",
        "[😀-🙏🦀🎉❤\u{fe0f}\u{200d}\u{1f3fb}-\u{1f3ff}]{1,6}",
        Just("👨\u{200d}👩\u{200d}👧".to_owned()),
        Just("<|endoftext|>".to_owned()),
        Just("<|im_start|>".to_owned()),
        "[e\u{301}\u{212b}\u{1100}\u{1161}\u{11a8}\u{1e9b}\u{323}\u{f900}]{1,4}",
        Just("fn main() {\n    let x = vec![1, 2];\n}\n".to_owned()),
        Just("    ".to_owned()),
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_matches_reference_on_mixed_scripts(text in mixed_text()) {
        for tok in tokenizers() {
            prop_assert_eq!(tok.encode(&text).expect("fast"), tok.reference_encode(&text).expect("reference"), "{:?}", text);
        }
    }

    #[test]
    fn fast_path_matches_reference_on_any_string(text in any::<String>()) {
        for tok in tokenizers() {
            prop_assert_eq!(tok.encode(&text).expect("fast"), tok.reference_encode(&text).expect("reference"), "{:?}", text);
        }
    }
}

#[test]
fn fast_path_matches_reference_on_the_sample_corpus() {
    let docs = sample_texts(2_000_000);
    assert!(docs.len() > 10, "the sample corpus has documents");
    for tok in tokenizers() {
        for (i, doc) in docs.iter().enumerate() {
            assert_same_ids(tok, doc, &format!("sample document {i}"));
        }
    }
}

#[test]
fn fast_path_matches_reference_on_long_inputs_without_spaces() {
    let chinese: String = "我们在北京吃了烤鸭味道非常好東京タワーは日本の電波塔です"
        .chars()
        .cycle()
        .take(350_000)
        .collect();
    let minified =
        "function(a,b){return a.map(function(c){return c*2+b})};var x=[1,2,3];".repeat(14_000);
    let letters = "abcdefghijklmnopqrstuvwxyz".repeat(40_000);
    let spaces = " ".repeat(100_000) + "x";
    for tok in tokenizers() {
        for (what, text) in [
            ("chinese", &chinese),
            ("minified", &minified),
            ("letters", &letters),
            ("spaces", &spaces),
        ] {
            assert!(text.len() >= 100_000);
            assert_same_ids(tok, text, what);
        }
    }
}

#[test]
fn batch_on_the_fast_path_keeps_order() {
    let texts = multilingual_texts();
    let refs: Vec<&str> = texts.iter().cycle().take(120).map(String::as_str).collect();
    for tok in tokenizers() {
        let batch = tok.encode_batch(&refs).expect("encodes");
        let reference: Vec<Vec<u32>> =
            refs.iter().map(|t| tok.reference_encode(t).expect("encodes")).collect();
        assert_eq!(batch, reference);
    }
}

/// Every document of the corpus `TOKENMILL_SLICE` names (JSONL, plain or zstd, with a `text`
/// field), e.g. `../shared/data/corpus/slice100.jsonl.zst`, through Qwen3 and Llama 3: the
/// fast path gives the reference's ids for all of them. Skipped without the variable (the
/// 100 MB slice takes minutes on the reference).
#[test]
fn fast_path_matches_reference_on_a_whole_corpus() {
    use rayon::prelude::*;
    let Some(path) = std::env::var_os("TOKENMILL_SLICE") else {
        eprintln!(
            "skipping the whole-corpus comparison: set TOKENMILL_SLICE to a JSONL(.zst) corpus"
        );
        return;
    };
    let file = File::open(&path).expect("the corpus opens");
    let reader: Box<dyn BufRead> = if path.to_string_lossy().ends_with(".zst") {
        Box::new(BufReader::new(zstd::Decoder::new(file).expect("zstd")))
    } else {
        Box::new(BufReader::new(file))
    };
    let docs: Vec<String> = reader
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(&line.expect("reads")).expect("json line");
            value["text"].as_str().expect("a text field").to_owned()
        })
        .collect();
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut tokenizers: Vec<(&str, &Tokenizer)> = vec![("qwen3", &QWEN3)];
    tokenizers.extend(LLAMA3.as_ref().map(|tok| ("llama3", tok)));
    for (name, tok) in tokenizers {
        let differ: Vec<usize> = docs
            .par_iter()
            .enumerate()
            .filter(|(_, doc)| {
                tok.encode(doc).expect("fast") != tok.reference_encode(doc).expect("reference")
            })
            .map(|(i, _)| i)
            .collect();
        eprintln!("{name}: {} of {} documents ({bytes} bytes) differ", differ.len(), docs.len());
        assert!(differ.is_empty(), "{name}: documents {differ:?} differ");
    }
}

/// A tokenizer of every family loaded back from the binary cache (normalizers, pre-tokenizer
/// stages, char-level symbols, whole-token pieces) encodes exactly as the one parsed from JSON.
#[test]
fn every_family_round_trips_through_the_tokenizer_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let texts = multilingual_texts();
    for (i, tok) in tokenizers().into_iter().enumerate() {
        let path = dir.path().join(format!("t{i}.json"));
        std::fs::write(&path, tok.to_json().expect("serializes")).expect("writes");
        let first =
            Tokenizer::from_file_cached(&path, Some(&cache)).expect("loads and writes the cache");
        let cached =
            Tokenizer::from_file_cached(&path, Some(&cache)).expect("loads from the cache");
        assert_eq!(cached.encode_path(), tok.encode_path());
        assert_eq!(cached.info(), first.info());
        for text in &texts {
            assert_eq!(
                cached.encode(text).expect("encodes"),
                tok.reference_encode(text).expect("encodes"),
                "{:?}",
                tok.encode_path()
            );
        }
    }
    let files = std::fs::read_dir(&cache).expect("the cache has files").count();
    assert_eq!(files, tokenizers().len(), "one cache file per fast-path tokenizer");
}
