//! `language`: language identification with a score; keeps documents in a set of languages.
//!
//! Two identifiers:
//! * a user-supplied **fastText** model (`model = "lid.176.ftz"` or `.bin`), read by
//!   [`crate::fasttext`] in pure Rust; newlines are replaced by spaces as fastText predicts one
//!   line at a time;
//! * **whatlang** (default, no model file): trigram profiles of 69 languages, built in.
//!
//! Codes are ISO 639-1 where one exists (`en`, `zh`, `ja`), otherwise what the identifier
//! reports (fastText's own codes such as `ceb`, whatlang's ISO 639-3).
//!
//! Decision: keep if any of the `k` best guesses is in `languages` (or `languages` is empty)
//! with a score of at least `min_score`; otherwise drop with `low_language_score` when the best
//! guess is wanted but unsure, or `unwanted_language`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::Verdict;
use crate::error::{Result, check_ratio};
use crate::fasttext::{FastText, Summation};

/// Config of [`LanguageFilter`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanguageConfig {
    /// Languages to keep (ISO 639-1 codes); empty keeps any language above `min_score`.
    pub languages: Vec<String>,
    /// Minimum identifier score for a kept language (probability, 0..=1).
    pub min_score: f64,
    /// fastText model file; `None` uses the built-in whatlang identifier.
    pub model: Option<PathBuf>,
    /// Only the first this many characters are looked at (characters; bounds the cost).
    pub max_chars: usize,
    /// Guesses considered per document (labels).
    pub top_k: usize,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        Self {
            languages: vec!["en".into()],
            min_score: 0.65,
            model: None,
            max_chars: 10_000,
            top_k: 3,
        }
    }
}

/// The language filter.
#[derive(Debug)]
pub struct LanguageFilter {
    cfg: LanguageConfig,
    model: Option<FastText>,
}

impl LanguageFilter {
    /// Builds the filter, loading the model file if one is configured.
    ///
    /// # Errors
    /// `min_score` outside `[0, 1]`, or an unreadable or malformed model file.
    pub fn new(cfg: LanguageConfig) -> Result<Self> {
        check_ratio("language", "min_score", Some(cfg.min_score))?;
        // Language id keeps the faster per-word sums: its labels are far apart, and the FineWeb-like
        // chain's speed depends on it.
        let model =
            cfg.model.as_deref().map(|p| FastText::load_with(p, Summation::PerWord)).transpose()?;
        Ok(Self { cfg, model })
    }

    /// The best guesses for `text`, best first: (language code, score).
    pub fn identify(&self, text: &str) -> Vec<(String, f64)> {
        // A text of at most `max_chars` bytes has at most that many characters.
        let text = match text.len() > self.cfg.max_chars {
            true => text.char_indices().nth(self.cfg.max_chars).map_or(text, |(i, _)| &text[..i]),
            false => text,
        };
        match &self.model {
            Some(m) => {
                // The whole text as one line: `predict` splits on newlines as on spaces.
                m.predict(text, self.cfg.top_k.max(1))
                    .into_iter()
                    .map(|(l, p)| (l.trim_start_matches("__label__").to_string(), f64::from(p)))
                    .collect()
            }
            None => whatlang::detect(text)
                .map(|info| vec![(iso639_1(info.lang().code()).to_string(), info.confidence())])
                .unwrap_or_default(),
        }
    }

    /// Keeps or drops one document.
    pub fn check(&self, text: &str) -> Verdict {
        self.decide(&self.identify(text))
    }

    /// Keeps or drops a document given its guesses from [`LanguageFilter::identify`] (so that a
    /// caller can also record the best guess without identifying twice).
    pub fn decide(&self, guesses: &[(String, f64)]) -> Verdict {
        let wanted =
            |l: &str| self.cfg.languages.is_empty() || self.cfg.languages.iter().any(|w| w == l);
        if guesses.iter().any(|(l, s)| wanted(l) && *s >= self.cfg.min_score) {
            return Verdict::Keep;
        }
        match guesses.first() {
            Some((l, _)) if wanted(l) => Verdict::Drop("low_language_score"),
            _ => Verdict::Drop("unwanted_language"),
        }
    }
}

/// ISO 639-1 for whatlang's ISO 639-3 codes (unchanged when there is none).
pub fn iso639_1(code3: &str) -> &str {
    match code3 {
        "eng" => "en",
        "rus" => "ru",
        "cmn" => "zh",
        "spa" => "es",
        "por" => "pt",
        "ita" => "it",
        "ben" => "bn",
        "fra" => "fr",
        "deu" => "de",
        "ukr" => "uk",
        "kat" => "ka",
        "ara" => "ar",
        "hin" => "hi",
        "jpn" => "ja",
        "heb" => "he",
        "yid" => "yi",
        "pol" => "pl",
        "amh" => "am",
        "jav" => "jv",
        "kor" => "ko",
        "nob" => "nb",
        "dan" => "da",
        "swe" => "sv",
        "fin" => "fi",
        "tur" => "tr",
        "nld" => "nl",
        "hun" => "hu",
        "ces" => "cs",
        "ell" => "el",
        "bul" => "bg",
        "bel" => "be",
        "mar" => "mr",
        "kan" => "kn",
        "ron" => "ro",
        "slv" => "sl",
        "hrv" => "hr",
        "srp" => "sr",
        "mkd" => "mk",
        "lit" => "lt",
        "lav" => "lv",
        "est" => "et",
        "tam" => "ta",
        "vie" => "vi",
        "urd" => "ur",
        "tha" => "th",
        "guj" => "gu",
        "uzb" => "uz",
        "pan" => "pa",
        "aze" => "az",
        "ind" => "id",
        "tel" => "te",
        "pes" => "fa",
        "mal" => "ml",
        "ori" => "or",
        "mya" => "my",
        "nep" => "ne",
        "sin" => "si",
        "khm" => "km",
        "tuk" => "tk",
        "aka" => "ak",
        "zul" => "zu",
        "sna" => "sn",
        "afr" => "af",
        "lat" => "la",
        "slk" => "sk",
        "cat" => "ca",
        "tgl" => "tl",
        "hye" => "hy",
        "epo" => "eo",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: &str = "The committee published its annual report on Tuesday, describing how the new \
                      policy had affected schools and hospitals across the region.";
    const DE: &str = "Der Ausschuss veröffentlichte am Dienstag seinen Jahresbericht und beschrieb, wie sich \
                      die neue Politik auf Schulen und Krankenhäuser in der Region ausgewirkt hatte.";

    #[test]
    fn whatlang_default() -> anyhow::Result<()> {
        let f = LanguageFilter::new(LanguageConfig::default())?;
        assert_eq!(f.identify(EN)[0].0, "en");
        assert_eq!(f.check(EN), Verdict::Keep);
        assert_eq!(f.check(DE), Verdict::Drop("unwanted_language"));
        let any = LanguageFilter::new(LanguageConfig { languages: vec![], ..Default::default() })?;
        assert_eq!(any.check(DE), Verdict::Keep);
        Ok(())
    }

    #[test]
    fn fasttext_model() -> anyhow::Result<()> {
        let path = PathBuf::from(crate::LID176_FIXTURE);
        let f = LanguageFilter::new(LanguageConfig {
            model: Some(path),
            languages: vec!["de".into()],
            ..Default::default()
        })?;
        assert_eq!(f.identify(DE)[0].0, "de");
        assert_eq!(f.check(DE), Verdict::Keep);
        assert_eq!(f.check(EN), Verdict::Drop("unwanted_language"));
        Ok(())
    }

    #[test]
    fn bad_inputs() {
        assert!(
            LanguageFilter::new(LanguageConfig { min_score: 2.0, ..Default::default() }).is_err()
        );
        let missing =
            LanguageConfig { model: Some("/nonexistent/model.ftz".into()), ..Default::default() };
        assert!(LanguageFilter::new(missing).is_err());
    }
}
