//! `--watch`: source files are ingested as they appear, until Ctrl-C.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use feedpipe_shared::feed::listing::list_feeds;
use feedpipe_shared::storage::StorageLocation;

use super::ingest::SourceIngest;

/// How often the source folder is scanned.
const SCAN_INTERVAL: Duration = Duration::from_millis(300);

/// Ingests each feed under `source` (the shared listing rule) once it is complete: its
/// size and modification time unchanged for `settle` (a file written as `.part` and
/// renamed when done is complete at once, whatever `settle` is, since `.part` files are
/// not feeds). Writes the ledger entries that became durable at each scan.
pub(super) async fn watch_source(
    source: &StorageLocation,
    ingest: &mut SourceIngest,
    settle: Duration,
) -> anyhow::Result<()> {
    // Per file: the size and time last seen, and since when they have not changed.
    let mut seen: BTreeMap<String, (u64, DateTime<Utc>, Instant)> = BTreeMap::new();
    let mut tick = tokio::time::interval(SCAN_INTERVAL);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tick.tick() => {}
        }
        ingest.ledger.write_durable().await?;
        let listing = list_feeds(source).await?;
        ingest.skipped(&listing);
        for (file, meta) in &listing.feeds {
            let now = (meta.size, meta.last_modified);
            let since = match seen.get(&file.uri()) {
                Some((size, at, since)) if (*size, *at) == now => *since,
                _ => {
                    seen.insert(file.uri(), (now.0, now.1, Instant::now()));
                    continue;
                }
            };
            if since.elapsed() >= settle {
                ingest.ingest(file, meta, true).await?;
            }
        }
    }
}
