//! The ledger: which versions of which source files are ingested for good.
//!
//! A file's entry (`DIR/state/ingested/<digest of URI and version>.json`) is written
//! only when every record the ingest sent is in a raw object: the Firehose stand-in's
//! checkpoints have passed the stream positions the ingest ended at.
//!
//! Before a file's ingest starts, a marker (`DIR/state/ingesting/<digest>.json`) says
//! so; it is removed when the entry is written. A run killed in between leaves the
//! marker, and the next run resumes the file ([`super::resume`]): the records already
//! in raw objects are not sent again, the others are.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use feedpipe_ingest::IngestSummary;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_standins::SequenceNumber;
use serde::{Deserialize, Serialize};
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

/// What a marker says: the file whose ingest started.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    source: String,
    source_version: String,
}

/// A file whose ingest an earlier run started and did not finish.
#[derive(Debug, Clone)]
pub(super) struct Interrupted {
    pub source: SourceObject,
    /// When that ingest started (the marker's modification time).
    pub since: SystemTime,
}

/// An entry waiting for the checkpoints to pass its positions.
#[derive(Debug)]
struct Pending {
    path: PathBuf,
    marker: PathBuf,
    body: String,
    /// The last sequence number of each shard when the file's ingest ended.
    positions: Vec<Option<SequenceNumber>>,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Ledger {
    dir: PathBuf,
    markers: PathBuf,
    checkpoints: watch::Receiver<Vec<Option<SequenceNumber>>>,
    pending: Vec<Pending>,
}

impl Ledger {
    /// The ledger in `dir` (its markers beside it, in `ingesting/`), waiting on the
    /// Firehose stand-in's `checkpoints`.
    pub fn new(dir: PathBuf, checkpoints: watch::Receiver<Vec<Option<SequenceNumber>>>) -> Self {
        Self {
            markers: markers_dir(&dir),
            dir,
            checkpoints,
            pending: Vec::new(),
        }
    }

    fn entry_path(&self, source: &SourceObject) -> PathBuf {
        self.dir.join(entry_name(source))
    }

    fn marker_path(&self, source: &SourceObject) -> PathBuf {
        self.markers.join(entry_name(source))
    }

    /// Whether this version of the file was ingested for good by an earlier run.
    pub fn has(&self, source: &SourceObject) -> bool {
        self.entry_path(source).exists()
    }

    /// Notes that the ingest of `source` starts (a marker an interrupted earlier run
    /// left is kept, with its time).
    pub async fn begin(&self, source: &SourceObject) -> anyhow::Result<()> {
        let path = self.marker_path(source);
        if path.exists() {
            return Ok(());
        }
        tokio::fs::create_dir_all(&self.markers)
            .await
            .with_context(|| format!("cannot create {}", self.markers.display()))?;
        let body = serde_json::to_string(&Marker {
            source: source.uri.clone(),
            source_version: source.version.clone(),
        })?;
        write_atomically(&path, &body).await
    }

    /// The files whose ingest an earlier run started and did not see durable: the
    /// markers without an entry, in the ledger `dir`.
    pub fn interrupted(dir: &Path) -> anyhow::Result<Vec<Interrupted>> {
        let markers = markers_dir(dir);
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&markers) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot list {}", markers.display()));
            }
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let read = || -> anyhow::Result<Interrupted> {
                let marker: Marker = serde_json::from_slice(&std::fs::read(&path)?)?;
                Ok(Interrupted {
                    source: SourceObject {
                        uri: marker.source,
                        version: marker.source_version,
                    },
                    since: std::fs::metadata(&path)?.modified()?,
                })
            };
            let interrupted =
                read().with_context(|| format!("cannot read the marker {}", path.display()))?;
            if !dir.join(entry_name(&interrupted.source)).exists() {
                out.push(interrupted);
            }
        }
        Ok(out)
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
            marker: self.marker_path(source),
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
                write_atomically(&pending.path, &pending.body).await?;
                match tokio::fs::remove_file(&pending.marker).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e).with_context(|| {
                            format!("cannot remove {}", pending.marker.display())
                        });
                    }
                    _ => {}
                }
            } else {
                still.push(pending);
            }
        }
        self.pending = still;
        Ok(())
    }
}

/// Writes `body` to `path` through a temporary file and a rename, so that a run killed
/// while writing leaves the old state or the new one, never half a file.
async fn write_atomically(path: &Path, body: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, body)
        .await
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    tokio::fs::rename(&tmp, path)
        .await
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The markers' folder, beside the ledger's.
fn markers_dir(ledger: &Path) -> PathBuf {
    ledger.with_file_name("ingesting")
}

/// The file name of a source's entry, and of its marker.
fn entry_name(source: &SourceObject) -> String {
    format!("{}.json", source.digest())
}
