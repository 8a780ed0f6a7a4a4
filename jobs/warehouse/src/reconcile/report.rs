//! What reconcile found, per source file and in all, and how it is printed.

use std::collections::BTreeMap;

use feedpipe_shared::feed::audit::AuditReport;

/// Lines listed per problem in the report.
pub(super) const LIST_LIMIT: usize = 20;

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
    /// Bytes of the file (after gzip) that lie in no record and are not whitespace or
    /// separators, by the byte audit ([`feedpipe_shared::feed::audit`]), which checks
    /// the reader rather than trusting it.
    pub unaccounted: AuditReport,
    /// Why the file could not be read again, if it could not.
    pub error: Option<String>,
    /// Why no feed takes the file (its `unrouted` quarantine entry), if none does: its
    /// records are not matched, and the file is reported as unrouted.
    pub unrouted: Option<String>,
}

impl FileReport {
    /// True when every record is accounted for exactly once (with `dedup`: at least
    /// once in the curated data, duplicates being removed downstream).
    pub fn ok(&self, dedup: bool) -> bool {
        self.error.is_none()
            && self.missing_count == 0
            && (dedup || self.duplicated_count == 0)
            && self.conflicting_count == 0
            && self.unaccounted.ok()
            && self.read == self.loaded + self.quarantined
    }
}

/// The whole answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per source file, by URI.
    pub files: Vec<FileReport>,
    /// Files under the source that are not feeds (hidden, or still being written), as
    /// ingest skips them: named, not counted.
    pub skipped: Vec<String>,
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
    /// Quarantine lines that are not a quarantine record at all (the writer and
    /// this reader disagree, or the object was damaged): (object, line, why). They
    /// fail the check: the records they stand for cannot be accounted for.
    pub unreadable: Vec<(String, u64, String)>,
    /// Quarantine entries that keep a record cut, with no side object holding the rest
    /// (or a side object missing): bytes of a source file kept nowhere. They fail the
    /// check: (object, line, which record and which bytes).
    pub lost_bytes: Vec<(String, u64, String)>,
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
            && self.unreadable.is_empty()
            && self.lost_bytes.is_empty()
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
        let folder = common_folder(self.files.iter().map(|f| f.uri.as_str()));
        let short_name = |uri: &str| uri.get(folder..).unwrap_or(uri).to_owned();
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
            let status = match (&f.error, f.ok(self.dedup), &f.unrouted) {
                (Some(e), _, _) => format!("ERROR: {e}"),
                (None, true, Some(why)) => format!("unrouted, quarantined whole: {why}"),
                (None, true, None) => "ok".into(),
                (None, false, _) => "MISMATCH".into(),
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
            if !f.unaccounted.ok() {
                let _ = writeln!(
                    out,
                    "  bytes accounted for by nothing: {}{}",
                    f.unaccounted,
                    if f.uri.ends_with(".gz") {
                        " (offsets after gzip)"
                    } else {
                        ""
                    }
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
        for skipped in self.skipped.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "skipped: {skipped}");
        }
        for (uri, line, reason) in self.unreadable.iter().take(LIST_LIMIT) {
            let _ = writeln!(
                out,
                "unreadable quarantine line: {uri} line {line}: {reason}"
            );
        }
        for (uri, line, what) in self.lost_bytes.iter().take(LIST_LIMIT) {
            let _ = writeln!(out, "bytes kept nowhere: {what} (entry {uri} line {line})");
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

/// The length of the folder every one of `uris` is in (up to and with its last `/`):
/// files are shown by their path below it, so that two files of one name in two
/// sub-folders (two feeds' prefixes) are told apart; one file, by its name.
fn common_folder<'a>(uris: impl Iterator<Item = &'a str>) -> usize {
    let mut common: Option<&str> = None;
    for uri in uris {
        let folder = uri.rfind('/').map_or("", |i| &uri[..=i]);
        common = Some(match common {
            None => folder,
            Some(seen) => {
                let same = seen
                    .bytes()
                    .zip(folder.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                // A `/` byte is always a character boundary.
                seen.as_bytes()[..same]
                    .iter()
                    .rposition(|b| *b == b'/')
                    .map_or("", |i| &seen[..=i])
            }
        });
    }
    common.map_or(0, str::len)
}

fn lines(shown: &[u64], count: u64) -> String {
    let list: Vec<String> = shown.iter().map(u64::to_string).collect();
    if count as usize > shown.len() {
        format!("{} … ({count} in all)", list.join(", "))
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod name_tests {
    use super::common_folder;

    #[test]
    fn files_are_named_below_the_folder_they_all_share() {
        fn at(uris: &[&str]) -> Vec<String> {
            let n = common_folder(uris.iter().copied());
            uris.iter().map(|u| u[n..].to_owned()).collect()
        }
        assert_eq!(at(&["s3://src/in/a.jsonl"]), ["a.jsonl"]);
        assert_eq!(
            at(&[
                "s3://src/orders/x.jsonl",
                "s3://src/misc/x.jsonl",
                "s3://src/orders/eu/y.jsonl"
            ]),
            ["orders/x.jsonl", "misc/x.jsonl", "orders/eu/y.jsonl"]
        );
        // A shared beginning of two names is not a folder; nor is half a character.
        assert_eq!(
            at(&["file:///s/ordersé/a", "file:///s/orders/b"]),
            ["ordersé/a", "orders/b"]
        );
        assert!(at(&[]).is_empty());
    }
}
