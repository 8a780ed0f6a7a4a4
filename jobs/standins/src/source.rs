//! `StreamSource`: what the Firehose stand-in reads from, the shards of a stream by
//! sequence number, as Firehose reads its Kinesis source.
//!
//! Implemented here for [`InProcessStream`] and, in [`crate::kinesis_source`], for a
//! real stream over GetRecords.

use std::time::Duration;

use async_trait::async_trait;

use crate::sequence::SequenceNumber;
use crate::stream::{InProcessStream, StoredRecord};

/// Why records could not be read from the stream.
#[derive(Debug, thiserror::Error)]
#[error("cannot read stream shard {shard}: {message}")]
pub struct SourceError {
    /// The shard.
    pub shard: String,
    /// What went wrong.
    pub message: String,
}

/// What the delivery loop reads from: the shards of a stream, by sequence number.
#[async_trait]
pub trait StreamSource: Send + Sync {
    /// The stream's name (it appears in the object keys).
    fn stream_name(&self) -> &str;
    /// The shard ids.
    async fn shards(&self) -> Result<Vec<String>, SourceError>;
    /// Up to `limit` records of `shard` after sequence number `after` (from the
    /// oldest record when `None`), in order.
    async fn get_records(
        &self,
        shard: &str,
        after: Option<&SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, SourceError>;
    /// Waits until records may have arrived, or `at_most`.
    async fn wait(&self, at_most: Duration) {
        tokio::time::sleep(at_most).await;
    }
    /// Says that the records of `shard` up to and including `through` are delivered
    /// (in an object written) and will not be read again. A stream whose retention
    /// is bounded by consumption (the in-process one) drops them; Kinesis keeps
    /// records for its retention period whatever is read, so by default nothing
    /// happens.
    async fn trim(&self, shard: &str, through: &SequenceNumber) {
        let _ = (shard, through);
    }
}

#[async_trait]
impl StreamSource for InProcessStream {
    fn stream_name(&self) -> &str {
        self.name()
    }

    async fn shards(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.shard_ids())
    }

    async fn get_records(
        &self,
        shard: &str,
        after: Option<&SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, SourceError> {
        let error = |message: String| SourceError {
            shard: shard.to_owned(),
            message,
        };
        let index = self
            .shard_ids()
            .iter()
            .position(|id| id == shard)
            .ok_or_else(|| error("no such shard".into()))?;
        // Sequence numbers are the 1-based position in the shard.
        let from = match after {
            None => 0,
            Some(seq) => seq
                .position()
                .ok_or_else(|| error(format!("no sequence number `{seq}` in this stream")))?,
        };
        Ok(self.read(index, from, limit))
    }

    async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.arrivals()).await;
    }

    async fn trim(&self, shard: &str, through: &SequenceNumber) {
        if let Some(index) = self.shard_ids().iter().position(|id| id == shard) {
            InProcessStream::trim(self, index, through);
        }
    }
}
