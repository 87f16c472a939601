//! The word-based rules on a real Chinese document under each word mode: `auto` segments it
//! with jieba, which every rule then counts.

use crate::Verdict;
use crate::fineweb::{FineWebQuality, FineWebQualityConfig};
use crate::gopher_quality::{GopherQuality, GopherQualityConfig};
use crate::gopher_repetition::{GopherRepetition, GopherRepetitionConfig};
use crate::words::{Script, Segmenter, WordMode, Words, jieba_lcut};

/// A LibreOffice help page in simplified Chinese (`deb:libreoffice-help-zh-cn`, MPL-2.0), from
/// the shared corpus slice.
const DOC: &str = include_str!("../fixtures/zh-libreoffice-mailmerge.txt");

#[test]
fn rules_count_jieba_words_on_chinese() {
    assert_eq!(WordMode::Auto.segmenter(DOC), (Script::Cjk, Segmenter::Jieba));
    let words = Words::new(DOC, WordMode::Auto);
    let non_space = jieba_lcut(DOC).into_iter().filter(|w| !w.trim().is_empty()).count();
    assert_eq!(words.tokens.len(), non_space);
    let chars = Words::new(DOC, WordMode::English);
    let gq = |mode| {
        GopherQuality::new(GopherQualityConfig { words: mode, ..Default::default() })
            .expect("defaults are valid")
            .check(DOC)
    };
    let gr = |mode| {
        GopherRepetition::new(GopherRepetitionConfig { words: mode, ..Default::default() })
            .expect("defaults are valid")
            .check(DOC)
    };
    // The page repeats its headings ("邮件合并向导 - ..."), which FineWeb's duplicate-character
    // rule rightly catches; without it, the word-based `list_ratio` (newlines per word) passes
    // on jieba words.
    let fw = |mode, char_duplicates_ratio| {
        FineWebQuality::new(FineWebQualityConfig {
            words: mode,
            char_duplicates_ratio,
            ..Default::default()
        })
        .expect("defaults are valid")
        .check(DOC)
    };
    assert_eq!(words.tokens.len(), 290);
    assert_eq!(chars.tokens.len(), 83);
    assert_eq!(gq(WordMode::Auto), Verdict::Keep);
    assert_eq!(gq(WordMode::Jieba), Verdict::Keep);
    assert_eq!(gq(WordMode::English), Verdict::Drop("gopher_below_alpha_threshold"));
    assert_eq!(gr(WordMode::Auto), Verdict::Keep);
    assert_eq!(fw(WordMode::Auto, 0.01), Verdict::Drop("char_dup_ratio"));
    assert_eq!(fw(WordMode::Auto, 1.0), Verdict::Keep);
    assert_eq!(fw(WordMode::Jieba, 1.0), Verdict::Keep);
    assert_eq!(fw(WordMode::English, 1.0), Verdict::Drop("short_line_ratio"));
}
