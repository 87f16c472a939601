//! `tokenmill verify DIR --source CONFIG`: do the shards hold the pipeline's kept text?
//!
//! The pipeline is run again up to (not including) the `tokenize` stages that feed the dataset's
//! `megatron` sink, writing the documents that reach them to a scratch directory. A sample of
//! those documents is then encoded with the same tokenizer and options and must appear in the
//! shards, at the same position unless the sink shuffles; the shard copy must also decode back
//! to the source text (for tokenizers whose decoding is lossless, like byte-level BPE).

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::config::{self, DocSinkSpec, Role, RunSpec, SinkSpec, SourceSpec, StageSpec};
use crate::runner::{RunOptions, run};
use crate::stage::TokenizeStage;

/// TOML form of a spec (the file's table names).
#[derive(Serialize)]
struct SpecFile<'a> {
    version: u32,
    run: &'a RunSpec,
    source: &'a [SourceSpec],
    stage: Vec<StageSpec>,
    sink: Vec<SinkSpec>,
}

/// Runs the check; returns whether it passed.
pub(super) fn source_check(dir: &Path, config_path: &Path, sample: usize) -> anyhow::Result<bool> {
    let plan = config::load(config_path).map_err(|d| anyhow::anyhow!("{d}"))?;
    let sink_id = find_sink(&plan, dir)?;
    let Role::Sink(k) = plan.nodes[sink_id].role else { unreachable!("find_sink returns sinks") };
    let SinkSpec::Megatron(mspec) = &plan.spec.sinks[k] else {
        unreachable!("find_sink returns megatron sinks")
    };
    let tok_ids: Vec<usize> = plan.nodes[sink_id].inputs.iter().map(|e| e.from).collect();
    let Role::Stage(t0) = plan.nodes[tok_ids[0]].role else {
        anyhow::bail!("the sink's input is not a stage")
    };
    let StageSpec::Tokenize(tspec) = &plan.spec.stages[t0] else {
        anyhow::bail!("the sink's input is not a tokenize stage")
    };
    let stage = TokenizeStage::new(tspec)?;
    let kept = rerun_upstream(&plan, config_path, &tok_ids)?;
    let shards = tokenmill_shards::read_dataset_tokens(dir)?;
    let mut problems = Vec::new();
    if kept.len() != shards.len() {
        problems.push(format!(
            "the pipeline keeps {} documents, the shards hold {}",
            kept.len(),
            shards.len()
        ));
    }
    let shuffled = mspec.shuffle_seed.is_some();
    let present: HashSet<u128> =
        shards.iter().map(|d| xxh3_128(bytemuck_u32(d).as_slice())).collect();
    let n = kept.len().max(1);
    let picks: Vec<usize> = if kept.is_empty() {
        vec![]
    } else {
        // `sample` documents (or all), evenly spread, the first and the last among them.
        let m = sample.min(n);
        (0..m).map(|k| if m == 1 { n - 1 } else { k * (n - 1) / (m - 1) }).collect()
    };
    let mut checked = 0usize;
    for &i in &picks {
        let (id, text) = &kept[i];
        let want = stage
            .run(&[crate::document::Document::new(id.clone(), text.clone())])?
            .remove(0)
            .tokens;
        checked += 1;
        let found = if shuffled {
            present.contains(&xxh3_128(bytemuck_u32(&want).as_slice()))
        } else {
            shards.get(i) == Some(&want)
        };
        if !found {
            problems.push(format!(
                "document {i} ({id}): its tokens are not {}",
                if shuffled { "in the shards" } else { "at that position in the shards" }
            ));
            continue;
        }
        let body: Vec<u32> = strip_specials(&want, &stage);
        if let Ok(decoded) = stage.tokenizer().decode(&body)
            && stage.tokenizer().info().kind == "BPE"
            && &decoded != text
        {
            problems.push(format!("document {i} ({id}): decodes to different text"));
        }
    }
    for p in &problems {
        println!("FAIL source: {p}");
    }
    println!("source check tokenizer: {}", stage.tokenizer().encode_path());
    println!(
        "source check {}: {checked} sampled documents of {} compared with {}",
        if problems.is_empty() { "ok" } else { "FAILED" },
        kept.len(),
        config_path.display()
    );
    Ok(problems.is_empty())
}

/// The documents the pipeline keeps before its tokenize stages `tok_ids` (`(id, text)`, in
/// order): the pipeline run again in a scratch directory, with one document sink in place of
/// every sink.
fn rerun_upstream(
    plan: &config::Plan,
    config_path: &Path,
    tok_ids: &[usize],
) -> anyhow::Result<Vec<(String, String)>> {
    let scratch = tempfile::Builder::new().prefix("tokenmill-verify-").tempdir()?;
    let mut inputs = Vec::new();
    for &t in tok_ids {
        let Role::Stage(i) = plan.nodes[t].role else { continue };
        inputs.extend(plan.spec.stages[i].inputs().iter().cloned());
    }
    let mut run_spec = plan.spec.run.clone();
    run_spec.work_dir = scratch.path().join("work").display().to_string();
    let file = SpecFile {
        version: config::VERSION,
        run: &run_spec,
        source: &plan.spec.sources,
        stage: plan
            .spec
            .stages
            .iter()
            .filter(|s| !matches!(s, StageSpec::Tokenize(_)))
            .cloned()
            .collect(),
        sink: vec![SinkSpec::Jsonl(DocSinkSpec {
            name: "verify_source".into(),
            inputs,
            path: scratch.path().join("kept").display().to_string(),
            max_file_bytes: config::ByteSize(1 << 60),
            storage: Default::default(),
        })],
    };
    let text = toml::to_string(&file).context("cannot write the check's pipeline")?;
    let check_plan = config::compile(&text, config_path).map_err(|d| anyhow::anyhow!("{d}"))?;
    let stats = run(
        &check_plan,
        &RunOptions { progress: crate::progress::ProgressMode::Off, ..RunOptions::default() },
    )?;
    anyhow::ensure!(
        stats.status == crate::stats::RunStatus::Complete,
        "re-running the pipeline failed: {:?}",
        stats.status
    );
    read_texts(&scratch.path().join("kept"))
}

/// The megatron sink writing `dir` (or the only one).
fn find_sink(plan: &config::Plan, dir: &Path) -> anyhow::Result<usize> {
    let want = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let megatron: Vec<usize> = plan
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.role, Role::Sink(k) if matches!(plan.spec.sinks[k], SinkSpec::Megatron(_))))
        .map(|(i, _)| i)
        .collect();
    for &id in &megatron {
        let Role::Sink(k) = plan.nodes[id].role else { continue };
        if std::fs::canonicalize(plan.spec.sinks[k].path()).is_ok_and(|p| p == want) {
            return Ok(id);
        }
    }
    match megatron.as_slice() {
        [only] => Ok(*only),
        [] => anyhow::bail!("the pipeline has no megatron sink"),
        _ => anyhow::bail!("no megatron sink of the pipeline writes {}", dir.display()),
    }
}

fn read_texts(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut names: Vec<_> =
        std::fs::read_dir(dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
    names.sort();
    let mut out = Vec::new();
    for p in names.iter().filter(|p| p.to_string_lossy().ends_with(".jsonl.zst")) {
        let bytes = zstd::decode_all(std::fs::File::open(p)?)?;
        for line in String::from_utf8(bytes)?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            out.push((
                v["id"].as_str().unwrap_or_default().to_string(),
                v["text"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(out)
}

fn bytemuck_u32(tokens: &[u32]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

fn strip_specials(tokens: &[u32], stage: &TokenizeStage) -> Vec<u32> {
    let info = stage.tokenizer().info();
    let mut body = tokens;
    if stage.prepends_bos() && body.first().copied() == info.bos_id {
        body = &body[1..];
    }
    if stage.appends_eos() && body.last().copied() == info.eos_id {
        body = &body[..body.len() - 1];
    }
    body.to_vec()
}
