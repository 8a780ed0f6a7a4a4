//! `InProcessStream`: a Kinesis data stream inside the process.
//!
//! It keeps Kinesis's semantics where they matter to the pipeline: records go to the
//! shard whose hash-key range holds the MD5 of their partition key (as a 128-bit
//! big-endian number, ranges split evenly as Kinesis does for a new stream), each shard
//! hands out increasing sequence numbers, and the same limits are enforced (500
//! records and 5 MiB per call, 1 MiB per record, partition keys of 1 to 256
//! characters). Faults can be injected, as [`Faults`], to exercise retries. That it
//! answers as Kinesis does is checked by the suite of [`crate::conformance`], which
//! `KinesisSink` on the local AWS server runs too.
//!
//! It is the stream of the embedded local pipeline and of tests; readers
//! ([`InProcessStream::read`]) take records by shard and position, like GetRecords.

use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use tokio::sync::Notify;

use feedpipe_ingest::batch::KinesisLimits;
use feedpipe_ingest::frame::{MAX_PARTITION_KEY_CHARS, Record};
use feedpipe_ingest::sink::{RecordResult, RecordSink, SinkError};

use crate::sequence::SequenceNumber;

/// A record as stored in a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Increasing within the shard (here the 1-based position, zero-padded).
    pub sequence_number: SequenceNumber,
    /// The partition key it was sent with.
    pub partition_key: String,
    /// The record's bytes.
    pub data: Bytes,
    /// When the stream accepted it.
    pub arrived_at: DateTime<Utc>,
}

/// Failures to inject, drawn from a seeded generator so a test can repeat them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Share of whole calls refused as throttled (retryable).
    pub throttle_calls: f64,
    /// Share of records rejected with `ProvisionedThroughputExceededException`.
    pub reject_records: f64,
    /// Seed of the generator.
    pub seed: u64,
}

#[derive(Debug)]
struct Shard {
    id: String,
    /// Inclusive upper bound of the shard's hash-key range.
    end_hash: u128,
    records: Mutex<Vec<StoredRecord>>,
}

/// See the module docs.
#[derive(Debug)]
pub struct InProcessStream {
    name: String,
    shards: Vec<Shard>,
    limits: KinesisLimits,
    faults: Mutex<(Faults, fastrand::Rng)>,
    arrivals: Notify,
}

impl InProcessStream {
    /// A stream with `shards` shards (at least one) and the default Kinesis limits.
    pub fn new(name: &str, shards: usize) -> Self {
        Self::with_limits(name, shards, KinesisLimits::default())
    }

    /// A stream with other limits (tests).
    pub fn with_limits(name: &str, shards: usize, limits: KinesisLimits) -> Self {
        let n = shards.max(1) as u128;
        let width = u128::MAX / n;
        let shards = (0..n)
            .map(|i| Shard {
                id: format!("shardId-{i:012}"),
                end_hash: if i == n - 1 {
                    u128::MAX
                } else {
                    width * (i + 1) - 1
                },
                records: Mutex::new(Vec::new()),
            })
            .collect();
        Self {
            name: name.to_owned(),
            shards,
            limits,
            faults: Mutex::new((Faults::default(), fastrand::Rng::with_seed(0))),
            arrivals: Notify::new(),
        }
    }

    /// Injects `faults` from now on (`Faults::default()` turns them off).
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut f) = self.faults.lock() {
            *f = (faults, fastrand::Rng::with_seed(faults.seed));
        }
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ids of the shards, in hash-key order.
    pub fn shard_ids(&self) -> Vec<String> {
        self.shards.iter().map(|s| s.id.clone()).collect()
    }

    /// The shard index a partition key maps to.
    pub fn shard_for(&self, partition_key: &str) -> usize {
        let hash = u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into());
        self.shards
            .iter()
            .position(|s| hash <= s.end_hash)
            .unwrap_or(self.shards.len() - 1)
    }

    /// Up to `limit` records of shard `shard` from position `from` (like GetRecords).
    pub fn read(&self, shard: usize, from: usize, limit: usize) -> Vec<StoredRecord> {
        self.shards
            .get(shard)
            .and_then(|s| {
                s.records
                    .lock()
                    .ok()
                    .map(|r| r.iter().skip(from).take(limit).cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Records stored per shard.
    pub fn lengths(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| s.records.lock().map(|r| r.len()).unwrap_or(0))
            .collect()
    }

    /// Per shard, the sequence number of the last record stored (`None` while the
    /// shard is empty): where the stream is now, to compare with a reader's checkpoints.
    pub fn positions(&self) -> Vec<Option<SequenceNumber>> {
        self.lengths()
            .into_iter()
            .map(|n| (n > 0).then(|| SequenceNumber::at_position(n)))
            .collect()
    }

    /// Waits until a call stores records (or returns at once if one has since the last wait).
    pub async fn arrivals(&self) {
        self.arrivals.notified().await;
    }

    fn validate(&self, records: &[Record]) -> Result<(), SinkError> {
        let invalid = |m: String| Err(SinkError::Permanent(format!("ValidationException: {m}")));
        if records.is_empty() || records.len() > self.limits.max_records_per_call {
            return invalid(format!(
                "{} records in one call; between 1 and {} are allowed",
                records.len(),
                self.limits.max_records_per_call
            ));
        }
        let total: usize = records.iter().map(Record::size).sum();
        if total > self.limits.max_bytes_per_call {
            return invalid(format!(
                "{total} bytes in one call; at most {} are allowed",
                self.limits.max_bytes_per_call
            ));
        }
        for (i, r) in records.iter().enumerate() {
            let chars = r.partition_key.chars().count();
            if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
                return invalid(format!("record {i}: partition key of {chars} characters"));
            }
            if r.size() > self.limits.max_record_bytes {
                return invalid(format!(
                    "record {i}: {} bytes; at most {} are allowed",
                    r.size(),
                    self.limits.max_record_bytes
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RecordSink for InProcessStream {
    async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
        self.validate(records)?;
        let mut draws = match self.faults.lock() {
            Ok(mut f) => {
                let faults = f.0;
                let throttled = faults.throttle_calls > 0.0 && f.1.f64() < faults.throttle_calls;
                if throttled {
                    return Err(SinkError::Retryable(format!(
                        "ProvisionedThroughputExceededException: rate exceeded for stream {}",
                        self.name
                    )));
                }
                let draws: Vec<bool> = records
                    .iter()
                    .map(|_| faults.reject_records > 0.0 && f.1.f64() < faults.reject_records)
                    .collect();
                draws.into_iter()
            }
            Err(_) => return Err(SinkError::Retryable("stream lock poisoned".into())),
        };
        let now = Utc::now();
        let mut results = Vec::with_capacity(records.len());
        for record in records {
            if draws.next().unwrap_or(false) {
                results.push(RecordResult::Rejected {
                    code: "ProvisionedThroughputExceededException".into(),
                    message: "Rate exceeded for shard (injected)".into(),
                });
                continue;
            }
            let shard = &self.shards[self.shard_for(&record.partition_key)];
            let Ok(mut stored) = shard.records.lock() else {
                results.push(RecordResult::Rejected {
                    code: "InternalFailure".into(),
                    message: "shard lock poisoned".into(),
                });
                continue;
            };
            let sequence_number = SequenceNumber::at_position(stored.len() + 1);
            stored.push(StoredRecord {
                sequence_number: sequence_number.clone(),
                partition_key: record.partition_key.clone(),
                data: record.data.clone(),
                arrived_at: now,
            });
            results.push(RecordResult::Accepted {
                shard_id: shard.id.clone(),
                sequence_number: sequence_number.to_string(),
            });
        }
        self.arrivals.notify_waiters();
        self.arrivals.notify_one();
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, len: usize) -> Record {
        Record {
            data: Bytes::from(vec![b'x'; len]),
            partition_key: key.into(),
            line: 0,
        }
    }

    #[test]
    fn shards_follow_the_md5_of_the_partition_key() {
        let stream = InProcessStream::new("s", 4);
        // md5("a") = 0x0cc1…, md5("customer-1") = 0x9b11…, md5("z") = 0xfbad…
        // (python3 -c "import hashlib;print(hashlib.md5(b'customer-1').hexdigest())")
        assert_eq!(stream.shard_for("a"), 0);
        assert_eq!(stream.shard_for("customer-1"), 2);
        assert_eq!(stream.shard_for("z"), 3);
        let one = InProcessStream::new("s", 1);
        assert_eq!(one.shard_for("z"), 0);
    }

    #[tokio::test]
    async fn keys_spread_over_shards_and_sequence_numbers_increase() {
        let stream = InProcessStream::new("s", 4);
        let records: Vec<Record> = (0..400)
            .map(|i| record(&format!("customer-{i}"), 10))
            .collect();
        let results = stream.put_records(&records).await.unwrap();
        assert!(
            results
                .iter()
                .all(|r| matches!(r, RecordResult::Accepted { .. }))
        );
        let lengths = stream.lengths();
        assert_eq!(lengths.iter().sum::<usize>(), 400);
        assert!(
            lengths.iter().all(|n| *n > 60),
            "roughly even spread: {lengths:?}"
        );
        for shard in 0..4 {
            let seqs: Vec<SequenceNumber> = stream
                .read(shard, 0, 1000)
                .into_iter()
                .map(|r| r.sequence_number)
                .collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(stream.positions()[shard].as_ref(), seqs.last());
        }
        assert_eq!(InProcessStream::new("s", 2).positions(), vec![None, None]);
        assert_eq!(stream.read(0, 2, 3).len(), 3);
    }

    #[tokio::test]
    async fn injected_faults_reject_records_and_throttle_calls() {
        let stream = InProcessStream::new("s", 2);
        stream.set_faults(Faults {
            throttle_calls: 0.0,
            reject_records: 0.5,
            seed: 1,
        });
        let records: Vec<Record> = (0..200).map(|i| record(&i.to_string(), 5)).collect();
        let results = stream.put_records(&records).await.unwrap();
        let rejected = results
            .iter()
            .filter(|r| matches!(r, RecordResult::Rejected { .. }))
            .count();
        assert!((60..140).contains(&rejected), "{rejected}");
        assert_eq!(stream.lengths().iter().sum::<usize>(), 200 - rejected);
        stream.set_faults(Faults {
            throttle_calls: 1.0,
            reject_records: 0.0,
            seed: 1,
        });
        assert!(matches!(
            stream.put_records(&records).await,
            Err(SinkError::Retryable(_))
        ));
    }
}
