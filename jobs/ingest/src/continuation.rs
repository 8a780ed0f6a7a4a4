//! `Continuation`: the rest of a feed file, for another run to ingest.
//!
//! A Lambda runs for at most 15 minutes, and a stream takes a few MiB a second, so a
//! feed file of a few GB cannot be ingested in one invocation. Given a deadline
//! ([`crate::RunOptions::deadline`]), the ingest core stops reading at a record
//! boundary before it, lets the batches in flight finish (or fail, as any run), and
//! returns a `Continuation` instead of a summary ([`crate::Part::Stopped`]): what the
//! next part needs to go on, exactly where this one stopped.
//!
//! - **Where:** the lines (in a JSON array, elements) handled so far, and the byte of
//!   the decoded feed where the next one starts. A plain JSON-lines file is read on
//!   from that byte (a ranged GET); a gzip file or a JSON array cannot be entered in
//!   the middle, so it is decoded from the start and the handled items are skipped.
//!   Either way lines are numbered as in one uninterrupted run, so the record ids are
//!   the same.
//! - **Which object:** the version id or ETag the first part read, and the lineage
//!   version. If the object changed since, the next part fails with
//!   [`crate::IngestError::Changed`] rather than mix two versions in one file's ids.
//! - **What so far:** the counts of the parts before, so that the part that ends the
//!   file reports (and logs) the whole file once; each part also logs its own line.
//!
//! It is plain data (JSON), small enough for an SQS message; how it reaches the next
//! run is the caller's (the ingest Lambda sends it to its continuation queue).

use serde::{Deserialize, Serialize};

use crate::job::IngestSummary;

/// Where a stopped part left a file; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    /// The feed file (`s3://bucket/key`, or a local path's `file://` URI).
    pub uri: String,
    /// The S3 version id the first part read (a versioned bucket), if any.
    pub version_id: Option<String>,
    /// The ETag the first part read, when there is no version id to pin the object.
    pub e_tag: Option<String>,
    /// The version lineage records (`_source_version`), which every part must find.
    pub source_version: String,
    /// Lines (elements) handled; the next part starts with line `lines_done + 1`.
    pub lines_done: u64,
    /// Where line `lines_done + 1` starts in the decoded feed.
    pub byte_offset: u64,
    /// True when the feed is a JSON array (found by the first part).
    pub json_array: bool,
    /// True when the feed is gzip-compressed.
    pub gzip: bool,
    /// Parts run so far (the next part is number `parts + 1`).
    pub parts: u32,
    /// `_ingested_at` of the first part (RFC 3339): every part stamps the same one,
    /// and its date places the file's quarantine entries.
    pub ingested_at: String,
    /// The counts of the parts so far.
    pub so_far: IngestSummary,
}

impl Continuation {
    /// Whether the next part can read on from [`Continuation::byte_offset`] (plain JSON
    /// lines) rather than decode from the start and skip.
    pub fn ranged(&self) -> bool {
        !self.gzip && !self.json_array
    }

    /// The label of the next part's quarantine objects: derived from where it starts,
    /// so a retried part rewrites its own objects and no part another's.
    pub fn quarantine_label(&self) -> String {
        format!("from-line-{:012}-", self.lines_done + 1)
    }
}
