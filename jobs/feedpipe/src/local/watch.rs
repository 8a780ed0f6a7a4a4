//! `--watch`: source files are ingested as they appear, until Ctrl-C.

use std::collections::BTreeMap;
use std::time::Duration;

use feedpipe_shared::feed::listing::list_feeds;
use feedpipe_shared::storage::StorageLocation;

use super::ingest::SourceIngest;

/// How often the source folder is scanned.
const SCAN_INTERVAL: Duration = Duration::from_millis(300);

/// Ingests each feed under `source` (the shared listing rule) once two scans in a row
/// see the same size; writes the ledger entries that became durable at each scan.
pub(super) async fn watch_source(
    source: &StorageLocation,
    ingest: &mut SourceIngest,
) -> anyhow::Result<()> {
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
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
            if sizes.insert(file.uri(), meta.size) != Some(meta.size) {
                continue;
            }
            ingest.ingest(file, meta, true).await?;
        }
    }
}
