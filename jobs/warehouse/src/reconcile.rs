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
//! Memory is bounded, not proportional to the records: steps 1 to 3 gather each
//! `_record_id` with what it stands for into an external sort ([`spill`]) that keeps
//! up to [`ReconcileOptions::memory_budget`] in memory and writes sorted runs to a
//! temporary folder past it; step 4 reads them back merged, in id order, one id at a
//! time. What is still proportional: the report (one entry per file, the unexpected
//! rows per source file and version, the unattributed quarantine entries).
//!
//! The steps, each in its own module: [`sources`] (1), [`curated`] (2),
//! [`quarantine`] (3), [`tally`] (4), [`manifests`] (5); [`report`] prints it.

mod curated;
mod manifests;
mod quarantine;
mod report;
mod sources;
mod spill;
mod tally;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;

use feedpipe_shared::storage::StorageLocation;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::query::{QueryError, Warehouse};
pub use report::{FileReport, Report};
use spill::{IdSorter, Mark, Note, SpillConfig, SpillStats};

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
    /// The record ids could not be sorted on disk (see [`ReconcileOptions`]).
    #[error("cannot spill record ids under {dir}: {message}")]
    Spill {
        /// The folder the temporary files go in.
        dir: String,
        /// What went wrong.
        message: String,
    },
}

/// How much memory reconcile may hold, and where it writes what does not fit.
///
/// Every source record, curated row and quarantine entry is one `_record_id` to match
/// (about 32 bytes in memory). Up to `memory_budget` bytes of them stay in memory; past
/// it they are sorted and written to disk in runs (about 20 bytes a record), which are
/// merged at the end. The runs live in a temporary folder that is removed afterwards,
/// also on error. Below the budget nothing touches the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// Bytes of record ids held in memory before they spill (default 128 MiB).
    pub memory_budget: usize,
    /// The folder the temporary folder goes in (default: the system's temp folder).
    pub spill_dir: Option<PathBuf>,
}

impl ReconcileOptions {
    /// The default memory budget: 128 MiB, about 4 million record ids.
    pub const DEFAULT_MEMORY_BUDGET: usize = 128 << 20;
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            memory_budget: Self::DEFAULT_MEMORY_BUDGET,
            spill_dir: None,
        }
    }
}

/// Everything gathered to be matched: every `_record_id` with what it stands for (in
/// the sorter), and the few names the entries refer to by number.
#[derive(Debug)]
struct Index {
    sorter: IdSorter,
    /// Curated (source URI, version) pairs by number, for the unexpected rows.
    keys: Vec<(String, String)>,
    key_of: HashMap<String, HashMap<String, u32>>,
    /// The last pair looked up (curated rows come in runs of one source file).
    last_key: Option<u32>,
    /// Quarantine entries seen (to list the unattributed ones in order).
    quarantine_seq: u64,
    /// Quarantine entries that name no record id at all.
    unattributed: Vec<Note>,
    spill_dir: String,
}

impl Index {
    fn new(options: &ReconcileOptions) -> Self {
        Self {
            sorter: IdSorter::new(SpillConfig {
                budget: options.memory_budget,
                dir: options.spill_dir.clone(),
            }),
            keys: Vec::new(),
            key_of: HashMap::new(),
            last_key: None,
            quarantine_seq: 0,
            unattributed: Vec::new(),
            spill_dir: options
                .spill_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir)
                .display()
                .to_string(),
        }
    }

    /// The number of a curated row's (source URI, version).
    fn key(&mut self, uri: &str, version: &str) -> u32 {
        if let Some(k) = self.last_key
            && let Some((u, v)) = self.keys.get(k as usize)
            && u == uri
            && v == version
        {
            return k;
        }
        let known = self.key_of.get(uri).and_then(|m| m.get(version)).copied();
        let k = known.unwrap_or_else(|| {
            let k = self.keys.len() as u32;
            self.keys.push((uri.to_owned(), version.to_owned()));
            self.key_of
                .entry(uri.to_owned())
                .or_default()
                .insert(version.to_owned(), k);
            k
        });
        self.last_key = Some(k);
        k
    }

    /// A curated row with this id, of this (source URI, version).
    fn add_curated(&mut self, id: u128, uri: &str, version: &str) {
        let key = self.key(uri, version);
        self.sorter.push(id, Mark::Curated { key });
    }

    /// A quarantine entry: for the record `id` if it names one, with what the
    /// report says if it names no source record.
    fn add_quarantine(
        &mut self,
        id: Option<u128>,
        bad: bool,
        uri: &str,
        line: u64,
        reason: String,
    ) {
        let note = Note {
            seq: self.quarantine_seq,
            uri: uri.to_owned(),
            line,
            reason,
        };
        self.quarantine_seq += 1;
        match id {
            Some(id) => self.sorter.push_quarantine(id, bad, note),
            None => self.unattributed.push(note),
        }
    }

    /// Spills the sorter if it is full.
    async fn spill_if_full(&mut self) -> Result<(), ReconcileError> {
        if self.sorter.full() {
            let dir = self.spill_dir.clone();
            self.sorter.spill().await.map_err(|e| spill_error(dir, e))?;
        }
        Ok(())
    }

    /// Step 4 ([`tally`]), on a blocking thread: merges the sorted ids into `report`.
    async fn tally(self, mut report: Report) -> Result<(Report, SpillStats), ReconcileError> {
        let Self {
            sorter,
            keys,
            mut unattributed,
            spill_dir,
            ..
        } = self;
        let dir = spill_dir.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut merged = sorter.finish()?;
            let mut unexpected = vec![0u64; keys.len()];
            tally::tally(&mut merged, &mut report, &mut unexpected, &mut unattributed)?;
            for (key, rows) in keys.into_iter().zip(unexpected) {
                if rows > 0 {
                    *report.unexpected.entry(key).or_default() += rows;
                }
            }
            unattributed.sort_by_key(|n| n.seq);
            report
                .unattributed
                .extend(unattributed.into_iter().map(|n| (n.uri, n.line, n.reason)));
            Ok::<_, std::io::Error>((report, merged.stats()))
        })
        .await
        .map_err(|e| spill_error(dir.clone(), e))?;
        done.map_err(|e| spill_error(dir, e))
    }
}

fn spill_error(dir: String, e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Spill {
        dir,
        message: e.to_string(),
    }
}

/// A `_record_id` (32 hex digits) as a number.
fn parse_id(text: &str) -> Option<u128> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(u128::from_be_bytes(id))
}

/// Runs the check with the default [`ReconcileOptions`]; see the module docs.
pub async fn reconcile(
    source: &StorageLocation,
    curated: &StorageLocation,
    quarantine: Option<&StorageLocation>,
) -> Result<Report, ReconcileError> {
    reconcile_with(source, curated, quarantine, &ReconcileOptions::default()).await
}

/// Runs the check within `options`' memory budget; see the module docs.
pub async fn reconcile_with(
    source: &StorageLocation,
    curated: &StorageLocation,
    quarantine: Option<&StorageLocation>,
    options: &ReconcileOptions,
) -> Result<Report, ReconcileError> {
    Ok(run(source, curated, quarantine, options).await?.0)
}

async fn run(
    source: &StorageLocation,
    curated: &StorageLocation,
    quarantine: Option<&StorageLocation>,
    options: &ReconcileOptions,
) -> Result<(Report, SpillStats), ReconcileError> {
    let mut index = Index::new(options);
    let mut report = Report::default();
    // The quarantine first: it says which files are quarantined whole as unrouted.
    let unrouted = match quarantine {
        Some(quarantine) => {
            quarantine::read_quarantine(quarantine, &mut index, &mut report).await?
        }
        None => Default::default(),
    };
    report.files =
        sources::read_sources(source, &mut index, &mut report.skipped, &unrouted).await?;
    let warehouse = Warehouse::open(curated).await?;
    report.tables = warehouse.tables().to_vec();
    curated::read_curated(&warehouse, &mut index, &mut report).await?;
    let (mut report, stats) = index.tally(report).await?;
    if stats.runs > 0 {
        tracing::info!(
            runs = stats.runs,
            bytes = stats.bytes,
            dir = %options.spill_dir.clone().unwrap_or_else(std::env::temp_dir).display(),
            "Record ids sorted on disk."
        );
    }
    manifests::check_manifests(curated, &mut report).await?;
    Ok((report, stats))
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
