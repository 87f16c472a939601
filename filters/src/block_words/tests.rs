//! Tests of `block_words`.

use super::*;

fn default() -> BlockWords {
    BlockWords::new(BlockWordsConfig::default()).expect("shipped lists load")
}

#[test]
fn words_inside_longer_words_are_not_hits() {
    let f = default();
    for text in ["成人教育", "牛奶", "工信处女干事", "他在成人教育学院进修，每天早上喝一杯牛奶。"]
    {
        assert_eq!(f.scan(text), Hits::default(), "{text}");
    }
    // The same terms as words of their own are hits.
    let hits = f.scan("成人的世界。处女座的人说自己还是处女。");
    assert!(hits.terms.contains(&"成人".to_string()), "{hits:?}");
    assert!(hits.terms.contains(&"处女".to_string()), "{hits:?}");
    assert_eq!(f.scan("Scunthorpe United won the cup.").total, 0);
    assert_eq!(f.scan("Free PORN here").terms, vec!["porn".to_string()]);
}
