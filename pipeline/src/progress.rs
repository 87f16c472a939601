//! Progress reporting: an indicatif bar on a terminal, JSON lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// The bar on screen, if any: log lines are written with it suspended (see [`LogWriter`]).
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Stderr for log lines that leaves the progress bar whole: while a bar is on screen, each line
/// is written with the bar cleared, and the bar is drawn again below it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE_BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)).map(|()| buf.len()),
            None => std::io::stderr().write_all(buf).map(|()| buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn set_active(bar: Option<ProgressBar>) {
    if let Ok(mut active) = ACTIVE_BAR.lock() {
        *active = bar;
    }
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
    /// Input bytes handed to the workers (by the reader), ahead of those finished.
    dispatched: Arc<AtomicU64>,
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
                "{spinner} [{elapsed_precise}] {wide_bar} {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            set_active(Some(bar.clone()));
            bar
        });
        let dispatched = Arc::new(AtomicU64::new(0));
        if let Some(bar) = &bar {
            // The bar follows the bytes read, not only those finished: a large first batch
            // would otherwise leave it at 0 B for seconds.
            let (bar, dispatched) = (bar.downgrade(), Arc::downgrade(&dispatched));
            std::thread::spawn(move || {
                while let (Some(bar), Some(read)) = (bar.upgrade(), dispatched.upgrade()) {
                    if bar.is_finished() {
                        break;
                    }
                    let read = read.load(Ordering::Relaxed);
                    if read > bar.position() {
                        bar.set_position(read);
                    }
                    drop(bar);
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
        let now = Instant::now();
        // JSON-lines interval; `TOKENMILL_PROGRESS_INTERVAL_MS` overrides it (schedulers, tests).
        let interval = std::env::var("TOKENMILL_PROGRESS_INTERVAL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(2), Duration::from_millis);
        Self { mode, bar, total_bytes, started: now, last_line: now, interval, dispatched }
    }

    /// The counter of input bytes the reader has handed to the workers.
    pub fn dispatched(&self) -> Arc<AtomicU64> {
        self.dispatched.clone()
    }

    /// Reports input bytes read so far, documents read from the sources, documents written
    /// by the sinks and tokens written.
    pub fn update(&mut self, bytes: u64, docs: Docs, tokens: u64) {
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(bytes.max(bar.position()));
                    bar.set_message(format!(
                        "{} docs read, {} written, {tokens} tokens",
                        docs.read, docs.written
                    ));
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
    pub fn finish(&mut self, bytes: u64, docs: Docs, tokens: u64) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(bytes);
            bar.finish_and_clear();
            set_active(None);
        }
        if self.mode == ProgressMode::Jsonl {
            self.line("done", bytes, docs, tokens);
        }
    }

    fn line(&self, event: &str, bytes: u64, docs: Docs, tokens: u64) {
        let line = serde_json::json!({
            "event": event,
            "bytes": bytes,
            "total_bytes": self.total_bytes,
            "docs": docs.written,
            "docs_read": docs.read,
            "tokens": tokens,
            "elapsed_secs": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
        eprintln!("{line}");
    }
}

/// Document counts of a progress update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Docs {
    /// Read from the sources.
    pub read: u64,
    /// Written by the sinks.
    pub written: u64,
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.bar.take().is_some() {
            set_active(None);
        }
    }
}
