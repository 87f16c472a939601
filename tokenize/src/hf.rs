//! The Hugging Face tokenizer behind a [`Tokenizer`](crate::Tokenizer): parsed at load time, or,
//! for a tokenizer built from the on-disk cache, on first need.
//!
//! Parsing GPT-2's `tokenizer.json` takes about 70 ms, and a cached tokenizer on the fast path
//! only needs it to decode, serialize, or look up a token that is not an added token; an
//! incremental run that only encodes never pays for it.

use std::sync::OnceLock;

use tokenizers::Tokenizer as HfTokenizer;

use crate::{Error, Result};

/// A `tokenizers::Tokenizer`, loaded or still to be parsed from its `tokenizer.json` bytes.
pub(crate) struct Hf {
    /// Where the bytes came from, for error messages.
    origin: String,
    /// The `tokenizer.json` a lazy parse reads; `None` when loaded from the start.
    bytes: Option<Box<[u8]>>,
    /// The parsed tokenizer, or why parsing failed (kept as text: the boxed error is not `Clone`).
    parsed: OnceLock<Result<HfTokenizer, String>>,
}

impl Hf {
    /// A tokenizer already parsed and [`prepare`]d.
    pub(crate) fn loaded(inner: HfTokenizer, origin: &str) -> Self {
        Self { origin: origin.to_owned(), bytes: None, parsed: OnceLock::from(Ok(inner)) }
    }

    /// A tokenizer to parse from `bytes` (and [`prepare`]) when first needed.
    pub(crate) fn lazy(bytes: Vec<u8>, origin: String) -> Self {
        Self { origin, bytes: Some(bytes.into_boxed_slice()), parsed: OnceLock::new() }
    }

    /// The tokenizer, parsing it now if it has not been.
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] if the bytes do not parse (every time it is asked, not only the first).
    pub(crate) fn get(&self) -> Result<&HfTokenizer> {
        let parsed = self.parsed.get_or_init(|| {
            let bytes = self.bytes.as_deref().unwrap_or_default();
            open(bytes, &self.origin).map_err(|err| match err {
                Error::Parse { source, .. } => source.to_string(),
                other => other.to_string(),
            })
        });
        parsed.as_ref().map_err(|reason| Error::Parse {
            origin: self.origin.clone(),
            source: reason.clone().into(),
        })
    }

    /// The tokenizer if it is parsed already; never parses.
    pub(crate) fn if_loaded(&self) -> Option<&HfTokenizer> {
        self.parsed.get().and_then(|parsed| parsed.as_ref().ok())
    }

    /// Whether the tokenizer has been parsed (or a parse has been tried).
    #[cfg(test)]
    pub(crate) fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

/// Parses `bytes` as a `tokenizer.json` and [`prepare`]s it.
///
/// # Errors
///
/// [`Error::Parse`] (naming `origin`) if the bytes are not a valid `tokenizer.json`.
pub(crate) fn open(bytes: &[u8], origin: &str) -> Result<HfTokenizer> {
    let mut inner = HfTokenizer::from_bytes(bytes)
        .map_err(|source| Error::Parse { origin: origin.to_owned(), source })?;
    prepare(&mut inner, origin)?;
    Ok(inner)
}

/// Switches padding and truncation off: padding would insert pad ids into shards, truncation
/// would silently drop text.
///
/// # Errors
///
/// [`Error::Parse`] if `tokenizers` refuses (it does not, for `None`).
pub(crate) fn prepare(inner: &mut HfTokenizer, origin: &str) -> Result<()> {
    inner.with_padding(None);
    inner
        .with_truncation(None)
        .map_err(|source| Error::Parse { origin: origin.to_owned(), source })?;
    Ok(())
}
