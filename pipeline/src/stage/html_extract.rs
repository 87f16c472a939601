//! `type = "html_extract"`: a page's main content as text ([`tokenmill_web::extract`]).
//!
//! The document's text (HTML, as a `warc` or `html` source gives it) becomes the page's main
//! text, one line per block (paragraph, heading, list item, table row); scripts, styles,
//! navigation, footers and boilerplate containers are left out. A page with less main text than
//! `min_text_chars` is dropped (`no_main_content`). The `<title>` goes into the `title`
//! metadata field, and onto the first line of the text with `include_title`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenmill_web::extract::{ExtractOptions, Extractor};

use super::{BuildOperator, Operator, Outcome, Transform};
use crate::document::Document;

/// `type = "html_extract"`: HTML to main text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlExtractSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes (documents whose text is HTML).
    pub inputs: Vec<String>,
    /// Put the page title on the first line of the text.
    #[serde(default)]
    pub include_title: bool,
    /// Pages with fewer characters of main text (title not counted) are dropped.
    #[serde(default = "default_min_text_chars")]
    pub min_text_chars: usize,
}

fn default_min_text_chars() -> usize {
    ExtractOptions::default().min_text_chars
}

/// The stage: one extractor shared by every worker.
#[derive(Debug)]
pub struct HtmlExtract {
    extractor: Extractor,
}

impl Transform for HtmlExtract {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let url = doc.metadata.get("url").and_then(Value::as_str);
        match self.extractor.extract(&doc.text, url) {
            Some(page) => {
                if let Some(title) = page.title {
                    doc.metadata.insert("title".into(), Value::String(title));
                }
                doc.text = page.text;
                Outcome::keep()
            }
            None => Outcome { dropped: Some("no_main_content"), counts: Vec::new() },
        }
    }
}

impl BuildOperator for HtmlExtractSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        let options = ExtractOptions {
            include_title: self.include_title,
            min_text_chars: self.min_text_chars,
            ..ExtractOptions::default()
        };
        Ok(Some(Operator::Transform(Box::new(HtmlExtract { extractor: Extractor::new(options) }))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(toml: &str) -> Operator {
        let spec: HtmlExtractSpec =
            toml::from_str(&format!("name = \"x\"\ninputs = [\"in\"]\n{toml}")).expect("spec");
        spec.operator().expect("builds").expect("per batch")
    }

    #[test]
    fn keeps_the_article_and_its_title_drops_pages_without_one() {
        let Operator::Transform(t) = stage("include_title = true") else { panic!("a transform") };
        let html = "<html><head><title>新闻标题</title></head><body><nav>首页 | 登录 | 打开APP</nav>\
            <article><p>这是一篇关于城市交通的报道，记者走访了多个地铁站，了解早高峰的客流情况。</p>\
            <p>市民表示，新线路开通后通勤时间明显缩短。</p></article><footer>版权所有</footer></body></html>";
        let mut doc = Document::new("p", html);
        assert_eq!(t.apply(&mut doc), Outcome::keep());
        assert_eq!(doc.metadata.get("title").and_then(Value::as_str), Some("新闻标题"));
        assert!(doc.text.starts_with("新闻标题\n"), "{}", doc.text);
        assert!(
            doc.text.contains("记者走访了多个地铁站") && doc.text.contains("通勤时间明显缩短"),
            "{}",
            doc.text
        );
        assert!(!doc.text.contains("打开APP") && !doc.text.contains("版权所有"), "{}", doc.text);
        let mut empty = Document::new("e", "<html><body><nav>首页</nav></body></html>");
        assert_eq!(t.apply(&mut empty).dropped, Some("no_main_content"));
    }
}
