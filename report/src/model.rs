//! What a report shows: plain typed numbers, filled in by the caller from a run's statistics.

/// Everything one report page shows. Empty parts are left out of the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// Page title, e.g. the work dir.
    pub title: String,
    /// How the run ended (`complete`, `interrupted`, `failed: ...`).
    pub status: String,
    /// Tool version that ran.
    pub tool_version: String,
    /// Wall time of the run, in seconds.
    pub elapsed_secs: f64,
    /// Worker threads.
    pub threads: usize,
    /// Input files read.
    pub input_files: u64,
    /// Bytes read from storage.
    pub input_bytes: u64,
    /// Bytes of input after decompression.
    pub decoded_bytes: u64,
    /// Peak resident memory of the process, in bytes, where known.
    pub peak_rss_bytes: Option<u64>,
    /// Every node (sources, stages, barriers, sinks) in pipeline order: the funnel.
    pub nodes: Vec<NodeRow>,
    /// Documents by identified language, largest first (from `language` stages).
    pub languages: Vec<(String, u64)>,
    /// Document lengths (characters) as read by the sources.
    pub lengths_before: Option<Log2Histogram>,
    /// Document lengths (characters) after the last filter (what is tokenized or written).
    pub lengths_after: Option<Log2Histogram>,
    /// What each deduplication barrier found.
    pub dedup: Vec<DedupRow>,
    /// Token shards written, in name order.
    pub shards: Vec<ShardRow>,
    /// The training check's loss curve (`tokenmill verify --train`), when one was run.
    pub loss: Option<LossCurve>,
}

/// One node of the pipeline and its counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRow {
    /// Node name.
    pub name: String,
    /// Its `type`.
    pub kind: String,
    /// Whether it is a source (its input counts as the documents read).
    pub is_source: bool,
    /// Whether it is a sink (its compute time leaves out the writing, so it shows no
    /// throughput).
    pub is_sink: bool,
    /// Documents received (sources: records parsed).
    pub docs_in: u64,
    /// Documents passed on (sinks: written).
    pub docs_out: u64,
    /// Text bytes received.
    pub bytes_in: u64,
    /// Text bytes passed on.
    pub bytes_out: u64,
    /// Tokens produced or written.
    pub tokens_out: u64,
    /// Documents dropped, by rule.
    pub dropped: Vec<(String, u64)>,
    /// Compute time summed over threads, in seconds.
    pub compute_secs: f64,
}

impl NodeRow {
    /// Documents dropped, all rules together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// Counts in power-of-two buckets: bucket 0 holds the value 0, bucket `i > 0` the values in
/// `2^(i-1) ..= 2^i - 1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log2Histogram {
    /// Count per bucket.
    pub buckets: Vec<u64>,
}

impl Log2Histogram {
    /// The bucket that holds `value`.
    pub fn bucket_of(value: u64) -> usize {
        (u64::BITS - value.leading_zeros()) as usize
    }

    /// The smallest and largest value of bucket `i`.
    pub fn bounds(i: usize) -> (u64, u64) {
        match i {
            0 => (0, 0),
            64.. => (1 << 63, u64::MAX),
            _ => (1 << (i - 1), (1u64 << i) - 1),
        }
    }

    /// Counts one value.
    pub fn add(&mut self, value: u64) {
        let b = Self::bucket_of(value);
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] += 1;
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// What one deduplication barrier did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupRow {
    /// Node name.
    pub name: String,
    /// Documents it saw.
    pub documents: u64,
    /// Documents it removed.
    pub removed: u64,
    /// Clusters of two or more near-duplicates.
    pub clusters: u64,
    /// Size of the largest cluster.
    pub largest_cluster: u64,
    /// Cluster sizes (a label such as `2` or `5-8`) and how many clusters have them.
    pub cluster_sizes: Vec<(String, u64)>,
}

/// One token shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardRow {
    /// Shard name (`train_00000`), with its sink's name where there are several sinks.
    pub name: String,
    /// Tokens in it.
    pub tokens: u64,
    /// Documents in it.
    pub documents: u64,
}

/// A training loss curve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossCurve {
    /// Training loss per logged step, in nats.
    pub losses: Vec<f64>,
    /// Unigram entropy of the held-out tokens, in nats (what a model that learned nothing gets).
    pub unigram_entropy: Option<f64>,
    /// Loss on held-out tokens after training, in nats.
    pub heldout_loss: Option<f64>,
    /// Whether the check passed.
    pub passed: Option<bool>,
}
