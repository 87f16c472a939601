//! The Chinese-first stages: `zh_convert` (traditional → simplified, `script` into metadata),
//! `zh_quality` (site-chrome lines and page rules) and `block_words` (block lists matched on
//! words), adapting [`tokenmill_filters::zh_convert`], [`tokenmill_filters::zh_quality`] and
//! [`tokenmill_filters::block_words`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use tokenmill_filters::block_words::{BlockWords, BlockWordsConfig, BuiltinList};
use tokenmill_filters::zh_convert::{Conversion, ZhConvert, ZhConvertConfig};
use tokenmill_filters::zh_quality::{ZhQuality, ZhQualityConfig};

use super::text_spec::filter_spec;
use super::{BuildOperator, Filter, Operator, Outcome, Transform, Verdict};
use crate::document::Document;

/// Metadata field `zh_convert` writes the document's script to: `simplified`, `traditional`,
/// `mixed` or `none` (no Han character), as it was before conversion.
pub const SCRIPT_FIELD: &str = "script";

filter_spec! {
    /// `type = "zh_convert"`: records the script (`script` metadata field) and converts
    /// traditional and mixed documents to simplified characters (OpenCC tables; a transform
    /// that never drops).
    ZhConvertSpec => ZhConvertConfig {
        /// Convert traditional and mixed documents (false: only record the script; default true).
        to_simplified: bool,
        /// OpenCC conversion: `t2s` (default), `tw2s`, `tw2sp` (Taiwan vocabulary too), `hk2s`.
        conversion: Conversion,
        /// Han characters looked at to judge the script (characters; default 4096).
        detect_chars: usize,
    }
}

filter_spec! {
    /// `type = "zh_quality"`: removes site-chrome lines of Chinese pages, then drops pages with
    /// `zh_empty`, `zh_low_han_share`, `zh_no_terminal_punct`, `zh_char_repetition` or
    /// `zh_low_entropy` (a transform; counts `chrome_lines`).
    ZhQualitySpec => ZhQualityConfig {
        /// Remove lines matching the shipped chrome patterns (default true).
        builtin_chrome_patterns: bool,
        /// Extra chrome patterns (`^` anchors at the line start).
        chrome_patterns: Vec<String>,
        /// Files of extra chrome patterns, one per line (`#` comments).
        chrome_patterns_files: Vec<PathBuf>,
        /// Longer lines are never removed as chrome (characters; default 40).
        max_chrome_line_chars: usize,
        /// Minimum share of Han characters (ratio of non-space characters; default 0.3).
        min_han_share: Option<f64>,
        /// Minimum share of lines ending in terminal punctuation (ratio of lines; default 0.05).
        min_terminal_punct_lines: Option<f64>,
        /// Length of the character n-grams of the repetition rule (characters; default 10).
        char_ngram: usize,
        /// Maximum share of characters in repeated character n-grams (ratio; default 0.6).
        max_char_repetition: Option<f64>,
        /// Maximum share of the most frequent character (ratio; default 0.2).
        max_top_char: Option<f64>,
        /// Minimum Shannon entropy of the characters (bits; default 5.0).
        min_char_entropy: Option<f64>,
    }
}

filter_spec! {
    /// `type = "block_words"`: drops documents using several block-listed words
    /// (`blocked_words`), matched on jieba words for Chinese and whole words otherwise.
    BlockWordsSpec => BlockWordsConfig {
        /// Shipped lists: `ldnoobw_zh`, `ldnoobw_en`, `zh_spam` (default all three).
        lists: Vec<BuiltinList>,
        /// Extra terms.
        words: Vec<String>,
        /// Files of extra terms, one per line (`#` comments).
        words_files: Vec<PathBuf>,
        /// Distinct listed terms from which a document is dropped (terms; default 3; 0 disables).
        min_distinct: usize,
        /// Hits per 1,000 characters from which a document with two or more hits is dropped
        /// (hits; default 5.0; 0 disables).
        max_hits_per_1000_chars: f64,
    }
}

/// `zh_convert` as a stage.
#[derive(Debug)]
pub struct ZhConvertStage(ZhConvert);

impl Transform for ZhConvertStage {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let (script, text) = self.0.apply(&doc.text);
        let converted = match text {
            std::borrow::Cow::Owned(t) => Some(t),
            std::borrow::Cow::Borrowed(_) => None,
        };
        let mut out = Outcome::keep();
        out.count("converted", usize::from(converted.is_some()));
        if let Some(t) = converted {
            doc.text = t;
        }
        doc.metadata.insert(SCRIPT_FIELD.into(), Value::from(script.label()));
        out
    }
}

/// `zh_quality` as a stage.
#[derive(Debug)]
pub struct ZhQualityStage(ZhQuality);

impl Transform for ZhQualityStage {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let t = self.0.apply(&doc.text);
        let mut out = Outcome { dropped: t.dropped, counts: Vec::new() };
        out.count("chrome_lines", t.counts.chrome_lines);
        if let (std::borrow::Cow::Owned(text), None) = (t.text, t.dropped) {
            doc.text = text;
        }
        out
    }
}

/// `block_words` as a stage.
#[derive(Debug)]
pub struct BlockWordsStage(BlockWords);

impl Filter for BlockWordsStage {
    fn check(&self, doc: &Document) -> Verdict {
        self.0.check(&doc.text)
    }
}

impl BuildOperator for ZhConvertSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        let stage = ZhConvertStage(ZhConvert::new(self.config())?);
        Ok(Some(Operator::Transform(Box::new(stage))))
    }
}

impl BuildOperator for ZhQualitySpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        let stage = ZhQualityStage(ZhQuality::new(self.config())?);
        Ok(Some(Operator::Transform(Box::new(stage))))
    }
}

impl BuildOperator for BlockWordsSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        Ok(Some(Operator::Filter(Box::new(BlockWordsStage(BlockWords::new(self.config())?)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(toml: &str) -> Operator {
        let full = format!("name = \"x\"\ninputs = [\"in\"]\n{toml}");
        let spec: ZhQualitySpec = toml::from_str(&full).expect("spec");
        spec.operator().expect("builds").expect("per batch")
    }

    #[test]
    fn stages_rewrite_and_record() -> anyhow::Result<()> {
        let spec: ZhConvertSpec = toml::from_str("name = \"c\"\ninputs = [\"in\"]")?;
        let Some(Operator::Transform(convert)) = spec.operator()? else { panic!("a transform") };
        let mut doc = Document::new("t", "這是一個關於電腦的說明。");
        assert_eq!(convert.apply(&mut doc).counts, vec![("converted", 1)]);
        assert_eq!(doc.text, "这是一个关于电脑的说明。");
        assert_eq!(doc.metadata[SCRIPT_FIELD], "traditional");

        let Operator::Transform(q) = build("min_terminal_punct_lines = 0.5") else {
            panic!("a transform")
        };
        let mut doc = Document::new(
            "q",
            "打开APP，阅读体验更佳\n记者走访了多个地铁站，了解早高峰的客流情况和市民的出行方式。\n责任编辑：王小明",
        );
        assert_eq!(q.apply(&mut doc), Outcome { dropped: None, counts: vec![("chrome_lines", 2)] });
        assert_eq!(doc.text, "记者走访了多个地铁站，了解早高峰的客流情况和市民的出行方式。");

        let spec: BlockWordsSpec = toml::from_str(
            "name = \"b\"\ninputs = [\"in\"]\nwords = [\"赌球\"]\nmin_distinct = 1",
        )?;
        let Some(Operator::Filter(block)) = spec.operator()? else { panic!("a filter") };
        assert_eq!(
            block.check(&Document::new("b", "他们在网上赌球。")),
            Verdict::Drop("blocked_words")
        );
        assert_eq!(block.check(&Document::new("b", "成人教育和牛奶。")), Verdict::Keep);
        assert!(toml::from_str::<BlockWordsSpec>("name = \"b\"\ninputs = []\nlist = []").is_err());
        Ok(())
    }
}
