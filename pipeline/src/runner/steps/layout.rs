//! Where a job array's steps keep their state, and the completion markers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Step, StepKind};
use crate::config::Plan;
use crate::runner::barrier::Staged;
use crate::runner::history::Seen;
use crate::runner::remote::{RemoteWork, relative};
use crate::stats::{RunStats, TaskCost};

/// A task's completion marker, written last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Marker {
    pub(super) config_hash: String,
    pub(super) tool_version: String,
    pub(super) step: String,
    pub(super) rank: usize,
    pub(super) world_size: usize,
    pub(super) host: String,
    pub(super) finished: String,
    pub(super) cost: TaskCost,
    /// A map task's counters and sink reports (with the shards it wrote).
    #[serde(default)]
    pub(super) stats: Option<RunStats>,
    /// What a map task staged for each barrier, by barrier name.
    #[serde(default)]
    pub(super) staged: BTreeMap<String, Staged>,
    /// A barrier step's report.
    #[serde(default)]
    pub(super) report: Option<serde_json::Value>,
    /// Every input of the job (map-0, rank 0), for the manifests and the history.
    #[serde(default)]
    pub(super) inputs: Vec<Seen>,
}

/// Where the steps of a job array of `world` tasks keep their state: `work` (a directory every
/// task sees, or this task's local scratch when the work dir is on object storage).
pub(super) struct Layout {
    pub(super) work: PathBuf,
    pub(super) world: usize,
    pub(super) remote: Option<RemoteWork>,
}

impl Layout {
    pub(super) fn marker_rel(&self, step: &str, rank: usize) -> String {
        format!("steps/w{}/{step}/task-{rank:05}.json", self.world)
    }

    pub(super) fn marker(&self, step: &str, rank: usize) -> PathBuf {
        self.work.join(self.marker_rel(step, rank))
    }

    /// Where a marker is, for messages.
    pub(super) fn marker_url(&self, step: &str, rank: usize) -> String {
        match &self.remote {
            Some(r) => r.url(&self.marker_rel(step, rank)),
            None => self.marker(step, rank).display().to_string(),
        }
    }

    /// A task's marker, if it has a readable one.
    pub(super) fn read_marker(&self, step: &str, rank: usize) -> anyhow::Result<Option<Marker>> {
        let bytes = match &self.remote {
            Some(r) => r.get(&self.marker_rel(step, rank))?,
            None => std::fs::read(self.marker(step, rank)).ok(),
        };
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Writes a marker (the last thing a task does).
    pub(super) fn write_marker(&self, marker: &Marker) -> anyhow::Result<()> {
        let path = self.marker(&marker.step, marker.rank);
        write_marker(&path, marker)?;
        if let Some(r) = &self.remote {
            r.upload(&self.work, &self.marker_rel(&marker.step, marker.rank))?;
        }
        Ok(())
    }

    /// The path of `path` (under `work`) relative to the work dir.
    pub(super) fn rel(&self, path: &Path) -> anyhow::Result<String> {
        relative(&self.work, path)
    }

    /// Brings `rel` (a file, or with `dir` a directory) from the store into `work`.
    pub(super) fn fetch(&self, rel: &str, dir: bool) -> anyhow::Result<()> {
        if let Some(r) = &self.remote {
            if dir {
                r.download_dir(rel, &self.work)?;
            } else if !r.download(rel, &self.work)? {
                anyhow::bail!("{} is missing", r.url(rel));
            }
        }
        Ok(())
    }

    /// Sends `rel` (a file, or with `dir` a directory) from `work` to the store.
    pub(super) fn push(&self, rel: &str, dir: bool) -> anyhow::Result<()> {
        if let Some(r) = &self.remote {
            if dir {
                r.upload_dir(&self.work, rel)?;
            } else {
                r.upload(&self.work, rel)?;
            }
        }
        Ok(())
    }

    pub(super) fn barrier_rel(&self, name: &str) -> String {
        format!("barriers/{name}/w{}", self.world)
    }

    pub(super) fn barrier(&self, name: &str) -> PathBuf {
        self.work.join(self.barrier_rel(name))
    }

    pub(super) fn dedup_rel(&self, name: &str) -> String {
        format!("{}/dedup", self.barrier_rel(name))
    }

    pub(super) fn dedup(&self, name: &str) -> PathBuf {
        self.barrier(name).join("dedup")
    }

    /// The frequent n-grams of key shard `shard` of a `decontaminate` barrier.
    pub(super) fn frequent_ngrams(&self, name: &str, shard: usize) -> PathBuf {
        self.barrier(name).join(format!("frequent-s{shard:05}.ngrams"))
    }

    /// The boilerplate units of key shard `shard` of a `line_dedup` barrier.
    pub(super) fn boilerplate(&self, name: &str, shard: usize) -> PathBuf {
        self.barrier(name).join(format!("boilerplate-s{shard:05}.hashes"))
    }
}

fn write_marker(path: &Path, marker: &Marker) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("task.json");
    let mut file = crate::sink::AtomicFile::create(dir, name)?;
    serde_json::to_writer_pretty(&mut file, marker)?;
    file.commit()?;
    Ok(())
}

/// The markers of every task of `step`, failing with what to run if one is missing.
pub(super) fn markers(plan: &Plan, layout: &Layout, step: &Step) -> anyhow::Result<Vec<Marker>> {
    (0..step.tasks)
        .map(|rank| {
            let path = layout.marker_url(&step.name, rank);
            let Some(m) = layout.read_marker(&step.name, rank)? else {
                anyhow::bail!(
                    "step `{}` is not complete: task {rank} has no completion marker ({path}); run it first (`tokenmill plan` prints its command)",
                    step.name,
                );
            };
            if m.config_hash != plan.config_hash || m.tool_version != env!("CARGO_PKG_VERSION") {
                anyhow::bail!(
                    "step `{}` task {rank} was run with another config or tokenmill version ({path}); run the job's steps again from the first",
                    step.name,
                );
            }
            Ok(m)
        })
        .collect()
}

/// What every map task of `steps` staged for barrier `b`, in dataset order (pass, then rank).
pub(super) fn staged_by_map_tasks(
    plan: &Plan,
    layout: &Layout,
    steps: &[Step],
    b: usize,
) -> anyhow::Result<Vec<Staged>> {
    let name = &plan.nodes[b].name;
    let mut out = Vec::new();
    for step in steps.iter().filter(|s| matches!(s.kind, StepKind::Map { .. })) {
        for m in markers(plan, layout, step)? {
            if let Some(s) = m.staged.get(name) {
                out.push(s.clone());
            }
        }
    }
    Ok(out)
}

/// The report of a barrier's decision step: its one task's, or (key shards) the sum of its
/// tasks' counters.
pub(super) fn combined_report(markers: &[Marker]) -> Option<serde_json::Value> {
    let mut reports = markers.iter().filter_map(|m| m.report.as_ref());
    let mut total = reports.next()?.clone();
    for r in reports {
        if let (Some(t), Some(r)) = (total.as_object_mut(), r.as_object()) {
            for (k, v) in r {
                if let (Some(a), Some(b)) =
                    (t.get(k).and_then(serde_json::Value::as_u64), v.as_u64())
                {
                    t.insert(k.clone(), serde_json::Value::from(a + b));
                }
            }
        }
    }
    Some(total)
}
