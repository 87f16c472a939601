//! Turning a subtree into text: one line per block, whitespace collapsed within lines.

use super::dom::{Dom, NodeData, NodeId};
use super::score::BLOCK;

/// Accumulates text, collapsing whitespace and merging line breaks.
#[derive(Debug, Default)]
pub(crate) struct TextBuilder {
    out: String,
    pending_space: bool,
}

impl TextBuilder {
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    /// Appends text; in preformatted text, newlines end lines.
    pub(crate) fn push(&mut self, text: &str, pre: bool) {
        for c in text.chars() {
            if c == '\n' && pre {
                self.newline();
            } else if c.is_whitespace() || c == '\u{a0}' {
                self.pending_space = true;
            } else {
                if self.pending_space && !self.at_line_start() {
                    self.out.push(' ');
                }
                self.pending_space = false;
                self.out.push(c);
            }
        }
    }

    /// Separates what follows by a space (a table cell, an image).
    pub(crate) fn space(&mut self) {
        self.pending_space = true;
    }

    /// Ends the current line, if it has anything.
    pub(crate) fn newline(&mut self) {
        if !self.at_line_start() {
            self.out.push('\n');
        }
        self.pending_space = false;
    }

    pub(crate) fn finish(mut self) -> String {
        while self.out.ends_with('\n') {
            self.out.pop();
        }
        self.out
    }
}

/// Writes the text of `root` (removed subtrees skipped) into `out`.
pub(crate) fn write_text(dom: &Dom<'_>, root: NodeId, removed: &[bool], out: &mut TextBuilder) {
    let mut stack = vec![(root, false)];
    let mut pre_depth = 0usize;
    while let Some((id, exiting)) = stack.pop() {
        if removed[id] {
            continue;
        }
        let node = &dom.nodes[id];
        let tag = match &node.data {
            NodeData::Text(text) => {
                out.push(text, pre_depth > 0);
                continue;
            }
            NodeData::Element { name, .. } => &**name,
            NodeData::Document => "",
        };
        let line = BLOCK.contains(&tag) && !matches!(tag, "td" | "th");
        if exiting {
            if line {
                out.newline();
            }
            if matches!(tag, "td" | "th") {
                out.space();
            }
            pre_depth -= usize::from(tag == "pre");
            continue;
        }
        match tag {
            _ if line => out.newline(),
            "td" | "th" | "img" => out.space(),
            _ => {}
        }
        pre_depth += usize::from(tag == "pre");
        stack.push((id, true));
        let first = stack.len();
        stack.extend(dom.children(id).map(|c| (c, false)));
        stack[first..].reverse();
    }
}

/// The document's `<title>`, whitespace collapsed.
pub(crate) fn title(dom: &Dom<'_>) -> Option<String> {
    let id = (0..dom.nodes.len()).find(|&id| {
        dom.tag(id) == Some("title")
            && matches!(&dom.nodes[id].data, NodeData::Element { foreign: false, .. })
    })?;
    let mut out = TextBuilder::default();
    for child in dom.children(id) {
        if let NodeData::Text(text) = &dom.nodes[child].data {
            out.push(text, false);
        }
    }
    let text = out.finish();
    (!text.is_empty()).then_some(text)
}

/// Elements whose content is never text.
const NOT_TEXT: &[&str] = &["script", "style", "noscript", "template", "head"];

/// All text of a document, blocks on their own lines (no content selection).
pub(crate) fn document_text(dom: &Dom<'_>) -> String {
    let removed: Vec<bool> =
        (0..dom.nodes.len()).map(|id| dom.tag(id).is_some_and(|t| NOT_TEXT.contains(&t))).collect();
    let mut out = TextBuilder::default();
    write_text(dom, 0, &removed, &mut out);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        document_text(&Dom::parse(html))
    }

    #[test]
    fn blocks_become_lines() {
        let html = "<h1>Title</h1><p>One  <b>bold</b>\n word.</p><ul><li>a</li><li>b &amp; c</li></ul>\
            <table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>";
        assert_eq!(text(html), "Title\nOne bold word.\na\nb & c\nx y\nz");
    }

    #[test]
    fn pre_keeps_lines_and_br_breaks() {
        assert_eq!(text("<pre>a  b\nc</pre><p>x<br>y</p>"), "a b\nc\nx\ny");
    }

    #[test]
    fn scripts_and_head_skipped() {
        let html =
            "<head><title>T</title><style>p{}</style></head><body><script>x()</script>Hi</body>";
        assert_eq!(text(html), "Hi");
        assert_eq!(title(&Dom::parse(html)).as_deref(), Some("T"));
    }
}
