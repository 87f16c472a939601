//! A small arena DOM, built by [`super::build`] from [`super::tokenize`]'s tokens.
//!
//! Nodes live in one `Vec` and refer to each other by index, so building and walking the tree
//! costs no reference counting and the whole tree is freed at once. Text and attribute values
//! borrow from the source unless they held character references.

use std::borrow::Cow;

use super::tokenize::Attr;

/// Index of a node in [`Dom::nodes`].
pub(crate) type NodeId = usize;

/// What a node is.
#[derive(Debug)]
pub(crate) enum NodeData<'a> {
    Document,
    Element {
        /// The lower-cased tag name.
        name: Cow<'a, str>,
        /// The attributes the extractor reads (see [`super::tokenize`]).
        attrs: Vec<Attr<'a>>,
        /// Inside `<svg>` or `<math>` (not HTML).
        foreign: bool,
    },
    Text(Cow<'a, str>),
}

/// One node and its links.
#[derive(Debug)]
pub(crate) struct Node<'a> {
    pub(crate) parent: Option<NodeId>,
    pub(crate) first_child: Option<NodeId>,
    pub(crate) last_child: Option<NodeId>,
    pub(crate) prev: Option<NodeId>,
    pub(crate) next: Option<NodeId>,
    pub(crate) data: NodeData<'a>,
}

/// A parsed document; node 0 is the document node.
#[derive(Debug)]
pub(crate) struct Dom<'a> {
    pub(crate) nodes: Vec<Node<'a>>,
}

impl<'a> Dom<'a> {
    /// Parses an HTML document (never fails: HTML parsing recovers from anything).
    pub(crate) fn parse(html: &'a str) -> Dom<'a> {
        super::build::build(html)
    }

    /// The local name of an element, or `None` for other nodes.
    pub(crate) fn tag(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[id].data {
            NodeData::Element { name, .. } => Some(name),
            _ => None,
        }
    }

    /// An attribute's value.
    pub(crate) fn attr(&self, id: NodeId, attr: &str) -> Option<&str> {
        match &self.nodes[id].data {
            NodeData::Element { attrs, .. } => attrs.iter().find(|a| a.0 == attr).map(|a| &*a.1),
            _ => None,
        }
    }

    /// The children of a node, in order.
    pub(crate) fn children(&self, id: NodeId) -> Children<'_, 'a> {
        Children { dom: self, next: self.nodes[id].first_child }
    }
}

/// Iterator over a node's children.
pub(crate) struct Children<'d, 'a> {
    dom: &'d Dom<'a>,
    next: Option<NodeId>,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let id = self.next?;
        self.next = self.dom.nodes[id].next;
        Some(id)
    }
}

/// A node with no links.
pub(crate) fn new_node(data: NodeData<'_>) -> Node<'_> {
    Node { parent: None, first_child: None, last_child: None, prev: None, next: None, data }
}
