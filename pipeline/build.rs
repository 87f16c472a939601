//! Records the git commit the binary is built from, for `--version`, `stats.json` and the
//! shard manifests (`unknown` outside a git checkout, e.g. from a source tarball).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = git(&["log", "-1", "--format=%cs"]).unwrap_or_default();
    let detail = if date.is_empty() {
        format!("commit {commit}")
    } else {
        format!("commit {commit}, {date}")
    };
    println!("cargo:rustc-env=TOKENMILL_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=TOKENMILL_VERSION_DETAIL={detail}");
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the ref it points to (a commit).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
            println!("cargo:rerun-if-changed={common}/packed-refs");
            if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
                println!("cargo:rerun-if-changed={common}/{head}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
