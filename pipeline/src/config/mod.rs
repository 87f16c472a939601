//! The pipeline file: parse ([`parse`]), then compile to a [`Plan`] ([`compile`]).

mod compile;
mod diagnostic;
mod parse;
pub mod spec;

pub(crate) use crate::stage::for_each_stage;
pub use compile::{Edge, EdgeKind, Node, NodeId, Plan, Port, Role, compile, load};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use parse::{SpecLocations, parse};
pub use spec::*;

#[cfg(test)]
mod tests;
