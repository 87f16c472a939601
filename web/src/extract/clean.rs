//! Deciding which elements are not content: boilerplate tags, hidden elements, unlikely
//! containers by class/id, and (after scoring) conditionally cleaned containers.

use super::dom::{Dom, NodeData, NodeId};
use super::score::Stats;

/// Elements never part of the main text.
const ALWAYS_REMOVED: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas",
    "button", "input", "select", "textarea", "option", "form", "nav", "aside", "footer", "menu",
    "dialog", "head", "link", "meta", "audio", "video", "map", "applet",
];

/// ARIA roles of page chrome.
const CHROME_ROLES: &[&str] =
    &["menu", "menubar", "complementary", "navigation", "alert", "alertdialog", "dialog"];

/// Class/id fragments of containers that are rarely content (ads, comments, share bars, ...).
const UNLIKELY: &[&str] = &[
    "-ad-",
    "ai2html",
    "banner",
    "breadcrumb",
    "combx",
    "comment",
    "community",
    "cover-wrap",
    "disqus",
    "extra",
    "footer",
    "gdpr",
    "header",
    "legends",
    "menu",
    "related",
    "remark",
    "replies",
    "rss",
    "shoutbox",
    "sidebar",
    "skyscraper",
    "social",
    "sponsor",
    "supplemental",
    "ad-break",
    "agegate",
    "pagination",
    "pager",
    "popup",
    "yom-remote",
    "recommend",
    "copyright",
];

/// Class/id fragments that rescue an unlikely-looking container.
const MAYBE: &[&str] =
    &["and", "article", "body", "column", "content", "main", "mathjax", "shadow"];

/// Class/id fragments of content containers, English and Chinese sites (`artibody`, `zhengwen`
/// = "main text", `neirong` = "content").
const POSITIVE: &[&str] = &[
    "article",
    "body",
    "content",
    "entry",
    "hentry",
    "h-entry",
    "main",
    "page",
    "pagination",
    "post",
    "text",
    "blog",
    "story",
    "artibody",
    "zhengwen",
    "neirong",
    "正文",
];

/// Class/id fragments of non-content containers.
const NEGATIVE: &[&str] = &[
    "-ad-",
    "hidden",
    "banner",
    "combx",
    "comment",
    "com-",
    "contact",
    "footer",
    "gdpr",
    "masthead",
    "media",
    "meta",
    "outbrain",
    "promo",
    "related",
    "scroll",
    "share",
    "shoutbox",
    "sidebar",
    "skyscraper",
    "sponsor",
    "shopping",
    "tags",
    "widget",
    "recommend",
    "copyright",
];

/// Class/id fragments of bylines, which readers show apart from the text.
const BYLINE: &[&str] = &["byline", "author", "dateline", "writtenby", "p-author"];

/// Which heuristics an extraction attempt applies (later attempts relax them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flags {
    pub(crate) strip_unlikely: bool,
    pub(crate) weight_classes: bool,
    pub(crate) clean_conditionally: bool,
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Lower-cased `class` and `id`, joined by a space.
pub(crate) fn class_and_id(dom: &Dom<'_>, id: NodeId) -> String {
    let class = dom.attr(id, "class").unwrap_or("");
    let ident = dom.attr(id, "id").unwrap_or("");
    let mut s = String::with_capacity(class.len() + ident.len() + 1);
    s.push_str(class);
    s.push(' ');
    s.push_str(ident);
    s.make_ascii_lowercase();
    s
}

/// +25 per positive, -25 per negative hint in `class` and in `id` separately.
pub(crate) fn class_weight(dom: &Dom<'_>, id: NodeId) -> f32 {
    let mut weight = 0.0;
    for attr in ["class", "id"] {
        let Some(value) = dom.attr(id, attr) else { continue };
        let value = value.to_ascii_lowercase();
        let hid = value.split_ascii_whitespace().any(|w| w == "hid");
        if hid || contains_any(&value, NEGATIVE) {
            weight -= 25.0;
        }
        if contains_any(&value, POSITIVE) {
            weight += 25.0;
        }
    }
    weight
}

/// Whether an element is hidden from readers by attribute or inline style.
fn is_hidden(dom: &Dom<'_>, id: NodeId) -> bool {
    if dom.attr(id, "hidden").is_some() {
        return true;
    }
    if dom.attr(id, "aria-hidden").is_some_and(|v| v.trim() == "true")
        && !dom.attr(id, "class").is_some_and(|c| c.contains("fallback-image"))
    {
        return true;
    }
    dom.attr(id, "style").is_some_and(|style| {
        let compact: String =
            style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        compact.contains("display:none") || compact.contains("visibility:hidden")
    })
}

/// Marks the subtrees that are not content before scoring; `removed[id]` hides `id` and,
/// by the walks that read it, everything below.
pub(crate) fn prune(dom: &Dom<'_>, flags: Flags, title: &str) -> Vec<bool> {
    let mut removed = vec![false; dom.nodes.len()];
    let mut stack = vec![(0usize, false)];
    let mut title_header_removed = false;
    while let Some((id, in_code)) = stack.pop() {
        let NodeData::Element { .. } = &dom.nodes[id].data else {
            if matches!(dom.nodes[id].data, NodeData::Document) {
                stack.extend(dom.children(id).map(|c| (c, in_code)));
            }
            continue;
        };
        let tag = dom.tag(id).unwrap_or("");
        if ALWAYS_REMOVED.contains(&tag) || is_hidden(dom, id) {
            removed[id] = true;
            continue;
        }
        if dom.attr(id, "role").is_some_and(|r| CHROME_ROLES.contains(&r.trim())) {
            removed[id] = true;
            continue;
        }
        if flags.strip_unlikely && !in_code && is_unlikely(dom, id, tag) {
            removed[id] = true;
            continue;
        }
        if !title_header_removed && matches!(tag, "h1" | "h2") && duplicates_title(dom, id, title) {
            title_header_removed = true;
            removed[id] = true;
            continue;
        }
        let in_code = in_code || matches!(tag, "table" | "code" | "pre");
        stack.extend(dom.children(id).map(|c| (c, in_code)));
    }
    removed
}

fn is_unlikely(dom: &Dom<'_>, id: NodeId, tag: &str) -> bool {
    if matches!(tag, "html" | "body" | "a" | "article" | "main") {
        return false;
    }
    let hints = class_and_id(dom, id);
    if hints.len() <= 1 {
        return is_byline(dom, id);
    }
    (contains_any(&hints, UNLIKELY) && !contains_any(&hints, MAYBE)) || is_byline(dom, id)
}

/// A short byline element (`rel=author`, `itemprop=author`, or a byline class/id).
fn is_byline(dom: &Dom<'_>, id: NodeId) -> bool {
    let marked = dom.attr(id, "rel") == Some("author")
        || dom.attr(id, "itemprop").is_some_and(|v| v.contains("author"))
        || contains_any(&class_and_id(dom, id), BYLINE);
    marked && {
        let len = subtree_text(dom, id).chars().filter(|c| !c.is_whitespace()).count();
        len > 0 && len < 100
    }
}

/// All text under a node (for the rare checks that need it before statistics exist).
pub(crate) fn subtree_text(dom: &Dom<'_>, id: NodeId) -> String {
    let mut out = String::new();
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        if let NodeData::Text(t) = &dom.nodes[n].data {
            out.push_str(t);
            out.push(' ');
        }
        let children: Vec<NodeId> = dom.children(n).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// Whether a heading repeats the page title (readers show the title separately).
fn duplicates_title(dom: &Dom<'_>, id: NodeId, title: &str) -> bool {
    if title.is_empty() {
        return false;
    }
    let heading = subtree_text(dom, id).to_lowercase();
    let words: Vec<&str> = heading.split_whitespace().collect();
    if words.is_empty() {
        return false;
    }
    let title_words: Vec<&str> = title.split_whitespace().collect();
    let total: usize = words.iter().map(|w| w.len()).sum();
    let missing: usize = words.iter().filter(|w| !title_words.contains(w)).map(|w| w.len()).sum();
    total > 0 && (missing as f32) / (total as f32) < 0.25
}

/// Readability's "clean conditionally": whether a container inside the article looks like
/// chrome (mostly links, images without text, lists longer than their prose, forms).
pub(crate) fn is_fishy(
    dom: &Dom<'_>,
    id: NodeId,
    stats: &Stats,
    weight: f32,
    data_table: bool,
) -> bool {
    let tag = dom.tag(id).unwrap_or("");
    if data_table {
        return false;
    }
    if weight < 0.0 {
        return true;
    }
    if stats.commas >= 10 {
        return false;
    }
    let is_list = matches!(tag, "ul" | "ol");
    let (p, img, li) = (stats.p as f32, stats.img as f32, stats.li as f32 - 100.0);
    let density = stats.link_density();
    let len = stats.chars;
    (img > 1.0 && p / img < 0.5)
        || (!is_list && li > p)
        || (stats.input as f32 > (p / 3.0).floor())
        || (!is_list && len < 25 && (stats.img == 0 || stats.img > 2))
        || (!is_list && weight < 25.0 && density > 0.2)
        || (weight >= 25.0 && density > 0.5)
        || (stats.embed == 1 && len < 75)
        || stats.embed > 1
}
