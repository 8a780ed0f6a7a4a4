//! What a conversion wrote, and the names it writes under.
//!
//! The manifest is the record that a raw object is converted: written after its
//! Parquet, at `_manifests/<table>/<stem>.json`, read back by resume
//! ([`crate::backfill`]) and by `reconcile`. Every name here is derived from the
//! inputs alone (rule 2 of `docs/DESIGN.md`): the same raw object, or the same group
//! of raw objects, always gives the same names.

use chrono::NaiveDate;
use feedpipe_shared::lineage::{SourceObject, source_digest};
use serde::{Deserialize, Serialize};

/// One Parquet file written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Where it is.
    pub uri: String,
    /// Its `dt=` partition.
    pub dt: NaiveDate,
    /// Rows in it.
    pub rows: u64,
    /// Distinct `_record_id`s in it: fewer than `rows` when a record delivered twice
    /// (a Firehose redelivery, or one record in two raw objects of a group) is in it
    /// twice. The warehouse's file check compares the table with this
    /// (`sql/R__monitoring.sql`). 0 in manifests written before it was counted.
    #[serde(default)]
    pub records: u64,
}

/// One input object of a conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputObject {
    /// Its URI.
    pub uri: String,
    /// Its version id or ETag.
    pub version: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a conversion did; also the manifest written beside the output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The contract's table.
    pub table: String,
    /// The raw objects read.
    pub inputs: Vec<InputObject>,
    /// Records read (good and bad).
    pub records_read: u64,
    /// Rows written to Parquet.
    pub rows_written: u64,
    /// Records sent to the quarantine.
    pub records_quarantined: u64,
    /// Parquet files written.
    pub outputs: Vec<OutputFile>,
    /// Quarantine objects written.
    pub quarantine_objects: Vec<String>,
}

/// `_manifests/<table>/<stem of source>.json`, relative to the curated root.
pub(crate) fn manifest_key(table: &str, source: &SourceObject) -> String {
    format!("_manifests/{table}/{}.json", output_stem(source))
}

/// `<table>/dt=YYYY-MM-DD/<stem>.parquet`, relative to the curated root (a day's
/// second file and later ones have `<stem>-<part>` for `stem`: see `writers`).
pub(crate) fn parquet_key(table: &str, dt: NaiveDate, stem: &str) -> String {
    format!("{table}/dt={}/{stem}.parquet", dt.format("%Y-%m-%d"))
}

/// `<raw file name, made safe>-<digest of URI and version>`.
pub(crate) fn output_stem(source: &SourceObject) -> String {
    let name: String = source
        .file_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{}-{}", name.trim_end_matches(".gz"), source.digest())
}

/// `<first object's stem>-<digest of every URI and version>-x<count>`; `None` for no
/// sources.
pub(crate) fn group_stem(sources: &[SourceObject]) -> Option<String> {
    let first = sources.first()?;
    let mut all = String::new();
    for source in sources {
        all.push_str(&source.uri);
        all.push('\0');
        all.push_str(&source.version);
        all.push('\n');
    }
    Some(format!(
        "{}-{}-x{}",
        output_stem(first),
        source_digest(&all, "group"),
        sources.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(uri: &str, version: &str) -> SourceObject {
        SourceObject {
            uri: uri.into(),
            version: version.into(),
        }
    }

    #[test]
    fn stems_keep_a_safe_file_name_and_change_with_the_version() {
        let a = output_stem(&source("s3://raw/2026/11/23/10/feed 1.gz", "v1"));
        assert!(a.starts_with("feed_1-"), "{a}");
        assert_ne!(
            a,
            output_stem(&source("s3://raw/2026/11/23/10/feed 1.gz", "v2"))
        );
        assert_eq!(
            a,
            output_stem(&source("s3://raw/2026/11/23/10/feed 1.gz", "v1"))
        );
    }

    #[test]
    fn a_group_is_named_after_its_first_member_and_counts_them() {
        let group = [source("s3://raw/a", "1"), source("s3://raw/b", "1")];
        let stem = group_stem(&group).unwrap_or_default();
        assert!(stem.starts_with(&output_stem(&group[0])), "{stem}");
        assert!(stem.ends_with("-x2"), "{stem}");
        let reordered = [group[1].clone(), group[0].clone()];
        assert_ne!(Some(stem), group_stem(&reordered));
        assert_eq!(group_stem(&[]), None);
    }

    #[test]
    fn keys_follow_the_curated_layout() {
        let dt = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap_or_default();
        assert_eq!(parquet_key("feed", dt, "x"), "feed/dt=2026-11-03/x.parquet");
        let s = source("s3://raw/a", "1");
        assert_eq!(
            manifest_key("feed", &s),
            format!("_manifests/feed/{}.json", output_stem(&s))
        );
    }
}
