//! The `fineweb2` preset: FineWeb-2's per-language filter configuration (Penedo et al. 2025),
//! as its pipeline (`fineweb-2-pipeline.py`, step 5) hands it to datatrove's filters.
//!
//! FineWeb-2 keeps FineWeb's filters and tunes their thresholds and stop words per language
//! (`configs/{code}.yml` of huggingface/fineweb-2, for codes such as `cmn_Hani`, `deu_Latn`).
//! It runs, in this order, with the language's word tokenizer:
//! 1. `gopher_repetition` with the language's `dup_line_frac`, `top_n_grams` and `dup_n_grams`,
//!    and the paragraph rules and `dup_line_char_frac` off;
//! 2. `fineweb_quality` with the language's `line_punct_thr` and `new_line_ratio`,
//!    `short_line_thr` off and `char_duplicates_ratio` 0.1 (FineWeb: 0.01);
//! 3. `gopher_quality` with the language's `min_avg_word_length`, `max_avg_word_length`,
//!    `max_non_alpha_words_ratio` and stop words (`min_stop_words` 2), the rest at Gopher's
//!    values.
//!
//! C4's rules are not part of it. As in datatrove, a threshold of 0 turns its rule off.
//!
//! [`Fineweb2Language`] holds one language's values (the table is generated from FineWeb-2's
//! files by `scripts/fineweb2-table.py`); [`language`] finds it by the `language` stage's code
//! (fastText lid.176 / ISO 639-1: `zh` → `cmn_Hani`, `no` and `nb` → `nob_Latn`) or by FineWeb-2's
//! own code; [`PerLanguage`] holds one built filter per language and a fallback for the others.
//!
//! Words: Chinese is split exactly as datatrove's `cmn_Hani` tokenizer does (spaCy `zh` on
//! jieba, whitespace tokens dropped: [`WordMode::DatatroveZh`]); the space-delimited languages
//! use datatrove's English tokenizer rules in place of spaCy's per-language ones (the same
//! punctuation splitting, without the language's exceptions such as French `l'`); Japanese
//! counts one word per Han/Kana character (datatrove uses SudachiPy), so its rules are adapted
//! as under `words = "auto"` (stop words looked up among the characters). Languages FineWeb-2
//! configures but we cannot split words for close enough (Korean: morphemes; Thai; Turkish and
//! the long tail not transcribed yet) are left to the fallback.
//!
//! Not applied: FineWeb-2's per-language minimum `language_score` is a GlotLID probability;
//! it is kept in the table ([`Fineweb2Language::language_score`]) but lid.176's scores are on
//! another scale.

mod table;

use crate::fineweb::{FineWebQuality, FineWebQualityConfig};
use crate::gopher_quality::{GopherQuality, GopherQualityConfig};
use crate::gopher_repetition::{GopherRepetition, GopherRepetitionConfig};
use crate::words::{WordMode, Words};
use crate::{Result, Verdict};

/// One language's FineWeb-2 configuration (`configs/{code}.yml`) and how its words are split.
#[derive(Debug, Clone, PartialEq)]
pub struct Fineweb2Language {
    /// FineWeb-2's code: ISO 639-3 and ISO 15924 script, e.g. `cmn_Hani`.
    pub code: &'static str,
    /// The `language` stage's codes (lid.176 / ISO 639-1) that name this language.
    pub iso: &'static [&'static str],
    /// How words are split for this language (see the module docs).
    pub words: WordMode,
    /// FineWeb-2's minimum GlotLID score for the language (probability; not applied).
    pub language_score: f64,
    /// `gopher_repetition`: maximum share of duplicate lines (ratio of lines).
    pub dup_line_frac: f64,
    /// `gopher_repetition`: `(n, max)`, most frequent n-gram's characters (ratio of characters).
    pub top_n_grams: &'static [(usize, f64)],
    /// `gopher_repetition`: `(n, max)`, characters in repeated n-grams (ratio of characters).
    pub dup_n_grams: &'static [(usize, f64)],
    /// `fineweb_quality`: minimum share of lines ending in terminal punctuation (ratio).
    pub line_punct_thr: f64,
    /// `fineweb_quality`: maximum newlines per word (ratio).
    pub new_line_ratio: f64,
    /// `gopher_quality`: minimum mean word length (code points; 0 turns the rule off).
    pub min_avg_word_length: f64,
    /// `gopher_quality`: maximum mean word length (code points; 0 turns the rule off).
    pub max_avg_word_length: f64,
    /// `gopher_quality`: minimum share of words with a letter (ratio; 0 turns the rule off).
    pub max_non_alpha_words_ratio: f64,
    /// `gopher_quality`: the language's stop words (at least 2 distinct must occur).
    pub stop_words: &'static [&'static str],
}

/// datatrove tests thresholds for truth: 0 (and `None`) turn a rule off.
fn on(x: f64) -> Option<f64> {
    (x != 0.0).then_some(x)
}

impl Fineweb2Language {
    /// `gopher_repetition` as FineWeb-2 configures it for this language.
    pub fn gopher_repetition(&self) -> GopherRepetitionConfig {
        GopherRepetitionConfig {
            dup_line_frac: on(self.dup_line_frac),
            dup_para_frac: None,
            dup_line_char_frac: None,
            dup_para_char_frac: None,
            top_n_grams: self.top_n_grams.to_vec(),
            dup_n_grams: self.dup_n_grams.to_vec(),
            words: self.words,
        }
    }

    /// `fineweb_quality` as FineWeb-2 configures it for this language.
    pub fn fineweb_quality(&self) -> FineWebQualityConfig {
        FineWebQualityConfig {
            line_punct_thr: self.line_punct_thr,
            line_punct_exclude_zero: false,
            // FineWeb-2 passes 999: a share of lines never exceeds 1.
            short_line_thr: 1.0,
            short_line_length: 30,
            char_duplicates_ratio: 0.1,
            new_line_ratio: self.new_line_ratio,
            cjk_char_weight: 1.0,
            words: self.words,
        }
    }

    /// `gopher_quality` as FineWeb-2 configures it for this language.
    pub fn gopher_quality(&self) -> GopherQualityConfig {
        let stop: Vec<String> = self.stop_words.iter().map(|w| w.to_string()).collect();
        GopherQualityConfig {
            min_avg_word_length: on(self.min_avg_word_length),
            max_avg_word_length: on(self.max_avg_word_length),
            max_non_alpha_words_ratio: on(self.max_non_alpha_words_ratio),
            min_stop_words: Some(2),
            // Under `auto` (Japanese) the CJK list is the one looked up.
            cjk_stop_words: stop.clone(),
            stop_words: stop,
            words: self.words,
            ..GopherQualityConfig::default()
        }
    }
}

/// Every language the preset configures, in FineWeb-2 code order.
pub fn languages() -> &'static [Fineweb2Language] {
    table::LANGUAGES
}

/// The configuration for a document whose `language` metadata is `code`: a `language` stage
/// code (`zh`, `de`) or a FineWeb-2 code (`cmn_Hani`).
pub fn language(code: &str) -> Option<&'static Fineweb2Language> {
    table::LANGUAGES.iter().find(|l| l.iso.contains(&code) || l.code == code)
}

/// FineWeb-2's three filters for one language, applied in its order (the pipeline applies them
/// as three stages instead; this is the whole decision in one call, for tools and tests).
#[derive(Debug, Clone)]
pub struct Fineweb2Filters {
    words: WordMode,
    repetition: GopherRepetition,
    fineweb: FineWebQuality,
    quality: GopherQuality,
}

impl Fineweb2Filters {
    /// Builds the filters of `lang`.
    ///
    /// # Errors
    /// A threshold of the table out of range (a table that does not come from FineWeb-2).
    pub fn new(lang: &Fineweb2Language) -> Result<Self> {
        Ok(Self {
            words: lang.words,
            repetition: GopherRepetition::new(lang.gopher_repetition())?,
            fineweb: FineWebQuality::new(lang.fineweb_quality())?,
            quality: GopherQuality::new(lang.gopher_quality())?,
        })
    }

    /// The filter (`gopher_repetition`, `fineweb_quality`, `gopher_quality`) and rule of the
    /// first drop; `None` keeps the document.
    pub fn check(&self, text: &str) -> Option<(&'static str, &'static str)> {
        let words = Words::new(text, self.words);
        let drop = |filter: &'static str, v: Verdict| match v {
            Verdict::Drop(rule) => Some((filter, rule)),
            Verdict::Keep => None,
        };
        drop("gopher_repetition", self.repetition.check_with(text, || words.clone()))
            .or_else(|| {
                let n_words = || words.tokens.len();
                drop("fineweb_quality", self.fineweb.check_with(text, words.script, n_words))
            })
            .or_else(|| drop("gopher_quality", self.quality.check_words(text, &words)))
    }
}

/// One filter per configured language, and a fallback for documents in any other language (or
/// with none).
#[derive(Debug, Clone)]
pub struct PerLanguage<F> {
    /// `(language stage code or FineWeb-2 code, index into filters)`, sorted by code.
    index: Vec<(&'static str, usize)>,
    filters: Vec<(&'static str, F)>,
    fallback: F,
}

/// The filter [`PerLanguage::select`] picked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selected<'a, F> {
    /// The filter to apply.
    pub filter: &'a F,
    /// FineWeb-2's code of the language, `None` for the fallback.
    pub code: Option<&'static str>,
}

impl<F> PerLanguage<F> {
    /// Builds `make(language)` for every configured language.
    ///
    /// # Errors
    /// The first error of `make`.
    pub fn new(fallback: F, mut make: impl FnMut(&Fineweb2Language) -> Result<F>) -> Result<Self> {
        let mut index = Vec::new();
        let mut filters = Vec::with_capacity(table::LANGUAGES.len());
        for (i, lang) in table::LANGUAGES.iter().enumerate() {
            filters.push((lang.code, make(lang)?));
            index.push((lang.code, i));
            index.extend(lang.iso.iter().map(|&c| (c, i)));
        }
        index.sort_unstable();
        Ok(Self { index, filters, fallback })
    }

    /// The filter for a document whose `language` metadata is `code` (`None`: no metadata).
    pub fn select(&self, code: Option<&str>) -> Selected<'_, F> {
        let found = code.and_then(|c| {
            self.index.binary_search_by(|(k, _)| (*k).cmp(c)).ok().map(|at| self.index[at].1)
        });
        match found {
            Some(i) => Selected { filter: &self.filters[i].1, code: Some(self.filters[i].0) },
            None => Selected { filter: &self.fallback, code: None },
        }
    }
}

#[cfg(test)]
mod tests;
