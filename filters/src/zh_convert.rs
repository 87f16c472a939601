//! `zh_convert`: traditional Chinese to simplified (OpenCC's tables, through `ferrous-opencc`),
//! and which script a document was written in.
//!
//! The script is judged on the first `detect_chars` Han characters: those that OpenCC's `t2s`
//! changes are traditional-only, those that `s2t` changes are simplified-only (characters both
//! scripts share count for neither). A document is [`ZhScript::Traditional`] when at most 5% of
//! the telling characters are simplified-only, [`ZhScript::Simplified`] when at most 5% are
//! traditional-only (or none tells), [`ZhScript::Mixed`] otherwise; [`ZhScript::None`] when it
//! has no Han character. Traditional and mixed documents are converted with the chosen
//! [`Conversion`] (phrases first, then characters: 乾燥 → 干燥 but 乾隆 stays), simplified ones
//! are left as they are.
//!
//! The counts come from a per-character table of what `t2s` and `s2t` change (generated from
//! OpenCC's dictionaries, `filters/data/zh_script_chars.txt`); OpenCC itself runs only on the
//! rare sample where its phrases could change the decision, and to convert.

use std::borrow::Cow;

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use table::{ScriptTable, Tally};

mod table;

/// Which OpenCC conversion turns traditional text into simplified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// OpenCC `t2s`: traditional (OpenCC standard) to simplified.
    #[default]
    T2s,
    /// OpenCC `tw2s`: Taiwan variants to simplified.
    Tw2s,
    /// OpenCC `tw2sp`: Taiwan variants and vocabulary (軟體 → 软件) to simplified.
    Tw2sp,
    /// OpenCC `hk2s`: Hong Kong variants to simplified.
    Hk2s,
}

/// The script a Chinese document is written in (the `script` metadata field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZhScript {
    /// Simplified characters (or only characters both scripts share).
    Simplified,
    /// Traditional characters.
    Traditional,
    /// Both, each above 5% of the telling characters.
    Mixed,
    /// No Han character.
    None,
}

impl ZhScript {
    /// The metadata label: `simplified`, `traditional`, `mixed` or `none`.
    pub fn label(self) -> &'static str {
        match self {
            ZhScript::Simplified => "simplified",
            ZhScript::Traditional => "traditional",
            ZhScript::Mixed => "mixed",
            ZhScript::None => "none",
        }
    }
}

/// Config of [`ZhConvert`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZhConvertConfig {
    /// Convert traditional and mixed documents to simplified (false: only record the script).
    pub to_simplified: bool,
    /// The OpenCC conversion (default `t2s`).
    pub conversion: Conversion,
    /// Han characters looked at to judge the script (characters; default 4096).
    pub detect_chars: usize,
}

impl Default for ZhConvertConfig {
    fn default() -> Self {
        Self { to_simplified: true, conversion: Conversion::T2s, detect_chars: 4096 }
    }
}

/// Script detection and traditional-to-simplified conversion.
pub struct ZhConvert {
    to_simplified: OpenCC,
    t2s: OpenCC,
    s2t: OpenCC,
    cfg: ZhConvertConfig,
}

impl std::fmt::Debug for ZhConvert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZhConvert").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

fn opencc(config: BuiltinConfig) -> Result<OpenCC> {
    OpenCC::from_config(config).map_err(|e| invalid("zh_convert", "conversion", e.to_string()))
}

impl ZhConvert {
    /// Loads the OpenCC tables (compiled in).
    ///
    /// # Errors
    /// `detect_chars` is 0, or an embedded table fails to load.
    pub fn new(cfg: ZhConvertConfig) -> Result<Self> {
        if cfg.detect_chars == 0 {
            return Err(invalid("zh_convert", "detect_chars", "must be at least 1"));
        }
        let to_simplified = opencc(match cfg.conversion {
            Conversion::T2s => BuiltinConfig::T2s,
            Conversion::Tw2s => BuiltinConfig::Tw2s,
            Conversion::Tw2sp => BuiltinConfig::Tw2sp,
            Conversion::Hk2s => BuiltinConfig::Hk2s,
        })?;
        Ok(Self {
            to_simplified,
            t2s: opencc(BuiltinConfig::T2s)?,
            s2t: opencc(BuiltinConfig::S2t)?,
            cfg,
        })
    }

    /// The script of `text`, judged on its first `detect_chars` Han characters: the decision
    /// of [`ZhConvert::detect_with_opencc`], made with a per-character table
    /// ([`ZhConvert::detect_by_table`]) and with OpenCC's `s2t` only when the table cannot
    /// decide.
    pub fn detect(&self, text: &str) -> ZhScript {
        // With `s2t` the judgement is always made.
        self.judge_sample(text, true).unwrap_or(ZhScript::Mixed)
    }

    /// The script of `text` from a per-character table of what OpenCC's `t2s` and `s2t` change,
    /// or `None` when the characters that OpenCC's `s2t` phrases may treat otherwise could
    /// change the decision (then only [`ZhConvert::detect`] knows it).
    pub fn detect_by_table(&self, text: &str) -> Option<ZhScript> {
        self.judge_sample(text, false)
    }

    /// The table's judgement, and OpenCC's `s2t` count where the table cannot settle it and
    /// `with_s2t` is set.
    fn judge_sample(&self, text: &str, with_s2t: bool) -> Option<ZhScript> {
        let sample: Vec<char> =
            text.chars().filter(|c| is_han(*c)).take(self.cfg.detect_chars).collect();
        let table = ScriptTable::shared();
        let tally = Tally::of(table, &sample);
        if tally.han == 0 {
            return Some(ZhScript::None);
        }
        // The decision moves monotonically with each count: it is settled when both extremes
        // the phrases allow agree.
        let settled = |tally: &Tally| {
            let (t, s) = tally.most_simplified();
            let decision = judge(t, s);
            let (t, s) = tally.most_traditional();
            (judge(t, s) == decision).then_some(decision)
        };
        settled(&tally).or_else(|| {
            // The table holds all of `t2s`'s phrases: its count can be made exact.
            let sample: String = sample.into_iter().collect();
            let trad = differing(&sample, &table.t2s(&sample));
            settled(&tally.with_trad(trad)).or_else(|| {
                with_s2t.then(|| judge(trad, differing(&sample, &self.s2t.convert(&sample))))
            })
        })
    }

    /// The script of `text` judged by running OpenCC's `t2s` (and `s2t` when `t2s` changed a
    /// character) over its first `detect_chars` Han characters: the reference
    /// [`ZhConvert::detect`] reproduces, several times slower.
    pub fn detect_with_opencc(&self, text: &str) -> ZhScript {
        let sample: String =
            text.chars().filter(|c| is_han(*c)).take(self.cfg.detect_chars).collect();
        if sample.is_empty() {
            return ZhScript::None;
        }
        let trad = differing(&sample, &self.t2s.convert(&sample));
        if trad == 0 {
            // No traditional-only character: simplified whatever s2t would say (saves a pass).
            return ZhScript::Simplified;
        }
        judge(trad, differing(&sample, &self.s2t.convert(&sample)))
    }

    /// `text` through the configured conversion, whatever its script (`t2s` by a table-driven
    /// copy of OpenCC's, the other conversions by OpenCC).
    pub fn convert<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.cfg.conversion {
            Conversion::T2s => ScriptTable::shared().t2s(text),
            _ => Cow::Owned(self.to_simplified.convert(text)),
        }
    }

    /// `text` through OpenCC's own configured conversion: the reference [`ZhConvert::convert`]
    /// reproduces.
    pub fn convert_with_opencc(&self, text: &str) -> String {
        self.to_simplified.convert(text)
    }

    /// The script of `text` and the text in simplified characters (borrowed when unchanged).
    pub fn apply<'a>(&self, text: &'a str) -> (ZhScript, Cow<'a, str>) {
        let script = self.detect(text);
        let convert =
            self.cfg.to_simplified && matches!(script, ZhScript::Traditional | ZhScript::Mixed);
        if !convert {
            return (script, Cow::Borrowed(text));
        }
        match self.convert(text) {
            Cow::Owned(out) if out != text => (script, Cow::Owned(out)),
            _ => (script, Cow::Borrowed(text)),
        }
    }
}

/// The script from the counts of traditional-only and simplified-only characters (none of
/// either is simplified).
fn judge(trad: usize, simp: usize) -> ZhScript {
    let telling = (trad + simp) as f64;
    if trad as f64 <= 0.05 * telling {
        ZhScript::Simplified
    } else if simp as f64 <= 0.05 * telling {
        ZhScript::Traditional
    } else {
        ZhScript::Mixed
    }
}

/// Characters that differ between `a` and its conversion `b` (OpenCC's tables map phrases to
/// phrases of the same length; a conversion of another length counts its length difference).
fn differing(a: &str, b: &str) -> usize {
    let same_pos = a.chars().zip(b.chars()).filter(|(x, y)| x != y).count();
    same_pos + a.chars().count().abs_diff(b.chars().count())
}

/// Han ideographs (CJK unified, extension A and beyond, compatibility).
fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

#[cfg(test)]
mod tests;
