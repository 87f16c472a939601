//! Pre-tokenizer stages against the reference's `Split` pre-tokenizer, piece for piece.

use std::sync::{Arc, LazyLock, Mutex};

use proptest::prelude::*;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, SplitDelimiterBehavior,
};

use super::*;
use crate::patterns::{DEEPSEEK_V3, GPT2, O200K, TEKKEN};

/// Chars that exercise every branch and class boundary of the patterns above.
const ALPHABET: &[&str] = &[
    " ", " ", " ", "\t", "\n", "\r", "\r\n", "\u{3000}", "\u{a0}", "\u{85}", "\u{200b}", "a", "Z",
    "é", "ſ", "'", "s", "S", "t", "re", "VE", "ll", "M", "d", "1", "22", "٣", "½", "Ⅻ", "中",
    "文字", "の", "カ", "한", "🦀", "\u{301}", "\u{345}", "!", ".", "/", "-", "_", "\"", "Σ", "ǅ",
    "ʰ", "Ab", "ﬁ", "\u{ff01}", "。", "…", "$", "+", "©", "\u{0}",
];

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(ALPHABET), 0..40).prop_map(|parts| parts.concat()),
        1 => any::<String>(),
    ]
}

/// The reference's pieces of `text` for one `Split` pattern (`Isolated`, not inverted).
fn reference_pieces(pattern: &str, text: &str) -> Vec<String> {
    // Compiling a pattern costs far more than splitting a short text: once per pattern.
    static SPLITS: Mutex<Vec<(String, Arc<Split>)>> = Mutex::new(Vec::new());
    let split = {
        let mut splits = SPLITS.lock().expect("not poisoned");
        match splits.iter().find(|(p, _)| p == pattern) {
            Some((_, split)) => Arc::clone(split),
            None => {
                let split = Split::new(
                    SplitPattern::Regex(pattern.into()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .expect("compiles");
                splits.push((pattern.to_owned(), Arc::new(split)));
                Arc::clone(&splits[splits.len() - 1].1)
            }
        }
    };
    let mut pre = PreTokenizedString::from(text);
    split.pre_tokenize(&mut pre).expect("splits");
    pre.get_splits(OffsetReferential::Original, OffsetType::Byte)
        .into_iter()
        .map(|(piece, _, _)| piece.to_owned())
        .collect()
}

fn reference_sequence(patterns: &[&str], text: &str) -> Vec<String> {
    let mut pieces = vec![text.to_owned()];
    for pattern in patterns {
        pieces = pieces.iter().flat_map(|piece| reference_pieces(pattern, piece)).collect();
    }
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

fn dfa(pattern: &str) -> Vec<Stage> {
    vec![Stage::Regex(RegexSplit::new(pattern).unwrap_or_else(|err| panic!("{err}")))]
}

/// The stages under test, compiled once.
static DFAS: LazyLock<Vec<(&str, Vec<Stage>)>> = LazyLock::new(|| {
    [CL100K, QWEN2, O200K, TEKKEN, GPT2]
        .into_iter()
        .map(|pattern| (pattern, dfa(pattern)))
        .collect()
});
static DEEPSEEK: LazyLock<Vec<Stage>> = LazyLock::new(|| {
    DEEPSEEK_V3.iter().map(|p| Stage::Regex(RegexSplit::new(p).expect("compiles"))).collect()
});

fn compiled(pattern: &str) -> &'static [Stage] {
    &DFAS.iter().find(|(p, _)| *p == pattern).expect("a pattern under test").1
}

#[test]
fn the_cl100k_family_is_recognized_and_other_patterns_run_on_the_dfa() {
    assert!(matches!(Stage::compile(&StageSpec::Split(CL100K.into())), Ok(Stage::Cl100k(3))));
    assert!(matches!(Stage::compile(&StageSpec::Split(QWEN2.into())), Ok(Stage::Cl100k(1))));
    for pattern in [O200K, TEKKEN, GPT2, DEEPSEEK_V3[0], DEEPSEEK_V3[1], DEEPSEEK_V3[2]] {
        assert!(
            matches!(Stage::compile(&StageSpec::Split(pattern.into())), Ok(Stage::Regex(_))),
            "{pattern}"
        );
    }
}

#[test]
fn patterns_the_dfa_cannot_run_exactly_are_refused_with_a_reason() {
    for (pattern, reason) in [
        (r"\w+(?=\s)", "syntax"),
        (r"(a)\1", "syntax"),
        (r"a|\S+(?!\S)", "look-around"),
        (r"(?:\s+(?!\S))|x", "look-around"),
        (r"\d*", "empty"),
        (r"a|b?", "empty"),
        (r"(?i)a|b", "flags"),
    ] {
        let err = RegexSplit::new(pattern).expect_err(pattern);
        assert!(err.contains(reason), "{pattern}: {err}");
        assert!(err.contains(pattern), "the reason names the pattern: {err}");
    }
}

#[test]
fn contractions_fold_case_as_the_regex_does() {
    // `(?i:X)` for each letter of the contractions, per `regex-syntax` (the reference's tables).
    for letter in ["s", "t", "m", "d", "r", "e", "v", "l"] {
        let hir = regex_syntax::parse(&format!("(?i:{letter})")).expect("parses");
        let regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) =
            hir.kind()
        else {
            panic!("{letter}: a class")
        };
        let folded: Vec<char> = class.ranges().iter().flat_map(|r| r.start()..=r.end()).collect();
        let mut want = vec![
            letter.chars().next().expect("a char"),
            letter.to_ascii_uppercase().chars().next().expect("a char"),
        ];
        if letter == "s" {
            want.push('ſ');
        }
        want.sort_unstable();
        assert_eq!(folded, want, "{letter}");
    }
    for (text, len) in [
        ("s", Some(1)),
        ("ſx", Some(2)),
        ("Re", Some(2)),
        ("rE", Some(2)),
        ("LL", Some(2)),
        ("l", None),
        ("x", None),
        ("", None),
    ] {
        assert_eq!(contraction_len(text.as_bytes()), len, "{text:?}");
    }
}

#[test]
fn tricky_cl100k_cases() {
    let cases: [(&str, &[&str]); 8] = [
        ("Hello world", &["Hello", " world"]),
        ("it's THEY'LL I'M", &["it", "'s", " THEY", "'LL", " I", "'M"]),
        ("12345 x", &["123", "45", " x"]),
        ("a  \n\n  b", &["a", "  \n\n", " ", " b"]),
        ("\t(x)\n", &["\t", "(x", ")\n"]),
        ("中文，测试。\r\n", &["中文", "，测试", "。\r\n"]),
        ("  ", &["  "]),
        ("x\u{3000}y", &["x", "\u{3000}y"]),
    ];
    for (text, want) in cases {
        assert_eq!(pieces(&[Stage::Cl100k(3)], text), want, "{text:?}");
        assert_eq!(reference_pieces(CL100K, text), want, "{text:?} (reference)");
    }
}

#[test]
fn a_long_run_without_spaces_is_one_piece_in_linear_time() {
    let text = "中".repeat(1 << 20);
    assert_eq!(pieces(&[Stage::Cl100k(1)], &text).len(), 1);
    assert_eq!(pieces(&dfa(O200K), &text).len(), 1);
    let spaces = " ".repeat(1 << 20) + "x";
    assert_eq!(pieces(&[Stage::Cl100k(3)], &spaces).len(), 2);
    assert_eq!(pieces(&dfa(CL100K), &spaces).len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn hand_written_cl100k_and_qwen2_match_the_reference(text in text_strategy()) {
        for (pattern, digits) in [(CL100K, 3), (QWEN2, 1)] {
            let want = reference_pieces(pattern, &text);
            prop_assert_eq!(&pieces(&[Stage::Cl100k(digits)], &text), &want, "hand-written {}", pattern);
            prop_assert_eq!(&pieces(compiled(pattern), &text), &want, "dfa {}", pattern);
        }
    }

    #[test]
    fn the_dfa_matches_the_reference(text in text_strategy()) {
        for pattern in [O200K, TEKKEN, GPT2] {
            prop_assert_eq!(pieces(compiled(pattern), &text), reference_pieces(pattern, &text), "{}", pattern);
        }
        prop_assert_eq!(pieces(&DEEPSEEK, &text), reference_sequence(&DEEPSEEK_V3, &text));
    }

    #[test]
    fn the_hand_written_gpt2_stage_matches_its_regex(text in text_strategy()) {
        prop_assert_eq!(pieces(&[Stage::Gpt2], &text), reference_pieces(GPT2, &text));
    }
}
