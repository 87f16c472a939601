//! `gopher_quality`: the quality heuristics of Gopher (Rae et al. 2021, appendix A, table A1),
//! as datatrove 0.10.1's `GopherQualityFilter` applies them.
//!
//! Rules, in order (the first that fails names the drop):
//! 1. `gopher_short_doc` / `gopher_long_doc`: words that are not pure punctuation outside
//!    `[min_doc_words, max_doc_words]`;
//! 2. `gopher_below_avg_threshold` / `gopher_above_avg_threshold`: mean length (code points) of
//!    those words outside `[min_avg_word_length, max_avg_word_length]`;
//! 3. `gopher_too_many_hashes` / `gopher_too_many_ellipsis`: `#` or `...`/`…` per token (all
//!    tokens, punctuation included) above `max_symbol_word_ratio`;
//! 4. `gopher_too_many_bullets`: share of lines starting with `•` or `-` above the maximum;
//! 5. `gopher_too_many_end_ellipsis`: share of lines ending with `...` or `…` above the maximum;
//! 6. `gopher_below_alpha_threshold`: share of tokens with a letter below the minimum;
//! 7. `gopher_enough_stop_words`: fewer distinct stop words than `min_stop_words`.
//!
//! Per script (see [`crate::words`]): for Chinese documents a word is a jieba word, for
//! Japanese ones one Han/Kana character; for both rule 2 is skipped (the thresholds are for
//! spaced words), and rule 7 looks for `cjk_stop_words` (common particles: 的 了 是 の は を
//! ..., words of their own for jieba too) instead of the English list.

use rustc_hash::FxHashSet;
use serde::Deserialize;

use crate::Verdict;
use crate::chars::is_py_letter;
use crate::error::{Result, check_ratio, invalid};
use crate::words::{Script, WordMode, Words, char_len, py_splitlines};

/// Config of [`GopherQuality`]; `None` disables a rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GopherQualityConfig {
    /// Minimum number of non-punctuation words (words).
    pub min_doc_words: Option<usize>,
    /// Maximum number of non-punctuation words (words).
    pub max_doc_words: Option<usize>,
    /// Minimum mean word length (code points per word).
    pub min_avg_word_length: Option<f64>,
    /// Maximum mean word length (code points per word).
    pub max_avg_word_length: Option<f64>,
    /// Maximum `#` count, and `...`/`…` count, per token (ratio).
    pub max_symbol_word_ratio: Option<f64>,
    /// Maximum share of lines starting with a bullet `•` or `-` (ratio of lines).
    pub max_bullet_lines_ratio: Option<f64>,
    /// Maximum share of lines ending with an ellipsis (ratio of lines).
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Minimum share of tokens containing a letter (ratio of tokens; datatrove's name kept).
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Minimum number of distinct stop words present (words).
    pub min_stop_words: Option<usize>,
    /// Stop words for space-delimited scripts (case-sensitive, as in datatrove).
    pub stop_words: Vec<String>,
    /// Stop words for Chinese/Japanese documents (single characters or words).
    pub cjk_stop_words: Vec<String>,
    /// How words are found.
    pub words: WordMode,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        Self {
            min_doc_words: Some(50),
            max_doc_words: Some(100_000),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            max_non_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2),
            stop_words: ["the", "be", "to", "of", "and", "that", "have", "with"]
                .map(String::from)
                .to_vec(),
            cjk_stop_words: [
                "的", "了", "是", "在", "和", "不", "这", "の", "に", "は", "を", "が", "で", "た",
            ]
            .map(String::from)
            .to_vec(),
            words: WordMode::Auto,
        }
    }
}

/// The Gopher quality filter.
#[derive(Debug, Clone)]
pub struct GopherQuality {
    cfg: GopherQualityConfig,
    stop: FxHashSet<String>,
    cjk_stop: FxHashSet<String>,
}

impl GopherQuality {
    /// Builds the filter.
    ///
    /// # Errors
    /// A ratio outside `[0, 1]`, or `min_doc_words > max_doc_words`.
    pub fn new(cfg: GopherQualityConfig) -> Result<Self> {
        const F: &str = "gopher_quality";
        check_ratio(F, "max_symbol_word_ratio", cfg.max_symbol_word_ratio)?;
        check_ratio(F, "max_bullet_lines_ratio", cfg.max_bullet_lines_ratio)?;
        check_ratio(F, "max_ellipsis_lines_ratio", cfg.max_ellipsis_lines_ratio)?;
        check_ratio(F, "max_non_alpha_words_ratio", cfg.max_non_alpha_words_ratio)?;
        if let (Some(a), Some(b)) = (cfg.min_doc_words, cfg.max_doc_words)
            && a > b
        {
            return Err(invalid(F, "min_doc_words", format!("({a}) exceeds max_doc_words ({b})")));
        }
        let stop = cfg.stop_words.iter().cloned().collect();
        let cjk_stop = cfg.cjk_stop_words.iter().cloned().collect();
        Ok(Self { cfg, stop, cjk_stop })
    }

    /// Keeps or drops one document.
    pub fn check(&self, text: &str) -> Verdict {
        self.check_words(text, &Words::new(text, self.cfg.words))
    }

    /// How this filter splits words.
    pub fn word_mode(&self) -> WordMode {
        self.cfg.words
    }

    /// [`Self::check`] with the document's words already split (shared between filters; they
    /// must come from `Words::new(text, mode)` with this filter's `words` mode).
    pub fn check_words(&self, text: &str, words: &Words<'_>) -> Verdict {
        let c = &self.cfg;
        let script = words.script;
        let words = &words.tokens;
        let n_words = words.len();
        let (mut n_content, mut content_chars) = (0usize, 0usize);
        for w in words {
            if !w.chars().all(is_datatrove_punct) {
                n_content += 1;
                content_chars += char_len(w);
            }
        }
        if c.min_doc_words.is_some_and(|m| n_content < m) || n_words == 0 {
            return Verdict::Drop("gopher_short_doc");
        }
        if c.max_doc_words.is_some_and(|m| n_content > m) {
            return Verdict::Drop("gopher_long_doc");
        }
        if script == Script::Spaced && n_content > 0 {
            let avg = content_chars as f64 / n_content as f64;
            if c.min_avg_word_length.is_some_and(|m| avg < m) {
                return Verdict::Drop("gopher_below_avg_threshold");
            }
            if c.max_avg_word_length.is_some_and(|m| avg > m) {
                return Verdict::Drop("gopher_above_avg_threshold");
            }
        }
        let nw = n_words as f64;
        if let Some(max) = c.max_symbol_word_ratio {
            if memchr::memchr_iter(b'#', text.as_bytes()).count() as f64 / nw > max {
                return Verdict::Drop("gopher_too_many_hashes");
            }
            let ellipses = memchr::memmem::find_iter(text.as_bytes(), "...").count()
                + memchr::memmem::find_iter(text.as_bytes(), "…").count();
            if ellipses as f64 / nw > max {
                return Verdict::Drop("gopher_too_many_ellipsis");
            }
        }
        let lines = py_splitlines(text);
        let nl = lines.len().max(1) as f64;
        if let Some(max) = c.max_bullet_lines_ratio {
            let bullets = lines.iter().filter(|l| l.trim_start().starts_with(['•', '-'])).count();
            if bullets as f64 / nl > max {
                return Verdict::Drop("gopher_too_many_bullets");
            }
        }
        if let Some(max) = c.max_ellipsis_lines_ratio {
            let ends = lines
                .iter()
                .filter(|l| l.trim_end().ends_with("...") || l.trim_end().ends_with('…'))
                .count();
            if ends as f64 / nl > max {
                return Verdict::Drop("gopher_too_many_end_ellipsis");
            }
        }
        if let Some(min) = c.max_non_alpha_words_ratio {
            let alpha = words.iter().filter(|w| w.chars().any(is_py_letter)).count();
            if (alpha as f64 / nw) < min {
                return Verdict::Drop("gopher_below_alpha_threshold");
            }
        }
        if let Some(min) = c.min_stop_words {
            let stop = if script == Script::Cjk { &self.cjk_stop } else { &self.stop };
            let mut seen: FxHashSet<&str> = FxHashSet::default();
            for w in words {
                if stop.contains(*w) {
                    seen.insert(w);
                    if seen.len() >= min {
                        break;
                    }
                }
            }
            if seen.len() < min {
                return Verdict::Drop("gopher_enough_stop_words");
            }
        }
        Verdict::Keep
    }
}

/// datatrove's `PUNCTUATION_SET`: ASCII and CJK punctuation, C0/C1 controls, and the terminal
/// punctuation of many scripts (the BMP part of datatrove's list; astral-plane marks omitted).
pub fn is_datatrove_punct(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return c.is_ascii_punctuation() || (u < 32 && c != '\t' && c != '\n') || u == 127;
    }
    (0x80..0xA0).contains(&u)
        || matches!(
            c,
            '—' | '”'
                | '％'
                | '１'
                | '〈'
                | '、'
                | '━'
                | '【'
                | '「'
                | '」'
                | '，'
                | '】'
                | '；'
                | '“'
                | '《'
                | '„'
                | '’'
                | '∶'
                | '´'
                | '．'
                | '（'
                | '–'
                | '？'
                | '！'
                | '：'
                | '～'
                | '«'
                | '〉'
                | '》'
                | '）'
                | '。'
                | '…'
                | '►'
                | '»'
                | '᪩'
                | '⁈'
                | '꩞'
                | '﹗'
                | '፧'
                | '꡶'
                | '꘎'
                | '⁉'
                | '࠾'
                | '᪨'
                | '᱿'
                | '᥅'
                | '﹒'
                | '።'
                | '܂'
                | '؞'
                | '꛳'
                | '꩟'
                | '᠉'
                | '᰼'
                | '؟'
                | '꧉'
                | '܀'
                | '꓿'
                | '᜵'
                | '៖'
                | '꯫'
                | '۔'
                | '꡷'
                | '｡'
                | '៕'
                | '߹'
                | '⸮'
                | '࠹'
                | '꫰'
                | '꤯'
                | '᭞'
                | '፨'
                | '꣏'
                | '࠷'
                | '։'
                | '꣎'
                | '॥'
                | '᭛'
                | '᠃'
                | '၊'
                | '⁇'
                | '᭟'
                | '⸼'
                | '꩝'
                | '꧈'
                | '꫱'
                | '᙮'
                | '។'
                | '꛷'
                | '៚'
                | '᥄'
                | '᪪'
                | '᭚'
                | '࠽'
                | '।'
                | '။'
                | '᜶'
                | '‼'
                | '‽'
                | '﹖'
                | '᪫'
                | '᰻'
                | '᱾'
                | '꘏'
                | '܁'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> GopherQuality {
        GopherQuality::new(GopherQualityConfig::default()).expect("defaults")
    }

    const GOOD: &str = "The quick brown fox jumps over the lazy dog and then runs back to the forest with \
        the other animals. It is a story that has been told many times, and it will be told again to the \
        children of the village who have heard it before. Nobody knows where the story came from, but \
        everybody agrees that it is worth telling to anyone who wants to listen.";

    #[test]
    fn keeps_prose_and_drops_junk() {
        assert_eq!(f().check(GOOD), Verdict::Keep);
        assert_eq!(f().check("short text"), Verdict::Drop("gopher_short_doc"));
        let code = "} } ) ; = 1 2 3 values something\n".repeat(30);
        assert_eq!(f().check(&code), Verdict::Drop("gopher_below_alpha_threshold"));
        let hashes = format!("{GOOD} {}", "#tag ".repeat(12));
        assert_eq!(f().check(&hashes), Verdict::Drop("gopher_too_many_hashes"));
        let no_stop = "alpha beta gamma delta epsilon zeta theta iota kappa lambda ".repeat(6);
        assert_eq!(f().check(&no_stop), Verdict::Drop("gopher_enough_stop_words"));
    }

    #[test]
    fn chinese_prose_is_judged_by_jieba_words() {
        let short = "我们今天在公园里散步，天气非常好。孩子们在草地上玩耍，老人们坐在长椅上聊天。\
                  这是一个美好的周末，大家都很开心。我们决定下次再来这里，和朋友们一起野餐。";
        // 72 characters but 41 words that are not punctuation (Python jieba agrees): short.
        assert_eq!(f().check(short), Verdict::Drop("gopher_short_doc"));
        let zh = format!("{short}回家的路上，我们还买了一些水果和面包，准备明天早上吃。");
        let zh = zh.as_str();
        assert_eq!(f().check(zh), Verdict::Keep);
        let english_mode = GopherQuality::new(GopherQualityConfig {
            words: WordMode::English,
            ..Default::default()
        });
        assert_eq!(english_mode.expect("valid").check(zh), Verdict::Drop("gopher_short_doc"));
        let junk = "购买 价格 优惠 购买 价格 优惠 ".repeat(3);
        assert_ne!(f().check(&junk), Verdict::Keep);
    }

    #[test]
    fn rejects_bad_config() {
        let bad = GopherQualityConfig { max_bullet_lines_ratio: Some(1.5), ..Default::default() };
        assert!(GopherQuality::new(bad).is_err());
    }
}
