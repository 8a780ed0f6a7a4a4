//! The ingest core: a feed file in, Kinesis records out, nothing lost on the way.
//!
//! A feed (JSON lines or a JSON array, optionally gzip) is read as a stream
//! ([`reader`]), each record is checked and stamped with lineage ([`frame`]), records
//! are grouped into `PutRecords` batches within the Kinesis limits ([`batch`]), and
//! sent to a [`sink::RecordSink`] with retries of exactly what failed ([`sink`]). Bad
//! records go to the quarantine with their reason; the good ones around them go on.
//! [`job::IngestJob`] ties it together for one object.
//!
//! This is what the ingest Lambda runs, and all it links. The one sink here is
//! [`kinesis::KinesisSink`] (the real API, client built by the caller). The stand-ins
//! of AWS are not here: the in-process stream (another `RecordSink`, for the local
//! pipeline and tests) and the Firehose stand-in are in `feedpipe-standins`, which
//! depends on this crate, never the reverse. No AWS client is built here and no
//! environment variable is read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use feedpipe_ingest::frame::Record;
//! use feedpipe_ingest::sink::{RecordResult, RecordSink, SinkError};
//! use feedpipe_ingest::{IngestConfig, IngestJob};
//! use feedpipe_shared::{quarantine::ObjectStoreQuarantine, storage::StorageLocation};
//!
//! /// A sink that accepts everything (a test double; `KinesisSink` in production).
//! struct Accepting;
//!
//! #[async_trait::async_trait]
//! impl RecordSink for Accepting {
//!     async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
//!         Ok(records
//!             .iter()
//!             .map(|_| RecordResult::Accepted { shard_id: "shardId-0".into(), sequence_number: "1".into() })
//!             .collect())
//!     }
//! }
//!
//! let quarantine = Arc::new(ObjectStoreQuarantine::new(StorageLocation::parse("/tmp/q")?));
//! let job = IngestJob::new(Arc::new(Accepting), quarantine, IngestConfig::default());
//! let summary = job.run(&StorageLocation::parse("orders.jsonl.gz")?, None).await?;
//! assert_eq!(summary.records_read, summary.records_sent + summary.records_quarantined);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod continuation;
pub mod frame;
pub mod job;
pub mod kinesis;
pub mod pack;
pub use feedpipe_shared::feed as reader;
pub mod resume;
pub mod sink;

pub use continuation::Continuation;
pub use job::{IngestConfig, IngestError, IngestJob, IngestSummary, Part, RunOptions};
pub use resume::DeliveredLines;
