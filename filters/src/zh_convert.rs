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

use std::borrow::Cow;

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

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

    /// The script of `text`, judged on its first `detect_chars` Han characters.
    pub fn detect(&self, text: &str) -> ZhScript {
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
        let simp = differing(&sample, &self.s2t.convert(&sample));
        let telling = (trad + simp) as f64;
        if trad as f64 <= 0.05 * telling {
            ZhScript::Simplified
        } else if simp as f64 <= 0.05 * telling {
            ZhScript::Traditional
        } else {
            ZhScript::Mixed
        }
    }

    /// The script of `text` and the text in simplified characters (borrowed when unchanged).
    pub fn apply<'a>(&self, text: &'a str) -> (ZhScript, Cow<'a, str>) {
        let script = self.detect(text);
        let convert =
            self.cfg.to_simplified && matches!(script, ZhScript::Traditional | ZhScript::Mixed);
        if !convert {
            return (script, Cow::Borrowed(text));
        }
        let out = self.to_simplified.convert(text);
        if out == text { (script, Cow::Borrowed(text)) } else { (script, Cow::Owned(out)) }
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
