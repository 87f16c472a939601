//! Progress reporting: an indicatif bar on a terminal, JSON lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How to show progress (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, JSON lines otherwise.
    #[default]
    Auto,
    /// Always a bar.
    Bar,
    /// One JSON object per line on stderr, every few seconds.
    Jsonl,
    /// Nothing.
    Off,
}

/// Progress of a run, fed by the writer thread.
#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    total_bytes: u64,
    started: Instant,
    last_line: Instant,
    interval: Duration,
}

impl Progress {
    /// Starts reporting for a run over `total_bytes` of input.
    pub fn new(mode: ProgressMode, total_bytes: u64) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Jsonl,
            m => m,
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        // JSON-lines interval; `TOKENMILL_PROGRESS_INTERVAL_MS` overrides it (schedulers, tests).
        let interval = std::env::var("TOKENMILL_PROGRESS_INTERVAL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(2), Duration::from_millis);
        Self { mode, bar, total_bytes, started: now, last_line: now, interval }
    }

    /// Reports bytes read so far and documents and tokens written.
    pub fn update(&mut self, bytes: u64, docs: u64, tokens: u64) {
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(bytes);
                    bar.set_message(format!("{docs} docs, {tokens} tokens"));
                }
            }
            ProgressMode::Jsonl if self.last_line.elapsed() >= self.interval => {
                self.last_line = Instant::now();
                self.line("progress", bytes, docs, tokens);
            }
            _ => {}
        }
    }

    /// Ends reporting.
    pub fn finish(&mut self, bytes: u64, docs: u64, tokens: u64) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(bytes);
            bar.finish_and_clear();
        }
        if self.mode == ProgressMode::Jsonl {
            self.line("done", bytes, docs, tokens);
        }
    }

    fn line(&self, event: &str, bytes: u64, docs: u64, tokens: u64) {
        let line = serde_json::json!({
            "event": event,
            "bytes": bytes,
            "total_bytes": self.total_bytes,
            "docs": docs,
            "tokens": tokens,
            "elapsed_secs": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
        eprintln!("{line}");
    }
}
