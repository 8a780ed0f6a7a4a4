//! `--watch`: source files are ingested as they appear, until Ctrl-C.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use feedpipe_shared::feed::listing::list_feeds;
use feedpipe_shared::storage::StorageLocation;

use super::ingest::SourceIngest;

/// How often the source folder is scanned.
const SCAN_INTERVAL: Duration = Duration::from_millis(300);

/// What a scan knows of one file.
struct Seen {
    /// Its size and modification time when last listed.
    state: (u64, DateTime<Utc>),
    /// Since when they have not changed.
    since: Instant,
    /// Whether it was handed to the ingest in this state.
    taken: bool,
}

/// Ingests each feed under `source` (the shared listing rule) once it is complete: its
/// size and modification time unchanged for `settle` (a file written as `.part` and
/// renamed when done is complete at once, whatever `settle` is, since `.part` files are
/// not feeds). Writes the ledger entries that became durable at each scan.
pub(super) async fn watch_source(
    source: &StorageLocation,
    ingest: &mut SourceIngest,
    settle: Duration,
) -> anyhow::Result<()> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
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
            let state = (meta.size, meta.last_modified);
            let entry = match seen.get_mut(&file.uri()) {
                Some(entry) if entry.state == state => entry,
                _ => {
                    let since = Instant::now();
                    seen.insert(
                        file.uri(),
                        Seen {
                            state,
                            since,
                            taken: false,
                        },
                    );
                    continue;
                }
            };
            // Taken once per state: a local feed's version is a digest of its bytes,
            // not to be read again every scan.
            if !entry.taken && entry.since.elapsed() >= settle {
                entry.taken = true;
                ingest.ingest(file, meta, true).await?;
            }
        }
    }
}
