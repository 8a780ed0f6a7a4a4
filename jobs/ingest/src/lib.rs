//! The ingest core: a feed file in, Kinesis records out, nothing lost on the way.
//!
//! A feed (JSON lines or a JSON array, optionally gzip) is read as a stream
//! ([`reader`]), each record is checked and stamped with lineage ([`frame`]), records
//! are grouped into `PutRecords` batches within the Kinesis limits ([`batch`]), and
//! sent to a [`sink::RecordSink`] with retries of exactly what failed ([`sink`]). Bad
//! records go to the quarantine with their reason; the good ones around them go on.
//! [`job::IngestJob`] ties it together for one object.
//!
//! Downstream of the stream, [`firehose::Firehose`] is the local stand-in for Kinesis
//! Data Firehose: shards in, buffered JSON-lines objects in Firehose's key layout out.
//!
//! Sinks: [`kinesis::KinesisSink`] (the real API, client built by the caller) and
//! [`stream::InProcessStream`] (Kinesis semantics in memory, for the local pipeline
//! and tests). No AWS client is built here and no environment variable is read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use feedpipe_ingest::{IngestConfig, IngestJob, stream::InProcessStream};
//! use feedpipe_shared::{quarantine::ObjectStoreQuarantine, storage::StorageLocation};
//!
//! let stream = Arc::new(InProcessStream::new("feed", 4));
//! let quarantine = Arc::new(ObjectStoreQuarantine::new(StorageLocation::parse("/tmp/q")?));
//! let job = IngestJob::new(stream.clone(), quarantine, IngestConfig::default());
//! let summary = job.run(&StorageLocation::parse("orders.jsonl.gz")?, None).await?;
//! assert_eq!(summary.records_read, summary.records_sent + summary.records_quarantined);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod firehose;
pub mod frame;
pub mod job;
pub mod kinesis;
pub use feedpipe_shared::feed as reader;
pub mod sink;
pub mod stream;

pub use job::{IngestConfig, IngestError, IngestJob, IngestSummary};
