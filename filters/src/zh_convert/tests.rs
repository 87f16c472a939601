//! Tests of `zh_convert`.

use proptest::prelude::*;

use super::table::{S2T_CHANGES, T2S_CHANGES};
use super::*;

fn converter() -> &'static ZhConvert {
    static CONVERT: std::sync::LazyLock<ZhConvert> = std::sync::LazyLock::new(|| {
        ZhConvert::new(ZhConvertConfig::default()).expect("tables load")
    });
    &CONVERT
}

#[test]
fn detects_and_converts() {
    let c = converter();
    let (script, text) = c.apply("這是一個關於電腦軟體的說明。");
    assert_eq!(script, ZhScript::Traditional);
    assert_eq!(text, "这是一个关于电脑软体的说明。");
    let (script, text) = c.apply("这是一个关于电脑软件的说明。");
    assert_eq!(script, ZhScript::Simplified);
    assert!(matches!(text, Cow::Borrowed(_)));
    assert_eq!(c.detect("Hello"), ZhScript::None);
}

/// The generated table says, for every Han code point, what OpenCC does to it alone.
#[test]
fn table_matches_opencc_on_every_han_character() {
    let c = converter();
    let table = ScriptTable::shared();
    let mut flagged = [0usize; 2];
    for c_ in (0x3400..=0x3134F_u32).filter_map(char::from_u32).filter(|c| is_han(*c)) {
        let alone = c_.to_string();
        let flags = table.flags(c_);
        assert_eq!(table.t2s(&alone), c.t2s.convert(&alone), "U+{:04X}", c_ as u32);
        for (i, (opencc, flag)) in [(&c.t2s, T2S_CHANGES), (&c.s2t, S2T_CHANGES)].iter().enumerate()
        {
            let changes = opencc.convert(&alone) != alone;
            assert_eq!(changes, flags & flag != 0, "{c_} (U+{:04X}), flag {flag}", c_ as u32);
            flagged[i] += usize::from(changes);
        }
    }
    assert!(flagged[0] > 4000 && flagged[1] > 3800, "{flagged:?}");
}

/// Every phrase of the table converts as OpenCC converts it (and so does the table's copy).
#[test]
fn t2s_phrases_match_opencc() {
    let c = converter();
    let table = ScriptTable::shared();
    assert!(table.t2s_phrases.len() > 250 && table.t2s_phrase_chars <= 32);
    for (key, value) in &table.t2s_phrases {
        assert_eq!(c.t2s.convert(key), *value, "{key}");
        assert_eq!(table.t2s(key), *value, "{key}");
    }
    assert_eq!(table.t2s("乾隆年間，天氣乾燥。"), "乾隆年间，天气干燥。");
    assert!(matches!(table.t2s("简体中文 and ASCII"), Cow::Borrowed(_)));
}

/// Phrases that treat a character otherwise than alone: the table counts `t2s`'s exactly and
/// defers to OpenCC where an `s2t` phrase could change the decision.
#[test]
fn phrases_are_judged_as_opencc_judges_them() {
    let c = converter();
    // 乾 alone is traditional-only (乾 -> 干), in 乾隆 OpenCC keeps it: no telling character.
    assert_eq!(c.detect_by_table("乾隆皇帝"), Some(ZhScript::Simplified));
    assert_eq!(c.detect_with_opencc("乾隆皇帝"), ZhScript::Simplified);
    // 后 alone is simplified-only (后 -> 後), in 皇后 OpenCC keeps it: two traditional-only
    // characters and, if 后 counted, one simplified-only (mixed); OpenCC says traditional.
    assert_eq!(c.detect_by_table("這個皇后"), None);
    assert_eq!(c.detect("這個皇后"), ZhScript::Traditional);
    assert_eq!(c.detect_with_opencc("這個皇后"), ZhScript::Traditional);
    // With twenty more traditional-only characters, 后 cannot change the decision.
    let longer = format!("這個皇后{}", "這樣說過。".repeat(5));
    assert_eq!(c.detect_by_table(&longer), Some(ZhScript::Traditional));
}

/// Poems of the npm `chinese-poetry` package (MIT) from the shared corpus slice: traditional,
/// mixed and simplified ones, and ones only OpenCC's `s2t` phrases decide.
const POEMS: &str = include_str!("../../fixtures/zh-poetry-scripts.jsonl");

#[test]
fn real_poems_are_judged_and_converted_as_opencc_does() {
    let c = converter();
    let (mut scripts, mut undecided) = (std::collections::BTreeSet::new(), 0);
    for line in POEMS.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
        let text = doc["text"].as_str().expect("text field");
        let script = c.detect_with_opencc(text);
        assert_eq!(c.detect(text), script, "{text}");
        assert_eq!(c.convert(text), c.convert_with_opencc(text), "{text}");
        scripts.insert(script.label());
        undecided += usize::from(c.detect_by_table(text).is_none());
    }
    assert_eq!(scripts.len(), 3, "{scripts:?}");
    assert!(undecided >= 3, "{undecided} poems need OpenCC");
}

/// Pieces to draw texts from: traditional-only, simplified-only and shared characters, and
/// phrases of OpenCC's dictionaries that treat a character otherwise than alone.
const PIECES: &[&str] = &[
    "乾",
    "隆",
    "乾隆",
    "乾燥",
    "著",
    "著名",
    "瞭",
    "瞭望",
    "瞭解",
    "藉口",
    "狼藉",
    "於",
    "沈",
    "後",
    "後來",
    "皇后",
    "干涉",
    "干",
    "公里",
    "里",
    "面条",
    "面",
    "只",
    "只有",
    "台风",
    "系",
    "什么",
    "麼",
    "這",
    "国",
    "國",
    "说",
    "說",
    "的",
    "人",
    "天",
    "头发",
    "發",
    "发",
    "万俟",
    "一目瞭然",
    "乾乾淨淨",
    "么麼",
    "乾元",
    "。",
    " ",
    "A",
    "é",
    "𠮷",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Whatever the mix of scripts and phrases, the table-based judgement is OpenCC's.
    #[test]
    fn detect_equals_opencc(pieces in prop::collection::vec(prop::sample::select(PIECES), 1..40)) {
        let c = converter();
        let text = pieces.concat();
        prop_assert_eq!(c.detect(&text), c.detect_with_opencc(&text), "{}", text);
        prop_assert_eq!(c.convert(&text), c.convert_with_opencc(&text), "{}", text);
    }
}
