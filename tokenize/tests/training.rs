//! Training a byte-level BPE on a small multilingual corpus.

mod common;

use common::multilingual_texts;
use tokenmill_tokenize::{BpeTrainingConfig, EncodeOptions, Tokenizer, train_byte_level_bpe};

/// A few hundred short texts in English, Chinese, Japanese, emoji and code, each written once.
fn corpus() -> Vec<String> {
    let subjects = ["the cat", "a dog", "my friend", "the teacher", "our team", "this model"];
    let verbs = ["reads", "writes", "likes", "finds", "builds", "trains"];
    let objects = ["a book", "the code", "new tokens", "some data", "the shards"];
    let mut texts = Vec::new();
    for s in subjects {
        for v in verbs {
            for o in objects {
                texts.push(format!("{s} {v} {o}."));
            }
        }
    }
    let chinese = ["我们", "学习", "北京", "今天", "天气", "很好", "数据", "模型"];
    let japanese = ["東京", "日本語", "ひらがな", "カタカナ", "勉強します", "ありがとう"];
    for (i, a) in chinese.iter().enumerate() {
        for b in &chinese[i..] {
            texts.push(format!("{a}{b}，{b}{a}。"));
        }
    }
    for a in japanese {
        for b in japanese {
            texts.push(format!("{a}と{b}です。"));
        }
    }
    for (i, emoji) in ["🦀", "🎉", "❤️", "👍", "🚀"].iter().enumerate() {
        texts.push(format!("ship it {emoji} x{i} {emoji}{emoji}"));
    }
    for name in ["x", "count", "tokens", "shard_id"] {
        texts.push(format!("let {name} = {name}.len() + 1;"));
        texts.push(format!("fn get_{name}(&self) -> usize {{ self.{name} }}"));
    }
    texts
}

fn config() -> BpeTrainingConfig {
    BpeTrainingConfig { vocab_size: 500, ..BpeTrainingConfig::default() }
}

/// The corpus three times over, so frequent pairs clear `min_frequency`.
fn train(cfg: &BpeTrainingConfig) -> Tokenizer {
    let texts = corpus();
    let n = texts.len() * 3;
    train_byte_level_bpe(texts.into_iter().cycle().take(n), cfg).expect("trains")
}

#[test]
fn trained_tokenizer_has_the_requested_shape() {
    assert!(corpus().len() >= 200, "a few hundred texts");
    let tok = train(&config());
    let info = tok.info();
    assert_eq!(info.kind, "BPE");
    assert!((257..=500).contains(&info.vocab_size), "vocab_size {}", info.vocab_size);
    assert!(info.vocab_size > 400, "the corpus has enough pairs to learn merges");
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(0));
    assert_eq!(info.eos_id, Some(0));
    assert_eq!(info.bos_id, None);
    // Merges were learned: a frequent word is one token.
    assert_eq!(tok.encode(" the").expect("encodes").len(), 1);
}

#[test]
fn trained_tokenizer_round_trips_unseen_text() {
    let tok = train(&config());
    let mut unseen = multilingual_texts();
    unseen.push("Unseen words: zebra quixotic 上海 大阪 🐙 <|endoftext|> end".into());
    for text in unseen {
        let ids = tok.encode(&text).expect("encodes");
        assert!(ids.iter().all(|&id| (id as usize) < tok.info().vocab_size));
        assert_eq!(tok.decode(&ids).expect("decodes"), text);
    }
    let doc = tok.encode_document("the cat", EncodeOptions::default()).expect("encodes");
    assert_eq!(doc.last(), Some(&0));
}

#[test]
fn special_tokens_take_the_first_ids_in_order() {
    let cfg = BpeTrainingConfig {
        special_tokens: vec!["<|endoftext|>".into(), "<pad>".into(), "<s>".into()],
        ..config()
    };
    let tok = train(&cfg);
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(0));
    assert_eq!(tok.token_to_id("<pad>"), Some(1));
    assert_eq!(tok.token_to_id("<s>"), Some(2));
    assert_eq!(tok.info().bos_id, Some(2));
    // Specials written in text are recognized, never split.
    assert_eq!(tok.encode("<pad><s>").expect("encodes"), [1, 2]);
}

#[test]
fn save_and_reload_gives_identical_ids() {
    let tok = train(&config());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bpe.json");
    tok.save(&path).expect("saves");
    let back = Tokenizer::from_file(&path).expect("loads");
    assert_eq!(back.info(), tok.info());
    for text in multilingual_texts().iter().chain(&corpus()) {
        assert_eq!(back.encode(text).expect("encodes"), tok.encode(text).expect("encodes"));
    }
}

#[test]
fn training_is_deterministic_across_runs_and_thread_counts() {
    let cfg = config();
    let in_pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| train(&cfg))
    };
    let first = train(&cfg).to_json().expect("json");
    assert_eq!(train(&cfg).to_json().expect("json"), first);
    assert_eq!(in_pool(1).to_json().expect("json"), first);
    assert_eq!(in_pool(4).to_json().expect("json"), first);
    assert_eq!(in_pool(4).info(), train(&cfg).info());
}

#[test]
fn long_documents_are_truncated_before_counting() {
    // Without the cap BPE learns ever longer `abab…` tokens from this one 20 KB word; capped
    // at 10 bytes it only sees `ababababab`, so it learns short tokens and needs more ids.
    let doc = "ab".repeat(10_000);
    let capped = BpeTrainingConfig { max_doc_bytes: 10, ..config() };
    let tok_capped = train_byte_level_bpe(std::iter::once(doc.clone()), &capped).expect("trains");
    let tok_full = train_byte_level_bpe(std::iter::once(doc.clone()), &config()).expect("trains");
    let capped_len = tok_capped.encode(&doc).expect("encodes").len();
    let full_len = tok_full.encode(&doc).expect("encodes").len();
    assert!(capped_len > full_len, "capped {capped_len} vs full {full_len}");
}
