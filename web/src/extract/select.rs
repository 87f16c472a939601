//! Choosing the article: the top candidate, its better-scoring ancestors, joined siblings, and
//! the conditional clean-up of what was chosen.

use super::clean::{Flags, class_and_id, class_weight, is_fishy};
use super::dom::{Dom, NodeId};
use super::score::{Scores, Stats, preorder};

/// How many top candidates are compared when looking for a shared ancestor.
const TOP_CANDIDATES: usize = 5;
/// How many of them must share an ancestor for it to become the article.
const MIN_SHARING: usize = 3;

/// The article's root elements, in document order, or `None` when the page has no body.
pub(crate) fn select(
    dom: &Dom<'_>,
    order: &[NodeId],
    stats: &[Stats],
    scores: &Scores,
) -> Option<(NodeId, Vec<NodeId>)> {
    let body = order.iter().copied().find(|&id| dom.tag(id) == Some("body"))?;
    let mut final_score: Vec<Option<f32>> = scores.score.clone();
    let mut ranked: Vec<(f32, NodeId)> = Vec::new();
    for &id in order {
        if let Some(score) = &mut final_score[id] {
            *score *= 1.0 - stats[id].link_density();
            ranked.push((*score, id));
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(TOP_CANDIDATES);
    let Some(&(top_score, mut top)) = ranked.first() else { return Some((body, vec![body])) };
    if matches!(dom.tag(top), Some("body" | "html")) {
        return Some((body, vec![body]));
    }
    top = shared_ancestor(dom, body, top, top_score, &ranked).unwrap_or(top);
    top = climb_scores(dom, body, top, &final_score);
    // A lone child says nothing its parent does not; prefer the parent.
    while let Some(parent) = dom.nodes[top].parent {
        if parent == body || dom.children(parent).filter(|&c| dom.tag(c).is_some()).count() != 1 {
            break;
        }
        top = parent;
    }
    let top_score = final_score[top].unwrap_or(top_score);
    Some((top, siblings(dom, top, top_score, stats, &final_score)))
}

/// When several strong candidates sit under one ancestor of the top one, that ancestor.
fn shared_ancestor(
    dom: &Dom<'_>,
    body: NodeId,
    top: NodeId,
    top_score: f32,
    ranked: &[(f32, NodeId)],
) -> Option<NodeId> {
    let alternatives: Vec<Vec<NodeId>> = ranked[1..]
        .iter()
        .filter(|(score, _)| *score / top_score >= 0.75)
        .map(|&(_, id)| ancestors(dom, id))
        .collect();
    if alternatives.len() < MIN_SHARING {
        return None;
    }
    let mut node = dom.nodes[top].parent?;
    while node != body && dom.tag(node).is_some() {
        if alternatives.iter().filter(|list| list.contains(&node)).count() >= MIN_SHARING {
            return Some(node);
        }
        node = dom.nodes[node].parent?;
    }
    None
}

fn ancestors(dom: &Dom<'_>, mut id: NodeId) -> Vec<NodeId> {
    let mut out = Vec::new();
    while let Some(parent) = dom.nodes[id].parent {
        out.push(parent);
        id = parent;
    }
    out
}

/// Moves up while the parents' scores keep up with the candidate's (content split over
/// several containers scores in their common parent too).
fn climb_scores(dom: &Dom<'_>, body: NodeId, mut top: NodeId, scores: &[Option<f32>]) -> NodeId {
    let Some(mut last) = scores[top] else { return top };
    let threshold = last / 3.0;
    let mut node = dom.nodes[top].parent;
    while let Some(parent) = node {
        if parent == body || dom.tag(parent).is_none() {
            break;
        }
        if let Some(score) = scores[parent] {
            if score < threshold {
                break;
            }
            if score > last {
                top = parent;
                break;
            }
            last = score;
        }
        node = dom.nodes[parent].parent;
    }
    top
}

/// The top candidate plus those of its siblings that belong to the article.
fn siblings(
    dom: &Dom<'_>,
    top: NodeId,
    top_score: f32,
    stats: &[Stats],
    scores: &[Option<f32>],
) -> Vec<NodeId> {
    let Some(parent) = dom.nodes[top].parent else { return vec![top] };
    let threshold = (top_score * 0.2).max(10.0);
    let top_class = dom.attr(top, "class").unwrap_or("");
    let mut out = Vec::new();
    for sibling in dom.children(parent).filter(|&c| dom.tag(c).is_some()) {
        if sibling == top {
            out.push(sibling);
            continue;
        }
        let mut bonus = 0.0;
        if !top_class.is_empty() && dom.attr(sibling, "class") == Some(top_class) {
            bonus += top_score * 0.2;
        }
        if scores[sibling].is_some_and(|s| s + bonus >= threshold) {
            out.push(sibling);
            continue;
        }
        let s = &stats[sibling];
        let paragraph_like =
            dom.tag(sibling) == Some("p") || (dom.tag(sibling) == Some("div") && !s.has_block);
        if paragraph_like && s.chars > 0 {
            let density = s.link_density();
            let ends_sentence = || {
                let text = super::clean::subtree_text(dom, sibling);
                let text = text.trim_end();
                text.ends_with('.') || text.ends_with('。') || text.contains(". ")
            };
            if (s.chars > 80 && density < 0.25)
                || (s.chars <= 80 && density == 0.0 && ends_sentence())
            {
                out.push(sibling);
            }
        }
    }
    out
}

/// Marks the containers inside the article that look like chrome (see [`is_fishy`]), plus
/// short share bars and negatively weighted headings.
pub(crate) fn clean_article(
    dom: &Dom<'_>,
    roots: &[NodeId],
    top: NodeId,
    removed: &mut [bool],
    stats: &[Stats],
    scores: &Scores,
    flags: Flags,
) {
    for &root in roots {
        for id in preorder(dom, root, removed) {
            if removed[id] || id == top {
                continue;
            }
            let Some(tag) = dom.tag(id) else { continue };
            let hints = class_and_id(dom, id);
            if hints.contains("share") && stats[id].chars < 500 {
                mark(dom, id, removed);
                continue;
            }
            let conditional = matches!(tag, "form" | "fieldset" | "table" | "ul" | "div");
            let heading = matches!(tag, "h1" | "h2");
            if !(heading || conditional && flags.clean_conditionally) {
                continue;
            }
            let weight = if flags.weight_classes { class_weight(dom, id) } else { 0.0 };
            if heading {
                if weight < 0.0 {
                    mark(dom, id, removed);
                }
                continue;
            }
            let score = scores.score[id].unwrap_or(0.0);
            let data_table = tag == "table" && is_data_table(dom, id);
            if weight + score < 0.0 || is_fishy(dom, id, &stats[id], weight, data_table) {
                mark(dom, id, removed);
            }
        }
    }
}

/// Removes a node and, so later checks in the same walk skip it, all below it.
fn mark(dom: &Dom<'_>, id: NodeId, removed: &mut [bool]) {
    for n in preorder(dom, id, removed) {
        removed[n] = true;
    }
}

/// A table of data rather than of layout: it has headers or a caption, or is big.
fn is_data_table(dom: &Dom<'_>, table: NodeId) -> bool {
    if dom.attr(table, "role") == Some("presentation") {
        return false;
    }
    if dom.attr(table, "summary").is_some() {
        return true;
    }
    let (mut rows, mut cols) = (0usize, 0usize);
    let mut stack: Vec<NodeId> = dom.children(table).collect();
    while let Some(id) = stack.pop() {
        match dom.tag(id) {
            Some("caption" | "thead" | "th" | "tfoot" | "colgroup") => return true,
            Some("table") => return false,
            Some("tr") => {
                rows += 1;
                let cells = dom.children(id).filter(|&c| dom.tag(c) == Some("td")).count();
                cols = cols.max(cells);
                stack.extend(dom.children(id));
            }
            Some(_) => stack.extend(dom.children(id)),
            None => {}
        }
    }
    rows >= 10 || cols > 4 || rows * cols > 10
}
