//! Issue #4: memory is bounded by configuration, never by corpus size. Opening shards costs a
//! small struct per shard, not the ~20 bytes per document of a parsed `.idx`, and the global
//! shuffle's heap stays within its budget plus the writer's buffers however many documents
//! its input holds.
//!
//! Heap use is measured with a counting global allocator; the mapped `.idx`/`.bin` pages are
//! page cache, not heap, and are not counted. Tests take [`LOCK`] so that one test's
//! allocations are not counted in another's peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokenmill_shards::{
    DType, FORMAT_MEGATRON, FORMAT_VERSION, IndexedDataset, Manifest, ShardSetWriter, ShardTarget,
    shuffle_dataset,
};

/// Forwards to the system allocator and counts live and peak bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LOCK: Mutex<()> = Mutex::new(());

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

// A global allocator can only be written as an `unsafe impl`; this one adds no unsafe logic of
// its own, every call is passed to `System` with the caller's arguments unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`; returns its result, the heap it still holds when it returns (the result
/// included) and the most heap it held at once, both above what was live before.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    let (live, peak) = (LIVE.load(Ordering::SeqCst), PEAK.load(Ordering::SeqCst));
    (out, live.saturating_sub(before), peak - before)
}

/// `documents` documents of 1 to 4 uint16 tokens (2.5 on average) in 4 shards, and a
/// manifest.
fn write_dataset(dir: &Path, documents: usize) -> Manifest {
    let target = ShardTarget { max_tokens: Some(documents as u64 * 3 / 4), max_bytes: None };
    let mut set = ShardSetWriter::new(dir, "train", DType::U16, target).expect("new set");
    let mut doc = Vec::new();
    for i in 0..documents {
        doc.clear();
        doc.extend((0..1 + i % 4).map(|k| ((i * 31 + k) % 999) as u32 + 1));
        set.add_document(&doc).expect("add");
    }
    let shards = set.finish().expect("finish");
    let manifest = Manifest {
        format: FORMAT_MEGATRON.into(),
        format_version: FORMAT_VERSION,
        tool_version: "test".into(),
        dtype: "uint16".into(),
        vocab_size: 1000,
        eos_id: None,
        bos_id: None,
        tokenizer_hash: "tok".into(),
        tokenizer_encode_path: None,
        config_hash: "config".into(),
        inputs: Vec::new(),
        documents: shards.iter().map(|s| s.documents).sum(),
        tokens: shards.iter().map(|s| s.tokens).sum(),
        shards,
    };
    manifest.write(dir).expect("manifest");
    manifest
}

fn open_all(dir: &Path, manifest: &Manifest) -> Vec<IndexedDataset> {
    manifest
        .shards
        .iter()
        .map(|s| IndexedDataset::open(&dir.join(&s.name)).expect("open"))
        .collect()
}

#[test]
fn open_shards_hold_no_per_document_heap() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let (small, large) = (tmp.path().join("small"), tmp.path().join("large"));
    let (small_manifest, large_manifest) =
        (write_dataset(&small, 1_000), write_dataset(&large, 200_000));
    assert_eq!((small_manifest.shards.len(), large_manifest.shards.len()), (4, 4));

    let (shards, small_live, small_peak) = measure(|| open_all(&small, &small_manifest));
    drop(shards);
    let (shards, large_live, large_peak) = measure(|| open_all(&large, &large_manifest));
    eprintln!(
        "heap held by 4 open shards: {small_live} B (1,000 documents), {large_live} B (200,000); peak {small_peak} B, {large_peak} B"
    );
    // A parsed `.idx` of 200,000 documents would be 4 MB (4 + 8 + 8 bytes per document).
    assert!(large_live < 8 << 10, "{} shards hold {large_live} bytes of heap", shards.len());
    assert!(
        large_peak < 8 << 10,
        "opening {} shards peaked at {large_peak} bytes of heap",
        shards.len()
    );
    // 200 times the documents, the same heap: only the paths' lengths differ.
    assert!(large_live.abs_diff(small_live) < 256, "{large_live} vs {small_live} bytes");
    assert!(large_peak.abs_diff(small_peak) < 256, "{large_peak} vs {small_peak} bytes");
    // Everything is still read from the maps.
    let documents: usize = shards.iter().map(IndexedDataset::num_documents).sum();
    assert_eq!(documents, 200_000);
    let last = &shards[shards.len() - 1];
    assert_eq!(last.get(last.len() - 1).expect("last document").len(), 1 + 199_999 % 4);
}

#[test]
fn shuffle_heap_stays_within_the_budget_not_the_document_count() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("in");
    let manifest = write_dataset(&input, 200_000);
    let budget: u64 = 256 << 10;
    // Output shards of at most 20,000 tokens: the writer keeps 4 bytes per document of the
    // shard being written.
    let target = ShardTarget { max_tokens: Some(20_000), max_bytes: None };
    let (out, _, peak) = measure(|| {
        shuffle_dataset(&input, &tmp.path().join("out"), "s", 7, budget, target).expect("shuffle")
    });
    assert_eq!(out.documents, manifest.documents);
    eprintln!("shuffle of 200,000 documents, {budget}-byte budget: heap peak {peak} B");
    // Budget, the writer's 1 MiB buffer and its lengths (20,000 · 4 bytes at most), and 64 KiB
    // for paths, the manifest and small buffers. Loading the input's `.idx` files into memory
    // would add 4 MB.
    let allowed = budget as usize + (1 << 20) + 80_000 + (64 << 10);
    assert!(
        peak <= allowed,
        "shuffling 200,000 documents peaked at {peak} bytes of heap, more than {allowed}"
    );
}
