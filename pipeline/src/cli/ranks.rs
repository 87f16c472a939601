//! Which share of a job-array step this process does: `--rank`/`--world-size`, or the
//! scheduler's environment (a Slurm array job, a Kubernetes indexed job). One resolution for
//! every command that runs as a job array (`run --step`, `dedup`).

use clap::Args;

use crate::failure::{Failure, FailureKind};

fn usage(message: String) -> anyhow::Error {
    Failure::new(FailureKind::Config, message).into()
}

/// Which share of the work this process does.
#[derive(Debug, Args)]
pub struct RankArgs {
    /// This worker's rank, from 0 [default: $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN, or
    /// $JOB_COMPLETION_INDEX, or 0].
    #[arg(long)]
    pub rank: Option<usize>,
    /// Number of workers [default: $SLURM_ARRAY_TASK_COUNT, or 1; required with --rank or $JOB_COMPLETION_INDEX].
    #[arg(long)]
    pub world_size: Option<usize>,
}

/// This process's rank and the number of ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ranks {
    pub(crate) rank: usize,
    pub(crate) world: usize,
}

impl Ranks {
    /// From the flags, else from a Slurm array job or a Kubernetes indexed job, else 0 of 1.
    pub(crate) fn resolve(args: &RankArgs) -> anyhow::Result<Ranks> {
        Self::resolve_with(args, |name| std::env::var(name).ok())
    }

    fn resolve_with(
        args: &RankArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Ranks> {
        let number = |name: &str| -> anyhow::Result<Option<usize>> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| usage(format!("${name} = `{v}` is not a number")))
                })
                .transpose()
        };
        let (rank, from) = match args.rank {
            Some(r) => (Some(r), "--rank"),
            None => match (number("SLURM_ARRAY_TASK_ID")?, number("JOB_COMPLETION_INDEX")?) {
                (Some(id), _) => (
                    Some(id.saturating_sub(number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0))),
                    "$SLURM_ARRAY_TASK_ID",
                ),
                (None, Some(i)) => (Some(i), "$JOB_COMPLETION_INDEX"),
                (None, None) => (None, ""),
            },
        };
        let world = match args.world_size {
            Some(w) => Some(w),
            None if rank.is_some() && from == "$SLURM_ARRAY_TASK_ID" => {
                number("SLURM_ARRAY_TASK_COUNT")?
            }
            None => None,
        };
        match (rank, world) {
            (None, None) => Ok(Ranks { rank: 0, world: 1 }),
            (None, Some(w)) if w > 0 => {
                Err(usage(format!("--world-size {w} needs --rank (or $SLURM_ARRAY_TASK_ID)")))
            }
            (Some(_), None) => {
                Err(usage(format!("the rank comes from {from}; pass --world-size too")))
            }
            (Some(r), Some(w)) if w > 0 && r < w => Ok(Ranks { rank: r, world: w }),
            (r, w) => Err(usage(format!(
                "rank {} must be below the world size {}",
                r.unwrap_or(0),
                w.unwrap_or(0)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn resolve(
        rank: Option<usize>,
        world: Option<usize>,
        vars: &[(&str, &str)],
    ) -> Result<(usize, usize), String> {
        Ranks::resolve_with(&RankArgs { rank, world_size: world }, env(vars))
            .map(|r| (r.rank, r.world))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn ranks_from_flags_slurm_and_kubernetes() {
        assert_eq!(resolve(None, None, &[]), Ok((0, 1)));
        assert_eq!(resolve(Some(2), Some(3), &[("SLURM_ARRAY_TASK_ID", "0")]), Ok((2, 3)));
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(resolve(None, None, &slurm), Ok((1, 3)));
        assert_eq!(resolve(None, Some(4), &[("JOB_COMPLETION_INDEX", "3")]), Ok((3, 4)));
        assert!(
            resolve(None, None, &[("JOB_COMPLETION_INDEX", "3")])
                .expect_err("fails")
                .contains("--world-size")
        );
        assert!(resolve(Some(3), Some(3), &[]).expect_err("fails").contains("below"));
        assert!(resolve(Some(1), None, &[]).expect_err("fails").contains("--world-size"));
        assert!(
            resolve(None, None, &[("SLURM_ARRAY_TASK_ID", "x")])
                .expect_err("fails")
                .contains("not a number")
        );
    }
}
