//! Tests of `zh_quality` on real text: a LibreOffice help page (`deb:libreoffice-help-zh-cn`,
//! MPL-2.0) and pages of the Common Crawl sample (`data/web/commoncrawl-sample.warc.gz`, as
//! `html_extract` gives them).

use super::*;

const HELP: &str = include_str!("../../fixtures/zh-libreoffice-mailmerge.txt");
/// A hijacked news page padded with `【x】` filler.
const FILLER: &str = include_str!("../../fixtures/zh-cc-filler-spam.txt");
/// A lottery-tip list page: titles without a single sentence.
const LOTTERY: &str = include_str!("../../fixtures/zh-cc-lottery-list.txt");
/// A job board's regional page (kept: legitimate, if thin).
const JOBS: &str = include_str!("../../fixtures/zh-cc-job-board.txt");

fn rules(cfg: ZhQualityConfig) -> ZhQuality {
    ZhQuality::new(cfg).expect("valid config")
}

#[test]
fn removes_site_chrome_lines_and_keeps_the_article() {
    let q = rules(ZhQualityConfig::default());
    let chrome = [
        "打开APP，阅读体验更佳",
        "图源：视觉中国",
        "来源：南方日报",
        "责任编辑：王小明",
        "分享到：微信 微博 QQ空间",
        "登录 | 注册",
        "Copyright © 2020 example.com 版权所有",
        "粤ICP备12345678号",
        "本文由AI生成，仅供参考",
    ];
    let text = format!("{}\n{HELP}\n{}", chrome[..4].join("\n"), chrome[4..].join("\n"));
    let t = q.apply(&text);
    assert_eq!(t.counts.chrome_lines, chrome.len(), "{}", t.text);
    assert_eq!(t.text.trim(), HELP.trim_end_matches('\n').trim());
    assert_eq!(t.dropped, None);
    // A long line that mentions logging in is prose, not chrome; a credit inside a sentence is
    // not anchored at the line start.
    assert!(!q.is_chrome(
        "用户需要先登录系统，然后在设置页面中选择邮件合并向导，再按照提示逐步完成信函的创建。"
    ));
    assert!(!q.is_chrome("他说来源：不明"));
    let own = rules(ZhQualityConfig {
        builtin_chrome_patterns: false,
        chrome_patterns: vec!["^本期编辑".into()],
        ..Default::default()
    });
    assert!(own.is_chrome("本期编辑：李四") && !own.is_chrome("打开APP"));
}

#[test]
fn page_rules_on_real_pages() {
    let q = rules(ZhQualityConfig::default());
    assert_eq!(q.check(HELP), Verdict::Keep);
    assert_eq!(q.apply(JOBS).dropped, None);
    assert_eq!(q.check(FILLER), Verdict::Drop("zh_char_repetition"));
    assert_eq!(q.check(LOTTERY), Verdict::Drop("zh_no_terminal_punct"));
    let english = "The committee published its annual report on Tuesday. It described the policy.";
    assert_eq!(q.check(english), Verdict::Drop("zh_low_han_share"));
    assert_eq!(q.apply("打开APP\n登录").dropped, Some("zh_empty"));
    let no_rep =
        ZhQualityConfig { max_char_repetition: None, max_top_char: None, ..Default::default() };
    // Without the repetition rules, the filler page passes; a two-character chant does not.
    assert_eq!(rules(no_rep.clone()).check(FILLER), Verdict::Keep);
    let chant = "好的，谢谢！".repeat(40);
    assert_eq!(rules(no_rep).check(&chant), Verdict::Drop("zh_low_entropy"));
    // Each rule can be switched off.
    let off = ZhQualityConfig { min_terminal_punct_lines: None, ..Default::default() };
    assert_eq!(rules(off).check(LOTTERY), Verdict::Keep);
}

#[test]
fn terminal_punctuation_and_repetition_measures() {
    for c in ['。', '！', '？', '…', '」', '”', '）', '：', '！', '.'] {
        assert!(is_terminal_punct(c), "{c}");
    }
    assert!(!is_terminal_punct('，') && !is_terminal_punct('字'));
    let chars: Vec<char> = "一二三四五一二三四五".chars().collect();
    let mut grams = Default::default();
    // Five of the ten characters lie in a repeated 5-gram, none in a repeated 6-gram.
    assert!(stats::repetition_exceeds(&chars, 5, 0.49, &mut grams));
    assert!(!stats::repetition_exceeds(&chars, 5, 0.5, &mut grams));
    assert!(!stats::repetition_exceeds(&chars, 6, 0.0, &mut grams));
}

/// Characters inside character `n`-grams that occurred earlier: the rule's plain definition,
/// counted to the end with exact n-gram sets.
fn repeated_chars_reference(chars: &[char], n: usize) -> usize {
    let mut seen = std::collections::HashSet::new();
    let (mut covered, mut until) = (0, 0);
    for (i, gram) in chars.windows(n).enumerate() {
        if !seen.insert(gram) {
            covered += i + n - i.max(until);
            until = i + n;
        }
    }
    covered
}

proptest::proptest! {
    /// The early-stopping, hashed repetition rule decides as the plain definition does.
    #[test]
    fn repetition_rule_equals_its_definition(
        pieces in proptest::collection::vec(
            proptest::sample::select(vec!["一", "二", "三", "四五六", "七八九十", "。", "a"]), 0..200),
        n in 1usize..12,
        max in 0.0f64..1.0,
    ) {
        let chars: Vec<char> = pieces.concat().chars().collect();
        let want = repeated_chars_reference(&chars, n) as f64 / chars.len().max(1) as f64 > max;
        let got = stats::repetition_exceeds(&chars, n, max, &mut Default::default());
        proptest::prop_assert_eq!(got, want);
    }
}

#[test]
fn bad_configs_are_errors() {
    let bad = ZhQualityConfig { min_han_share: Some(1.5), ..Default::default() };
    assert!(ZhQuality::new(bad).is_err());
    assert!(ZhQuality::new(ZhQualityConfig { char_ngram: 0, ..Default::default() }).is_err());
    let missing = ZhQualityConfig {
        chrome_patterns_files: vec!["/nonexistent/patterns.txt".into()],
        ..Default::default()
    };
    let err = ZhQuality::new(missing).expect_err("missing file").to_string();
    assert!(err.contains("/nonexistent/patterns.txt"), "{err}");
}
