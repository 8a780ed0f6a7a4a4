//! The ledger: which versions of which source files are ingested for good.
//!
//! A file's entry (`DIR/state/ingested/<digest of URI and version>.json`) is written
//! only when every record the ingest sent is in a raw object: the Firehose stand-in's
//! checkpoints have passed the stream positions the ingest ended at. A run killed
//! before that ingests the file again.

use std::path::PathBuf;

use anyhow::Context;
use feedpipe_ingest::IngestSummary;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_standins::SequenceNumber;
use serde::Serialize;
use tokio::sync::watch;

/// What an entry says (fields in this order: the bytes of earlier runs' entries).
#[derive(Debug, Serialize)]
struct Entry<'a> {
    records_quarantined: u64,
    records_read: u64,
    records_sent: u64,
    source: &'a str,
    source_version: &'a str,
}

/// An entry waiting for the checkpoints to pass its positions.
#[derive(Debug)]
struct Pending {
    path: PathBuf,
    body: String,
    /// The last sequence number of each shard when the file's ingest ended.
    positions: Vec<Option<SequenceNumber>>,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Ledger {
    dir: PathBuf,
    checkpoints: watch::Receiver<Vec<Option<SequenceNumber>>>,
    pending: Vec<Pending>,
}

impl Ledger {
    /// The ledger in `dir`, waiting on the Firehose stand-in's `checkpoints`.
    pub fn new(dir: PathBuf, checkpoints: watch::Receiver<Vec<Option<SequenceNumber>>>) -> Self {
        Self {
            dir,
            checkpoints,
            pending: Vec::new(),
        }
    }

    fn entry_path(&self, source: &SourceObject) -> PathBuf {
        self.dir.join(format!("{}.json", source.digest()))
    }

    /// Whether this version of the file was ingested for good by an earlier run.
    pub fn has(&self, source: &SourceObject) -> bool {
        self.entry_path(source).exists()
    }

    /// Notes that `source` was ingested, its records ending at `positions` (the
    /// last sequence number per shard); the entry is written once they are durable.
    pub fn ingested(
        &mut self,
        source: &SourceObject,
        summary: &IngestSummary,
        positions: Vec<Option<SequenceNumber>>,
    ) {
        let entry = Entry {
            records_quarantined: summary.records_quarantined,
            records_read: summary.records_read,
            records_sent: summary.records_sent,
            source: &source.uri,
            source_version: &source.version,
        };
        self.pending.push(Pending {
            path: self.entry_path(source),
            body: serde_json::to_string(&entry).unwrap_or_default(),
            positions,
        });
    }

    /// Whether every record up to `positions` (per shard) is in a written raw object.
    fn durable(
        checkpoints: &[Option<SequenceNumber>],
        positions: &[Option<SequenceNumber>],
    ) -> bool {
        // `None` (nothing checkpointed, or an empty shard) orders before any number.
        positions
            .iter()
            .enumerate()
            .all(|(i, p)| checkpoints.get(i).and_then(Option::as_ref) >= p.as_ref())
    }

    /// Writes the entries whose records are all durable now.
    pub async fn write_durable(&mut self) -> anyhow::Result<()> {
        let checkpoints = self.checkpoints.borrow_and_update().clone();
        let mut still = Vec::new();
        for pending in std::mem::take(&mut self.pending) {
            if Self::durable(&checkpoints, &pending.positions) {
                tokio::fs::write(&pending.path, &pending.body)
                    .await
                    .with_context(|| format!("cannot write {}", pending.path.display()))?;
            } else {
                still.push(pending);
            }
        }
        self.pending = still;
        Ok(())
    }
}
