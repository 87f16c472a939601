//! Single files fetched over HTTP(S): a tokenizer on a model hub.

use std::io;

use super::{StorageError, StorageResult, runtime};

/// Whether `url` is an `http://` or `https://` URL: a single file on a web server (a tokenizer
/// on a model hub), fetched whole by [`fetch_web`].
pub fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Fetches a whole file over HTTP(S) (redirects followed, as model hubs use them).
///
/// # Errors
/// [`StorageError::NotFound`] for a 404, [`StorageError::Io`] for other failures.
pub fn fetch_web(url: &str) -> StorageResult<Vec<u8>> {
    let io = |e: reqwest::Error| StorageError::Io { url: url.into(), source: io::Error::other(e) };
    runtime().block_on(async {
        let response = reqwest::get(url).await.map_err(io)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(StorageError::NotFound { url: url.into() });
        }
        let response = response.error_for_status().map_err(io)?;
        Ok(response.bytes().await.map_err(io)?.to_vec())
    })
}
