//! The command line a new user meets: version, completions, man pages, the default config, a
//! closed stdout, typed flags, `init` outside the repository, and a source that matches nothing.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::{outcome, root, run_in, tokenmill};

#[test]
fn version_names_the_release_and_the_commit() {
    let (code, stdout, _) = outcome(&run_in(&root(), &["--version"]));
    assert_eq!(code, 0);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    assert!(stdout.contains("commit "), "{stdout}");
    assert_eq!(stdout.trim(), format!("tokenmill {}", tokenmill::LONG_VERSION));
}

#[test]
fn completions_and_man_pages_are_generated() {
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef tokenmill"), ("fish", "complete -c tokenmill")]
    {
        let (code, stdout, stderr) = outcome(&run_in(&root(), &["completions", shell]));
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(marker), "{shell}: {}", &stdout[..stdout.len().min(300)]);
        assert!(stdout.contains("world-size"), "{shell} completes run's flags");
    }
    let (code, stdout, _) = outcome(&run_in(&root(), &["man"]));
    assert_eq!(code, 0);
    assert!(stdout.starts_with(".ie") || stdout.contains(".TH tokenmill"), "{}", &stdout[..200]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man1");
    let (code, _, stderr) =
        outcome(&run_in(&root(), &["man", "--dir", out.to_str().expect("utf-8")]));
    assert_eq!(code, 0, "{stderr}");
    for page in ["tokenmill.1", "tokenmill-run.1", "tokenmill-dedup.1"] {
        assert!(out.join(page).exists(), "{page} missing");
    }
}

#[test]
fn run_help_shows_examples() {
    let (code, stdout, _) = outcome(&run_in(&root(), &["run", "--help"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("Examples:") && stdout.contains("--array-task"), "{stdout}");
    assert!(stdout.contains("[default: tokenmill.toml]"), "{stdout}");
}

#[test]
fn config_defaults_to_tokenmill_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["validate"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("tokenmill.toml"), "{stderr}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // `tokenmill ... | head -c 10`: the reader goes away after a few bytes, and the output (over
    // 64 KiB, more than a pipe holds) cannot all be written before it does: a write error
    // (completions) and a `print!` (plan) both end quietly.
    closed_stdout_ends_quietly(&["completions", "fish"]);
    let plan = ["plan", "examples/quickstart.toml", "--world-size", "3000", "--format", "json"];
    closed_stdout_ends_quietly(&plan);
}

fn closed_stdout_ends_quietly(args: &[&str]) {
    let mut child = tokenmill()
        .current_dir(root())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).expect("first bytes");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let (code, _, stderr) = outcome(&out);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn device_flags_are_checked_when_parsed() {
    let (code, _, stderr) =
        outcome(&run_in(&root(), &["verify", "out/none", "--train", "--device", "tpu"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--device") && stderr.contains("cuda:N"), "{stderr}");
}

#[test]
fn init_outside_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) = outcome(&run_in(dir.path(), &["init"]));
    assert_eq!(code, 0, "{stderr}");
    // The tokenizer the template names is written beside it; the sample paths are pointed out.
    assert!(dir.path().join("tokenizers/tokenmill-16k.json").exists(), "{stdout}");
    assert!(stdout.contains("data/sample/*.jsonl.zst") && stdout.contains("matches nothing"));
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["validate"]));
    assert_eq!(code, 2, "the sample glob matches nothing here: {stderr}");
    assert!(stderr.contains("source `sample`") && stderr.contains("matches no file"), "{stderr}");
    assert!(stderr.contains("allow_empty"), "{stderr}");

    // `init DIR` writes DIR/tokenmill.toml (version 2: paths relative to DIR) and the files it
    // names into DIR; it validates from any directory once DIR has data; --force overwrites.
    std::fs::create_dir(dir.path().join("proj")).expect("mkdir");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["init", "proj/"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("proj/tokenmill.toml").exists());
    assert!(dir.path().join("proj/tokenizers/tokenmill-16k.json").exists());
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("proj/data")).expect("link");
    let elsewhere = dir.path().join("proj/tokenizers");
    let (code, stdout, stderr) = outcome(&run_in(&elsewhere, &["validate", "../tokenmill.toml"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("relative paths: against .. (version 2)"), "{stdout}");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["init", "proj"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["init", "proj", "--force"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_missing_tokenizer_is_reported_once_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("data")).expect("link");
    let text = common::standard_config(&["data/sample/*.jsonl.zst".into()], "")
        .replace(&common::tokenizer_path().display().to_string(), "missing/tok.json");
    assert!(text.contains("missing/tok.json"), "{text}");
    std::fs::write(dir.path().join("p.toml"), &text).expect("write");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["validate", "p.toml"]));
    assert_eq!(code, 2, "{stderr}");
    let line = text.lines().position(|l| l.contains("name = \"tokens\"")).expect("tokens") + 1;
    assert!(stderr.contains(&format!("p.toml:{line}: stage `tokens`")), "{stderr}");
    assert!(stderr.contains("missing/tok.json"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "the OS error once: {stderr}");
}

#[test]
fn a_source_matching_nothing_fails_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = common::standard_config(&["nothing/*.jsonl".into()], "");
    std::fs::write(dir.path().join("p.toml"), &text).expect("write");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("source `in`: nothing/*.jsonl matches no file"), "{stderr}");
    assert!(!dir.path().join("out/shards/manifest.json").exists());

    let allowed = text.replacen("id_field = \"id\"", "id_field = \"id\"\nallow_empty = true", 1);
    std::fs::write(dir.path().join("p.toml"), allowed).expect("write");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{stderr}");
}

/// A web server on loopback serving `dir` (Python's http.server), killed when dropped.
struct WebServer(std::process::Child, u16);

impl WebServer {
    fn start(dir: &std::path::Path) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(WebServer(child, port));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_tokenizer_by_http_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = dir.path().join("web");
    std::fs::create_dir(&web).expect("mkdir");
    std::fs::copy(common::tokenizer_path(), web.join("tokenizer.json")).expect("copy");
    let server = WebServer::start(&web).expect("python3 -m http.server starts on loopback");
    let url = format!("http://127.0.0.1:{}/tokenizer.json", server.1);
    let input = root().join("data/sample").display().to_string() + "/*.jsonl.zst";
    let local = common::standard_config(&[input], "");
    let remote = local.replace(&common::tokenizer_path().display().to_string(), &url);
    assert!(remote.contains(&url));
    for (name, text) in [("local", &local), ("remote", &remote)] {
        let run = dir.path().join(name);
        std::fs::create_dir(&run).expect("mkdir");
        std::fs::write(run.join("p.toml"), text).expect("write");
        let (code, _, stderr) = outcome(&run_in(&run, &["run", "p.toml", "--progress", "off"]));
        assert_eq!(code, 0, "{name}: {stderr}");
    }
    let tokens = |name: &str| {
        tokenmill_shards::read_dataset_tokens(&dir.path().join(name).join("out/shards"))
            .expect("shards")
    };
    assert_eq!(tokens("local"), tokens("remote"));
    // A missing file is named.
    let missing = local.replace(
        &common::tokenizer_path().display().to_string(),
        &format!("http://127.0.0.1:{}/nope.json", server.1),
    );
    std::fs::write(dir.path().join("m.toml"), missing).expect("write");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["validate", "m.toml"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nope.json"), "{stderr}");
}
