//! Readability-style scoring: paragraphs give points to their ancestors, the best-scoring
//! container (discounted by link density) is the article, and its siblings join when they
//! score well or look like prose.

use super::clean::{Flags, class_weight};
use super::dom::{Dom, NodeData, NodeId};

/// Elements that make a `<div>` a container rather than a paragraph.
const DIV_TO_P: &[&str] = &["blockquote", "dl", "div", "img", "ol", "p", "pre", "table", "ul"];

/// Elements scored as paragraphs.
const SCORED: &[&str] = &["section", "h2", "h3", "h4", "h5", "h6", "p", "td", "pre"];

/// Elements that start a new line in text; used to cut a container's loose text into runs.
pub(crate) const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Text statistics of a subtree (removed subtrees excluded).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    /// Characters, with whitespace runs counted once; Chinese text counts per character.
    pub(crate) chars: u32,
    /// Characters inside links.
    pub(crate) link_chars: u32,
    /// `,` and `，`, a proxy for sentences.
    pub(crate) commas: u32,
    pub(crate) p: u32,
    pub(crate) img: u32,
    pub(crate) li: u32,
    pub(crate) input: u32,
    pub(crate) embed: u32,
    /// Text nodes with a copyright or licence notice (see [`LEGAL`]).
    pub(crate) legal: u32,
    /// Whether a [`DIV_TO_P`] element is below (not counting the node itself).
    pub(crate) has_block: bool,
}

impl Stats {
    pub(crate) fn link_density(&self) -> f32 {
        if self.chars == 0 { 0.0 } else { self.link_chars as f32 / self.chars as f32 }
    }

    fn add(&mut self, other: &Stats) {
        self.chars += other.chars;
        self.link_chars += other.link_chars;
        self.commas += other.commas;
        self.p += other.p;
        self.img += other.img;
        self.li += other.li;
        self.input += other.input;
        self.embed += other.embed;
        self.legal += other.legal;
        self.has_block |= other.has_block;
    }
}

/// Markers of copyright and licence lines (page footers): "©", "copyright", "all rights
/// reserved", "版权所有" (all rights reserved), "ICP备" / "ICP证" (Chinese site licence numbers).
const LEGAL: &[&str] = &[
    "©",
    "&copy",
    "opyright",
    "OPYRIGHT",
    "ights reserved",
    "ights Reserved",
    "版权所有",
    "ICP备",
    "ICP证",
];

/// Short paragraphs with a [`LEGAL`] marker are footers, not content, and score nothing.
const LEGAL_MAX_CHARS: u32 = 400;

/// Character and comma counts of a text node.
fn text_stats(text: &str) -> Stats {
    let (mut chars, mut commas, mut in_space) = (0u32, 0u32, true);
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                chars += 1;
                in_space = true;
            }
        } else {
            chars += 1;
            in_space = false;
            commas += u32::from(c == ',' || c == '，');
        }
    }
    // Only short paragraphs are checked, so long text needs no search.
    let short = chars < LEGAL_MAX_CHARS;
    let legal = u32::from(short && LEGAL.iter().any(|m| text.contains(m)));
    Stats { chars, commas, legal, ..Stats::default() }
}

/// Nodes below `root` in document order, skipping removed subtrees.
pub(crate) fn preorder(dom: &Dom<'_>, root: NodeId, removed: &[bool]) -> Vec<NodeId> {
    let mut order = Vec::with_capacity(dom.nodes.len());
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if removed[id] {
            continue;
        }
        order.push(id);
        let first = stack.len();
        stack.extend(dom.children(id));
        stack[first..].reverse();
    }
    order
}

/// Statistics of every node reached by `order` (children before parents via reverse order).
pub(crate) fn compute_stats(dom: &Dom<'_>, order: &[NodeId]) -> Vec<Stats> {
    let mut stats = vec![Stats::default(); dom.nodes.len()];
    for &id in order.iter().rev() {
        let mut own = match &dom.nodes[id].data {
            NodeData::Text(text) => text_stats(text),
            _ => Stats::default(),
        };
        own.add(&stats[id]);
        if let Some(tag) = dom.tag(id) {
            match tag {
                "a" => own.link_chars = own.chars,
                "p" => own.p += 1,
                "img" => own.img += 1,
                "li" => own.li += 1,
                "input" => own.input += 1,
                "embed" | "object" | "iframe" => own.embed += 1,
                _ => {}
            }
        }
        stats[id] = own;
        if let Some(parent) = dom.nodes[id].parent {
            let mut up = own;
            up.has_block |= dom.tag(id).is_some_and(|t| DIV_TO_P.contains(&t));
            stats[parent].add(&up);
        }
    }
    stats
}

/// Scores of candidate containers; `None` where a node is not a candidate.
pub(crate) struct Scores {
    pub(crate) score: Vec<Option<f32>>,
}

impl Scores {
    fn init(&mut self, dom: &Dom<'_>, id: NodeId, flags: Flags) {
        if self.score[id].is_some() {
            return;
        }
        let base = match dom.tag(id).unwrap_or("") {
            "div" | "article" | "main" => 5.0,
            "pre" | "td" | "blockquote" => 3.0,
            "address" | "ol" | "ul" | "dl" | "dd" | "dt" | "li" | "form" => -3.0,
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "th" => -5.0,
            _ => 0.0,
        };
        let weight = if flags.weight_classes { class_weight(dom, id) } else { 0.0 };
        self.score[id] = Some(base + weight);
    }

    /// Gives a paragraph's points to up to five ancestors, from `first` upwards.
    fn credit(&mut self, dom: &Dom<'_>, first: NodeId, para: &Stats, flags: Flags) {
        if para.chars < 25 || (para.legal > 0 && para.chars < LEGAL_MAX_CHARS) {
            return;
        }
        let points = 1.0 + para.commas as f32 + (para.chars / 100).min(3) as f32;
        let mut node = Some(first);
        for level in 0..5 {
            let Some(id) = node else { break };
            // Stop at the root element: its parent is the document, not an element.
            let parent = dom.nodes[id].parent;
            if dom.tag(id).is_none() || parent.is_none_or(|p| dom.tag(p).is_none()) {
                break;
            }
            self.init(dom, id, flags);
            let divider = match level {
                0 => 1.0,
                1 => 2.0,
                _ => level as f32 * 3.0,
            };
            if let Some(score) = &mut self.score[id] {
                *score += points / divider;
            }
            node = parent;
        }
    }
}

/// Scores every paragraph-like element of the document into its ancestors.
pub(crate) fn score_paragraphs(
    dom: &Dom<'_>,
    order: &[NodeId],
    stats: &[Stats],
    flags: Flags,
) -> Scores {
    let mut scores = Scores { score: vec![None; dom.nodes.len()] };
    for &id in order {
        let Some(tag) = dom.tag(id) else { continue };
        let parent = dom.nodes[id].parent;
        if SCORED.contains(&tag) || (tag == "div" && !stats[id].has_block) {
            if let Some(parent) = parent {
                scores.credit(dom, parent, &stats[id], flags);
            }
        } else if tag == "div" {
            // Loose text between the blocks of a container reads as paragraphs of its own.
            let mut run = Stats::default();
            for child in dom.children(id) {
                let is_block = dom.tag(child).is_some_and(|t| BLOCK.contains(&t));
                if is_block {
                    scores.credit(dom, id, &run, flags);
                    run = Stats::default();
                } else {
                    run.add(&stats[child]);
                }
            }
            scores.credit(dom, id, &run, flags);
        }
    }
    scores
}
