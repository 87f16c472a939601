//! The tree builder: turns tokens into a [`Dom`] with the HTML standard's common recovery
//! rules: implied `<html>`/`<head>`/`<body>`, paragraphs closed by blocks, list items, table
//! cells and rows closing their open siblings, implied `<tbody>`/`<tr>`, void elements, raw
//! text, end tags that close their unclosed children (or are ignored when nothing matches),
//! and `<svg>`/`<math>` content left on HTML tags that break out of it.
//!
//! Left out, as they change little in the text a reader sees: reconstructing formatting
//! elements across blocks (the adoption agency), moving stray table content before the table
//! (foster parenting), and the restrictions of `<select>` and `<form>`.

use std::borrow::Cow;

use super::dom::{Dom, NodeData, NodeId, new_node};
use super::tags::{breaks_out_of_foreign, closes_p, is_head_tag, is_special, is_void, raw_text};
use super::tokenize::{Attr, Token, Tokenizer};

/// Which elements bound a scope search.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Default,
    Button,
    ListItem,
    Table,
}

/// Parses `html` into a DOM.
pub(crate) fn build(html: &str) -> Dom<'_> {
    let mut b = Builder {
        nodes: vec![new_node(NodeData::Document)],
        stack: Vec::new(),
        html: None,
        head: None,
        body: None,
        quirks: true,
    };
    let mut tokens = Tokenizer::new(html);
    let mut first = true;
    while let Some(token) = tokens.next_token() {
        match token {
            Token::Doctype(text) => {
                if first {
                    b.quirks = is_quirks_doctype(text);
                }
            }
            Token::Text(text) => b.text(text),
            Token::Start { name, attrs, self_closing } => {
                if let Some(raw) = b.start_tag(name, attrs, self_closing) {
                    tokens.set_raw(raw.0, raw.1);
                }
            }
            Token::End { name } => b.end_tag(&name),
        }
        first = false;
    }
    Dom { nodes: b.nodes }
}

/// Whether a doctype puts the page in quirks mode (the common legacy doctypes).
fn is_quirks_doctype(text: &str) -> bool {
    let d = text.trim().to_ascii_lowercase();
    if !d.starts_with("html") {
        return true;
    }
    let system_id = d.contains("http://") || d.contains("https://");
    let legacy = ["-//w3c//dtd html 4.0 transitional", "-//w3c//dtd html 3", "-//ietf//dtd html"];
    legacy.iter().any(|l| d.contains(l))
        || (!system_id
            && (d.contains("-//w3c//dtd html 4.01 transitional")
                || d.contains("-//w3c//dtd html 4.01 frameset")))
}

struct Builder<'a> {
    nodes: Vec<crate::extract::dom::Node<'a>>,
    /// Open elements, innermost last.
    stack: Vec<NodeId>,
    html: Option<NodeId>,
    head: Option<NodeId>,
    body: Option<NodeId>,
    quirks: bool,
}

impl<'a> Builder<'a> {
    fn tag(&self, id: NodeId) -> &str {
        match &self.nodes[id].data {
            NodeData::Element { name, .. } => name,
            _ => "",
        }
    }

    fn foreign(&self, id: NodeId) -> bool {
        matches!(self.nodes[id].data, NodeData::Element { foreign: true, .. })
    }

    /// Whether HTML content may go inside foreign element `id` (an integration point).
    fn integration_point(&self, id: NodeId) -> bool {
        matches!(
            self.tag(id),
            "foreignobject"
                | "desc"
                | "title"
                | "mi"
                | "mo"
                | "mn"
                | "ms"
                | "mtext"
                | "annotation-xml"
        )
    }

    fn current(&self) -> NodeId {
        self.stack.last().copied().unwrap_or(0)
    }

    fn append(&mut self, parent: NodeId, id: NodeId) {
        let last = self.nodes[parent].last_child;
        self.nodes[id].parent = Some(parent);
        self.nodes[id].prev = last;
        match last {
            Some(last) => self.nodes[last].next = Some(id),
            None => self.nodes[parent].first_child = Some(id),
        }
        self.nodes[parent].last_child = Some(id);
    }

    fn create(&mut self, parent: NodeId, name: Cow<'a, str>, attrs: Vec<Attr<'a>>) -> NodeId {
        let foreign = matches!(&*name, "svg" | "math")
            || (self.foreign(parent) && !self.integration_point(parent));
        self.nodes.push(new_node(NodeData::Element { name, attrs, foreign }));
        let id = self.nodes.len() - 1;
        self.append(parent, id);
        id
    }

    fn ensure_html(&mut self) -> NodeId {
        if let Some(html) = self.html {
            return html;
        }
        let html = self.create(0, Cow::Borrowed("html"), Vec::new());
        (self.html, self.stack) = (Some(html), vec![html]);
        html
    }

    /// Opens `<head>` (again) for head content before the body.
    fn ensure_head(&mut self) {
        let html = self.ensure_html();
        if self.head.is_some_and(|h| self.stack.contains(&h)) {
            return;
        }
        let head = match self.head {
            Some(head) => head,
            None => self.create(html, Cow::Borrowed("head"), Vec::new()),
        };
        self.head = Some(head);
        self.stack = vec![html, head];
    }

    fn ensure_body(&mut self) {
        if self.body.is_some() {
            return;
        }
        let html = self.ensure_html();
        let body = self.create(html, Cow::Borrowed("body"), Vec::new());
        (self.body, self.stack) = (Some(body), vec![html, body]);
    }

    fn text(&mut self, text: Cow<'a, str>) {
        if self.body.is_none() {
            let in_head = self.stack.len() > 1;
            let blank = text.bytes().all(|b| b.is_ascii_whitespace());
            if blank && !in_head {
                return;
            }
            if !in_head {
                self.ensure_body();
            }
        }
        let parent = self.current();
        if let Some(last) = self.nodes[parent].last_child
            && let NodeData::Text(existing) = &mut self.nodes[last].data
        {
            existing.to_mut().push_str(&text);
            return;
        }
        self.nodes.push(new_node(NodeData::Text(text)));
        let id = self.nodes.len() - 1;
        self.append(parent, id);
    }

    /// Handles a start tag; returns the raw-text mode the tokenizer must switch to, if any.
    fn start_tag(
        &mut self,
        name: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        self_closing: bool,
    ) -> Option<(&'static str, bool)> {
        match &*name {
            "html" => {
                self.ensure_html();
                return None;
            }
            "head" if self.body.is_none() => {
                self.ensure_head();
                return None;
            }
            "head" | "frameset" | "frame" => return None,
            "body" => {
                self.ensure_body();
                return None;
            }
            tag if self.body.is_none() && is_head_tag(tag) => self.ensure_head(),
            _ => self.ensure_body(),
        }
        let current = self.current();
        if self.foreign(current) && !self.integration_point(current) {
            if breaks_out_of_foreign(&name) {
                while self.stack.len() > 2 && self.foreign(self.current()) {
                    self.stack.pop();
                }
            } else {
                let id = self.create(current, name, attrs);
                if !self_closing {
                    self.stack.push(id);
                }
                return None;
            }
        }
        let name = if name == "image" { Cow::Borrowed("img") } else { name };
        if !self.close_for_start(&name) {
            return None;
        }
        let parent = self.current();
        let id = self.create(parent, name, attrs);
        let tag = self.tag(id);
        let raw = raw_text(tag).filter(|_| !self.foreign(id));
        if !(is_void(tag) || self_closing && self.foreign(id)) {
            self.stack.push(id);
        }
        raw
    }

    /// Closes what a start tag implicitly ends; `false` when the tag is to be ignored.
    fn close_for_start(&mut self, tag: &str) -> bool {
        if closes_p(tag) || (tag == "table" && !self.quirks) {
            self.close_p();
        }
        match tag {
            "li" => self.close_list_item(&["li"]),
            "dd" | "dt" => self.close_list_item(&["dd", "dt"]),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                if matches!(self.tag(self.current()), "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                    self.stack.pop();
                }
            }
            "a" => self.close_unblocked("a"),
            "button" => {
                if let Some(i) = self.in_scope(&["button"], Scope::Default) {
                    self.stack.truncate(i);
                }
            }
            "option" | "optgroup" => {
                if self.tag(self.current()) == "option" {
                    self.stack.pop();
                }
                if tag == "optgroup" && self.tag(self.current()) == "optgroup" {
                    self.stack.pop();
                }
            }
            "tr" | "td" | "th" | "tbody" | "thead" | "tfoot" | "caption" | "colgroup" | "col" => {
                return self.open_table_part(tag);
            }
            _ => {}
        }
        true
    }

    /// The stack index of the innermost open element named in `names`, within `scope`.
    fn in_scope(&self, names: &[&str], scope: Scope) -> Option<usize> {
        for (i, &id) in self.stack.iter().enumerate().rev() {
            let tag = self.tag(id);
            let foreign = self.foreign(id);
            if !foreign && names.contains(&tag) {
                return Some(i);
            }
            let bound = if foreign {
                scope != Scope::Table && self.integration_point(id)
            } else {
                match scope {
                    Scope::Table => matches!(tag, "html" | "table" | "template"),
                    _ => {
                        matches!(
                            tag,
                            "applet"
                                | "caption"
                                | "html"
                                | "table"
                                | "td"
                                | "th"
                                | "marquee"
                                | "object"
                                | "template"
                        ) || (scope == Scope::Button && tag == "button")
                            || (scope == Scope::ListItem && matches!(tag, "ol" | "ul"))
                    }
                }
            };
            if bound {
                return None;
            }
        }
        None
    }

    fn close_p(&mut self) {
        if let Some(i) = self.in_scope(&["p"], Scope::Button) {
            self.stack.truncate(i);
        }
    }

    /// Before a new `li`/`dd`/`dt`: closes the open one, unless a block other than
    /// `address`, `div` or `p` lies in between.
    fn close_list_item(&mut self, names: &[&str]) {
        for i in (0..self.stack.len()).rev() {
            let tag = self.tag(self.stack[i]);
            if names.contains(&tag) {
                self.stack.truncate(i);
                break;
            }
            if is_special(tag) && !matches!(tag, "address" | "div" | "p") {
                break;
            }
        }
        self.close_p();
    }

    /// Closes the innermost open `name` when no special element is open inside it.
    fn close_unblocked(&mut self, name: &str) {
        for i in (0..self.stack.len()).rev() {
            let tag = self.tag(self.stack[i]);
            if tag == name {
                self.stack.truncate(i);
                return;
            }
            if is_special(tag) {
                return;
            }
        }
    }

    /// Prepares the table context for a row, cell or section (implied `tbody` and `tr`);
    /// `false` when no table is open, in which case the tag is ignored.
    fn open_table_part(&mut self, tag: &str) -> bool {
        if self.in_scope(&["table"], Scope::Table).is_none() {
            return false;
        }
        let stop: &[&str] = match tag {
            "tr" => &["table", "tbody", "thead", "tfoot"],
            "td" | "th" => &["tr", "table", "tbody", "thead", "tfoot"],
            _ => &["table"],
        };
        while !stop.contains(&self.tag(self.current())) {
            self.stack.pop();
        }
        let needs_section = matches!(tag, "tr" | "td" | "th");
        if needs_section && self.tag(self.current()) == "table" {
            let id = self.create(self.current(), Cow::Borrowed("tbody"), Vec::new());
            self.stack.push(id);
        }
        if matches!(tag, "td" | "th") && self.tag(self.current()) != "tr" {
            let id = self.create(self.current(), Cow::Borrowed("tr"), Vec::new());
            self.stack.push(id);
        }
        true
    }

    fn end_tag(&mut self, name: &str) {
        if self.body.is_none() {
            match name {
                "br" => {}
                "head" | "html" | "body" if self.stack.len() > 1 => {
                    self.stack.truncate(1);
                    return;
                }
                _ => {
                    if self.stack.len() > 1 && self.tag(self.current()) == name {
                        self.stack.pop();
                    }
                    return;
                }
            }
        }
        if self.foreign(self.current()) {
            for i in (0..self.stack.len()).rev() {
                let id = self.stack[i];
                if !self.foreign(id) {
                    break;
                }
                if self.tag(id).eq_ignore_ascii_case(name) {
                    self.stack.truncate(i);
                    return;
                }
            }
        }
        match name {
            "body" | "html" => {}
            "br" => {
                self.start_tag(Cow::Borrowed("br"), Vec::new(), false);
            }
            "p" => match self.in_scope(&["p"], Scope::Button) {
                Some(i) => self.stack.truncate(i),
                None => {
                    self.create(self.current(), Cow::Borrowed("p"), Vec::new());
                }
            },
            "li" => self.close_in_scope(&["li"], Scope::ListItem),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.close_in_scope(&["h1", "h2", "h3", "h4", "h5", "h6"], Scope::Default);
            }
            "table" | "tbody" | "thead" | "tfoot" | "tr" | "td" | "th" | "caption" | "colgroup" => {
                self.close_in_scope(&[name], Scope::Table)
            }
            tag if is_special(tag) => self.close_in_scope(&[name], Scope::Default),
            _ => self.close_unblocked(name),
        }
    }

    fn close_in_scope(&mut self, names: &[&str], scope: Scope) {
        if let Some(i) = self.in_scope(names, scope) {
            self.stack.truncate(i.max(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree as nested tags, text as `'...'`.
    fn shape(dom: &Dom<'_>, id: NodeId, out: &mut String) {
        match &dom.nodes[id].data {
            NodeData::Text(t) => out.push_str(&format!("'{t}'")),
            NodeData::Element { name, .. } => {
                out.push_str(&format!("<{name}>"));
                dom.children(id).for_each(|c| shape(dom, c, out));
                out.push_str(&format!("</{name}>"));
            }
            NodeData::Document => dom.children(id).for_each(|c| shape(dom, c, out)),
        }
    }

    fn tree(html: &str) -> String {
        let dom = build(html);
        let mut out = String::new();
        shape(&dom, 0, &mut out);
        out
    }

    #[test]
    fn implied_structure() {
        assert_eq!(
            tree("<!doctype html><title>T</title><p>a<p>b<div>c</div><ul><li>x<li>y</ul>"),
            "<html><head><title>'T'</title></head><body><p>'a'</p><p>'b'</p><div>'c'</div>\
             <ul><li>'x'</li><li>'y'</li></ul></body></html>"
        );
    }

    #[test]
    fn tables_and_misnesting() {
        assert_eq!(
            tree("<table><td>a<td>b<tr><td><b>c</table>d</b><span>e</div>f"),
            "<html><body><table><tbody><tr><td>'a'</td><td>'b'</td></tr><tr><td><b>'c'</b>\
             </td></tr></tbody></table>'d'<span>'ef'</span></body></html>"
        );
    }

    #[test]
    fn foreign_and_raw() {
        assert_eq!(
            tree("<svg><path/><title>t</title><p>x<script>a<b</script><textarea>&lt;</textarea>"),
            "<html><body><svg><path></path><title>'t'</title></svg><p>'x'<script>'a<b'</script>\
             <textarea>'<'</textarea></p></body></html>"
        );
    }
}
