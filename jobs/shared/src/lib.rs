//! What the ingest and conversion cores both need, and nothing else.
//!
//! - [`lineage`]: the lineage columns every record carries and the deterministic
//!   `_record_id` derived from them (rule 1 of `docs/DESIGN.md`).
//! - [`storage`]: one place where `s3://…`, `file://…` and plain paths become an
//!   `object_store` store plus a path, so every bucket access goes through `object_store`.
//! - [`feed`]: reading a feed or raw object as a stream of records (JSON lines or
//!   array, gzip or not), never whole in memory.
//! - [`quarantine`]: where records that cannot go on are written, with the reason, the
//!   source, the line and the raw bytes (rule 3 of `docs/DESIGN.md`), as one typed
//!   record that `reconcile` reads back.
//! - [`s3_key`]: decoding the URL-encoded object keys that S3 events carry.
//! - [`feeds`]: the feeds file that names a deployment's feeds (table, source prefix,
//!   contract), checked, and the longest-prefix rule that routes a key to its feed.
//!
//! It holds no AWS client and no DataFusion: the Lambda crates link it cheaply.
//!
//! ```
//! use feedpipe_shared::lineage::record_id;
//! let a = record_id("s3://b/feed.jsonl", "etag-1", 7);
//! assert_eq!(a, record_id("s3://b/feed.jsonl", "etag-1", 7));
//! assert_ne!(a, record_id("s3://b/feed.jsonl", "etag-1", 8));
//! ```

pub mod feed;
pub mod feeds;
pub mod lineage;
pub mod quarantine;
pub mod s3_key;
pub mod storage;
