//! Job arrays: `plan`, and the scripts for Slurm and manifests for Kubernetes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{Exit, load};
use crate::runner;

/// `tokenmill plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The pipeline file.
    #[arg(default_value = "tokenmill.toml")]
    pub config: PathBuf,
    /// Number of tasks of the job array (of each map and bucket step).
    #[arg(long, default_value_t = 1)]
    pub world_size: usize,
    /// `text` for people, `json` for schedulers: `{"steps": [{"name", "tasks": [{"rank", "argv"}]}]}`.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Worker threads of each task (`-j` in every command) [default: all cores of the machine].
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// The tokenmill binary in the commands [default: this one].
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

/// How `tokenmill plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Steps, what each does, and each task's command.
    Text,
    /// JSON for a scheduler.
    Json,
}

/// `tokenmill slurm`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    /// The pipeline file (its work dir must be on storage every node shares).
    #[arg(default_value = "tokenmill.toml")]
    pub config: PathBuf,
    /// Number of tasks of each map and bucket step (array size).
    #[arg(long)]
    pub tasks: usize,
    /// Where to write the scripts [default: WORK_DIR/slurm].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `--partition` for both jobs.
    #[arg(long)]
    pub partition: Option<String>,
    /// `--account` for both jobs.
    #[arg(long)]
    pub account: Option<String>,
    /// `--time` limit per task (e.g. `04:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task (also the worker threads).
    #[arg(long, default_value_t = 8)]
    pub cpus_per_task: usize,
    /// `--mem` per task (e.g. `32G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// The tokenmill binary the jobs run [default: this one].
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Submit every step, each with `--dependency=afterok` on the one before it.
    #[arg(long)]
    pub submit: bool,
}

/// `tokenmill k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// The pipeline file, as the pods see it (on the mounted volume).
    #[arg(default_value = "tokenmill.toml")]
    pub config: PathBuf,
    /// Number of indexed tasks of each map and bucket step.
    #[arg(long)]
    pub tasks: usize,
    /// Container image with `tokenmill` on its PATH.
    #[arg(long)]
    pub image: String,
    /// Name prefix of the Jobs.
    #[arg(long, default_value = "tokenmill")]
    pub name: String,
    /// PersistentVolumeClaim holding the config, inputs and work dir (mounted at --mount).
    #[arg(long)]
    pub pvc: Option<String>,
    /// Where the claim is mounted, and the working directory of the pods.
    #[arg(long, default_value = "/data")]
    pub mount: String,
    /// CPUs per task (request and worker threads).
    #[arg(long, default_value_t = 8)]
    pub cpus: usize,
    /// Memory per task (request and limit), e.g. `32Gi`.
    #[arg(long, default_value = "16Gi")]
    pub memory: String,
    /// Where to write the manifests [default: WORK_DIR/k8s].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Quotes a word for a POSIX shell.
fn sh(word: &str) -> String {
    if !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The plan for a scheduler's `tasks` array tasks, or the exit code of a config error.
fn load_for_tasks(config: &Path, tasks: usize) -> Result<crate::config::Plan, Exit> {
    let plan = load(config)?;
    if tasks == 0 {
        eprintln!("error: --tasks must be at least 1");
        return Err(Exit::Config);
    }
    Ok(plan)
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

/// The command line of one task of a step.
fn task_argv(
    binary: &str,
    config: &str,
    step: &runner::Step,
    rank: Option<usize>,
    world: usize,
    threads: Option<usize>,
) -> Vec<String> {
    let mut argv: Vec<String> =
        vec![binary.into(), "run".into(), config.into(), "--step".into(), step.name.clone()];
    match rank {
        Some(r) => argv.extend(["--rank".into(), r.to_string()]),
        None => argv.push("--array-task".into()),
    }
    argv.extend(["--world-size".into(), world.to_string()]);
    if let Some(j) = threads {
        argv.extend(["-j".into(), j.to_string()]);
    }
    argv.extend(["--progress".into(), "off".into(), "--log-format".into(), "json".into()]);
    argv
}

pub(super) fn plan(args: PlanArgs) -> anyhow::Result<Exit> {
    let plan = match load_for_tasks(&args.config, args.world_size) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let steps = runner::plan_steps(&plan, args.world_size)?;
    let binary = match &args.binary {
        Some(b) => b.display().to_string(),
        None => this_binary()?,
    };
    let config = absolute(&args.config)?.display().to_string();
    match args.format {
        PlanFormat::Json => {
            let steps: Vec<serde_json::Value> = steps
                .iter()
                .map(|s| {
                    let tasks: Vec<serde_json::Value> = (0..s.tasks)
                        .map(|r| serde_json::json!({"rank": r, "argv": task_argv(&binary, &config, s, Some(r), args.world_size, args.threads)}))
                        .collect();
                    serde_json::json!({"name": s.name, "what": s.what, "tasks": tasks})
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"world_size": args.world_size, "steps": steps})
                )?
            );
        }
        PlanFormat::Text => {
            print!("{}", plan_text(&steps, &binary, &config, args.world_size, args.threads))
        }
    }
    Ok(Exit::Ok)
}

/// The steps as text: what each does and its tasks' commands.
pub(super) fn plan_text(
    steps: &[runner::Step],
    binary: &str,
    config: &str,
    world: usize,
    threads: Option<usize>,
) -> String {
    let mut out = format!(
        "{} steps for a job array of {world} task(s); run them in order, each after every task of the one before succeeded:\n",
        steps.len()
    );
    for (i, s) in steps.iter().enumerate() {
        match s.tasks {
            1 => writeln!(out, "{}. {} (1 task): {}", i + 1, s.name, s.what),
            n => writeln!(out, "{}. {} ({n} tasks): each task {}", i + 1, s.name, s.what),
        }
        .ok();
        let argv: Vec<String> =
            task_argv(binary, config, s, Some(0), world, threads).iter().map(|w| sh(w)).collect();
        let line = argv.join(" ");
        if s.tasks == 1 {
            let _ = writeln!(out, "   {line}");
        } else {
            let _ = writeln!(
                out,
                "   {} (--rank 0 to {})",
                line.replace("--rank 0", "--rank R"),
                s.tasks - 1
            );
        }
    }
    out
}

pub(super) fn slurm(args: SlurmArgs) -> anyhow::Result<Exit> {
    let plan = match load_for_tasks(&args.config, args.tasks) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let steps = runner::plan_steps(&plan, args.tasks)?;
    let cwd = std::env::current_dir()?;
    let out = absolute(
        &args.out.clone().unwrap_or_else(|| Path::new(&plan.spec.run.work_dir).join("slurm")),
    )?;
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let binary = match &args.binary {
        Some(b) => absolute(b)?.display().to_string(),
        None => this_binary()?,
    };
    let config = absolute(&args.config)?.display().to_string();
    let mut scripts = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let where_ = Where { cwd: &cwd, logs: &logs, binary: &binary, config: &config };
        let h = sbatch_script(&args, step, (i, steps.len()), &where_);
        let name = format!("{:02}-{}.sbatch", i + 1, step.name);
        let path = out.join(&name);
        std::fs::write(&path, h).with_context(|| format!("cannot write {}", path.display()))?;
        set_executable(&path)?;
        scripts.push((step, path));
    }
    let mut submit = String::from(
        "#!/bin/bash\n# Submits every step, each after the one before it succeeded (afterok).\nset -euo pipefail\nafter=\n",
    );
    for (step, path) in &scripts {
        let _ = write!(
            submit,
            "id=$(sbatch --parsable ${{after:+--dependency=afterok:$after}} {})\nafter=${{id%%;*}}\necho \"step {} job $after\"\n",
            sh(&path.display().to_string()),
            step.name
        );
    }
    let submit_path = out.join("submit.sh");
    std::fs::write(&submit_path, submit)
        .with_context(|| format!("cannot write {}", submit_path.display()))?;
    set_executable(&submit_path)?;
    println!(
        "wrote {} step scripts and submit.sh to {} ({} tasks per map step, then the merge)",
        scripts.len(),
        out.display(),
        args.tasks
    );
    if !args.submit {
        println!("submit with: {}", submit_path.display());
        return Ok(Exit::Ok);
    }
    let ids = submit_all(&scripts)?;
    println!("submitted: {}", ids.join(", "));
    Ok(Exit::Ok)
}

/// Where the scripts of a Slurm job run and what they run.
struct Where<'a> {
    cwd: &'a Path,
    logs: &'a Path,
    binary: &'a str,
    config: &'a str,
}

/// The batch script of step `i` of `total` (an array for a step of several tasks).
fn sbatch_script(
    args: &SlurmArgs,
    step: &runner::Step,
    (i, total): (usize, usize),
    w: &Where<'_>,
) -> String {
    let array = step.tasks > 1;
    let mut h = format!("#!/bin/bash\n#SBATCH --job-name=tokenmill-{}\n", step.name);
    if array {
        let _ = writeln!(h, "#SBATCH --array=0-{}", step.tasks - 1);
        let _ = writeln!(h, "#SBATCH --output={}/{}-%A_%a.log", w.logs.display(), step.name);
    } else {
        let _ = writeln!(h, "#SBATCH --output={}/{}-%j.log", w.logs.display(), step.name);
    }
    let _ = writeln!(h, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task={}", args.cpus_per_task);
    for (flag, v) in [
        ("partition", &args.partition),
        ("account", &args.account),
        ("time", &args.time),
        ("mem", &args.mem),
    ] {
        if let Some(v) = v {
            let _ = writeln!(h, "#SBATCH --{flag}={v}");
        }
    }
    let _ = write!(h, "set -euo pipefail\ncd {}\n", sh(&w.cwd.display().to_string()));
    let argv: Vec<String> = task_argv(
        w.binary,
        w.config,
        step,
        (!array).then_some(0),
        args.tasks,
        Some(args.cpus_per_task),
    )
    .iter()
    .map(|a| sh(a))
    .collect();
    let _ = write!(
        h,
        "# Step {} of {}: each task {}.\nexec {}\n",
        i + 1,
        total,
        step.what,
        argv.join(" ")
    );
    h
}

/// Submits the scripts in order, each after the one before it succeeded; returns
/// `"STEP job ID"` for each.
fn submit_all(scripts: &[(&runner::Step, std::path::PathBuf)]) -> anyhow::Result<Vec<String>> {
    let mut after: Option<String> = None;
    let mut ids = Vec::new();
    for (step, path) in scripts {
        let mut c = std::process::Command::new("sbatch");
        c.arg("--parsable");
        if let Some(a) = &after {
            c.arg(format!("--dependency=afterok:{a}"));
        }
        let o =
            c.arg(path).output().context("cannot run sbatch (is Slurm installed and on PATH?)")?;
        if !o.status.success() {
            anyhow::bail!(
                "sbatch {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        let id = String::from_utf8_lossy(&o.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        ids.push(format!("{} job {id}", step.name));
        after = Some(id);
    }
    Ok(ids)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

pub(super) fn k8s(args: K8sArgs) -> anyhow::Result<Exit> {
    let plan = match load_for_tasks(&args.config, args.tasks) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let steps = runner::plan_steps(&plan, args.tasks)?;
    let out = args.out.clone().unwrap_or_else(|| Path::new(&plan.spec.run.work_dir).join("k8s"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let config = args.config.display().to_string();
    let volume = match &args.pvc {
        Some(claim) => (
            format!(
                "          volumeMounts:\n            - name: data\n              mountPath: {}\n",
                args.mount
            ),
            format!(
                "      volumes:\n        - name: data\n          persistentVolumeClaim:\n            claimName: {claim}\n"
            ),
        ),
        None => (String::new(), String::new()),
    };
    let mut script = String::from(
        "#!/bin/bash\n# Runs each step's Job in order, each once the one before it has completed.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n",
    );
    let mut files = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let indexed = step.tasks > 1;
        let argv = task_argv(
            "tokenmill",
            &config,
            step,
            (!indexed).then_some(0),
            args.tasks,
            Some(args.cpus),
        );
        let command = serde_json::to_string(&argv)?.replace("\",\"", "\", \"");
        let job = format!("{}-{}", args.name, step.name.to_lowercase().replace('_', "-"));
        let y = job_yaml(&args, step, (i, steps.len()), &job, &command, &volume);
        let name = format!("{:02}-{}.yaml", i + 1, step.name);
        std::fs::write(out.join(&name), y)?;
        let _ = write!(
            script,
            "kubectl apply -f {name}\nkubectl wait --for=condition=complete --timeout=-1s job/{job}\n"
        );
        files.push(name);
    }
    std::fs::write(out.join("run.sh"), script)?;
    set_executable(&out.join("run.sh"))?;
    println!(
        "wrote {} Jobs ({}) and run.sh to {} ({} indexed tasks per map step)",
        files.len(),
        files.join(", "),
        out.display(),
        args.tasks
    );
    Ok(Exit::Ok)
}

/// The Job of step `i` of `total` (an Indexed Job for a step of several tasks), running
/// `command` (a JSON array) in the container, with the volume's mount and declaration.
fn job_yaml(
    args: &K8sArgs,
    step: &runner::Step,
    (i, total): (usize, usize),
    job: &str,
    command: &str,
    volume: &(String, String),
) -> String {
    let indexed = step.tasks > 1;
    let mut y = format!(
        "# Step {} of {}: each task {}.\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {job}\n  labels:\n    app.kubernetes.io/name: tokenmill\nspec:\n",
        i + 1,
        total,
        step.what
    );
    if indexed {
        let _ = write!(
            y,
            "  completionMode: Indexed\n  completions: {n}\n  parallelism: {n}\n  backoffLimitPerIndex: 2\n",
            n = step.tasks
        );
    } else {
        y.push_str("  backoffLimit: 2\n");
    }
    let _ = write!(
        y,
        "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: tokenmill\n          image: {image}\n          workingDir: {mount}\n          command: {command}\n          resources:\n            requests: {{cpu: \"{cpus}\", memory: \"{mem}\"}}\n            limits: {{memory: \"{mem}\"}}\n{mounts}{volumes}",
        image = args.image,
        mount = args.mount,
        cpus = args.cpus,
        mem = args.memory,
        mounts = volume.0,
        volumes = volume.1,
    );
    y
}

/// This binary's path, for the commands of a job; warns when it is a debug build (`cargo run`),
/// which runs many times slower than `cargo install --locked --path pipeline` gives.
fn this_binary() -> anyhow::Result<String> {
    let path =
        std::env::current_exe().context("cannot locate this tokenmill binary; pass --binary")?;
    if cfg!(debug_assertions) {
        tracing::warn!(
            binary = %path.display(),
            "the jobs will run this debug build, which is many times slower than a release build: \
             `cargo install --locked --path pipeline` (then ~/.cargo/bin/tokenmill), or pass --binary"
        );
    }
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(sh("/a/b.toml"), "/a/b.toml");
        assert_eq!(sh("it's here"), r"'it'\''s here'");
    }
}
