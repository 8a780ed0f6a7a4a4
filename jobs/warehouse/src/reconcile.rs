//! `reconcile`: the proof that, for every source file, records read = rows loaded +
//! records quarantined, with no record missing and none loaded twice.
//!
//! It does not trust any job's own counters. It reads each source file again with the
//! same feed reader as ingest (so it sees the same records at the same lines) and
//! derives the `_record_id` each one must carry; then it reads the `_record_id` column
//! of every curated table and every quarantine entry, and matches them up:
//!
//! - loaded: the id is in the curated Parquet exactly once;
//! - quarantined: the id is not loaded, and a quarantine entry names it (ingest entries
//!   by source, version and line; convert entries by the lineage inside the raw record);
//!   entries of kind `undelivered` (the stream refused the record for good) count here unless a
//!   later run delivered the record, in which case it is loaded and not counted twice;
//! - missing: neither; duplicated: loaded more than once; conflicting: loaded and also
//!   rejected as bad data; unexpected: curated rows whose id belongs to no source
//!   record (for example rows of an older version of a file).
//!
//! Duplicates fail the check, unless the report is told they are removed downstream
//! ([`Report::dedup`]): on AWS every hop is at-least-once (a retried ingest
//! invocation, a Firehose redelivery), and the warehouse reads the table through the
//! `<table>_dedup` view, which keeps one row per `_record_id`. They are still counted
//! and listed. A conflict always fails.
//!
//! The manifests are checked too: every Parquet file a manifest lists exists with the
//! number of rows the manifest says.
//!
//! The steps, each in its own module: [`sources`] (1), [`curated`] (2),
//! [`quarantine`] (3), the tally here (4), [`manifests`] (5); [`report`] prints it.

mod curated;
mod manifests;
mod quarantine;
mod report;
mod sources;

use std::collections::HashMap;

use feedpipe_shared::storage::StorageLocation;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::query::{QueryError, Warehouse};
use report::LIST_LIMIT;
pub use report::{FileReport, Report};

/// Why reconcile could not run at all (a mismatch is a report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A location could not be listed or read.
    #[error("cannot read {uri}: {message}")]
    Read {
        /// The object or prefix.
        uri: String,
        /// What went wrong.
        message: String,
    },
    /// The curated tables could not be queried.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Where a record was found.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    file: u32,
    line: u64,
    loaded: u32,
    bad: bool,
    undelivered: bool,
}

/// Every source record, by `_record_id`.
#[derive(Debug, Default)]
struct Index {
    slots: Vec<Slot>,
    by_id: HashMap<u128, u32>,
}

impl Index {
    fn add(&mut self, id: u128, file: u32, line: u64) {
        self.by_id.insert(id, self.slots.len() as u32);
        self.slots.push(Slot {
            file,
            line,
            ..Default::default()
        });
    }

    fn slot_mut(&mut self, id: u128) -> Option<&mut Slot> {
        let at = *self.by_id.get(&id)?;
        self.slots.get_mut(at as usize)
    }
}

/// A `_record_id` (32 hex digits) as a number.
fn parse_id(text: &str) -> Option<u128> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(u128::from_be_bytes(id))
}

/// Runs the check; see the module docs.
pub async fn reconcile(
    source: &StorageLocation,
    curated: &StorageLocation,
    quarantine: Option<&StorageLocation>,
) -> Result<Report, ReconcileError> {
    let mut index = Index::default();
    let mut report = Report::default();
    report.files = sources::read_sources(source, &mut index, &mut report.skipped).await?;
    let warehouse = Warehouse::open(curated).await?;
    report.tables = warehouse.tables().to_vec();
    curated::read_curated(&warehouse, &mut index, &mut report).await?;
    if let Some(quarantine) = quarantine {
        quarantine::read_quarantine(quarantine, &mut index, &mut report).await?;
    }
    tally(&index, &mut report);
    manifests::check_manifests(curated, &mut report).await?;
    Ok(report)
}

/// Step 4: each record loaded, quarantined, or missing, per file.
fn tally(index: &Index, report: &mut Report) {
    for slot in &index.slots {
        let f = &mut report.files[slot.file as usize];
        if slot.loaded > 0 {
            f.loaded += 1;
            if slot.loaded > 1 {
                f.duplicated_count += 1;
                if f.duplicated.len() < LIST_LIMIT {
                    f.duplicated.push(slot.line);
                }
            }
            if slot.bad {
                f.conflicting_count += 1;
                if f.conflicting.len() < LIST_LIMIT {
                    f.conflicting.push(slot.line);
                }
            }
        } else if slot.bad || slot.undelivered {
            f.quarantined += 1;
            if !slot.bad {
                f.undelivered += 1;
            }
        } else {
            f.missing_count += 1;
            if f.missing.len() < LIST_LIMIT {
                f.missing.push(slot.line);
            }
        }
    }
    for f in &mut report.files {
        f.missing.sort_unstable();
        f.duplicated.sort_unstable();
        f.conflicting.sort_unstable();
    }
}

fn read_error(uri: &str, e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Read {
        uri: uri.to_owned(),
        message: e.to_string(),
    }
}

/// The URI and whole content of a small object (a quarantine part, a manifest).
async fn read_whole(
    location: &StorageLocation,
    path: &object_store::path::Path,
) -> Result<(String, bytes::Bytes), ReconcileError> {
    let uri = location.uri_of(path);
    let got = location
        .store
        .get(path)
        .await
        .map_err(|e| read_error(&uri, e));
    let bytes = got?.bytes().await.map_err(|e| read_error(&uri, e))?;
    Ok((uri, bytes))
}

async fn list(location: &StorageLocation) -> Result<Vec<object_store::ObjectMeta>, ReconcileError> {
    if !location.path.as_ref().is_empty()
        && let Ok(meta) = location.store.head(&location.path).await
    {
        return Ok(vec![meta]);
    }
    match location
        .store
        .list(Some(&location.path))
        .try_collect()
        .await
    {
        Ok(v) => Ok(v),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(read_error(&location.uri(), e)),
    }
}
