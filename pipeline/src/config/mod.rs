//! The pipeline file: parse ([`parse`]), then compile to a [`Plan`] ([`compile`]).

mod compile;
pub(crate) mod dedup_spec;
mod diagnostic;
mod filter_spec;
mod model_spec;
mod parse;
pub mod spec;
mod stages;

pub use compile::{Edge, EdgeKind, Node, NodeId, Plan, Port, Role, compile, load};
pub use dedup_spec::*;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use parse::{SpecLocations, parse};
pub use spec::*;
pub(crate) use stages::for_each_stage;

#[cfg(test)]
mod tests;
