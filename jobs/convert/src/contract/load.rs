//! Reading a contract from wherever it is kept: a local path, `file://` or `s3://`.

use object_store::ObjectStoreExt;

use feedpipe_shared::feeds::{FeedSpec, FeedsError, FeedsFile};
use feedpipe_shared::storage::{StorageError, StorageLocation};

use super::{ContractError, SAMPLE_CONTRACT, SchemaContract};

/// Why a contract could not be loaded; each names the location.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The location is not one feedpipe understands.
    #[error("bad contract location: {0}")]
    Location(StorageError),
    /// The object or file could not be read.
    #[error("cannot read the contract {url}: {error}")]
    Read { url: String, error: String },
    /// The object is not UTF-8 text.
    #[error("the contract {url} is not UTF-8 text")]
    NotText { url: String },
    /// The text is not a valid contract.
    #[error("in {url}: {error}")]
    Contract { url: String, error: ContractError },
}

/// Reads and validates the contract at `url`: an `s3://…` object, or a local file
/// (a path, or `file://…`).
pub async fn load(url: &str) -> Result<SchemaContract, LoadError> {
    let read = |error: String| LoadError::Read {
        url: url.to_owned(),
        error,
    };
    let bytes = if url.contains("://") && !url.starts_with("file://") {
        let location = StorageLocation::parse(url).map_err(LoadError::Location)?;
        let got = location.store.get(&location.path).await;
        got.map_err(|e| read(e.to_string()))?
            .bytes()
            .await
            .map_err(|e| read(e.to_string()))?
            .to_vec()
    } else {
        let path = url.strip_prefix("file://").unwrap_or(url);
        tokio::fs::read(path)
            .await
            .map_err(|e| read(e.to_string()))?
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| LoadError::NotText {
        url: url.to_owned(),
    })?;
    SchemaContract::from_json(text).map_err(|error| LoadError::Contract {
        url: url.to_owned(),
        error,
    })
}

/// The contract of each feed of `feeds`, in order, with the feed's table (and its
/// `event_time` when the entry gives one) and checked; a feed without a contract
/// gets `missing(feed)` (an inferred one locally), or is an error when that is `None`.
/// Every error names the feeds file and the entry.
pub async fn load_feeds(
    feeds: &FeedsFile,
    mut missing: impl FnMut(&FeedSpec) -> Option<SchemaContract>,
) -> Result<Vec<SchemaContract>, FeedsError> {
    let mut contracts = Vec::with_capacity(feeds.feeds.len());
    for (i, feed) in feeds.feeds.iter().enumerate() {
        let fail = |reason: String| FeedsError {
            origin: feeds.origin.clone(),
            reason: format!("entry {} (table `{}`): {reason}", i + 1, feed.table),
        };
        let mut contract = match feeds.contract_location(feed) {
            Some(url) => load(&url).await.map_err(|e| fail(e.to_string()))?,
            None => missing(feed)
                .ok_or_else(|| fail("no `contract`; a deployment needs one per feed".into()))?,
        };
        contract.table = feed.table.clone();
        if let Some(column) = &feed.event_time {
            contract.event_time = Some(column.clone());
        }
        contract.validate().map_err(|e| fail(e.to_string()))?;
        contracts.push(contract);
    }
    Ok(contracts)
}

/// The contract at `url`, or the built-in sample contract when there is none.
pub async fn load_or_sample(url: Option<&str>) -> Result<SchemaContract, LoadError> {
    match url {
        Some(url) => load(url).await,
        None => SchemaContract::from_json(SAMPLE_CONTRACT).map_err(|error| LoadError::Contract {
            url: "the built-in sample contract".into(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_contract_is_read_from_a_path_and_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, super::super::SAMPLE_CONTRACT).unwrap();
        let loaded = load(&good.display().to_string()).await;
        assert_eq!(loaded.map(|c| c.table).ok().as_deref(), Some("feed"));

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"table": "t", "columns": []}"#).unwrap();
        let err = load(&bad.display().to_string())
            .await
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("bad.json") && err.contains("no columns"),
            "{err}"
        );

        std::fs::create_dir(dir.path().join("x")).unwrap();
        let relative = dir.path().join("x/../good.json").display().to_string();
        assert!(
            load(&relative).await.is_ok(),
            "`..` in a local path is fine"
        );

        let missing = dir.path().join("missing.json").display().to_string();
        let err = load(&missing)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing.json"), "{err}");
    }
}
