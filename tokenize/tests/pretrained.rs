//! The pretrained GPT-2 (byte-level BPE) and BERT (WordPiece) tokenizers, loaded from fixtures.

mod common;

use std::path::Path;

use common::{BERT_JSON, GPT2, GPT2_JSON, multilingual_texts};
use proptest::prelude::*;
use tokenmill_tokenize::{EncodeOptions, Tokenizer};

#[test]
fn gpt2_info() {
    let info = GPT2.info();
    assert_eq!(info.kind, "BPE");
    assert_eq!(info.vocab_size, 50_257);
    assert_eq!(info.eos_id, Some(50_256));
    assert_eq!(info.bos_id, None);
    assert_eq!(GPT2.token_to_id("<|endoftext|>"), Some(50_256));
    assert_eq!(GPT2.token_to_id("not a gpt2 token"), None);
}

#[test]
fn gpt2_known_ids() {
    let cases: [(&str, &[u32]); 5] = [
        ("Hello world", &[15_496, 995]),
        ("Hello, world!", &[15_496, 11, 995, 0]),
        ("The quick fox", &[464, 2068, 21_831]),
        ("<|endoftext|>", &[50_256]),
        ("", &[]),
    ];
    for (text, ids) in cases {
        assert_eq!(GPT2.encode(text).expect("encodes"), ids, "{text:?}");
        assert_eq!(GPT2.decode(ids).expect("decodes"), text);
    }
    let doc = GPT2.encode_document("Hello world", EncodeOptions::default()).expect("encodes");
    assert_eq!(doc, [15_496, 995, 50_256]);
}

#[test]
fn gpt2_round_trips_multilingual_text() {
    for text in multilingual_texts() {
        let ids = GPT2.encode(&text).expect("encodes");
        assert!(ids.iter().all(|&id| (id as usize) < GPT2.info().vocab_size));
        assert_eq!(GPT2.decode(&ids).expect("decodes"), text);
    }
}

#[test]
fn gpt2_batch_matches_one_by_one_in_order() {
    let texts = multilingual_texts();
    // Repeat so rayon really splits the batch across threads.
    let refs: Vec<&str> = texts.iter().cycle().take(120).map(String::as_str).collect();
    let batch = GPT2.encode_batch(&refs).expect("encodes");
    let single: Vec<Vec<u32>> = refs.iter().map(|t| GPT2.encode(t).expect("encodes")).collect();
    assert_eq!(batch, single);
}

#[test]
fn gpt2_hash_is_stable_across_loads_and_saves() {
    let again = Tokenizer::from_file(Path::new(GPT2_JSON)).expect("loads");
    assert_eq!(again.info(), GPT2.info());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gpt2.json");
    GPT2.save(&path).expect("saves");
    let saved = Tokenizer::from_file(&path).expect("loads");
    assert_eq!(saved.info(), GPT2.info());
    let text = multilingual_texts().concat();
    assert_eq!(saved.encode(&text).expect("encodes"), GPT2.encode(&text).expect("encodes"));
}

#[test]
fn bert_loads_without_padding_or_truncation() {
    let bert = Tokenizer::from_file(Path::new(BERT_JSON)).expect("loads");
    let info = bert.info();
    assert_eq!(info.kind, "WordPiece");
    assert_eq!(info.vocab_size, 30_522);
    assert_eq!(info.eos_id, Some(102), "[SEP]");
    assert_eq!(info.bos_id, Some(101), "[CLS]");

    // The file pads to 128 and adds [CLS]/[SEP]; raw encoding must do neither.
    assert_eq!(bert.encode("Hello world").expect("encodes"), [7592, 2088]);
    let long = "hello ".repeat(300);
    assert_eq!(bert.encode(&long).expect("encodes"), vec![7592; 300]);

    let opts = EncodeOptions { bos: true, eos: true };
    let doc = bert.encode_document("hello world", opts).expect("encodes");
    assert_eq!(doc, [101, 7592, 2088, 102]);
    assert_eq!(bert.decode(&doc).expect("decodes"), "[CLS] hello world [SEP]");
}

#[test]
fn bert_special_ids_can_be_overridden() {
    let bert = Tokenizer::from_file(Path::new(BERT_JSON))
        .expect("loads")
        .with_special_ids(Some("[PAD]"), None)
        .expect("[PAD] is known");
    assert_eq!(bert.info().eos_id, Some(0));
    assert_eq!(bert.info().bos_id, Some(101));
}

proptest! {
    #[test]
    fn gpt2_decode_inverts_encode(text in any::<String>()) {
        let ids = GPT2.encode(&text).expect("encodes");
        prop_assert_eq!(GPT2.decode(&ids).expect("decodes"), text);
    }

    #[test]
    fn gpt2_round_trips_mixed_scripts(text in "[a-zA-Z0-9 \\n\\t.,!?'\"漢字かなカナ한글🦀🎉\u{200d}\u{301}]{0,200}") {
        let ids = GPT2.encode(&text).expect("encodes");
        prop_assert_eq!(GPT2.decode(&ids).expect("decodes"), text);
    }
}
