//! Stand-ins of AWS for `feedpipe local` and the tests: what imitates AWS, kept apart
//! from what runs on it.
//!
//! - [`InProcessStream`] ([`stream`]): a Kinesis data stream in memory. It is a
//!   `feedpipe_ingest::sink::RecordSink` like `KinesisSink`, with Kinesis's shard
//!   routing, sequence numbers and limits, and injectable [`Faults`].
//! - [`Firehose`] ([`firehose`]): the delivery loop of Kinesis Data Firehose, from a
//!   [`StreamSource`] ([`source`]) into buffered JSON-lines objects in Firehose's key
//!   layout, with per-shard checkpoints.
//! - [`KinesisSource`] ([`kinesis_source`]): a [`StreamSource`] over a real stream
//!   (GetRecords), so the Firehose stand-in drains Kinesis on a local AWS server too.
//! - [`SequenceNumber`] ([`sequence`]): a Kinesis sequence number, typed, ordered by
//!   value; the Firehose checkpoints and the in-process stream's positions are these.
//! - [`conformance`]: the `RecordSink` conformance suite, run by the in-process stream
//!   here and by `KinesisSink` on the local AWS server in the tests crate, so both
//!   answer every record alike.
//!
//! Nothing here runs on AWS, and nothing that runs on AWS depends on this crate: the
//! Lambdas link `feedpipe-ingest` alone. The ingest core itself (framing, batching,
//! retries, `KinesisSink`) is in `feedpipe-ingest`; this crate only implements its
//! traits. No AWS client is built here and no environment variable is read.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use feedpipe_ingest::frame::Record;
//! use feedpipe_ingest::sink::RecordSink;
//! use feedpipe_shared::storage::StorageLocation;
//! use feedpipe_standins::{Firehose, FirehoseConfig, InProcessStream};
//!
//! // Two records into a stream of two shards, then one raw object out of Firehose.
//! let stream = Arc::new(InProcessStream::new("orders", 2));
//! let records: Vec<Record> = ["{\"id\":1}\n", "{\"id\":2}\n"]
//!     .into_iter()
//!     .map(|json| Record::single(Bytes::from(json), json.into(), 0))
//!     .collect();
//! stream.put_records(&records).await?;
//!
//! let raw = tempfile::tempdir()?;
//! let raw = StorageLocation::parse(raw.path().to_str().unwrap_or_default())?;
//! let mut firehose = Firehose::new(stream, raw, FirehoseConfig::default()).await?;
//! firehose.poll().await?; // reads both shards; neither buffering hint is reached yet
//! let object = firehose.flush().await?.ok_or("two records were buffered")?;
//! assert_eq!(object.records, 2);
//! # Ok(()) }
//! ```

pub mod conformance;
pub mod firehose;
pub mod kinesis_source;
pub mod sequence;
pub mod source;
pub mod stream;

pub use firehose::{Firehose, FirehoseConfig};
pub use kinesis_source::KinesisSource;
pub use sequence::SequenceNumber;
pub use source::StreamSource;
pub use stream::{Faults, InProcessStream, ShardLimits, StoredRecord};
