//! Unit tests of the parent module.

use super::*;

#[test]
fn words_split_on_fasttext_separators() {
    let w: Vec<&str> = words(" a\tbé\n\r\u{b}c\u{c}d\0e\u{a0}f  ").collect();
    assert_eq!(w, ["a", "bé", "c", "d", "e\u{a0}f"]);
    assert_eq!(words("").count(), 0);
}

#[test]
fn cached_word_sums_change_nothing() -> anyhow::Result<()> {
    let m = FastText::load(Path::new(crate::LID176_FIXTURE))?;
    let long = "x".repeat(OOV_CACHE_MAX_BYTES + 5);
    let line = format!(
        "Zorblatt quxified the flurbs, zorblatt again; {long} {long} naïve Übergrößenträger"
    );
    let first = m.predict(&line, 3); // computes and caches the unknown words
    assert_eq!(m.predict(&line, 3), first, "served from the cache");
    // Fill the cache past its bound: it is cleared, and the words are computed again.
    for chunk in (0..OOV_CACHE_WORDS + 1000).collect::<Vec<_>>().chunks(5000) {
        let words: Vec<String> = chunk.iter().map(|i| format!("w{i}q")).collect();
        m.predict(&words.join(" "), 1);
    }
    assert_eq!(m.predict(&line, 3), first, "after the cache was cleared");
    // Another model on the same thread does not see this one's sums.
    let other = FastText::load(Path::new(crate::LID176_FIXTURE))?;
    assert_eq!(other.predict(&line, 3), first);
    Ok(())
}

#[test]
fn huffman_tree_shape() {
    // Three labels: the two rarest merge first; the merged node (6) is then taken before the leaf (10).
    let t = build_tree(&[10, 5, 1]);
    assert_eq!(t, vec![(2, 1), (3, 0)]);
}

#[test]
fn lid176() -> anyhow::Result<()> {
    let path = Path::new(crate::LID176_FIXTURE);
    let m = FastText::load(path)?;
    assert_eq!(m.labels().len(), 176);
    let top = m.predict("The quick brown fox jumps over the lazy dog", 1);
    assert_eq!(top[0].0, "__label__en");
    assert_eq!(
        m.predict("Der schnelle braune Fuchs springt über den faulen Hund", 1)[0].0,
        "__label__de"
    );
    assert_eq!(m.predict("我们今天在公园里散步", 1)[0].0, "__label__zh");
    Ok(())
}
