//! `tokenmill validate` and the pre-flight checks `run --dry-run` shares: the pipeline file
//! compiles, its inputs are listed and its stages (tokenizers, models) load.

use std::path::Path;

use anyhow::Context;

use super::{Exit, load};
use crate::config::{self, Plan};

/// Checks a pipeline file; prints what it found.
///
/// # Errors
/// Never for a bad file (that is [`Exit::Config`]); only for failures to print.
pub(super) fn validate(path: &Path) -> anyhow::Result<Exit> {
    let plan = match load(path) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    match preflight(&plan) {
        Ok(()) => {
            println!("{}: ok ({} nodes)", path.display(), plan.nodes.len());
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if config::resolves_paths_against_the_file(plan.spec.version) {
                println!(
                    "relative paths: against {} (version {})",
                    dir.display(),
                    plan.spec.version
                );
            } else {
                println!(
                    "relative paths: against the directory tokenmill runs from (version {}; `version = 2` resolves them against the file's directory)",
                    plan.spec.version
                );
            }
            Ok(Exit::Ok)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(Exit::Config)
        }
    }
}

/// The line (from 1) of the `name = "NAME"` key of node `name` in a pipeline file.
fn node_line(text: &str, name: &str) -> Option<usize> {
    let quoted = [format!("\"{name}\""), format!("'{name}'")];
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix("name").is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('=')
                    && quoted.iter().any(|q| rest[1..].trim_start().starts_with(q))
            })
        })
        .map(|i| i + 1)
}

/// Lists inputs and loads tokenizers; prints the plan.
pub(super) fn preflight(plan: &Plan) -> anyhow::Result<()> {
    let inputs = crate::build::list_sources(plan);
    let text = std::fs::read_to_string(&plan.config_path).unwrap_or_default();
    for spec in &plan.spec.stages {
        if let Err(e) = crate::build::stage_operator(spec) {
            let line = node_line(&text, spec.name()).map_or(String::new(), |l| format!(":{l}"));
            return Err(e.context(format!("{}{line}", plan.config_path.display())));
        }
    }
    crate::build::where_filters(plan).with_context(|| format!("{}", plan.config_path.display()))?;
    for (s, src) in plan.spec.sources.iter().enumerate() {
        let bytes: u64 = inputs[s].files.iter().map(|f| f.size).sum();
        println!(
            "source {} ({}): {} files, {:.1} MB",
            src.name(),
            src.kind(),
            inputs[s].files.len(),
            bytes as f64 / 1e6
        );
        for e in &inputs[s].errors {
            println!("  warning: {e}");
        }
    }
    crate::build::check_sources_not_empty(plan, &inputs)?;
    for n in &plan.nodes {
        let inputs: Vec<String> = n
            .inputs
            .iter()
            .map(|e| match e.port {
                config::Port::Main => plan.nodes[e.from].name.clone(),
                config::Port::Rejected => format!("{}.rejected", plan.nodes[e.from].name),
            })
            .collect();
        if !inputs.is_empty() {
            println!("{} ({}) <- {}", n.name, n.kind, inputs.join(", "));
        }
    }
    Ok(())
}
