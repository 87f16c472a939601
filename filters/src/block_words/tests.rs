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

#[test]
fn thresholds_on_real_pages() {
    let f = default();
    // A lottery-tip page of the Common Crawl sample: many distinct gambling terms.
    let lottery = include_str!("../../fixtures/zh-cc-lottery-list.txt");
    let hits = f.scan(lottery);
    assert!(hits.terms.len() >= 3 && hits.terms.contains(&"特马".to_string()), "{hits:?}");
    assert_eq!(f.check(lottery), Verdict::Drop("blocked_words"));
    // A job board and a help page: nothing listed.
    for clean in [
        include_str!("../../fixtures/zh-cc-job-board.txt"),
        include_str!("../../fixtures/zh-libreoffice-mailmerge.txt"),
    ] {
        assert_eq!(f.scan(clean), Hits::default());
        assert_eq!(f.check(clean), Verdict::Keep);
    }
    // One term in a long report stays under both thresholds.
    let report =
        format!("警方破获一起网络赌博案件。{}", "记者了解到，案件仍在进一步调查之中。".repeat(20));
    assert_eq!(f.scan(&report).total, 1);
    assert_eq!(f.check(&report), Verdict::Keep);
    let strict = BlockWords::new(BlockWordsConfig { min_distinct: 1, ..Default::default() });
    assert_eq!(strict.expect("loads").check(&report), Verdict::Drop("blocked_words"));
    let missing =
        BlockWordsConfig { words_files: vec!["/nonexistent/terms".into()], ..Default::default() };
    let err = BlockWords::new(missing).expect_err("missing file").to_string();
    assert!(err.contains("/nonexistent/terms"), "{err}");
}
