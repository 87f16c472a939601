//! Unit tests of the parent module.

use super::*;

#[test]
fn byte_chars_match_gpt2() {
    let chars = byte_chars();
    assert_eq!(chars[usize::from(b' ')], 'Ġ');
    assert_eq!(chars[usize::from(b'\n')], 'Ċ');
    assert_eq!(chars[usize::from(b'a')], 'a');
    assert_eq!(chars[0], 'Ā');
    assert_eq!(chars[0xAD], 'Ń');
    let distinct: std::collections::HashSet<char> = chars.into_iter().collect();
    assert_eq!(distinct.len(), 256);
}

#[test]
fn shipped_tokenizers_have_monotone_merges() {
    for name in ["tests/fixtures/tokenizers/gpt2.json", "tokenizers/tokenmill-16k.json"] {
        let path = format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"));
        let inner = HfTokenizer::from_file(&path).expect("loads");
        let json = inner.to_string(false).expect("serializes");
        let fast = FastBpe::new(&inner, &json).expect("eligible");
        assert!(fast.merges.is_monotone(), "{name}: long pieces take the bucket path");
    }
}

#[test]
fn tables_rebuild_the_same_encoder() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenizers/tokenmill-16k.json");
    let inner = HfTokenizer::from_file(path).expect("loads");
    let fast =
        FastBpe::new(&inner, &inner.to_string(false).expect("serializes")).expect("eligible");
    let tables = fast.tables();
    assert_eq!(tables.merges.len(), 16_384 - 256 - tables.added.len());
    assert!(tables.merges.iter().enumerate().all(|(rank, merge)| merge[2] as usize == rank));
    let rebuilt = FastBpe::from_tables(tables.clone()).expect("rebuilds");
    assert_eq!(rebuilt.tables(), tables);
    assert!(rebuilt.merges.is_monotone());
    assert_ne!(
        rebuilt.cache_owner, fast.cache_owner,
        "the rebuilt encoder has its own piece cache entries"
    );
    let text = "Hello world<|endoftext|> 我们 🦀🦀 naïve\n\n    x".repeat(20);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    fast.encode_into(&text, &mut want);
    rebuilt.encode_into(&text, &mut got);
    assert_eq!(got, want);
}
