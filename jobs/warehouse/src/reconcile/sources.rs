//! Step 1: every record of every source file, read again, as ingest numbers them.

use std::io::Read;

use feedpipe_shared::feed::audit::AuditReport;
use feedpipe_shared::feed::listing::{SkipReason, list_feeds};
use feedpipe_shared::feed::{FeedItem, FeedReader, open_feed};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::{StorageLocation, feed_version, open_object};

use super::report::FileReport;
use super::spill::{IdSorter, Mark};
use super::{Index, ReconcileError, parse_id, spill_error};

/// Reads every feed under `source` (by the listing rule ingest follows) and enters
/// each of its records in `index` as it reads them. A file that cannot be read is a
/// report with its error; files skipped as hidden or still being written go to
/// `skipped`.
pub(super) async fn read_sources(
    source: &StorageLocation,
    index: &mut Index,
    skipped: &mut Vec<String>,
    unrouted: &super::quarantine::Unrouted,
) -> Result<Vec<FileReport>, ReconcileError> {
    let mut files = Vec::new();
    let listing = list_feeds(source).await.map_err(|e| ReconcileError::Read {
        uri: e.uri,
        message: e.reason,
    })?;
    for file in &listing.skipped {
        match &file.reason {
            SkipReason::Unusable(why) => files.push(FileReport {
                uri: file.name.clone(),
                error: Some(format!("cannot be read, rename it: {why}")),
                ..Default::default()
            }),
            _ => skipped.push(file.to_string()),
        }
    }
    for (location, meta) in listing.feeds {
        // The version ingest gave the file's records (a local file's is its content's).
        let version = match feed_version(&location, &meta, None).await {
            Ok(v) => v,
            Err(e) => {
                files.push(FileReport {
                    uri: location.uri(),
                    error: Some(e.to_string()),
                    ..Default::default()
                });
                continue;
            }
        };
        let object = SourceObject {
            uri: location.uri(),
            version,
        };
        let file = files.len() as u32;
        let mut report = FileReport {
            uri: object.uri.clone(),
            version: object.version.clone(),
            ..Default::default()
        };
        // Quarantined whole (no feed takes it): nothing of it was sent, nothing to match.
        if let Some(why) = unrouted.get(&(object.uri.clone(), object.version.clone())) {
            report.unrouted = Some(why.clone());
            files.push(report);
            continue;
        }
        match read_records(&location, meta.version.as_deref(), object, file, index).await? {
            Ok((read, audit)) => {
                report.read = read;
                report.unaccounted = audit;
            }
            // The records entered before the failure are not counted: the tally
            // skips the records of a file with an error.
            Err(e) => report.error = Some(e),
        }
        files.push(report);
    }
    Ok(files)
}

/// Enters every record (good or bad) of a feed in `index`, at its line as ingest
/// numbers them: how many, and what the byte audit found; or why the feed could not
/// be read (the outer error is the index's own).
async fn read_records(
    location: &StorageLocation,
    version: Option<&str>,
    object: SourceObject,
    file: u32,
    index: &mut Index,
) -> Result<Result<(u64, AuditReport), String>, ReconcileError> {
    let body = match open_object(location, version).await {
        Ok((_, body)) => body,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // The sorter goes to the blocking thread and back (dropped there on a failure
    // of its own, which removes its files).
    let mut sorter = index.sorter.take();
    let read = tokio::task::spawn_blocking(move || {
        let read = enter_records(body, &object, file, &mut sorter);
        (sorter, read)
    })
    .await;
    // A panic there loses the sorter: reconcile cannot go on.
    let (sorter, read) = read.map_err(|e| ReconcileError::Read {
        uri: location.uri(),
        message: format!("reading stopped: {e}"),
    })?;
    index.sorter = sorter;
    match read {
        Ok(n) => Ok(Ok(n)),
        Err(Failure::Feed(e)) => Ok(Err(e)),
        Err(Failure::Spill(e)) => Err(spill_error(index.spill_dir.clone(), e)),
    }
}

/// Why entering a feed's records stopped.
enum Failure {
    /// The feed could not be read (its report says why).
    Feed(String),
    /// The sorter could not write a run (reconcile fails).
    Spill(std::io::Error),
}

fn enter_records(
    body: Box<dyn Read + Send>,
    object: &SourceObject,
    file: u32,
    sorter: &mut IdSorter,
) -> Result<(u64, AuditReport), Failure> {
    let feed = |e: &dyn std::fmt::Display| Failure::Feed(e.to_string());
    // Audited: every byte outside the records the reader hands out is checked apart
    // from it, so that bytes it skips are found even though ingest skipped them too.
    let body = open_feed(body)
        .map_err(|e| feed(&e))?
        .audited()
        .framing_under_test();
    let mut reader = FeedReader::new(body, 1024 * 1024).map_err(|e| feed(&e))?;
    let mut read = 0;
    while let Some(item) = reader.next_item().map_err(|e| feed(&e))? {
        let line = match item {
            FeedItem::Record { line, .. } | FeedItem::Bad { line, .. } => line,
        };
        read += 1;
        if let Some(id) = parse_id(&object.record_id(line)) {
            sorter.push(id, Mark::Source { file, line });
            if sorter.full() {
                sorter.spill_blocking().map_err(Failure::Spill)?;
            }
        }
    }
    let audit = reader.audit().unwrap_or_default();
    Ok((read, audit))
}
