//! `--watch`: source files are ingested as they appear, until Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ingest::SourceIngest;
use super::workdir::source_files;

/// How often the source folder is scanned.
const SCAN_INTERVAL: Duration = Duration::from_millis(300);

/// Ingests each file in `source` once two scans in a row see the same size; writes
/// the ledger entries that became durable at each scan.
pub(super) async fn watch_source(source: &Path, ingest: &mut SourceIngest) -> anyhow::Result<()> {
    let mut sizes: BTreeMap<PathBuf, u64> = BTreeMap::new();
    let mut tick = tokio::time::interval(SCAN_INTERVAL);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tick.tick() => {}
        }
        ingest.ledger.write_durable().await?;
        for file in source_files(source)? {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if sizes.insert(file.clone(), size) != Some(size) {
                continue;
            }
            ingest.ingest(&file, true).await?;
        }
    }
}
