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
//!   `undelivered` entries (the stream refused the record for good) count here unless a
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

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use feedpipe_convert::Manifest;
use feedpipe_shared::feed::{FeedItem, FeedReader, open_feed};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::decode_base64;
use feedpipe_shared::storage::{StorageLocation, object_version, open_object};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::Deserialize;

use crate::query::{QueryError, Warehouse};

/// Lines listed per problem in the report.
const LIST_LIMIT: usize = 20;

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

/// What was found for one source file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The source object.
    pub uri: String,
    /// The version its lineage carries.
    pub version: String,
    /// Records in it (good and bad), read again now.
    pub read: u64,
    /// Records in the curated Parquet (counted once each).
    pub loaded: u64,
    /// Records in the quarantine and not loaded.
    pub quarantined: u64,
    /// Of `quarantined`: records the stream never accepted (`undelivered`).
    pub undelivered: u64,
    /// Lines of records found nowhere (the first few).
    pub missing: Vec<u64>,
    /// How many records are missing.
    pub missing_count: u64,
    /// Lines of records loaded more than once (the first few).
    pub duplicated: Vec<u64>,
    /// How many records are duplicated.
    pub duplicated_count: u64,
    /// Lines of records both loaded and quarantined as bad data (the first few).
    pub conflicting: Vec<u64>,
    /// How many records are both loaded and quarantined as bad data.
    pub conflicting_count: u64,
    /// Why the file could not be read again, if it could not.
    pub error: Option<String>,
}

impl FileReport {
    /// True when every record is accounted for exactly once (with `dedup`: at least
    /// once in the curated data, duplicates being removed downstream).
    pub fn ok(&self, dedup: bool) -> bool {
        self.error.is_none()
            && self.missing_count == 0
            && (dedup || self.duplicated_count == 0)
            && self.conflicting_count == 0
            && self.read == self.loaded + self.quarantined
    }
}

/// The whole answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per source file, by URI.
    pub files: Vec<FileReport>,
    /// Curated tables read.
    pub tables: Vec<String>,
    /// Rows in the curated tables.
    pub curated_rows: u64,
    /// Curated rows whose `_record_id` belongs to no source record: (source URI, version) → rows.
    pub unexpected: BTreeMap<(String, String), u64>,
    /// Quarantine entries read.
    pub quarantine_entries: u64,
    /// Quarantine entries that name no record of a source file (for example a raw
    /// record whose lineage was lost): (object, line, reason).
    pub unattributed: Vec<(String, u64, String)>,
    /// Manifests read.
    pub manifests: u64,
    /// Whether records loaded more than once pass: the table is read through its
    /// `<table>_dedup` view (sql/R__dedup_view.sql), which keeps one row per
    /// `_record_id`. Off by default: locally nothing should be loaded twice.
    pub dedup: bool,
    /// Manifest problems: a listed Parquet file missing or holding another row count.
    pub manifest_problems: Vec<String>,
}

impl Report {
    /// True when everything matches.
    pub fn ok(&self) -> bool {
        self.files.iter().all(|f| f.ok(self.dedup))
            && self.unexpected.is_empty()
            && self.manifest_problems.is_empty()
    }

    /// Sums over the files: (read, loaded, quarantined).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.files.iter().fold((0, 0, 0), |t, f| {
            (t.0 + f.read, t.1 + f.loaded, t.2 + f.quarantined)
        })
    }

    /// A human-readable report.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let name_width = self
            .files
            .iter()
            .map(|f| short_name(&f.uri).chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 60);
        let _ = writeln!(
            out,
            "{:<name_width$} {:>9} {:>9} {:>11} {:>8} {:>10}  status",
            "file", "read", "loaded", "quarantined", "missing", "duplicated"
        );
        for f in &self.files {
            let status = match (&f.error, f.ok(self.dedup)) {
                (Some(e), _) => format!("ERROR: {e}"),
                (None, true) => "ok".into(),
                (None, false) => "MISMATCH".into(),
            };
            let _ = writeln!(
                out,
                "{:<name_width$} {:>9} {:>9} {:>11} {:>8} {:>10}  {status}",
                short_name(&f.uri),
                f.read,
                f.loaded,
                f.quarantined,
                f.missing_count,
                f.duplicated_count
            );
            if f.undelivered > 0 {
                let _ = writeln!(
                    out,
                    "  {} record(s) were never accepted by the stream (quarantined as undelivered): ingest the file again",
                    f.undelivered
                );
            }
            if !f.missing.is_empty() {
                let _ = writeln!(
                    out,
                    "  missing at line(s): {}",
                    lines(&f.missing, f.missing_count)
                );
            }
            if !f.duplicated.is_empty() {
                let _ = writeln!(
                    out,
                    "  duplicated at line(s): {}{}",
                    lines(&f.duplicated, f.duplicated_count),
                    if self.dedup {
                        " (removed by the `_dedup` view)"
                    } else {
                        ""
                    }
                );
            }
            if !f.conflicting.is_empty() {
                let _ = writeln!(
                    out,
                    "  both loaded and quarantined as bad at line(s): {}",
                    lines(&f.conflicting, f.conflicting_count)
                );
            }
        }
        let (read, loaded, quarantined) = self.totals();
        let _ = writeln!(
            out,
            "{} file(s): {read} read = {loaded} loaded + {quarantined} quarantined{}; {} curated row(s) in {} table(s) [{}], {} quarantine entries, {} manifest(s)",
            self.files.len(),
            if read == loaded + quarantined {
                ""
            } else {
                " (does NOT add up)"
            },
            self.curated_rows,
            self.tables.len(),
            self.tables.join(", "),
            self.quarantine_entries,
            self.manifests
        );
        for ((uri, version), rows) in &self.unexpected {
            let _ = writeln!(
                out,
                "unexpected: {rows} curated row(s) from {uri} (version {version}), which matches no source record"
            );
        }
        for (uri, line, reason) in self.unattributed.iter().take(LIST_LIMIT) {
            let _ = writeln!(
                out,
                "unattributed quarantine entry: {uri} line {line}: {reason}"
            );
        }
        for p in &self.manifest_problems {
            let _ = writeln!(out, "manifest: {p}");
        }
        let _ = writeln!(
            out,
            "{}",
            if self.ok() {
                "reconcile: OK, every source record is loaded once or quarantined"
            } else {
                "reconcile: FAILED"
            }
        );
        out
    }
}

fn short_name(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

fn lines(shown: &[u64], count: u64) -> String {
    let list: Vec<String> = shown.iter().map(u64::to_string).collect();
    if count as usize > shown.len() {
        format!("{} … ({count} in all)", list.join(", "))
    } else {
        list.join(", ")
    }
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

fn parse_id(hex: &str) -> Option<u128> {
    if hex.len() == 32 {
        u128::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}

/// Runs the check; see the module docs.
pub async fn reconcile(
    source: &StorageLocation,
    curated: &StorageLocation,
    quarantine: Option<&StorageLocation>,
) -> Result<Report, ReconcileError> {
    let mut report = Report::default();
    let mut slots: Vec<Slot> = Vec::new();
    let mut index: HashMap<u128, u32> = HashMap::new();

    // 1. Every record of every source file, read again.
    let mut sources = list(source).await?;
    sources.sort_by(|a, b| a.location.cmp(&b.location));
    for meta in sources {
        let location = source.at(meta.location.clone());
        let object = SourceObject {
            uri: location.uri(),
            version: object_version(&meta, None),
        };
        let file = report.files.len() as u32;
        let mut file_report = FileReport {
            uri: object.uri.clone(),
            version: object.version.clone(),
            ..Default::default()
        };
        match read_lines(&location, meta.version.as_deref()).await {
            Ok(lines) => {
                file_report.read = lines.len() as u64;
                for line in lines {
                    if let Some(id) = parse_id(&object.record_id(line)) {
                        index.insert(id, slots.len() as u32);
                        slots.push(Slot {
                            file,
                            line,
                            ..Default::default()
                        });
                    }
                }
            }
            Err(e) => file_report.error = Some(e),
        }
        report.files.push(file_report);
    }

    // 2. Every curated row, by `_record_id`.
    let warehouse = Warehouse::open(curated).await?;
    report.tables = warehouse.tables().to_vec();
    for table in warehouse.tables() {
        let sql = format!(
            "SELECT _record_id, _source_uri, _source_version FROM \"{}\"",
            table.replace('"', "\"\"")
        );
        let mut stream = warehouse
            .context()
            .sql(&sql)
            .await
            .map_err(QueryError::from)?
            .execute_stream()
            .await
            .map_err(QueryError::from)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(QueryError::from)?;
            let cast = |i: usize| {
                datafusion::arrow::compute::cast(
                    batch.column(i),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .map_err(|e| QueryError::Format(e.to_string()))
            };
            let (ids, uris, versions) = (cast(0)?, cast(1)?, cast(2)?);
            let (ids, uris, versions) = (
                ids.as_string::<i32>(),
                uris.as_string::<i32>(),
                versions.as_string::<i32>(),
            );
            report.curated_rows += batch.num_rows() as u64;
            for row in 0..batch.num_rows() {
                let slot = (!ids.is_null(row))
                    .then(|| parse_id(ids.value(row)))
                    .flatten()
                    .and_then(|id| index.get(&id));
                match slot {
                    Some(&s) => slots[s as usize].loaded += 1,
                    None => {
                        let text = |column: &datafusion::arrow::array::StringArray| {
                            if column.is_valid(row) {
                                column.value(row).to_owned()
                            } else {
                                String::new()
                            }
                        };
                        let key = (text(uris), text(versions));
                        *report.unexpected.entry(key).or_default() += 1;
                    }
                }
            }
        }
    }

    // 3. Every quarantine entry.
    if let Some(quarantine) = quarantine {
        for meta in list(quarantine).await? {
            if !meta.location.as_ref().ends_with(".jsonl") {
                continue;
            }
            let (uri, bytes) = read_whole(quarantine, &meta.location).await?;
            for (n, text) in bytes.split(|b| *b == b'\n').enumerate() {
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                report.quarantine_entries += 1;
                let entry: Entry = match serde_json::from_slice(text) {
                    Ok(e) => e,
                    Err(e) => {
                        report.unattributed.push((
                            uri.clone(),
                            n as u64 + 1,
                            format!("not a quarantine entry: {e}"),
                        ));
                        continue;
                    }
                };
                match entry.record_id().and_then(|id| index.get(&id)) {
                    Some(&s) => {
                        let slot = &mut slots[s as usize];
                        if entry.error.starts_with("undelivered") {
                            slot.undelivered = true;
                        } else {
                            slot.bad = true;
                        }
                    }
                    None => report.unattributed.push((
                        uri.clone(),
                        n as u64 + 1,
                        format!(
                            "names no source record ({} line {}: {})",
                            entry.source, entry.line, entry.error
                        ),
                    )),
                }
            }
        }
    }

    // 4. Tally.
    for slot in &slots {
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

    // 5. Manifests.
    check_manifests(curated, &mut report).await?;
    Ok(report)
}

/// A quarantine entry as `feedpipe_shared::quarantine` writes it.
#[derive(Debug, Deserialize)]
struct Entry {
    error: String,
    #[serde(default)]
    stage: String,
    source: String,
    #[serde(default)]
    source_version: String,
    line: u64,
    raw: Option<String>,
    raw_base64: Option<String>,
}

impl Entry {
    /// The `_record_id` of the source record this entry stands for.
    fn record_id(&self) -> Option<u128> {
        if self.stage == "ingest" {
            return parse_id(
                &SourceObject {
                    uri: self.source.clone(),
                    version: self.source_version.clone(),
                }
                .record_id(self.line),
            );
        }
        // Convert: the raw record carries its lineage first; read the id even when the
        // rest of the record is malformed or cut.
        let raw = match (&self.raw, &self.raw_base64) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(b64)) => decode_base64(b64)?,
            (None, None) => return None,
        };
        const KEY: &[u8] = b"\"_record_id\":\"";
        let at = raw.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
        parse_id(std::str::from_utf8(raw.get(at..at + 32)?).ok()?)
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

/// Rows in a Parquet file, from its footer (two range reads, not the whole file).
async fn parquet_rows(
    location: &StorageLocation,
    path: &object_store::path::Path,
) -> Result<u64, String> {
    let size = location
        .store
        .head(path)
        .await
        .map_err(|e| e.to_string())?
        .size;
    if size < 12 {
        return Err(format!("{size} bytes is too short for Parquet"));
    }
    let tail = location
        .store
        .get_range(path, size - 8..size)
        .await
        .map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("no Parquet footer".into());
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + 12 > size {
        return Err(format!("footer of {len} bytes in a file of {size}"));
    }
    let footer = location
        .store
        .get_range(path, size - 8 - len..size - 8)
        .await
        .map_err(|e| e.to_string())?;
    let metadata = ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| e.to_string())?;
    Ok(metadata.file_metadata().num_rows() as u64)
}

/// Checks that every Parquet file a manifest lists exists with the rows it says.
async fn check_manifests(
    curated: &StorageLocation,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let manifests = curated.at(curated.join("_manifests"));
    // A compacted group's manifest is written once per input: check its files once.
    let mut checked = std::collections::HashSet::new();
    for meta in list(&manifests).await? {
        if !meta.location.as_ref().ends_with(".json") {
            continue;
        }
        let (uri, bytes) = read_whole(curated, &meta.location).await?;
        report.manifests += 1;
        let manifest: Manifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                report
                    .manifest_problems
                    .push(format!("{uri}: not a manifest: {e}"));
                continue;
            }
        };
        for output in &manifest.outputs {
            if !checked.insert(output.uri.clone()) {
                continue;
            }
            let Some(relative) = output.uri.strip_prefix(&curated.uri()) else {
                report.manifest_problems.push(format!(
                    "{uri}: lists {} outside {}",
                    output.uri,
                    curated.uri()
                ));
                continue;
            };
            let path = curated.join(relative);
            match parquet_rows(curated, &path).await {
                Ok(rows) => {
                    if rows != output.rows {
                        report.manifest_problems.push(format!(
                            "{}: {rows} rows, the manifest {uri} says {}",
                            output.uri, output.rows
                        ));
                    }
                }
                Err(e) => report.manifest_problems.push(format!(
                    "{}: listed in {uri} but unreadable: {e}",
                    output.uri
                )),
            }
        }
    }
    Ok(())
}
