//! [`Tokenizer`]: a Hugging Face tokenizer set up for pretraining data.
//!
//! Pretraining shards hold the raw ids of whole documents, so every tokenizer is loaded with
//! padding and truncation switched off (a `tokenizer.json` exported for fine-tuning often has
//! them on) and encodes without the post-processor's special tokens (`[CLS] … [SEP]`). The only
//! specials that reach a shard are the bos/eos ids [`Tokenizer::encode_document`] adds.
//!
//! [`Tokenizer::from_file_cached`] keeps what a load of a fast-path tokenizer computed in a cache
//! directory (see `cache_file`), so loading the same bytes again takes milliseconds instead of
//! parsing the JSON; the Hugging Face tokenizer is then parsed only when something needs it.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tokenizers::Tokenizer as HfTokenizer;
use xxhash_rust::xxh3::xxh3_128;

use crate::cache_file::{self, CacheFile};
use crate::fast::FastBpe;
use crate::hf::{self, Hf};
use crate::info::{BOS_CANDIDATES, EOS_CANDIDATES, TokenizerInfo, candidate_list};
use crate::{Error, Result};

/// Which special ids [`Tokenizer::encode_document`] adds around a document's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Prepend the beginning-of-sequence id.
    pub bos: bool,
    /// Append the end-of-sequence id, so documents stay separable once concatenated.
    pub eos: bool,
}

impl Default for EncodeOptions {
    /// `bos = false, eos = true`: the GPT-2 convention of one separator between documents.
    fn default() -> Self {
        Self { bos: false, eos: true }
    }
}

/// A loaded tokenizer. Cheap to share across threads (`Send + Sync`) and cheap to clone.
#[derive(Clone)]
pub struct Tokenizer {
    /// Shared by clones, so a lazy parse happens once for all of them.
    hf: Arc<Hf>,
    info: TokenizerInfo,
    /// The byte-level BPE fast path, when the tokenizer is one it reproduces exactly.
    fast: Option<Arc<FastBpe>>,
    /// Why there is no fast path, when there is none.
    reference_reason: Option<Arc<str>>,
}

/// Which encoder [`Tokenizer::encode`] runs, and why: for logs, `stats.json` and `inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodePath {
    /// The fast path, with what it runs, e.g. `NFC, qwen2 split (hand-written), byte-level BPE`.
    Fast(String),
    /// The `tokenizers` crate itself, with the reason the fast path does not take the tokenizer.
    Reference(String),
}

impl EncodePath {
    /// `"fast"` or `"reference"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Fast(_) => "fast",
            Self::Reference(_) => "reference",
        }
    }

    /// What the fast path runs, or why the reference runs.
    pub fn detail(&self) -> &str {
        match self {
            Self::Fast(detail) | Self::Reference(detail) => detail,
        }
    }
}

impl fmt::Display for EncodePath {
    /// `fast (…what it runs…)` or `reference (…why…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.detail())
    }
}

impl fmt::Debug for Tokenizer {
    /// The vocabulary is far too large to print; the info identifies the tokenizer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("info", &self.info)
            .field("fast_path", &self.fast.is_some())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads a Hugging Face `tokenizer.json` file.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] if the file cannot be read, [`Error::Parse`] (naming the path) if it is
    /// not a valid `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes =
            fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Loads a tokenizer from the bytes of a `tokenizer.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] if the bytes are not a valid `tokenizer.json`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, "<bytes>")
    }

    /// Loads a `tokenizer.json` file like [`Tokenizer::from_file`], through a cache in
    /// `cache_dir` when one is given.
    ///
    /// The cache is content-addressed: a file named by the xxh3-128 of the JSON bytes holds the
    /// fast path's tables and the [`TokenizerInfo`]. When it is there and valid, the tokenizer is
    /// built from it without parsing the JSON (a few milliseconds instead of ~150 for GPT-2),
    /// and the Hugging Face tokenizer is parsed from the bytes, kept in memory, only if
    /// something needs it ([`Tokenizer::decode`], [`Tokenizer::to_json`],
    /// [`Tokenizer::save`], [`Tokenizer::reference_encode`], or [`Tokenizer::token_to_id`] of a
    /// token that is not an added token). Otherwise the JSON is loaded as usual and, if the
    /// tokenizer has a fast path ([`Tokenizer::has_fast_path`]), the cache file is written.
    ///
    /// Either way the tokenizer behaves exactly as [`Tokenizer::from_file`]'s. The cache never
    /// causes an error: a missing, corrupt or stale file is loaded around and rewritten, and a
    /// directory that cannot be created or written only means the next load is slow too.
    /// Tokenizers without a fast path are not cached. `None` is [`Tokenizer::from_file`].
    ///
    /// # Example
    ///
    /// ```
    /// use tokenmill_tokenize::{BpeTrainingConfig, Tokenizer, train_byte_level_bpe};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("tokenizer.json");
    /// let cfg = BpeTrainingConfig { vocab_size: 270, ..BpeTrainingConfig::default() };
    /// train_byte_level_bpe(std::iter::repeat_n("low lower lowest".to_string(), 20), &cfg)?.save(&path)?;
    ///
    /// let cache = dir.path().join("cache");
    /// let first = Tokenizer::from_file_cached(&path, Some(&cache))?; // parses, writes the cache
    /// let again = Tokenizer::from_file_cached(&path, Some(&cache))?; // reads the cache
    /// assert_eq!(again.info(), first.info());
    /// assert_eq!(again.encode("lowest")?, first.encode("lowest")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Tokenizer::from_file`].
    pub fn from_file_cached(path: &Path, cache_dir: Option<&Path>) -> Result<Self> {
        let bytes =
            fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        let origin = path.display().to_string();
        match cache_dir {
            None => Self::parse(&bytes, &origin),
            Some(dir) => Self::load_cached(bytes, origin, dir),
        }
    }

    /// Loads a tokenizer from the bytes of a `tokenizer.json` (fetched from object storage,
    /// say), through a cache in `cache_dir`, as [`Tokenizer::from_file_cached`] does.
    ///
    /// `origin` names the bytes in error messages, e.g. the URL they came from.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] (naming `origin`) if the bytes are not a valid `tokenizer.json`.
    pub fn from_bytes_cached(bytes: &[u8], origin: &str, cache_dir: Option<&Path>) -> Result<Self> {
        match cache_dir {
            None => Self::parse(bytes, origin),
            // Owned: a tokenizer built from the cache keeps the bytes for a lazy parse.
            Some(dir) => Self::load_cached(bytes.to_vec(), origin.to_owned(), dir),
        }
    }

    /// Builds the tokenizer from `dir`'s cache file for `bytes`, or loads `bytes` and writes one.
    fn load_cached(bytes: Vec<u8>, origin: String, dir: &Path) -> Result<Self> {
        let key = xxh3_128(&bytes);
        if let Some(cached) = cache_file::read(dir, key) {
            // Tables that do not rebuild are as good as a corrupt file: a miss.
            if let Ok(fast) = FastBpe::from_tables(cached.tables) {
                let hf = Arc::new(Hf::lazy(bytes, origin));
                return Ok(Self {
                    hf,
                    info: cached.info,
                    fast: Some(Arc::new(fast)),
                    reference_reason: None,
                });
            }
        }
        let tokenizer = Self::parse(&bytes, &origin)?;
        if let Some(file) = tokenizer.cache_file(key) {
            // Not an error: without the file the next load parses the JSON again, that is all.
            let _ = cache_file::write(dir, &file);
        }
        Ok(tokenizer)
    }

    /// What the cache keeps of this freshly loaded tokenizer, if it has a fast path.
    fn cache_file(&self, key: u128) -> Option<CacheFile> {
        let (fast, inner) = (self.fast.as_ref()?, self.hf.if_loaded()?);
        let tables = fast.tables();
        // A cached tokenizer answers `token_to_id` of added tokens from the tables; should
        // `tokenizers` answer otherwise (two added tokens with one content), do not cache.
        if tables.added.iter().any(|entry| inner.token_to_id(&entry.content) != Some(entry.id)) {
            return None;
        }
        Some(CacheFile { key, info: self.info.clone(), tables })
    }

    fn parse(bytes: &[u8], origin: &str) -> Result<Self> {
        Self::prepared(hf::open(bytes, origin)?, origin)
    }

    /// Wraps `inner` after switching padding and truncation off.
    pub(crate) fn from_hf(mut inner: HfTokenizer, origin: &str) -> Result<Self> {
        hf::prepare(&mut inner, origin)?;
        Self::prepared(inner, origin)
    }

    /// Wraps `inner`, whose padding and truncation are off.
    fn prepared(inner: HfTokenizer, origin: &str) -> Result<Self> {
        let json = inner.to_string(false).map_err(|source| Error::Serialize { source })?;
        let info = TokenizerInfo::inspect(&inner, &json);
        // Not eligible is not an error: the reference encodes every tokenizer.
        let (fast, reference_reason) = match FastBpe::new(&inner, &json) {
            Ok(fast) => (Some(Arc::new(fast)), None),
            Err(reason) => (None, Some(Arc::from(reason))),
        };
        Ok(Self { hf: Arc::new(Hf::loaded(inner, origin)), info, fast, reference_reason })
    }

    /// Whether the Hugging Face tokenizer has been parsed: always after a plain load, only on
    /// first need after a load from the cache. Tests use it to tell the two apart.
    #[cfg(test)]
    pub(crate) fn hf_is_parsed(&self) -> bool {
        self.hf.is_parsed()
    }

    /// Whether [`Tokenizer::encode`] takes the byte-level BPE fast path.
    ///
    /// It does for byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2/3, DeepSeek V3, GPT-4o
    /// style: a BPE model, `ByteLevel` alone or after `Split` pre-tokenizers, no normalizer or
    /// NFC, plain added tokens), giving the same ids as the `tokenizers` crate several times
    /// faster; every other tokenizer is encoded by `tokenizers` itself.
    /// [`Tokenizer::encode_path`] says which, and why.
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Which encoder runs: the fast path and what it runs, or the reference and why.
    pub fn encode_path(&self) -> EncodePath {
        match (&self.fast, &self.reference_reason) {
            (Some(fast), _) => EncodePath::Fast(fast.describe()),
            (None, Some(reason)) => EncodePath::Reference(reason.to_string()),
            (None, None) => EncodePath::Reference("no fast path".into()),
        }
    }

    /// Vocabulary size, content hash, special ids and model kind.
    pub fn info(&self) -> &TokenizerInfo {
        &self.info
    }

    /// The id of `token` (model vocabulary or added tokens), if the tokenizer has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        if let Some(inner) = self.hf.if_loaded() {
            return inner.token_to_id(token);
        }
        // Built from the cache: added tokens (the usual eos/bos) need no parse.
        if let Some(id) = self.fast.as_ref().and_then(|fast| fast.added_id(token)) {
            return Some(id);
        }
        // A lazy parse cannot fail for bytes that parsed before; if it does, nothing is known.
        self.hf.get().ok()?.token_to_id(token)
    }

    /// Replaces the detected eos and/or bos ids with those of the given token strings.
    ///
    /// `None` keeps what was detected (see [`EOS_CANDIDATES`] and [`BOS_CANDIDATES`]).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownToken`] if a given token is not in the vocabulary.
    pub fn with_special_ids(mut self, eos: Option<&str>, bos: Option<&str>) -> Result<Self> {
        if let Some(token) = eos {
            self.info.eos_id = Some(self.require_token("eos", token)?);
        }
        if let Some(token) = bos {
            self.info.bos_id = Some(self.require_token("bos", token)?);
        }
        Ok(self)
    }

    fn require_token(&self, role: &'static str, token: &str) -> Result<u32> {
        self.token_to_id(token).ok_or_else(|| Error::UnknownToken { role, token: token.to_owned() })
    }

    /// The ids of `text` alone: no special tokens, no padding, no truncation.
    ///
    /// Added tokens written literally in the text (e.g. `<|endoftext|>` for GPT-2) are
    /// recognized and map to their ids, as the Hugging Face tokenizer does.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] if the underlying tokenizer fails (e.g. a WordPiece model without an
    /// unknown token meets an unknown word). The fast path never fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_with(text, 0, |_| {})
    }

    /// The ids of `text` from the `tokenizers` crate itself, bypassing the fast path.
    ///
    /// Same contract and result as [`Tokenizer::encode`]; it exists so tests and benchmarks
    /// can hold the fast path against the reference.
    ///
    /// # Errors
    ///
    /// As for [`Tokenizer::encode`]; [`Error::Parse`] as for [`Tokenizer::decode`].
    pub fn reference_encode(&self, text: &str) -> Result<Vec<u32>> {
        self.reference_encode_with(text, 0, |_| {})
    }

    /// The ids of `text` with the bos id before and the eos id after, as `opts` asks.
    ///
    /// # Errors
    ///
    /// [`Error::NoEosToken`] / [`Error::NoBosToken`] if eos / bos is requested but the tokenizer
    /// has none (set one with [`Tokenizer::with_special_ids`]); [`Error::Encode`] as for
    /// [`Tokenizer::encode`].
    pub fn encode_document(&self, text: &str, opts: EncodeOptions) -> Result<Vec<u32>> {
        let eos = match (opts.eos, self.info.eos_id) {
            (false, _) => None,
            (true, Some(id)) => Some(id),
            (true, None) => {
                return Err(Error::NoEosToken { candidates: candidate_list(EOS_CANDIDATES) });
            }
        };
        let bos = match (opts.bos, self.info.bos_id) {
            (false, _) => None,
            (true, Some(id)) => Some(id),
            (true, None) => {
                return Err(Error::NoBosToken { candidates: candidate_list(BOS_CANDIDATES) });
            }
        };
        let extra = usize::from(eos.is_some()) + usize::from(bos.is_some());
        self.encode_with(text, extra, |ids| ids.extend(bos)).map(|mut ids| {
            ids.extend(eos);
            ids
        })
    }

    /// Encodes `text` into a vector that has room for `extra` more ids and starts with
    /// whatever `prefix` pushes, so a document is copied exactly once.
    fn encode_with(
        &self,
        text: &str,
        extra: usize,
        prefix: impl FnOnce(&mut Vec<u32>),
    ) -> Result<Vec<u32>> {
        let Some(fast) = &self.fast else {
            return self.reference_encode_with(text, extra, prefix);
        };
        // 2.5 to 4.5 bytes per token on web text and code; a guess only saves reallocations.
        let mut ids = Vec::with_capacity(text.len() / 3 + extra + 4);
        prefix(&mut ids);
        fast.encode_into(text, &mut ids);
        Ok(ids)
    }

    fn reference_encode_with(
        &self,
        text: &str,
        extra: usize,
        prefix: impl FnOnce(&mut Vec<u32>),
    ) -> Result<Vec<u32>> {
        // `encode_fast` skips offset tracking, which shards never need.
        let encoding = self
            .hf
            .get()?
            .encode_fast(text, false)
            .map_err(|source| Error::Encode { text_bytes: text.len(), source })?;
        let body = encoding.get_ids();
        let mut ids = Vec::with_capacity(body.len() + extra);
        prefix(&mut ids);
        ids.extend_from_slice(body);
        Ok(ids)
    }

    /// Encodes every text like [`Tokenizer::encode`], in parallel on the current rayon pool.
    ///
    /// The result is in input order. Parallelism comes from rayon over texts, not from the
    /// `tokenizers` crate, so the caller's pool size bounds it.
    ///
    /// # Errors
    ///
    /// The first [`Error::Encode`] met; which one is unspecified if several texts fail.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.par_iter().map(|text| self.encode(text)).collect()
    }

    /// The text of `ids`, special tokens included (`skip_special_tokens = false`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownId`] if an id is outside the vocabulary (the Hugging Face decoder would
    /// silently drop it); [`Error::Decode`] if the decoder fails; [`Error::Parse`] if a
    /// tokenizer loaded from the cache is parsed now and fails to (its bytes parsed before).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.info.vocab_size) {
            return Err(Error::UnknownId { id, vocab_size: self.info.vocab_size });
        }
        self.hf.get()?.decode(ids, false).map_err(|source| Error::Decode { ids: ids.len(), source })
    }

    /// The tokenizer as compact `tokenizer.json` text, the form [`TokenizerInfo::hash`] hashes.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`] if serialization fails; [`Error::Parse`] as for [`Tokenizer::decode`].
    pub fn to_json(&self) -> Result<String> {
        self.hf.get()?.to_string(false).map_err(|source| Error::Serialize { source })
    }

    /// Writes the tokenizer as compact `tokenizer.json` to `path`, atomically.
    ///
    /// The JSON goes to `<path>.tmp` first, is fsynced, then renamed over `path`, so readers
    /// see either the old file or the complete new one.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`] if serialization fails, [`Error::Write`] (naming `path`) if the
    /// file cannot be written or renamed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self.to_json()?;
        let write_err = |source| Error::Write { path: path.to_path_buf(), source };
        let tmp = tmp_path(path).map_err(write_err)?;
        let written = write_synced(&tmp, json.as_bytes()).and_then(|()| fs::rename(&tmp, path));
        if let Err(source) = written {
            // Best effort: the original error is the one worth reporting.
            let _ = fs::remove_file(&tmp);
            return Err(write_err(source));
        }
        Ok(())
    }
}

/// `<path>.tmp`, next to `path` so the rename stays on one file system.
fn tmp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    Ok(path.with_file_name(tmp_name))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
#[path = "tokenizer_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tokenizer_cache_tests.rs"]
mod cache_tests;
