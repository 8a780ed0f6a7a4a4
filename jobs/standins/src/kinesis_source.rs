//! `KinesisSource`: a [`StreamSource`] over a real Kinesis stream (ListShards,
//! GetShardIterator, GetRecords), so the Firehose stand-in can drain a stream on an
//! AWS-compatible server (moto in the end-to-end tests).
//!
//! The client is built by the caller, as for `feedpipe_ingest::kinesis::KinesisSink`.

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::ShardIteratorType;

use crate::sequence::{NotASequenceNumber, SequenceNumber};
use crate::source::{SourceError, StreamSource};
use crate::stream::StoredRecord;

/// [`StreamSource`] over one Kinesis data stream; see the module docs.
#[derive(Debug, Clone)]
pub struct KinesisSource {
    client: Client,
    stream: String,
}

impl KinesisSource {
    /// A source reading `stream` (a stream name).
    pub fn new(client: Client, stream: impl Into<String>) -> Self {
        Self {
            client,
            stream: stream.into(),
        }
    }
}

#[async_trait]
impl StreamSource for KinesisSource {
    fn stream_name(&self) -> &str {
        &self.stream
    }

    async fn shards(&self) -> Result<Vec<String>, SourceError> {
        let error = |e: String| SourceError {
            shard: "*".into(),
            message: e,
        };
        let mut shards = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let call = match &next {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(&self.stream),
            };
            let out = call
                .send()
                .await
                .map_err(|e| error(DisplayErrorContext(&e).to_string()))?;
            shards.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
            next = out.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(shards);
            }
        }
    }

    async fn get_records(
        &self,
        shard: &str,
        after: Option<&SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, SourceError> {
        let error = |e: String| SourceError {
            shard: shard.to_owned(),
            message: e,
        };
        let call = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard);
        let call = match after {
            Some(seq) => call
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq.as_str()),
            None => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let mut iterator = call
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(&e).to_string()))?
            .shard_iterator()
            .map(str::to_owned);
        // GetRecords may answer empty while the shard still holds records further on
        // (MillisBehindLatest > 0): follow the iterator a few times.
        for _ in 0..5 {
            let Some(it) = iterator.take() else { break };
            let out = self
                .client
                .get_records()
                .shard_iterator(it)
                .limit(limit.clamp(1, 10_000) as i32)
                .send()
                .await
                .map_err(|e| error(DisplayErrorContext(&e).to_string()))?;
            if !out.records().is_empty() {
                return out
                    .records()
                    .iter()
                    .map(|r| {
                        Ok(StoredRecord {
                            sequence_number: r
                                .sequence_number()
                                .parse()
                                .map_err(|e: NotASequenceNumber| error(e.to_string()))?,
                            partition_key: r.partition_key().to_owned(),
                            data: bytes::Bytes::copy_from_slice(r.data().as_ref()),
                            arrived_at: r
                                .approximate_arrival_timestamp()
                                .and_then(|t| {
                                    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                                })
                                .unwrap_or_else(chrono::Utc::now),
                        })
                    })
                    .collect();
            }
            if out.millis_behind_latest().unwrap_or(0) == 0 {
                break;
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
        Ok(Vec::new())
    }
}
