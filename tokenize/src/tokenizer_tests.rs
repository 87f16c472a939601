//! Unit tests for [`Tokenizer`] on a tiny in-memory WordLevel tokenizer.
//!
//! The pretrained GPT-2 and BERT files are exercised in `tests/pretrained.rs`.

use super::*;

/// A WordLevel tokenizer with padding to 8 and truncation to 2 switched on, as in many
/// `tokenizer.json` files exported for fine-tuning; loading must switch both off.
const TINY: &str = r#"{
  "version": "1.0",
  "truncation": {"direction": "Right", "max_length": 2, "strategy": "LongestFirst", "stride": 0},
  "padding": {"strategy": {"Fixed": 8}, "direction": "Right", "pad_to_multiple_of": null,
              "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
  "added_tokens": [],
  "normalizer": null,
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel",
            "vocab": {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "</s>": 4, "<s>": 5,
                      "<eos>": 6},
            "unk_token": "[UNK]"}
}"#;

/// The same model without any eos/bos candidates.
const NO_SPECIALS: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1}, "unk_token": "[UNK]"}
}"#;

fn tiny() -> Tokenizer {
    Tokenizer::from_bytes(TINY.as_bytes()).expect("TINY is a valid tokenizer.json")
}

#[test]
fn info_describes_the_tokenizer() {
    let tok = tiny();
    let info = tok.info();
    assert_eq!(info.kind, "WordLevel");
    assert_eq!(info.vocab_size, 7);
    assert_eq!(info.eos_id, Some(4), "</s> comes before <eos> in the candidates");
    assert_eq!(info.bos_id, Some(5));
    assert_eq!(info.hash.len(), 32);
    assert_eq!(info.hash, tiny().info().hash, "same tokenizer, same hash");
    let other = Tokenizer::from_bytes(NO_SPECIALS.as_bytes()).expect("valid");
    assert_ne!(info.hash, other.info().hash);
}

#[test]
fn encode_neither_pads_nor_truncates() {
    let tok = tiny();
    assert!(!tok.has_fast_path(), "WordLevel is encoded by the reference");
    assert_eq!(tok.encode("hello world hello").expect("encodes"), [2, 3, 2]);
    assert_eq!(tok.encode("hello nope").expect("encodes"), [2, 1]);
    assert_eq!(tok.encode("").expect("encodes"), Vec::<u32>::new());
    let json = tok.to_json().expect("serializes");
    assert!(json.contains(r#""truncation":null,"padding":null"#), "{json}");
}

#[test]
fn encode_document_adds_requested_specials() {
    let tok = tiny();
    let doc = |bos, eos| tok.encode_document("hello world", EncodeOptions { bos, eos });
    assert_eq!(doc(false, true).expect("ok"), [2, 3, 4]);
    assert_eq!(doc(true, true).expect("ok"), [5, 2, 3, 4]);
    assert_eq!(doc(true, false).expect("ok"), [5, 2, 3]);
    assert_eq!(doc(false, false).expect("ok"), [2, 3]);
    assert_eq!(
        tok.encode_document("hello world", EncodeOptions::default()).expect("ok"),
        [2, 3, 4]
    );
}

#[test]
fn missing_specials_are_errors_with_advice() {
    let tok = Tokenizer::from_bytes(NO_SPECIALS.as_bytes()).expect("valid");
    assert_eq!(tok.info().eos_id, None);
    let err = tok.encode_document("hello", EncodeOptions::default()).expect_err("no eos");
    assert!(matches!(err, Error::NoEosToken { .. }));
    assert!(err.to_string().contains("eos_token"), "{err}");
    let opts = EncodeOptions { bos: true, eos: false };
    let err = tok.encode_document("hello", opts).expect_err("no bos");
    assert!(matches!(err, Error::NoBosToken { .. }));
    let no_specials = EncodeOptions { bos: false, eos: false };
    assert_eq!(tok.encode_document("hello", no_specials).expect("ok"), [1]);
}

#[test]
fn special_ids_can_be_overridden() {
    let tok = tiny().with_special_ids(Some("<eos>"), Some("[PAD]")).expect("known tokens");
    assert_eq!(tok.info().eos_id, Some(6));
    assert_eq!(tok.info().bos_id, Some(0));
    let tok = tok.with_special_ids(None, None).expect("no change");
    assert_eq!((tok.info().eos_id, tok.info().bos_id), (Some(6), Some(0)));

    let err = tiny().with_special_ids(Some("<|nope|>"), None).expect_err("unknown token");
    assert!(
        matches!(&err, Error::UnknownToken { role: "eos", token } if token == "<|nope|>"),
        "{err}"
    );
}

#[test]
fn decode_rejects_ids_outside_the_vocabulary() {
    let tok = tiny();
    assert_eq!(tok.decode(&[2, 3]).expect("decodes"), "hello world");
    let err = tok.decode(&[2, 7]).expect_err("7 is out of range");
    assert!(matches!(err, Error::UnknownId { id: 7, vocab_size: 7 }));
}

#[test]
fn encode_batch_keeps_input_order() {
    let tok = tiny();
    let texts = ["hello", "world", "hello world", "", "nope hello"];
    let batch = tok.encode_batch(&texts).expect("encodes");
    let one_by_one: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t).expect("encodes")).collect();
    assert_eq!(batch, one_by_one);
}

#[test]
fn load_errors_name_their_origin() {
    let missing = Path::new("/definitely/not/here/tokenizer.json");
    let err = Tokenizer::from_file(missing).expect_err("missing file");
    assert!(matches!(err, Error::Read { .. }));
    assert!(err.to_string().contains("/definitely/not/here/tokenizer.json"));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    fs::write(&bad, "{not json").expect("write");
    let err = Tokenizer::from_file(&bad).expect_err("bad json");
    assert!(matches!(err, Error::Parse { .. }));
    assert!(err.to_string().contains("bad.json"), "{err}");

    let err = Tokenizer::from_bytes(b"[]").expect_err("not a tokenizer");
    assert!(err.to_string().contains("<bytes>"), "{err}");
}

#[test]
fn save_round_trips_and_leaves_no_temp_file() {
    let tok = tiny();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokenizer.json");
    tok.save(&path).expect("saves");
    tok.save(&path).expect("overwrites");
    let names: Vec<_> =
        fs::read_dir(dir.path()).expect("lists").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["tokenizer.json"]);

    let back = Tokenizer::from_file(&path).expect("loads");
    assert_eq!(back.info(), tok.info());
    assert_eq!(back.to_json().expect("json"), tok.to_json().expect("json"));
    assert_eq!(fs::read_to_string(&path).expect("reads"), tok.to_json().expect("json"));
}

#[test]
fn save_errors_name_the_path() {
    let tok = tiny();
    let path = Path::new("/definitely/not/here/tokenizer.json");
    let err = tok.save(path).expect_err("no such directory");
    assert!(matches!(err, Error::Write { .. }));
    assert!(err.to_string().contains("/definitely/not/here/tokenizer.json"));
}

#[test]
fn tokenizer_is_send_sync_and_debug_is_short() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Tokenizer>();
    let debug = format!("{:?}", tiny());
    assert!(debug.starts_with("Tokenizer { info: TokenizerInfo {"), "{debug}");
    assert!(debug.len() < 400, "{debug}");
}
