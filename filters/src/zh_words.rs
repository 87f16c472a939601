//! Chinese word segmentation: Python jieba 0.42.1's default mode (`jieba.lcut(text)`: accurate
//! mode, HMM for unknown words), through the `jieba-rs` crate and its embedded dictionary.
//!
//! jieba emits every whitespace character (and `\r\n`) as a token of its own; the rules count
//! words the way `str.split()` would, so those tokens are dropped here and the contract of
//! `words::split_words` holds: tokens are never empty and never contain whitespace.
//! Punctuation (`，`, `。`, `"`) stays a token, as it does with the English tokenizer.
//!
//! One correction to jieba-rs: its HMM step keeps ASCII runs joined by `.`, `_` or `-` whole
//! (`types.h`, `AF_UNIX`, `64-bit`), where Python jieba's (`finalseg.re_skip`,
//! `[a-zA-Z0-9]+(?:\.\d+)?%?`) splits them (`types` `.` `h`); such tokens are split again the
//! Python way (`push_python_skip`). jieba's dictionary has no word with those characters, so
//! only HMM output is affected.

use std::sync::LazyLock;

use jieba_rs::Jieba;

use crate::chars::is_py_space;

/// One dictionary for the whole process: building it parses ~350k entries (tens of ms), far too
/// slow per document or per filter.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Appends jieba's words of `text` to `out`, without its whitespace tokens.
pub(crate) fn split_jieba<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    for t in JIEBA.cut(text, true) {
        if !t.word.chars().all(is_py_space) {
            push_python_skip(t.word, out);
        }
    }
}

/// All of jieba's tokens of `text`, whitespace included: exactly what `jieba.lcut(text)` returns
/// (for comparing with Python jieba; the rules use `split_jieba`).
pub fn jieba_lcut(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for t in JIEBA.cut(text, true) {
        push_python_skip(t.word, &mut out);
    }
    out
}

/// Pushes `token`, split as Python jieba's HMM step splits a non-Han run when it is an ASCII
/// run that jieba-rs joined with `.`, `_` or `-`: alphanumeric runs with at most one `.digits`
/// and a `%` (`1m9.3.1` → `1m9.3` `.` `1`), the characters between them as they are.
fn push_python_skip<'a>(token: &'a str, out: &mut Vec<&'a str>) {
    let b = token.as_bytes();
    let joined = b.len() > 2
        && b[0].is_ascii_alphanumeric()
        && token.is_ascii()
        && b.iter().any(|c| matches!(c, b'.' | b'_' | b'-'));
    if !joined {
        out.push(token);
        return;
    }
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_alphanumeric() {
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < b.len() && b[i] == b'%' {
                i += 1;
            }
        } else {
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
        }
        out.push(&token[start..i]);
    }
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
    fn identifiers_split_like_python_jieba() {
        // Python jieba 0.42.1's `jieba.lcut` of lines of `deb:manpages-zh` and
        // `deb:fortunes-zh` in the shared corpus.
        let cases: [(&str, &[&str]); 3] = [
            ("包含 sys/types.h 文件", &["包含", " ", "sys", "/", "types", ".", "h", " ", "文件"]),
            ("设置AF_UNIX参数", &["设置", "AF", "_", "UNIX", "参数"]),
            (
                "real 1m9.3.1 user 0m0.035s 64-bit",
                &[
                    "real", " ", "1m9.3", ".", "1", " ", "user", " ", "0m0.035", "s", " ", "64",
                    "-", "bit",
                ],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(jieba_lcut(text), want, "{text}");
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
