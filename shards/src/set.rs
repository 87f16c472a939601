//! Writing a sequence of shards that roll over at a size target.

use std::fs;
use std::path::{Path, PathBuf};

use crate::dtype::DType;
use crate::error::{Error, Result, check_name};
use crate::writer::{ShardInfo, ShardWriter, with_suffix};

/// When a [`ShardSetWriter`] starts a new shard. A limit of `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardTarget {
    /// Most tokens per shard.
    pub max_tokens: Option<u64>,
    /// Most bytes per `.bin` file.
    pub max_bytes: Option<u64>,
}

impl Default for ShardTarget {
    /// 1 GiB of `.bin` per shard, no token limit.
    fn default() -> Self {
        ShardTarget { max_tokens: None, max_bytes: Some(1 << 30) }
    }
}

impl ShardTarget {
    /// Whether a shard already holding `tokens` tokens and `bytes` bytes would exceed the
    /// target after adding `add_tokens` tokens of `add_bytes` bytes.
    fn exceeded(&self, tokens: u64, bytes: u64, add_tokens: u64, add_bytes: u64) -> bool {
        let over = |limit: Option<u64>, have: u64, add: u64| {
            limit.is_some_and(|l| have.saturating_add(add) > l)
        };
        over(self.max_tokens, tokens, add_tokens) || over(self.max_bytes, bytes, add_bytes)
    }
}

/// Writes documents into shards named `{prefix}_{index:05}`, starting a new shard when the
/// next document would exceed the [`ShardTarget`].
///
/// Documents are never split: a document larger than the target gets a shard of its own.
/// Shard boundaries depend only on the document sequence and the target, so the same input
/// gives the same shards. Dropping an unfinished set (or calling [`abort`](Self::abort))
/// removes every file it wrote, finished shards included: they were never reported to the
/// caller.
#[derive(Debug)]
pub struct ShardSetWriter {
    dir: PathBuf,
    prefix: String,
    dtype: DType,
    target: ShardTarget,
    next_index: usize,
    current: Option<ShardWriter>,
    done: Vec<ShardInfo>,
    finished: bool,
}

impl ShardSetWriter {
    /// Prepares a set of shards in `dir`, creating the directory if needed. No file is
    /// created until the first document arrives.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a prefix that is not a plain file name; [`Error::Io`] if
    /// `dir` cannot be created.
    pub fn new(dir: &Path, prefix: &str, dtype: DType, target: ShardTarget) -> Result<Self> {
        check_name(prefix)?;
        fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        Ok(ShardSetWriter {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            dtype,
            target,
            next_index: 0,
            current: None,
            done: Vec::new(),
            finished: false,
        })
    }

    /// Numbers shards from `i` instead of 0 (e.g. one range per worker or per rerun). Call
    /// before adding documents.
    pub fn with_first_index(mut self, i: usize) -> Self {
        self.next_index = i;
        self
    }

    /// The name the shard with index `i` gets.
    pub fn shard_name(&self, i: usize) -> String {
        format!("{}_{i:05}", self.prefix)
    }

    /// Appends one document, first finishing the current shard if the document would take
    /// it past the target.
    ///
    /// # Errors
    ///
    /// Those of [`ShardWriter::add_document`], [`ShardWriter::create`] and
    /// [`ShardWriter::finish`].
    pub fn add_document(&mut self, tokens: &[u32]) -> Result<()> {
        self.writer_for(tokens.len() as u64)?.add_document(tokens)
    }

    /// Adds one document given as its `.bin` bytes in the set's dtype; see
    /// [`ShardWriter::add_encoded`].
    pub(crate) fn add_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let tokens = (bytes.len() / self.dtype.size()) as u64;
        self.writer_for(tokens)?.add_encoded(bytes)
    }

    /// The writer for a document of `add_tokens` tokens, rolling over to a new shard first
    /// if the current one would exceed the target.
    fn writer_for(&mut self, add_tokens: u64) -> Result<&mut ShardWriter> {
        let add_bytes = add_tokens * self.dtype.size() as u64;
        if let Some(w) = &self.current {
            let full = self.target.exceeded(w.tokens(), w.bin_bytes(), add_tokens, add_bytes);
            if full && w.documents() > 0 {
                self.roll()?;
            }
        }
        let writer = match self.current.take() {
            Some(w) => w,
            None => {
                let name = self.shard_name(self.next_index);
                let w = ShardWriter::create(&self.dir, &name, self.dtype)?;
                self.next_index += 1;
                w
            }
        };
        Ok(self.current.insert(writer))
    }

    /// Finishes the current shard, if any.
    fn roll(&mut self) -> Result<()> {
        if let Some(w) = self.current.take() {
            self.done.push(w.finish()?);
        }
        Ok(())
    }

    /// Documents added so far, over all shards.
    pub fn documents(&self) -> u64 {
        self.done.iter().map(|s| s.documents).sum::<u64>()
            + self.current.as_ref().map_or(0, ShardWriter::documents)
    }

    /// Tokens added so far, over all shards.
    pub fn tokens(&self) -> u64 {
        self.done.iter().map(|s| s.tokens).sum::<u64>()
            + self.current.as_ref().map_or(0, ShardWriter::tokens)
    }

    /// Shards completed so far (rolled over), in order; the one being written is not included.
    /// Lets a caller publish each shard as soon as it is complete.
    pub fn completed(&self) -> &[ShardInfo] {
        &self.done
    }

    /// Finishes the last shard and returns all shards in order. Writes nothing if no
    /// document was added.
    ///
    /// # Errors
    ///
    /// Those of [`ShardWriter::finish`]; all shards of the set are then removed.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>> {
        self.roll()?;
        self.finished = true;
        Ok(std::mem::take(&mut self.done))
    }

    /// Discards the set, removing every file it wrote.
    pub fn abort(self) {
        // Drop does the work.
    }
}

impl Drop for ShardSetWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropping the current writer removes its temporary files; finished shards were
        // never handed to the caller, so they go too. Best effort: Drop cannot report.
        drop(self.current.take());
        for shard in &self.done {
            for ext in [".idx", ".bin"] {
                let _ = fs::remove_file(with_suffix(&self.dir, &shard.name, ext));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read test dir")
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn rollover_by_tokens_is_deterministic() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = ShardTarget { max_tokens: Some(5), max_bytes: None };
        let mut set = ShardSetWriter::new(tmp.path(), "train", DType::U16, target)
            .expect("new set")
            .with_first_index(3);
        // 2+3 fill shard 3; 4 starts shard 4; 9 is oversized and gets shard 5; 1 starts 6.
        for doc in [&[1u32, 2][..], &[3, 4, 5], &[6, 7, 8, 9], &[0; 9], &[1]] {
            set.add_document(doc).expect("add");
        }
        assert_eq!((set.documents(), set.tokens()), (5, 19));
        let shards = set.finish().expect("finish");
        let summary: Vec<(&str, u64, u64)> =
            shards.iter().map(|s| (s.name.as_str(), s.documents, s.tokens)).collect();
        assert_eq!(
            summary,
            [
                ("train_00003", 2, 5),
                ("train_00004", 1, 4),
                ("train_00005", 1, 9),
                ("train_00006", 1, 1)
            ]
        );
        assert_eq!(shards[0].bin_bytes, 10);
        assert_eq!(files(tmp.path()).len(), 8);
    }

    #[test]
    fn rollover_by_bytes_counts_dtype_size() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = ShardTarget { max_tokens: None, max_bytes: Some(8) };
        let mut set = ShardSetWriter::new(tmp.path(), "v", DType::I32, target).expect("new");
        for doc in [&[1u32][..], &[2], &[3]] {
            set.add_document(doc).expect("add");
        }
        let shards = set.finish().expect("finish");
        let docs: Vec<u64> = shards.iter().map(|s| s.documents).collect();
        assert_eq!(docs, [2, 1]);
    }

    #[test]
    fn encoded_documents_are_checked_and_counted() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut set =
            ShardSetWriter::new(tmp.path(), "e", DType::I32, ShardTarget::default()).expect("new");
        set.add_encoded(&[1, 0, 0, 0, 2, 0, 0, 0]).expect("two tokens");
        let odd = set.add_encoded(&[1, 0, 0]).expect_err("not whole elements");
        assert!(matches!(odd, Error::Format { offset: 8, .. }), "{odd}");
        let negative = set.add_encoded(&[3, 0, 0, 0, 0, 0, 0, 0x80]).expect_err("negative int32");
        assert!(matches!(negative, Error::Format { offset: 12, .. }), "{negative}");
        assert_eq!((set.documents(), set.tokens()), (1, 2));
        assert_eq!(set.finish().expect("finish")[0].bin_bytes, 8);
    }

    #[test]
    fn empty_set_writes_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("out");
        let set = ShardSetWriter::new(&dir, "train", DType::U16, ShardTarget::default())
            .expect("new set");
        assert_eq!(set.finish().expect("finish"), []);
        assert!(files(&dir).is_empty());
    }

    #[test]
    fn abort_and_drop_remove_everything() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let target = ShardTarget { max_tokens: Some(2), max_bytes: None };
        let mut set = ShardSetWriter::new(tmp.path(), "a", DType::U16, target).expect("new");
        for doc in [&[1u32, 2][..], &[3, 4], &[5]] {
            set.add_document(doc).expect("add");
        }
        assert!(!files(tmp.path()).is_empty());
        set.abort();
        assert_eq!(files(tmp.path()), Vec::<String>::new());

        let mut set = ShardSetWriter::new(tmp.path(), "b", DType::U16, target).expect("new");
        set.add_document(&[1, 2, 3]).expect("add");
        set.add_document(&[1]).expect("add");
        drop(set);
        assert_eq!(files(tmp.path()), Vec::<String>::new());
    }

    #[test]
    fn bad_prefix_is_rejected() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = ShardSetWriter::new(tmp.path(), "a/b", DType::U16, ShardTarget::default());
        assert!(matches!(err, Err(Error::InvalidName { .. })));
    }
}
