//! Lineage: where a record came from, carried as columns all the way into the warehouse.
//!
//! The same source record (same object URI, same version, same line) always gets the
//! same `_record_id`, so a record delivered twice by an at-least-once hop can be
//! recognised and loaded once.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

/// Column: the URI of the source object (`s3://bucket/key` or `file:///path`).
pub const SOURCE_URI: &str = "_source_uri";
/// Column: the source object's version id, or its ETag when the bucket is not versioned.
pub const SOURCE_VERSION: &str = "_source_version";
/// Column: 1-based line of the record in a JSON-lines feed, 1-based element in a JSON array.
pub const SOURCE_LINE: &str = "_source_line";
/// Column: deterministic id of the record, see [`record_id`].
pub const RECORD_ID: &str = "_record_id";
/// Column: when the ingest run that read the record started (UTC, RFC 3339, microseconds).
pub const INGESTED_AT: &str = "_ingested_at";

/// All lineage column names, in the order they are written.
pub const COLUMNS: [&str; 5] = [
    SOURCE_URI,
    SOURCE_VERSION,
    SOURCE_LINE,
    RECORD_ID,
    INGESTED_AT,
];

/// True when `name` is one of the lineage columns (customers may not use these names).
pub fn is_lineage_column(name: &str) -> bool {
    COLUMNS.contains(&name)
}

/// The deterministic id of a source record: the first 128 bits of
/// SHA-256(`uri` NUL `version` NUL `line`), as 32 lowercase hex digits.
pub fn record_id(uri: &str, version: &str, line: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(uri.as_bytes());
    hasher.update([0]);
    hasher.update(version.as_bytes());
    hasher.update([0]);
    hasher.update(line.to_string().as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// A short, stable, file-name-safe digest of a source object (URI and version).
pub fn source_digest(uri: &str, version: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(uri.as_bytes());
    hasher.update([0]);
    hasher.update(version.as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

/// Formats a time the way `_ingested_at` is written: `2026-11-23T13:26:32.123456Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The source object a record was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// `s3://bucket/key` or `file:///absolute/path`.
    pub uri: String,
    /// Version id when the bucket is versioned, else the ETag without quotes.
    pub version: String,
}

impl SourceObject {
    /// The `_record_id` of the record at `line` of this object.
    pub fn record_id(&self, line: u64) -> String {
        record_id(&self.uri, &self.version, line)
    }

    /// See [`source_digest`].
    pub fn digest(&self) -> String {
        source_digest(&self.uri, &self.version)
    }

    /// The last path segment of the URI, for readable object names.
    pub fn file_name(&self) -> &str {
        self.uri.rsplit('/').next().unwrap_or(&self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_id_is_a_pure_function_of_uri_version_and_line() {
        let id = record_id("s3://b/k", "v1", 1);
        assert_eq!(id.len(), 32);
        assert_eq!(id, record_id("s3://b/k", "v1", 1));
        assert_ne!(id, record_id("s3://b/k", "v2", 1));
        assert_ne!(id, record_id("s3://b/k2", "v1", 1));
        assert_ne!(id, record_id("s3://b/k", "v1", 2));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(record_id("ab", "c", 1), record_id("a", "bc", 1));
    }

    #[test]
    fn record_id_matches_an_independent_sha256() {
        // computed with: python3 -c "import hashlib;print(hashlib.sha256(b'u\x00v\x001').hexdigest()[:32])"
        assert_eq!(record_id("u", "v", 1), "ddb3ed4975258f55b2dbe4b1925da9a8");
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T14:26:32.1234567+01:00")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            at.map(format_timestamp).as_deref(),
            Some("2026-11-23T13:26:32.123456Z")
        );
    }
}
