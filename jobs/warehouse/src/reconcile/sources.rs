//! Step 1: every record of every source file, read again, as ingest numbers them.

use std::io::Read;

use feedpipe_shared::feed::listing::{SkipReason, list_feeds};
use feedpipe_shared::feed::{FeedItem, FeedReader, open_feed};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::{StorageLocation, feed_version, open_object};

use super::report::FileReport;
use super::{Index, ReconcileError, parse_id};

/// Reads every feed under `source` (by the listing rule ingest follows) and enters
/// each of its records in `index`. A file that cannot be read is a report with its
/// error; files skipped as hidden or still being written go to `skipped`.
pub(super) async fn read_sources(
    source: &StorageLocation,
    index: &mut Index,
    skipped: &mut Vec<String>,
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
        match read_lines(&location, meta.version.as_deref()).await {
            Ok(lines) => {
                report.read = lines.len() as u64;
                for line in lines {
                    if let Some(id) = parse_id(&object.record_id(line)) {
                        index.add(id, file, line);
                    }
                }
            }
            Err(e) => report.error = Some(e),
        }
        files.push(report);
    }
    Ok(files)
}

/// The line of every record (good or bad) in a feed, as ingest numbers them.
async fn read_lines(location: &StorageLocation, version: Option<&str>) -> Result<Vec<u64>, String> {
    let (_, body) = open_object(location, version)
        .await
        .map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || -> Result<Vec<u64>, String> {
        let body: Box<dyn Read + Send> = body;
        let feed = open_feed(body).map_err(|e| e.to_string())?;
        let mut reader = FeedReader::new(feed, 1024 * 1024).map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        while let Some(item) = reader.next_item().map_err(|e| e.to_string())? {
            lines.push(match item {
                FeedItem::Record { line, .. } | FeedItem::Bad { line, .. } => line,
            });
        }
        Ok(lines)
    })
    .await
    .map_err(|e| e.to_string())?
}
