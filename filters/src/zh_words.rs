//! Chinese word segmentation: Python jieba 0.42.1's default mode (`jieba.lcut(text)`: accurate
//! mode, HMM for unknown words), through the `jieba-rs` crate and its embedded dictionary.
//!
//! jieba emits every whitespace character (and `\r\n`) as a token of its own; the rules count
//! words the way `str.split()` would, so those tokens are dropped here and the contract of
//! `words::split_words` holds: tokens are never empty and never contain whitespace.
//! Punctuation (`，`, `。`, `"`) stays a token, as it does with the English tokenizer.

use std::sync::LazyLock;

use jieba_rs::Jieba;

use crate::chars::is_py_space;

/// One dictionary for the whole process: building it parses ~350k entries (tens of ms), far too
/// slow per document or per filter.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Appends jieba's words of `text` to `out`, without its whitespace tokens.
pub(crate) fn split_jieba<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    out.extend(
        JIEBA.cut(text, true).into_iter().map(|t| t.word).filter(|w| !w.chars().all(is_py_space)),
    );
}

/// All of jieba's tokens of `text`, whitespace included: exactly what `jieba.lcut(text)` returns
/// (for comparing with Python jieba; the rules use `split_jieba`).
pub fn jieba_lcut(text: &str) -> Vec<&str> {
    JIEBA.cut(text, true).into_iter().map(|t| t.word).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sentences of the shared corpus (`deb:libreoffice-help-zh-cn`, `deb:manpages-zh` in
    /// traditional characters, `deb:fortunes-zh`); the expected lists are Python jieba 0.42.1's
    /// `jieba.lcut` output with its whitespace tokens dropped.
    #[test]
    fn words_like_python_jieba() {
        let cases: [(&str, &[&str]); 4] = [
            (
                "使用「侧边栏」的「样式」窗格为单元格和页面分配样式。您可以应用、更新和修改现有样式或创建新样式。",
                &[
                    "使用",
                    "「",
                    "侧边",
                    "栏",
                    "」",
                    "的",
                    "「",
                    "样式",
                    "」",
                    "窗格",
                    "为",
                    "单元格",
                    "和",
                    "页面",
                    "分配",
                    "样式",
                    "。",
                    "您",
                    "可以",
                    "应用",
                    "、",
                    "更新",
                    "和",
                    "修改",
                    "现有",
                    "样式",
                    "或",
                    "创建",
                    "新",
                    "样式",
                    "。",
                ],
            ),
            (
                "测试数字或字符串表达式是否可以转换为「日期」变量。",
                &[
                    "测试",
                    "数字",
                    "或",
                    "字符串",
                    "表达式",
                    "是否",
                    "可以",
                    "转换",
                    "为",
                    "「",
                    "日期",
                    "」",
                    "变量",
                    "。",
                ],
            ),
            (
                "socket() 建立一個用於交流的端點並且返回一個描述符。",
                &[
                    "socket",
                    "(",
                    ")",
                    "建立",
                    "一個",
                    "用",
                    "於",
                    "交流",
                    "的",
                    "端點",
                    "並且",
                    "返回",
                    "一個",
                    "描述符",
                    "。",
                ],
            ),
            (
                "癸卯岁西原贼入道州，焚烧杀掠，几尽而去。",
                &[
                    "癸卯", "岁", "西原", "贼", "入", "道", "州", "，", "焚烧", "杀掠", "，",
                    "几尽", "而", "去", "。",
                ],
            ),
        ];
        for (text, want) in cases {
            let mut got = Vec::new();
            split_jieba(text, &mut got);
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn whitespace_tokens_are_dropped_but_kept_by_lcut() {
        let text = "使用 Rust 语言\r\n编写  程序。";
        assert_eq!(
            jieba_lcut(text),
            ["使用", " ", "Rust", " ", "语言", "\r\n", "编写", " ", " ", "程序", "。"]
        );
        let mut got = Vec::new();
        split_jieba(text, &mut got);
        assert_eq!(got, ["使用", "Rust", "语言", "编写", "程序", "。"]);
        // Tokens are slices of the text (the word cache stores their offsets).
        let base = text.as_ptr() as usize;
        assert!(got.iter().all(|w| (w.as_ptr() as usize) >= base));
    }
}
