//! A full disk: the output directory on a tiny tmpfs. The run fails with an error naming the
//! file and the cause, leaves no manifest and no temporary or partial shard, and after space is
//! freed the same command completes.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A 512 KiB tmpfs at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("TOKENMILL_TEST_ROOT").as_deref() != Ok("required"),
                "cannot mount a tmpfs, but TOKENMILL_TEST_ROOT=required"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_a_rerun_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = split_sample(dir.path(), 4);
    let config = standard_config(&[paths], "")
        .replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 100000");
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let Some(_disk) = Tmpfs::mount(&dir.path().join("out/shards")) else { return };
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("No space left on device") && err.contains("out/shards/"), "{err}");
    let left = listing(&dir.path().join("out/shards"));
    assert!(!left.iter().any(|n| n == "manifest.json" || n.ends_with(".tmp")), "{left:?}");
    // Whatever shard is left is complete (its .idx is written after its .bin), and the run's
    // finished units wait in the ledger.
    for idx in left.iter().filter(|n| n.ends_with(".idx")) {
        let bin = idx.replace(".idx", ".bin");
        assert!(left.contains(&bin), "{idx} without its .bin");
    }
    drop(_disk);
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = outcome(&run_in(dir.path(), &["verify", "out/shards"]));
    assert_eq!(code, 0, "{out}{err}");
}
