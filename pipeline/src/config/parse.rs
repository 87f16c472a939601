//! TOML text to [`PipelineSpec`], reporting every problem at once with its line.
//!
//! serde stops at the first error, so the file is read in two steps: first as plain TOML
//! tables with their spans, then each node table on its own. A typo in one stage therefore does
//! not hide a typo in the next.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;

use super::diagnostic::{Diagnostic, Diagnostics, LineIndex, Severity};
use super::spec::{
    PipelineSpec, RunSpec, SinkSpec, SourceSpec, StageSpec, VERSION, VERSIONS,
    resolves_paths_against_the_file,
};

/// Where each node table starts in the file, for later diagnostics.
#[derive(Debug, Clone, Default)]
pub struct SpecLocations {
    /// Byte offset of each `[[source]]` table, in file order.
    pub sources: Vec<usize>,
    /// Byte offset of each `[[stage]]` table.
    pub stages: Vec<usize>,
    /// Byte offset of each `[[sink]]` table.
    pub sinks: Vec<usize>,
}

#[derive(Deserialize)]
struct RawSpans {
    #[serde(default)]
    run: Option<Spanned<toml::Table>>,
    #[serde(default)]
    source: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    stage: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    sink: Vec<Spanned<toml::Table>>,
}

const TOP_KEYS: &[&str] = &["version", "run", "source", "stage", "sink"];

/// A diagnostics builder bound to one file.
pub(crate) struct Reporter<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
    pub(crate) lines: LineIndex<'a>,
    pub(crate) out: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self { file, text, lines: LineIndex::new(text), out: Vec::new() }
    }

    pub(crate) fn at(&mut self, severity: Severity, offset: Option<usize>, message: String) {
        let (line, column) = offset.map_or((0, 0), |o| self.lines.position(o));
        self.out.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            line,
            column,
            message,
        });
    }

    pub(crate) fn error(&mut self, offset: Option<usize>, message: String) {
        self.at(Severity::Error, offset, message);
    }

    pub(crate) fn warning(&mut self, offset: Option<usize>, message: String) {
        self.at(Severity::Warning, offset, message);
    }

    /// Offset of `key` inside the table starting at `table`, or the table itself.
    pub(crate) fn key_or_table(&self, table: usize, key: &str) -> usize {
        self.lines.find_key(table, key).unwrap_or(table)
    }
}

/// Parses a pipeline file. Returns the spec with its locations, or every error found.
///
/// # Errors
/// [`Diagnostics`] listing each syntax error, unknown key, missing or mistyped field.
pub fn parse(text: &str, file: &Path) -> Result<(PipelineSpec, SpecLocations), Diagnostics> {
    let partial = parse_partial(text, file)?;
    if partial.diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(Diagnostics(partial.diagnostics));
    }
    Ok((partial.spec, partial.locations))
}

/// What [`parse_partial`] could make of a file: the nodes that parsed, and the errors of those
/// that did not, so that compiling can go on and report its own errors in the same pass.
#[derive(Debug)]
pub(crate) struct Partial {
    pub(crate) spec: PipelineSpec,
    pub(crate) locations: SpecLocations,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Names of nodes that failed to parse (references to them are not reported again).
    pub(crate) broken: Vec<String>,
}

/// Parses what can be parsed; only a TOML syntax error stops it.
pub(crate) fn parse_partial(text: &str, file: &Path) -> Result<Partial, Diagnostics> {
    let mut rep = Reporter::new(file, text);
    let top: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            rep.error(offset, format!("invalid TOML: {}", e.message()));
            return Err(Diagnostics(rep.out));
        }
    };
    let spans: RawSpans = match toml::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            let offset = e.span().map(|s| s.start);
            rep.error(
                offset,
                format!("`run`, `source`, `stage` and `sink` must be tables: {}", e.message()),
            );
            return Err(Diagnostics(rep.out));
        }
    };
    for key in top.keys().filter(|k| !TOP_KEYS.contains(&k.as_str())) {
        let at = rep.lines.find_top_key(key);
        rep.error(at, format!("unknown key `{key}` (expected one of: {})", TOP_KEYS.join(", ")));
    }
    let version = match top.get("version") {
        None => {
            rep.error(Some(0), format!("missing `version = {VERSION}` at the top of the file"));
            VERSION
        }
        Some(toml::Value::Integer(v)) if VERSIONS.iter().any(|&known| i64::from(known) == *v) => {
            u32::try_from(*v).unwrap_or(VERSION)
        }
        Some(other) => {
            let at = rep.lines.find_top_key("version");
            let known: Vec<String> = VERSIONS.iter().map(u32::to_string).collect();
            rep.error(
                at,
                format!(
                    "unsupported version {other}: this tokenmill reads versions {}",
                    known.join(" and ")
                ),
            );
            VERSION
        }
    };
    // Version 2: relative paths are the file's, wherever tokenmill runs from.
    let base = resolves_paths_against_the_file(version)
        .then(|| file.parent().unwrap_or(Path::new("")).to_path_buf());
    let base = base.as_deref();
    let run = match spans.run {
        None => RunSpec::default(),
        Some(t) => {
            let span = t.span();
            let table = with_resolved_paths(t.into_inner(), base);
            node::<RunSpec>(&mut rep, span, table, "[run]").unwrap_or_default()
        }
    };
    let mut locs = SpecLocations::default();
    let mut broken = Vec::new();
    let sources = nodes::<SourceSpec>(
        &mut rep,
        spans.source,
        ("source", base),
        &mut locs.sources,
        &mut broken,
    );
    let stages =
        nodes::<StageSpec>(&mut rep, spans.stage, ("stage", base), &mut locs.stages, &mut broken);
    let sinks =
        nodes::<SinkSpec>(&mut rep, spans.sink, ("sink", base), &mut locs.sinks, &mut broken);
    Ok(Partial {
        spec: PipelineSpec { version, run, sources, stages, sinks },
        locations: locs,
        diagnostics: rep.out,
        broken,
    })
}

/// `what` names the node kind; a `base` directory resolves relative paths (version 2).
fn nodes<T: DeserializeOwned>(
    rep: &mut Reporter<'_>,
    tables: Vec<Spanned<toml::Table>>,
    (what, base): (&str, Option<&Path>),
    locs: &mut Vec<usize>,
    broken: &mut Vec<String>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        let span = t.span();
        let start = span.start;
        let table = with_resolved_paths(t.into_inner(), base);
        let label = match table.get("name").and_then(|n| n.as_str()) {
            Some(name) => format!("{what} `{name}`"),
            None => format!("{what} #{}", i + 1),
        };
        let name = table.get("name").and_then(|n| n.as_str()).map(str::to_string);
        if let Some(spec) = node::<T>(rep, span, table, &label) {
            out.push(spec);
            locs.push(start);
        } else if let Some(name) = name {
            broken.push(name);
        }
    }
    out
}

/// Whether the values of `key` are file or directory paths: resolved against the pipeline
/// file's directory under version 2 when relative (URLs and absolute paths are left alone).
pub(crate) fn is_path_key(key: &str) -> bool {
    matches!(key, "path" | "paths" | "tokenizer" | "model" | "work_dir" | "index" | "files")
        || ["_file", "_files", "_dir", "_path", "_paths"].iter().any(|s| key.ends_with(s))
}

/// `table` with every relative path (see [`is_path_key`]) joined to `base`.
fn with_resolved_paths(mut table: toml::Table, base: Option<&Path>) -> toml::Table {
    if let Some(base) = base.filter(|b| !b.as_os_str().is_empty()) {
        for (key, value) in &mut table {
            resolve(value, base, is_path_key(key));
        }
    }
    table
}

fn resolve(value: &mut toml::Value, base: &Path, is_path: bool) {
    match value {
        toml::Value::String(s) if is_path && !s.contains("://") && !Path::new(s).is_absolute() => {
            *s = base.join(s.as_str()).display().to_string();
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| resolve(v, base, is_path)),
        toml::Value::Table(t) => {
            for (key, v) in t.iter_mut() {
                resolve(v, base, is_path_key(key));
            }
        }
        _ => {}
    }
}

fn node<T: DeserializeOwned>(
    rep: &mut Reporter<'_>,
    span: std::ops::Range<usize>,
    table: toml::Table,
    label: &str,
) -> Option<T> {
    match toml::Value::Table(table).try_into::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            let msg = e.message().to_string();
            let at = error_offset::<T>(rep, span, &msg);
            let hint = if msg.contains("missing field `type`") {
                " (every node needs a `type`, e.g. type = \"jsonl\")".to_string()
            } else {
                suggestion(&msg).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default()
            };
            rep.error(Some(at), format!("{label}: {msg}{hint}"));
            None
        }
    }
}

/// For serde's "unknown variant `X`, expected one of `a`, `b`" and "unknown field `X`,
/// expected ..." messages, the expected name closest to `X` (a typo of a stage type or option).
fn suggestion(msg: &str) -> Option<&str> {
    let rest =
        msg.strip_prefix("unknown variant `").or_else(|| msg.strip_prefix("unknown field `"))?;
    let (typo, expected) = rest.split_once('`')?;
    let names = expected.split('`').skip(1).step_by(2);
    super::compile::closest(typo, names)
}

/// Where a node's error is: deserialized again from the table's own text, toml's span points at
/// the offending key or value (line and column); failing that, the line of the key the message
/// names (e.g. "unknown field `min_char`"), else the table's header. `header` is the span toml
/// gives the table: its `[[stage]]` header.
fn error_offset<T: DeserializeOwned>(
    rep: &Reporter<'_>,
    header: std::ops::Range<usize>,
    msg: &str,
) -> usize {
    let (from, to) = table_body(rep.text, header.start);
    if let Some(body) = rep.text.get(from..to)
        && let Err(e) = toml::from_str::<T>(body)
        && e.message() == msg
        && let Some(at) = e.span()
    {
        return from + at.start;
    }
    let key = if msg.contains("unknown variant") { Some("type") } else { backticked(msg) };
    key.map_or(header.start, |key| rep.key_or_table(header.start, key))
}

/// The byte range of a table's body: from the line after its header at `start` to the next
/// table header line (or the end of the text).
fn table_body(text: &str, start: usize) -> (usize, usize) {
    let from = text[start..].find('\n').map_or(text.len(), |n| start + n + 1);
    let mut at = from;
    for line in text[from..].split_inclusive('\n') {
        if is_header(line) {
            break;
        }
        at += line.len();
    }
    (from, at)
}

/// `[name]` or `[[name]]` alone on a line (a comment may follow); not a line of a multi-line array.
fn is_header(line: &str) -> bool {
    let line = line.split('#').next().unwrap_or("").trim();
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.strip_suffix("]]"))
        .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')));
    inner.is_some_and(|n| {
        !n.is_empty()
            && n.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | ' '))
    })
}

fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text, Path::new("p.toml")) {
            Ok(_) => vec![],
            Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn reports_every_bad_node_with_its_line() {
        let text = "version = 1\nbogus = 3\n[[source]]\nname = \"a\"\ntype = \"jsonl\"\npaths = [\"x\"]\nfoo = 1\n\n[[stage]]\nname = \"s\"\ntype = \"nope\"\ninputs = [\"a\"]\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("p.toml:2:1: error: unknown key `bogus`"), "{}", errs[0]);
        assert!(
            errs[1].starts_with("p.toml:7:1: error: source `a`: unknown field `foo`"),
            "{}",
            errs[1]
        );
        // The column points at the offending value.
        assert!(
            errs[2].contains("p.toml:11:8: error: stage `s`: unknown variant `nope`"),
            "{}",
            errs[2]
        );
    }

    #[test]
    fn typos_of_types_and_options_get_a_suggestion() {
        let errs = errors(
            "version = 1\n[[stage]]\nname = \"t\"\ntype = \"tokenze\"\ninputs = [\"a\"]\n\
             [[stage]]\nname = \"l\"\ntype = \"length\"\ninputs = [\"a\"]\nmin_char = 3\n",
        );
        assert!(
            errs[0].contains("unknown variant `tokenze`")
                && errs[0].ends_with("did you mean `tokenize`?"),
            "{}",
            errs[0]
        );
        assert!(errs[1].ends_with("did you mean `min_chars`?"), "{}", errs[1]);
        assert_eq!(
            suggestion("unknown variant `zzzzzz`, expected one of `length`, `tokenize`"),
            None
        );
    }

    #[test]
    fn mistyped_values_have_their_column() {
        let errs = errors("version = 1\n[run]\nseed = 1\nbatch_docs = \"many\"\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("p.toml:4:14: error: [run]: invalid type"), "{}", errs[0]);
    }

    #[test]
    fn syntax_error_has_position() {
        let errs = errors("version = 1\n[[source]\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("p.toml:2:"), "{}", errs[0]);
    }

    #[test]
    fn missing_version_is_an_error() {
        let errs = errors("[run]\nseed = 1\n");
        assert!(errs[0].contains("missing `version = 2`"), "{errs:?}");
        let errs = errors("version = 3\n");
        assert!(errs[0].contains("reads versions 1 and 2"), "{errs:?}");
    }

    fn parsed(version: u32, file: &str) -> PipelineSpec {
        let text = format!(
            "version = {version}\n[run]\nwork_dir = \"out/work\"\n\
             [[source]]\nname = \"a\"\ntype = \"jsonl\"\npaths = [\"data/*.jsonl\", \"/abs/x.jsonl\", \"s3://b/k\"]\n\
             text_field = \"body\"\n\
             [[stage]]\nname = \"t\"\ntype = \"tokenize\"\ninputs = [\"a\"]\ntokenizer = \"tok.json\"\n\
             [[sink]]\nname = \"o\"\ntype = \"megatron\"\ninputs = [\"t\"]\npath = \"out/shards\"\n"
        );
        parse_partial(&text, Path::new(file)).expect("parses").spec
    }

    #[test]
    fn version_2_resolves_relative_paths_against_the_file() {
        let spec = parsed(2, "jobs/p.toml");
        assert_eq!(spec.run.work_dir, "jobs/out/work");
        assert_eq!(spec.sources[0].file().paths, ["jobs/data/*.jsonl", "/abs/x.jsonl", "s3://b/k"]);
        assert_eq!(spec.sources[0].file().text_field, "body", "not a path");
        let StageSpec::Tokenize(t) = &spec.stages[0] else { panic!("tokenize") };
        assert_eq!(t.tokenizer, "jobs/tok.json");
        assert_eq!(spec.sinks[0].path(), "jobs/out/shards");
        // Version 1 keeps them relative to where tokenmill runs.
        let spec = parsed(1, "jobs/p.toml");
        assert_eq!(spec.run.work_dir, "out/work");
        assert_eq!(spec.sources[0].file().paths[0], "data/*.jsonl");
    }
}
