//! Turning a compiled [`Plan`] into runnable parts: input lists, operators, sinks.
//!
//! This is where pre-flight checks happen: inputs are listed, tokenizers loaded and output
//! directories created before any document is read, so a typo fails in seconds, not hours.

use std::path::Path;

use anyhow::Context;
use tokenmill_shards::ShardTarget;

use crate::config::{EdgeKind, Plan, Port, Role, SinkSpec, StageSpec};
use crate::sink::{
    FlatSink, JsonlSink, MegatronSink, Naming, Output, ParquetSink, ShuffleSpec, Sink, TokenSpec,
};
use crate::source::{Format, InputError, InputErrorKind};
use crate::sql::SqlFilter;
use crate::stage::{BuildOperator, Operator};
use crate::storage::{self, InputFile, Span, StorageError};

/// The inputs of one source: files found, and paths that failed to list.
#[derive(Debug, Default, Clone)]
pub struct SourceInputs {
    /// Files, in read order.
    pub files: Vec<InputFile>,
    /// Paths that matched nothing or could not be listed.
    pub errors: Vec<InputError>,
}

/// Lists every source's inputs.
pub fn list_sources(plan: &Plan) -> Vec<SourceInputs> {
    plan.spec
        .sources
        .iter()
        .map(|s| {
            let spec = s.file();
            let mut inputs = SourceInputs::default();
            for pattern in &spec.paths {
                match storage::list_inputs(pattern, &spec.storage) {
                    Ok(files) if files.is_empty() => inputs.errors.push(listing_error(
                        pattern,
                        InputErrorKind::NotFound,
                        "no file matches".into(),
                    )),
                    Ok(files) => inputs.files.extend(files),
                    Err(StorageError::NotFound { .. }) => inputs.errors.push(listing_error(
                        pattern,
                        InputErrorKind::NotFound,
                        "no such file or object".into(),
                    )),
                    Err(e) => inputs.errors.push(listing_error(
                        pattern,
                        InputErrorKind::Unreadable,
                        e.to_string(),
                    )),
                }
            }
            inputs
        })
        .collect()
}

fn listing_error(pattern: &str, kind: InputErrorKind, message: String) -> InputError {
    InputError { kind, file: pattern.into(), line: None, offset: None, message }
}

/// Builds the operator of every stage node (`None` for sources, sinks and barriers).
///
/// # Errors
/// A tokenizer, classifier, language model or block list cannot be loaded, or a filter option
/// is out of range.
pub fn operators(plan: &Plan) -> anyhow::Result<Vec<Option<Operator>>> {
    plan.nodes
        .iter()
        .map(|n| match n.role {
            Role::Stage(i) => stage_operator(&plan.spec.stages[i]),
            _ => Ok(None),
        })
        .collect()
}

/// Refuses sources whose paths match no file at all (unless `allow_empty`): a mistyped glob
/// would otherwise give an empty dataset and exit 0.
///
/// # Errors
/// A [`Failure`](crate::failure::Failure) of kind `config` (exit 2) naming each such source and
/// its paths.
pub fn check_sources_not_empty(plan: &Plan, inputs: &[SourceInputs]) -> anyhow::Result<()> {
    let empty: Vec<String> = plan
        .spec
        .sources
        .iter()
        .zip(inputs)
        .filter(|(s, i)| i.files.is_empty() && !s.file().allow_empty)
        .map(|(s, _)| {
            format!("source `{}`: {} matches no file", s.name(), s.file().paths.join(", "))
        })
        .collect();
    if empty.is_empty() {
        return Ok(());
    }
    Err(crate::failure::Failure::new(
        crate::failure::FailureKind::Config,
        format!(
            "{} (check the paths; set `allow_empty = true` on a source that may have no input)",
            empty.join("; ")
        ),
    )
    .into())
}

macro_rules! define_stage_operator {
    ($($(#[$doc:meta])* $variant:ident($spec:ty) = $label:literal, $kind:ident;)*) => {
        /// Builds one stage's operator (`None` for a barrier, which the runner runs over all of
        /// its input).
        ///
        /// # Errors
        /// An option is out of range, or a file the spec names cannot be read or parsed; the
        /// message names the stage.
        pub fn stage_operator(spec: &StageSpec) -> anyhow::Result<Option<Operator>> {
            let built = match spec {
                $(StageSpec::$variant(s) => BuildOperator::operator(s),)*
            };
            built.with_context(|| format!("stage `{}`", spec.name()))
        }
    };
}

crate::config::for_each_stage!(define_stage_operator);

/// Builds the `where` filter of every source.
///
/// # Errors
/// An expression does not parse (already checked at compile time).
pub fn where_filters(plan: &Plan) -> anyhow::Result<Vec<Option<SqlFilter>>> {
    plan.spec
        .sources
        .iter()
        .map(|s| match &s.file().where_sql {
            Some(sql) => SqlFilter::new(sql)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("source `{}`: {e}", s.name())),
            None => Ok(None),
        })
        .collect()
}

/// Cuts inputs larger than `run.unit_bytes` into work units: uncompressed JSONL into byte
/// ranges (a line belongs to the range holding its first byte), Parquet into runs of row
/// groups. Compressed JSONL and web files (WARC records are found by reading from the start)
/// stay one unit.
pub fn split_units(plan: &Plan, inputs: &mut [SourceInputs]) {
    let unit = plan.spec.run.unit_bytes.0.max(1);
    for (s, src) in inputs.iter_mut().enumerate() {
        let format = plan.spec.sources.get(s).map(Format::of);
        let mut out = Vec::with_capacity(src.files.len());
        for f in src.files.drain(..) {
            if f.size <= unit || f.span.is_some() || matches!(format, Some(Format::Web(_))) {
                out.push(f);
            } else if format == Some(Format::Parquet) {
                match crate::source::parquet::row_group_units(&f, unit) {
                    Ok(units) if units.len() > 1 => {
                        out.extend(units.into_iter().map(|(r, bytes)| InputFile {
                            span: Some(Span::RowGroups { start: r.start, end: r.end, bytes }),
                            ..f.clone()
                        }))
                    }
                    Ok(_) => out.push(f),
                    Err(e) => {
                        // Read whole: the reader reports what is wrong with the file.
                        tracing::debug!(
                            file = f.url,
                            "cannot read the row groups to split the file: {e}"
                        );
                        out.push(f);
                    }
                }
            } else if crate::source::jsonl::Compression::from_name(&f.url)
                == crate::source::jsonl::Compression::None
            {
                let size = f.size;
                out.extend((0..size.div_ceil(unit)).map(|k| InputFile {
                    span: Some(Span::Bytes { start: k * unit, end: ((k + 1) * unit).min(size) }),
                    ..f.clone()
                }));
            } else {
                out.push(f);
            }
        }
        src.files = out;
    }
}

/// Opens every sink, in spec order.
///
/// # Errors
/// An output cannot be prepared, or a token sink's inputs use different tokenizers.
pub fn sinks(
    plan: &Plan,
    ops: &[Option<Operator>],
    inputs: &[SourceInputs],
    append: bool,
    naming: &Naming,
) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let work_dir = Path::new(&plan.spec.run.work_dir);
    let mut input_urls: Vec<String> =
        inputs.iter().flat_map(|s| s.files.iter().map(|f| f.url.clone())).collect();
    // A file cut into several units is one input.
    input_urls.dedup();
    let mut out: Vec<Box<dyn Sink>> = Vec::new();
    for (id, node) in plan.nodes.iter().enumerate() {
        let Role::Sink(i) = node.role else { continue };
        let spec = &plan.spec.sinks[i];
        // Object-store outputs stage their files in the work dir, per job-array task: tasks on
        // one machine never share a staging directory.
        let staging = match naming {
            Naming::Whole => work_dir.to_path_buf(),
            Naming::Part(tag) => work_dir.join("parts").join(tag),
        };
        let output = Output::open(spec.path(), spec.storage(), &staging, spec.name())
            .with_context(|| format!("sink `{}`", spec.name()))?;
        let sink: Box<dyn Sink> = match spec {
            SinkSpec::Jsonl(s) => {
                Box::new(JsonlSink::new(output, s.max_file_bytes.0, append, naming)?)
            }
            SinkSpec::Parquet(s) => {
                Box::new(ParquetSink::new(output, s.max_file_bytes.0, append, naming)?)
            }
            SinkSpec::Llmc(s) if *naming != Naming::Whole => anyhow::bail!(
                "sink `{}`: an llmc file is one file written by one process; in a job array use a megatron sink (then `tokenmill export`)",
                s.name
            ),
            SinkSpec::Llmc(s) if append => {
                anyhow::bail!(
                    "sink `{}`: an llmc file cannot be appended to; use a megatron sink for incremental runs",
                    s.name
                )
            }
            SinkSpec::Llmc(s) => {
                let tokens = token_spec(plan, ops, id)?;
                Box::new(FlatSink::new(output, &s.file, tokens.vocab_size)?)
            }
            SinkSpec::Megatron(s) => {
                let tokens = token_spec(plan, ops, id)?;
                let target = ShardTarget {
                    max_tokens: s.shard_max_tokens,
                    max_bytes: Some(s.shard_max_bytes.map_or(1 << 30, |b| b.0)),
                };
                let shuffle = s.shuffle_seed.map(|seed| ShuffleSpec {
                    seed,
                    memory: s.shuffle_memory.0,
                    staging: work_dir.join("unshuffled").join(&s.name),
                });
                Box::new(MegatronSink::new(
                    output,
                    &s.prefix,
                    target,
                    tokens,
                    plan.config_hash.clone(),
                    input_urls.clone(),
                    shuffle,
                    append,
                    naming,
                )?)
            }
        };
        out.push(sink);
    }
    Ok(out)
}

/// The token spec of a token sink, from the tokenize stages feeding it; they must agree.
fn token_spec(plan: &Plan, ops: &[Option<Operator>], sink: usize) -> anyhow::Result<TokenSpec> {
    let mut spec: Option<TokenSpec> = None;
    for edge in &plan.nodes[sink].inputs {
        debug_assert_eq!(edge.port, Port::Main);
        let Some(Operator::Tokenize(t)) = &ops[edge.from] else {
            anyhow::bail!("`{}` is not a tokenize stage", plan.nodes[edge.from].name)
        };
        let info = t.tokenizer().info();
        let this = TokenSpec {
            vocab_size: info.vocab_size as u64,
            eos_id: if t.appends_eos() { info.eos_id } else { None },
            bos_id: if t.prepends_bos() { info.bos_id } else { None },
            tokenizer_hash: info.hash.clone(),
            encode_path: Some(t.tokenizer().encode_path().to_string()),
        };
        match &spec {
            Some(s) if *s != this => anyhow::bail!(
                "sink `{}`: its inputs tokenize differently (tokenizer or EOS/BOS options differ); one dataset needs one tokenizer",
                plan.nodes[sink].name
            ),
            _ => spec = Some(this),
        }
    }
    spec.ok_or_else(|| anyhow::anyhow!("sink `{}` has no tokenize input", plan.nodes[sink].name))
}

/// The kind of data a node emits on its main port.
pub fn emits(plan: &Plan, node: usize) -> EdgeKind {
    match plan.nodes[node].role {
        Role::Stage(i) if matches!(plan.spec.stages[i], StageSpec::Tokenize(_)) => EdgeKind::Tokens,
        _ => EdgeKind::Docs,
    }
}
