//! Main-content extraction from HTML.
//!
//! The algorithm follows the well-known readability approach, adapted to count characters (so
//! Chinese text, which has no spaces, scores fairly) and to Chinese class/id conventions:
//! 1. drop what is never content: scripts, styles, forms, `nav`/`aside`/`footer`, hidden
//!    elements, chrome ARIA roles, and containers whose class/id suggest comments, ads, share
//!    bars, related links and the like;
//! 2. score each paragraph (`p`, `td`, `pre`, headings, text-only `div`s, loose text in a
//!    `div`) by length and commas (`,` and `，`), and credit its ancestors, less the further up;
//! 3. the article is the best container after discounting links, moved up to a common ancestor
//!    when the strong candidates share one, plus its siblings that score well or read as prose;
//! 4. inside it, containers that look like chrome (mostly links, images without text, lists
//!    longer than the prose) are removed;
//! 5. if the result is short, it is retried with the heuristics of step 1, class weights and
//!    step 4 switched off in turn, and the longest result is kept.
//!
//! The text has one line per block (paragraph, heading, list item, table row, `<br>`), with
//! whitespace collapsed within lines and entities decoded; there are no empty lines.

mod build;
mod clean;
mod dom;
mod score;
mod select;
mod tags;
mod text;
mod tokenize;

use clean::Flags;
use dom::Dom;
use text::TextBuilder;

/// Settings of an [`Extractor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Put the page title on the first line of [`Extracted::text`].
    pub include_title: bool,
    /// Extracted text shorter than this many characters (not counting the title) gives `None`.
    pub min_text_chars: usize,
    /// Below this many characters, extraction is retried with relaxed heuristics.
    pub retry_below_chars: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { include_title: false, min_text_chars: 25, retry_below_chars: 500 }
    }
}

/// The main content of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The `<title>`, whitespace collapsed.
    pub title: Option<String>,
    /// The main text: one line per block.
    pub text: String,
}

/// Extracts the main text of HTML pages; cheap to create, immutable, shareable across threads.
#[derive(Debug, Clone, Default)]
pub struct Extractor {
    options: ExtractOptions,
}

/// The heuristics of each attempt, strictest first.
const ATTEMPTS: [Flags; 4] = [
    Flags { strip_unlikely: true, weight_classes: true, clean_conditionally: true },
    Flags { strip_unlikely: false, weight_classes: true, clean_conditionally: true },
    Flags { strip_unlikely: false, weight_classes: false, clean_conditionally: true },
    Flags { strip_unlikely: false, weight_classes: false, clean_conditionally: false },
];

impl Extractor {
    /// Creates an extractor.
    pub fn new(options: ExtractOptions) -> Self {
        Extractor { options }
    }

    /// The main text of `html`, or `None` when it is shorter than
    /// [`ExtractOptions::min_text_chars`].
    ///
    /// `url` is the page's address; it is accepted so that callers need not change when
    /// site-aware rules arrive, and is not used yet.
    ///
    /// ```
    /// use tokenmill_web::extract::{ExtractOptions, Extractor};
    /// let html = "<body><div class=menu><a href=/>Home</a></div><article>\
    ///     <p>First paragraph of the story, with enough words to count.</p>\
    ///     <p>Second paragraph.</p></article></body>";
    /// let page = Extractor::new(ExtractOptions::default()).extract(html, None).unwrap();
    /// assert_eq!(page.text, "First paragraph of the story, with enough words to count.\n\
    ///     Second paragraph.");
    /// ```
    pub fn extract(&self, html: &str, url: Option<&str>) -> Option<Extracted> {
        let _ = url;
        let dom = Dom::parse(html);
        let title = text::title(&dom);
        let title_lower = title.as_deref().unwrap_or("").to_lowercase();
        let mut best = String::new();
        let mut best_chars = 0;
        for flags in ATTEMPTS {
            let text = extract_with(&dom, flags, &title_lower);
            let chars = text.chars().count();
            if chars > best_chars {
                (best, best_chars) = (text, chars);
            }
            if best_chars >= self.options.retry_below_chars {
                break;
            }
        }
        if best_chars < self.options.min_text_chars {
            return None;
        }
        if self.options.include_title
            && let Some(title) = &title
        {
            best = format!("{title}\n{best}");
        }
        Some(Extracted { title, text: best })
    }
}

/// One extraction attempt.
fn extract_with(dom: &Dom<'_>, flags: Flags, title: &str) -> String {
    let mut removed = clean::prune(dom, flags, title);
    let order = score::preorder(dom, 0, &removed);
    let stats = score::compute_stats(dom, &order);
    let scores = score::score_paragraphs(dom, &order, &stats, flags);
    let Some((top, roots)) = select::select(dom, &order, &stats, &scores) else {
        return String::new();
    };
    select::clean_article(dom, &roots, top, &mut removed, &stats, &scores, flags);
    let mut out = TextBuilder::default();
    for root in roots {
        text::write_text(dom, root, &removed, &mut out);
        out.newline();
    }
    out.finish()
}

/// All text of an HTML document (no content selection): blocks on their own lines, scripts,
/// styles and `<head>` skipped. Useful as a fallback and to compare extractions.
pub fn html_to_text(html: &str) -> String {
    text::document_text(&Dom::parse(html))
}
