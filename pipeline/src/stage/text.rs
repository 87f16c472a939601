//! The text filters of [`tokenmill_filters`] as stages: `normalize`, `c4_lines`, `c4_quality`,
//! `gopher_quality`, `gopher_repetition`, `fineweb_quality`, `language`, `pii`, `url_filter`.
//!
//! The filters are pure functions of a `&str`; this module only maps them onto documents:
//! checks become [`Filter`]s, rewrites become [`Transform`]s whose counters land in the node's
//! `transformed` statistics. Drop labels are the filters' own (`gopher_short_doc`,
//! `dup_line_frac`, `too_few_sentences`, `unwanted_language`, ...), all `&'static str`.

use std::borrow::Cow;

use serde_json::Value;

use super::text_spec::{FineWebQualitySpec, GopherQualitySpec, GopherRepetitionSpec, Preset};
use super::{Filter, Outcome, Transform, Verdict};
use crate::document::Document;
use tokenmill_filters::c4::C4LineCleaner;
use tokenmill_filters::fineweb::FineWebQuality;
use tokenmill_filters::fineweb2::{Fineweb2Language, PerLanguage};
use tokenmill_filters::gopher_quality::GopherQuality;
use tokenmill_filters::gopher_repetition::GopherRepetition;
use tokenmill_filters::language::LanguageFilter;
use tokenmill_filters::normalize::Normalize;
use tokenmill_filters::pii::Pii;
use tokenmill_filters::url_filter::UrlFilter;

/// Metadata field the `language` stage writes the best guess to (ISO 639-1 where one exists;
/// `und` when the identifier has no guess, e.g. for text without letters).
pub const LANGUAGE_FIELD: &str = "language";
/// Metadata field the `language` stage writes the best guess's score to (0..1, 4 decimals).
pub const LANGUAGE_SCORE_FIELD: &str = "language_score";

// The word-based filters take the document's shared word split (see `Document::words`).

impl Filter for GopherQuality {
    fn check(&self, doc: &Document) -> Verdict {
        self.check_words(&doc.text, &doc.words(self.word_mode()))
    }
}

impl Filter for GopherRepetition {
    fn check(&self, doc: &Document) -> Verdict {
        self.check_with(&doc.text, || doc.words(self.word_mode()))
    }
}

impl Filter for FineWebQuality {
    fn check(&self, doc: &Document) -> Verdict {
        let mode = self.word_mode();
        self.check_with(&doc.text, doc.script(mode), || doc.word_count(mode))
    }
}

/// `c4_quality`: C4's document-level decision; the text is left as it is.
#[derive(Debug, Clone)]
pub struct C4Quality(pub C4LineCleaner);

impl Filter for C4Quality {
    fn check(&self, doc: &Document) -> Verdict {
        self.0.check_in(&doc.text, doc.script(self.0.word_mode()))
    }
}

/// `url_filter`: the block lists applied to the document's `url` metadata field.
#[derive(Debug, Clone)]
pub struct UrlField(pub UrlFilter);

impl Filter for UrlField {
    fn check(&self, doc: &Document) -> Verdict {
        self.0.check(doc.metadata.get("url").and_then(Value::as_str))
    }
}

/// A filter chosen per document by its `language` metadata: `preset = "fineweb2"` on
/// `gopher_quality`, `gopher_repetition` and `fineweb_quality`. Counts the documents judged by
/// a language's configuration (`fineweb2_configured`) and by the stage's options
/// (`fineweb2_fallback`) in the node's `transformed` statistics.
#[derive(Debug)]
pub struct ByLanguage<F>(pub PerLanguage<F>);

impl<F: Filter> Transform for ByLanguage<F> {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let picked = self.0.select(doc.metadata.get(LANGUAGE_FIELD).and_then(Value::as_str));
        let mut out = match picked.filter.check(doc) {
            Verdict::Keep => Outcome::keep(),
            Verdict::Drop(rule) => Outcome::drop(rule),
        };
        let counter =
            if picked.code.is_some() { "fineweb2_configured" } else { "fineweb2_fallback" };
        out.count(counter, 1);
        out
    }
}

/// The operator of a filter stage with a `preset`: the filter built from the stage's options
/// (`plain`), or one per configured language made by `make` with `plain` as the fallback.
fn with_preset<F: Filter + 'static>(
    preset: Preset,
    plain: F,
    make: impl FnMut(&Fineweb2Language) -> tokenmill_filters::Result<F>,
) -> anyhow::Result<Option<super::Operator>> {
    Ok(Some(match preset {
        Preset::None => super::Operator::Filter(Box::new(plain)),
        Preset::Fineweb2 => {
            super::Operator::Transform(Box::new(ByLanguage(PerLanguage::new(plain, make)?)))
        }
    }))
}

impl super::BuildOperator for GopherQualitySpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        let plain = GopherQuality::new(self.config())?;
        with_preset(self.preset, plain, |l| GopherQuality::new(l.gopher_quality()))
    }
}

impl super::BuildOperator for GopherRepetitionSpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        let plain = GopherRepetition::new(self.config())?;
        with_preset(self.preset, plain, |l| GopherRepetition::new(l.gopher_repetition()))
    }
}

impl super::BuildOperator for FineWebQualitySpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        let plain = FineWebQuality::new(self.config())?;
        with_preset(self.preset, plain, |l| FineWebQuality::new(l.fineweb_quality()))
    }
}

/// Replaces the text of a kept document when the transform changed it (`Cow::Owned`); a
/// dropped one keeps its original text, so that a `rejected` sink shows what was judged.
fn rewrite(doc: &mut Document, text: Option<String>, dropped: Option<&'static str>) {
    if let (Some(text), None) = (text, dropped) {
        doc.text = text;
    }
}

/// The new text of a transform, if it made one.
fn changed(text: Cow<'_, str>) -> Option<String> {
    match text {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    }
}

impl Transform for Normalize {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let t = Normalize::apply(self, &doc.text);
        let mut out = Outcome { dropped: t.dropped, counts: Vec::new() };
        out.count("unicode_changed", usize::from(t.counts.unicode_changed));
        out.count("control_removed", t.counts.control_removed);
        out.count("line_endings", t.counts.line_endings);
        out.count("whitespace_bytes", t.counts.whitespace_bytes);
        rewrite(doc, changed(t.text), t.dropped);
        out
    }
}

impl Transform for C4LineCleaner {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let t = C4LineCleaner::apply(self, &doc.text);
        let mut out = Outcome { dropped: t.dropped, counts: Vec::new() };
        if t.dropped.is_none() {
            let c = &t.counts;
            out.count("lines_removed", c.lines - c.kept);
            out.count("lines_too_long_word", c.too_long_word);
            out.count("lines_no_terminal_punct", c.no_terminal_punct);
            out.count("lines_too_few_words", c.too_few_words);
            out.count("lines_javascript", c.javascript);
            out.count("lines_policy", c.policy);
        }
        rewrite(doc, changed(t.text), t.dropped);
        out
    }
}

impl Transform for Pii {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let t = Pii::apply(self, &doc.text);
        let mut out = Outcome::keep();
        out.count("emails", t.counts.emails);
        out.count("ipv4", t.counts.ipv4);
        out.count("ipv6", t.counts.ipv6);
        out.count("cn_mobiles", t.counts.cn_mobiles);
        out.count("cn_resident_ids", t.counts.cn_resident_ids);
        out.count("bank_cards", t.counts.bank_cards);
        out.count("qq", t.counts.qq);
        out.count("wechat", t.counts.wechat);
        if let Some(text) = changed(t.text) {
            doc.text = text;
        }
        out
    }
}

impl Transform for LanguageFilter {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let guesses = self.identify(&doc.text);
        let (lang, score) = guesses.first().map_or(("und", 0.0), |(l, s)| (l.as_str(), *s));
        doc.metadata.insert(LANGUAGE_FIELD.into(), Value::from(lang));
        doc.metadata.insert(LANGUAGE_SCORE_FIELD.into(), Value::from((score * 1e4).round() / 1e4));
        match self.decide(&guesses) {
            Verdict::Keep => Outcome::keep(),
            Verdict::Drop(rule) => Outcome::drop(rule),
        }
    }
}

// Each text filter spec builds its filter from its config; a bad option or an unreadable
// model or list is an error of the filters crate.
macro_rules! build_text_stage {
    ($($spec:ident => |$c:ident| $op:expr;)*) => {
        $(impl super::BuildOperator for super::text_spec::$spec {
            fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
                let $c = self.config();
                Ok(Some($op))
            }
        })*
    };
}

build_text_stage! {
    TextNormalizeSpec => |c| super::Operator::Transform(Box::new(Normalize::new(c)?));
    C4LinesSpec => |c| super::Operator::Transform(Box::new(C4LineCleaner::new(c)?));
    C4QualitySpec => |c| super::Operator::Filter(Box::new(C4Quality(C4LineCleaner::new(c)?)));
    LanguageSpec => |c| super::Operator::Transform(Box::new(LanguageFilter::new(c)?));
    PiiSpec => |c| super::Operator::Transform(Box::new(Pii::new(c)?));
    UrlFilterSpec => |c| super::Operator::Filter(Box::new(UrlField(UrlFilter::new(c)?)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmill_filters::c4::C4Config;
    use tokenmill_filters::language::LanguageConfig;
    use tokenmill_filters::normalize::NormalizeConfig;
    use tokenmill_filters::pii::PiiConfig;
    use tokenmill_filters::url_filter::UrlFilterConfig;

    const PROSE: &str = "The committee published its annual report on Tuesday. It described how the new policy \
                         had affected schools and hospitals across the region.";

    #[test]
    fn transforms_rewrite_kept_documents_and_count() -> anyhow::Result<()> {
        let mut doc = Document::new("a", "Mail me at jane.doe@example.org  or  at 8.8.8.8 .\r\n");
        let n = Normalize::new(NormalizeConfig::default())?;
        let out = Transform::apply(&n, &mut doc);
        assert_eq!(out.dropped, None);
        assert!(out.counts.iter().any(|(k, _)| *k == "line_endings"), "{out:?}");
        let p = Pii::new(PiiConfig::default())?;
        let out = Transform::apply(&p, &mut doc);
        assert_eq!(out.counts, vec![("emails", 1), ("ipv4", 1)]);
        assert_eq!(doc.text, "Mail me at email@example.com or at 22.214.171.124 .");
        let mut empty = Document::new("b", " \u{0} ");
        assert_eq!(Transform::apply(&n, &mut empty).dropped, Some("empty"));
        Ok(())
    }

    #[test]
    fn c4_lines_drop_keeps_the_original_text() -> anyhow::Result<()> {
        let c4 = C4LineCleaner::new(C4Config::default())?;
        let mut doc = Document::new("a", "lorem ipsum dolor sit amet, consectetur.\nshort");
        assert_eq!(Transform::apply(&c4, &mut doc).dropped, Some("lorem_ipsum"));
        assert!(doc.text.ends_with("short"));
        assert_eq!(Filter::check(&C4Quality(c4), &doc), Verdict::Drop("lorem_ipsum"));
        Ok(())
    }

    #[test]
    fn language_writes_metadata() -> anyhow::Result<()> {
        let f = LanguageFilter::new(LanguageConfig::default())?;
        let mut doc = Document::new("a", PROSE);
        assert_eq!(Transform::apply(&f, &mut doc).dropped, None);
        assert_eq!(doc.metadata[LANGUAGE_FIELD], "en");
        assert!(doc.metadata[LANGUAGE_SCORE_FIELD].as_f64().is_some_and(|s| s > 0.65));
        let mut none = Document::new("b", "1234 5678");
        assert_eq!(Transform::apply(&f, &mut none).dropped, Some("unwanted_language"));
        assert_eq!(none.metadata[LANGUAGE_FIELD], "und");
        Ok(())
    }

    /// The three `fineweb2` stages in FineWeb-2's order, from their specs.
    fn fineweb2_stages(preset: Preset) -> anyhow::Result<Vec<super::super::Operator>> {
        use super::super::BuildOperator;
        let ops = [
            GopherRepetitionSpec { preset, ..Default::default() }.operator()?,
            FineWebQualitySpec { preset, ..Default::default() }.operator()?,
            GopherQualitySpec { preset, ..Default::default() }.operator()?,
        ];
        Ok(ops.into_iter().flatten().collect())
    }

    /// The first drop of `ops` and the counters they added.
    fn run(ops: &[super::super::Operator], doc: &mut Document) -> (Option<&'static str>, u64, u64) {
        use super::super::Operator;
        let (mut configured, mut fallback) = (0, 0);
        for op in ops {
            let out = match op {
                Operator::Transform(t) => t.apply(doc),
                Operator::Filter(f) => match f.check(doc) {
                    Verdict::Keep => Outcome::keep(),
                    Verdict::Drop(rule) => Outcome::drop(rule),
                },
                _ => panic!("a filter or a transform"),
            };
            for (k, n) in out.counts {
                match k {
                    "fineweb2_configured" => configured += n,
                    "fineweb2_fallback" => fallback += n,
                    _ => panic!("{k}"),
                }
            }
            if out.dropped.is_some() {
                return (out.dropped, configured, fallback);
            }
        }
        (None, configured, fallback)
    }

    #[test]
    fn fineweb2_preset_judges_each_document_by_its_language() -> anyhow::Result<()> {
        // Real Chinese documents with datatrove's decisions under FineWeb-2's cmn_Hani values.
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/filters/fineweb2_cmn_Hani.jsonl"
        );
        let preset = fineweb2_stages(Preset::Fineweb2)?;
        let plain = fineweb2_stages(Preset::None)?;
        let (mut agree, mut total, mut other_than_plain) = (0, 0, 0);
        for line in std::fs::read_to_string(fixture)?.lines().take(200) {
            let r: Value = serde_json::from_str(line)?;
            let text = r["text"].as_str().unwrap_or_default();
            let want = r["reason"].as_str();
            let mut zh = Document::new("zh", text);
            zh.metadata.insert(LANGUAGE_FIELD.into(), Value::from("zh"));
            let (got, configured, fallback) = run(&preset, &mut zh);
            assert!(configured >= 1 && fallback == 0, "{configured} {fallback}");
            total += 1;
            agree += usize::from(got == want);
            // Without a language (or in English), the stage's own options judge.
            let mut none = Document::new("none", text);
            let (unknown, configured, fallback) = run(&preset, &mut none);
            assert!(configured == 0 && fallback >= 1);
            assert_eq!(unknown, run(&plain, &mut Document::new("plain", text)).0);
            other_than_plain += usize::from(unknown != got);
        }
        assert!(agree * 100 >= total * 99, "{agree}/{total}");
        assert!(other_than_plain > 10, "the preset changes decisions: {other_than_plain}");
        let bad: Result<GopherQualitySpec, _> =
            toml::from_str("name = \"q\"\ninputs = [\"in\"]\npreset = \"fineweb3\"");
        assert!(bad.is_err());
        let spec: GopherQualitySpec =
            toml::from_str("name = \"q\"\ninputs = [\"in\"]\npreset = \"fineweb2\"")?;
        assert_eq!(spec.preset, Preset::Fineweb2);
        Ok(())
    }

    #[test]
    fn url_filter_reads_the_url_field() -> anyhow::Result<()> {
        let f = UrlField(UrlFilter::new(UrlFilterConfig {
            domains: vec!["bad.example".into()],
            ..Default::default()
        })?);
        let mut doc = Document::new("a", PROSE);
        assert_eq!(f.check(&doc), Verdict::Keep);
        doc.metadata.insert("url".into(), Value::from("https://www.bad.example/page"));
        assert_eq!(f.check(&doc), Verdict::Drop("blocked_domain"));
        Ok(())
    }
}
