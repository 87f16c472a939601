//! [`Tokenizer::from_file_cached`]: a load from the cache behaves exactly like a plain load,
//! without parsing the JSON, and the cache never turns into an error.

use std::time::Instant;

use super::*;
use crate::EncodeOptions;

const GPT2_JSON: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tokenizers/gpt2.json");
const BERT_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/tokenizers/bert-base-uncased-wordpiece.json"
);

fn gpt2_path() -> &'static Path {
    Path::new(GPT2_JSON)
}

/// Several scripts, emoji, an added token written literally, whitespace runs, a long word.
fn texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "Hello world, the quick brown fox.",
        "我们在北京吃了烤鸭，味道非常好。東京タワー、한국어 문장.",
        "Rust 🦀 + ❤️ = 👨‍👩‍👧‍👦 🎉🎉 🇯🇵",
        "one document<|endoftext|>the next<|endoftext|><|endoftext|>",
        "fn main() {\n        println!(\"{}\", 1 + 2);\n}\n\n\n\t\t   \r\n",
        "                                                  spaces",
        "",
    ]
    .map(String::from)
    .to_vec();
    texts.push("Straße naïve café ".repeat(200));
    texts.push("漢字かな🦀".repeat(300));
    texts
}

/// The files in `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The one cache file in `dir`.
fn the_cache_file(dir: &Path) -> PathBuf {
    let names = files_in(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".tmbpe") && names[0].len() == 32 + 6, "{names:?}");
    dir.join(&names[0])
}

/// Asserts every observable of `got` equals that of `want`; parses `got`'s JSON on the way.
fn assert_same(got: &Tokenizer, want: &Tokenizer) {
    assert_eq!(got.info(), want.info());
    assert_eq!(got.has_fast_path(), want.has_fast_path());
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert_eq!(
        got.encode_batch(&refs).expect("encodes"),
        want.encode_batch(&refs).expect("encodes")
    );
    for text in &texts {
        let ids = want.encode(text).expect("encodes");
        assert_eq!(got.encode(text).expect("encodes"), ids, "{text:?}");
        for opts in [EncodeOptions::default(), EncodeOptions { bos: false, eos: false }] {
            assert_eq!(
                got.encode_document(text, opts).expect("encodes"),
                want.encode_document(text, opts).expect("encodes")
            );
        }
        assert_eq!(got.decode(&ids).expect("decodes"), want.decode(&ids).expect("decodes"));
        assert_eq!(got.reference_encode(text).expect("encodes"), ids, "{text:?}");
    }
    for token in ["<|endoftext|>", "Hello", "Ġworld", "not a token"] {
        assert_eq!(got.token_to_id(token), want.token_to_id(token), "{token:?}");
    }
    assert_eq!(got.to_json().expect("json"), want.to_json().expect("json"));
}

#[test]
fn a_cached_load_is_a_plain_load_without_the_parse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = Tokenizer::from_file(gpt2_path()).expect("loads");

    let first = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    assert!(first.hf_is_parsed(), "a miss parses the JSON");
    let file = the_cache_file(dir.path());
    let written = fs::read(&file).expect("reads");

    let cached = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    assert!(!cached.hf_is_parsed(), "a hit is built from the cache file alone");
    assert_eq!(cached.info(), plain.info());
    assert!(cached.has_fast_path());
    let text = texts().concat();
    assert_eq!(cached.encode(&text).expect("encodes"), plain.encode(&text).expect("encodes"));
    assert_eq!(cached.token_to_id("<|endoftext|>"), Some(50_256));
    let with_eos =
        cached.clone().with_special_ids(Some("<|endoftext|>"), None).expect("an added token");
    assert_eq!(with_eos.info(), plain.info());
    assert!(!cached.hf_is_parsed(), "encoding and added-token lookups need no parse");

    let clone = cached.clone();
    assert_same(&cached, &plain);
    assert!(cached.hf_is_parsed() && clone.hf_is_parsed(), "clones share the parse");
    assert_same(&first, &plain);
    assert_eq!(fs::read(&file).expect("reads"), written, "a hit does not rewrite the file");
}

#[test]
fn token_to_id_of_a_vocabulary_token_parses_on_demand() {
    let dir = tempfile::tempdir().expect("tempdir");
    Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let cached = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    assert!(!cached.hf_is_parsed());
    assert_eq!(cached.token_to_id("Hello"), Some(15_496));
    assert!(cached.hf_is_parsed());

    let cached = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let err = cached.with_special_ids(None, Some("<|nope|>")).expect_err("unknown token");
    assert!(matches!(&err, Error::UnknownToken { role: "bos", .. }), "{err}");
}

#[test]
fn a_damaged_cache_file_is_ignored_and_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = Tokenizer::from_file(gpt2_path()).expect("loads");
    Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let file = the_cache_file(dir.path());
    let good = fs::read(&file).expect("reads");

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    let truncated = good[..good.len() - 100].to_vec();
    for (what, damaged) in [("flipped", flipped), ("truncated", truncated), ("empty", Vec::new())] {
        fs::write(&file, &damaged).expect("damages");
        let tok = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path()))
            .expect("a damaged cache is no error");
        assert!(tok.hf_is_parsed(), "{what}: a damaged file is a miss");
        assert_eq!(fs::read(&file).expect("reads"), good, "{what}: rewritten");
        assert_same(&tok, &plain);
        let again = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
        assert!(!again.hf_is_parsed(), "{what}: the rewritten file is used");
    }
}

#[test]
fn a_cache_file_of_other_bytes_is_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let gpt2_file = the_cache_file(dir.path());

    // The same tokenizer with its eos token renamed: other bytes, other key, other ids.
    let bytes = fs::read_to_string(gpt2_path()).expect("reads").replace("<|endoftext|>", "<|end|>");
    let key = xxh3_128(bytes.as_bytes());
    fs::copy(&gpt2_file, cache_file::path(dir.path(), key)).expect("copies");
    let tok = Tokenizer::from_bytes_cached(bytes.as_bytes(), "renamed-eos", Some(dir.path()))
        .expect("loads");
    assert!(tok.hf_is_parsed(), "a file holding another key is a miss");
    assert_eq!(tok.token_to_id("<|end|>"), Some(50_256));
    assert_eq!(tok.info().eos_id, None);
    let cached = Tokenizer::from_bytes_cached(bytes.as_bytes(), "renamed-eos", Some(dir.path()))
        .expect("loads");
    assert!(!cached.hf_is_parsed());
    assert_eq!(cached.info(), tok.info());
    assert_eq!(
        cached.encode("a<|end|>b<|endoftext|>").expect("encodes"),
        tok.encode("a<|end|>b<|endoftext|>").expect("encodes")
    );
}

#[test]
fn tokenizers_without_a_fast_path_are_not_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let bert = Tokenizer::from_file_cached(Path::new(BERT_JSON), Some(&cache)).expect("loads");
    assert!(!bert.has_fast_path());
    assert_eq!(bert.info(), Tokenizer::from_file(Path::new(BERT_JSON)).expect("loads").info());
    let again = Tokenizer::from_file_cached(Path::new(BERT_JSON), Some(&cache)).expect("loads");
    assert!(again.hf_is_parsed());
    assert_eq!(files_in(&cache), Vec::<String>::new());
}

#[test]
fn an_unwritable_cache_dir_is_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"a file, not a directory").expect("writes");
    let plain = Tokenizer::from_file(gpt2_path()).expect("loads");
    for cache in [blocker.join("cache"), blocker.clone()] {
        let tok =
            Tokenizer::from_file_cached(gpt2_path(), Some(&cache)).expect("loads without a cache");
        assert_eq!(tok.info(), plain.info());
        assert_eq!(tok.encode("Hello world").expect("encodes"), [15_496, 995]);
    }
    assert_eq!(files_in(dir.path()), ["file"]);
}

#[test]
fn no_cache_dir_is_a_plain_load() {
    let plain = Tokenizer::from_file(gpt2_path()).expect("loads");
    let tok = Tokenizer::from_file_cached(gpt2_path(), None).expect("loads");
    assert!(tok.hf_is_parsed());
    assert_eq!(tok.info(), plain.info());
    let err = Tokenizer::from_bytes_cached(b"{not json", "s3://bucket/tokenizer.json", None)
        .expect_err("bad json");
    assert!(err.to_string().contains("s3://bucket/tokenizer.json"), "{err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let err =
        Tokenizer::from_bytes_cached(b"{not json", "s3://bucket/tokenizer.json", Some(dir.path()))
            .expect_err("bad json");
    assert!(
        matches!(&err, Error::Parse { origin, .. } if origin == "s3://bucket/tokenizer.json"),
        "{err}"
    );
    let err = Tokenizer::from_file_cached(Path::new("/definitely/not/here.json"), Some(dir.path()))
        .expect_err("missing");
    assert!(matches!(err, Error::Read { .. }));
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[test]
fn a_failed_lazy_parse_is_a_parse_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let cached = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    // Cannot happen through the API (the bytes parsed when the cache was written); forced here.
    let broken =
        Tokenizer { hf: Arc::new(Hf::lazy(b"{broken".to_vec(), "broken.json".into())), ..cached };
    assert_eq!(broken.encode("Hello world").expect("the fast path needs no parse"), [15_496, 995]);
    assert_eq!(broken.token_to_id("<|endoftext|>"), Some(50_256));
    assert_eq!(broken.token_to_id("Hello"), None);
    for err in [
        broken.decode(&[15_496]).expect_err("decode"),
        broken.to_json().expect_err("json"),
        broken.reference_encode("x").expect_err("ref"),
    ] {
        assert!(matches!(&err, Error::Parse { origin, .. } if origin == "broken.json"), "{err}");
    }
}

/// Load times of GPT-2's `tokenizer.json`, plain and from a warm cache. A measurement, not a
/// test: `cargo test --release -p tokenmill-tokenize load_times -- --ignored --nocapture`.
#[test]
#[ignore = "prints timings; run in release with --nocapture"]
fn load_times() {
    const RUNS: usize = 7;
    let dir = tempfile::tempdir().expect("tempdir");
    let median_ms = |load: &dyn Fn() -> Tokenizer| {
        let mut ms: Vec<f64> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let tok = load();
                let elapsed = start.elapsed().as_secs_f64() * 1e3;
                assert!(tok.has_fast_path());
                elapsed
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms[RUNS / 2]
    };
    let plain = median_ms(&|| Tokenizer::from_file(gpt2_path()).expect("loads"));
    let start = Instant::now();
    Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let cold = start.elapsed().as_secs_f64() * 1e3;
    let warm =
        median_ms(&|| Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads"));
    let cached = Tokenizer::from_file_cached(gpt2_path(), Some(dir.path())).expect("loads");
    let start = Instant::now();
    cached.decode(&[15_496]).expect("decodes");
    let lazy = start.elapsed().as_secs_f64() * 1e3;
    let size = fs::metadata(the_cache_file(dir.path())).expect("stat").len();
    println!(
        "gpt2.json load, median of {RUNS}: from_file {plain:.1} ms; from_file_cached: cold (writes) {cold:.1} ms, warm {warm:.2} ms"
    );
    println!("first decode after a warm load (lazy parse) {lazy:.1} ms; cache file {size} bytes");
}
