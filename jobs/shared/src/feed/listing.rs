//! Which files of a source folder, or objects under a source prefix, are feeds: the one
//! rule that ingest (`feedpipe local`) and `reconcile` share, so that a file one of them
//! skips is never counted as missing by the other.
//!
//! Everything under the location is listed, subfolders included, in key order. Skipped,
//! and reported by name:
//! - hidden names (the last segment starts with `.`) and files still being written
//!   (`.tmp`, `.part`): a writer renames them when they are complete;
//! - names that cannot be read through `object_store` (on a local disk: a name that is
//!   not UTF-8, or one that `object_store` keeps for its own temporary files, ending in
//!   `#<digits>`): these are *unusable*, and a run that meets one must fail, naming it.
//!
//! One bad name never stops the listing: the other files are listed and go on.

use std::path::{Path as FsPath, PathBuf};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::storage::{StorageLocation, with_versions};

/// Why a listed file is not a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Its name starts with `.`.
    Hidden,
    /// Still being written: `.tmp` or `.part`.
    InProgress,
    /// It cannot be read, for the reason given: a feed that is lost unless renamed.
    Unusable(String),
}

/// A file that is not taken as a feed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// Its path or key, as the user would find it.
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

impl std::fmt::Display for SkippedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            SkipReason::Hidden => write!(f, "{}: hidden (its name starts with `.`)", self.name),
            SkipReason::InProgress => {
                write!(f, "{}: still being written (.tmp or .part)", self.name)
            }
            SkipReason::Unusable(why) => {
                write!(f, "{}: cannot be read, rename it: {why}", self.name)
            }
        }
    }
}

/// The feeds under a location, and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct FeedListing {
    /// Each feed's location and metadata, in key order.
    pub feeds: Vec<(StorageLocation, ObjectMeta)>,
    /// Every file skipped, in key order.
    pub skipped: Vec<SkippedFile>,
}

impl FeedListing {
    /// The skipped files that are feeds nobody can read (a run with one must fail).
    pub fn unusable(&self) -> impl Iterator<Item = &SkippedFile> {
        self.skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::Unusable(_)))
    }
}

/// Why a location could not be listed at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {uri}: {reason}")]
pub struct ListError {
    /// The location.
    pub uri: String,
    /// What went wrong.
    pub reason: String,
}

/// Whether a file of this name (its last segment) is skipped before it is opened.
fn skip_by_name(name: &str) -> Option<SkipReason> {
    if name.starts_with('.') {
        Some(SkipReason::Hidden)
    } else if name.ends_with(".tmp") || name.ends_with(".part") {
        Some(SkipReason::InProgress)
    } else {
        None
    }
}

/// The feeds at `location`: the object it names, or every one under it (see the
/// module docs). A location that does not exist holds no feeds.
pub async fn list_feeds(location: &StorageLocation) -> Result<FeedListing, ListError> {
    if location.is_s3() {
        list_objects(location).await
    } else {
        list_local(location).await
    }
}

async fn list_objects(location: &StorageLocation) -> Result<FeedListing, ListError> {
    let mut metas = if !location.path.as_ref().is_empty()
        && let Ok(meta) = location.store.head(&location.path).await
    {
        vec![meta]
    } else {
        match location
            .store
            .list(Some(&location.path))
            .try_collect::<Vec<_>>()
            .await
        {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => {
                return Err(ListError {
                    uri: location.uri(),
                    reason: e.to_string(),
                });
            }
        }
    };
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = FeedListing::default();
    // Feeds only (skipped names need no version), each with its version id.
    let (skipped, feeds): (Vec<_>, Vec<_>) = metas
        .into_iter()
        .partition(|m| skip_by_name(m.location.filename().unwrap_or_default()).is_some());
    let feeds = with_versions(location, feeds)
        .await
        .map_err(|e| ListError {
            uri: location.uri(),
            reason: e.to_string(),
        })?;
    let mut metas: Vec<_> = skipped.into_iter().chain(feeds).collect();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    for meta in metas {
        let name = meta.location.filename().unwrap_or_default();
        match skip_by_name(name) {
            Some(reason) => out.skipped.push(SkippedFile {
                name: location.uri_of(&meta.location),
                reason,
            }),
            None => out.feeds.push((location.at(meta.location.clone()), meta)),
        }
    }
    Ok(out)
}

/// A local folder, walked on disk so that every name is seen, even one that
/// `object_store` would refuse or leave out.
async fn list_local(location: &StorageLocation) -> Result<FeedListing, ListError> {
    let root = PathBuf::from(format!("/{}", location.path));
    let walked = tokio::task::spawn_blocking({
        let root = root.clone();
        move || walk(&root)
    })
    .await
    .map_err(|e| ListError {
        uri: location.uri(),
        reason: e.to_string(),
    })?
    .map_err(|e| ListError {
        uri: location.uri(),
        reason: e.to_string(),
    })?;
    let mut out = FeedListing::default();
    for file in walked {
        let shown = file.display().to_string();
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            out.skipped.push(SkippedFile {
                name: shown,
                reason: SkipReason::Unusable("the name is not UTF-8".into()),
            });
            continue;
        };
        if let Some(reason) = skip_by_name(name) {
            out.skipped.push(SkippedFile {
                name: shown,
                reason,
            });
            continue;
        }
        let opened = match Path::from_absolute_path(&file) {
            Ok(path) => {
                let at = location.at(path);
                at.store.head(&at.path).await.map(|meta| (at, meta))
            }
            Err(e) => Err(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            }),
        };
        match opened {
            Ok(feed) => out.feeds.push(feed),
            Err(e) => out.skipped.push(SkippedFile {
                name: shown,
                reason: SkipReason::Unusable(e.to_string()),
            }),
        }
    }
    Ok(out)
}

/// Every file at or under `root`, sorted by path (a missing root holds none).
fn walk(root: &FsPath) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    match std::fs::metadata(root) {
        Ok(m) if m.is_file() => return Ok(vec![root.to_path_buf()]),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    }
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_rule_for_every_name_and_no_bad_name_stops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        for name in [
            "a.jsonl",
            "sub/b.jsonl",
            ".hidden",
            "c.jsonl.part",
            "d.tmp",
            "batch#7",
        ] {
            std::fs::write(root.join(name), b"{}\n").unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"caf\xe9.jsonl");
            std::fs::write(root.join(name), b"{}\n").unwrap();
        }
        let location = StorageLocation::parse(root.to_str().unwrap()).unwrap();
        let listing = list_feeds(&location).await.unwrap();
        let feeds: Vec<String> = listing
            .feeds
            .iter()
            .map(|(l, _)| l.uri().rsplit('/').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(feeds, ["a.jsonl", "b.jsonl"]);
        let skipped: Vec<(String, &SkipReason)> = listing
            .skipped
            .iter()
            .map(|s| {
                (
                    s.name.rsplit('/').next().unwrap_or_default().to_owned(),
                    &s.reason,
                )
            })
            .collect();
        let reason = |n: &str| skipped.iter().find(|(name, _)| name == n).map(|(_, r)| *r);
        assert_eq!(reason(".hidden"), Some(&SkipReason::Hidden));
        assert_eq!(reason("c.jsonl.part"), Some(&SkipReason::InProgress));
        assert_eq!(reason("d.tmp"), Some(&SkipReason::InProgress));
        assert!(matches!(reason("batch#7"), Some(SkipReason::Unusable(_))));
        let unusable: Vec<String> = listing.unusable().map(ToString::to_string).collect();
        assert_eq!(
            unusable.len(),
            if cfg!(unix) { 2 } else { 1 },
            "{unusable:?}"
        );
        assert!(
            unusable
                .iter()
                .any(|u| u.contains("batch#7") && u.contains("rename it"))
        );

        // A single file is its own listing; a missing folder holds no feeds.
        let one = StorageLocation::parse(root.join("a.jsonl").to_str().unwrap()).unwrap();
        assert_eq!(list_feeds(&one).await.unwrap().feeds.len(), 1);
        let none = StorageLocation::parse(root.join("nope").to_str().unwrap()).unwrap();
        assert!(list_feeds(&none).await.unwrap().feeds.is_empty());
    }
}
