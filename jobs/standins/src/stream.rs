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
//!
//! **Retention is bounded by consumption.** Kinesis keeps a record for its retention
//! period whether it was read or not; this stream keeps it until its consumer says
//! it is delivered ([`InProcessStream::trim`], which the Firehose stand-in calls for
//! every record in a raw object it has written), so memory is what is not yet
//! delivered, not everything ever sent. Trimming changes no sequence number and not
//! [`InProcessStream::positions`]. A read from a position already trimmed starts at
//! the oldest record kept, as a Kinesis iterator at `TRIM_HORIZON` does (it does not
//! fail): a reader that started behind the trim sees fewer records, never other
//! ones. The stream has one consumer; a second reader sees only what the first has
//! not trimmed yet.
//!
//! **Backpressure.** A stream built [`InProcessStream::with_retention_limit`] makes
//! `put_records` wait while it holds more than that many bytes not yet trimmed, so a
//! producer cannot run arbitrarily far ahead of the consumer. It waits rather than
//! answering `ProvisionedThroughputExceededException`: a slow consumer then slows
//! the ingest down instead of exhausting its retries and turning records into
//! `undelivered` quarantine entries, and every answer stays what the conformance
//! suite expects of Kinesis. A stream without a limit (the default) never waits, so
//! a test that sends without a consumer cannot hang.
//!
//! **Shard limits.** Built [`InProcessStream::with_shard_limits`], each shard takes at
//! most [`ShardLimits`] per second (Kinesis: 1 MiB, data plus partition keys, and
//! 1,000 records, for a provisioned shard), and answers the records past them with
//! `ProvisionedThroughputExceededException`, one by one, as Kinesis does; the sink
//! retries them. The window is the second since the shard's first write in it. Off by
//! default (a new on-demand stream takes about 4 MiB/s, and a test should not wait).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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

impl StoredRecord {
    /// Its JSON lines, each with its `\n`: one, or several in a packed record.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.data.split_inclusive(|b| *b == b'\n')
    }
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

/// A record as a shard keeps it; its sequence number is its position.
#[derive(Debug)]
struct Kept {
    partition_key: String,
    data: Bytes,
    arrived_at: DateTime<Utc>,
}

impl Kept {
    /// Bytes it holds, approximately: its data, its key and its own size.
    fn held_bytes(&self) -> usize {
        self.data.len() + self.partition_key.len() + std::mem::size_of::<Self>()
    }
}

/// The records of one shard still kept: positions `trimmed + 1 ..= trimmed + kept.len()`.
#[derive(Debug, Default)]
struct ShardLog {
    /// Records trimmed from the front: the position of the last one (0 for none).
    trimmed: usize,
    kept: VecDeque<Kept>,
}

impl ShardLog {
    /// The position of the last record stored (0 while the shard is empty).
    fn last_position(&self) -> usize {
        self.trimmed + self.kept.len()
    }
}

#[derive(Debug)]
struct Shard {
    id: String,
    /// Inclusive upper bound of the shard's hash-key range.
    end_hash: u128,
    log: Mutex<ShardLog>,
}

/// What one shard takes per second ([`InProcessStream::with_shard_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLimits {
    /// Bytes per second, data plus partition keys.
    pub bytes_per_second: usize,
    /// Records per second.
    pub records_per_second: usize,
}

impl ShardLimits {
    /// A provisioned Kinesis shard's write limits: 1 MiB and 1,000 records per second.
    pub const KINESIS: Self = Self {
        bytes_per_second: 1024 * 1024,
        records_per_second: 1000,
    };
}

/// A shard's writes in its current second.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    /// When the second began (milliseconds on the stream's clock).
    started_ms: u64,
    bytes: usize,
    records: usize,
}

/// Milliseconds on a monotonic clock (tests move it by hand).
type Clock = std::sync::Arc<dyn Fn() -> u64 + Send + Sync>;

/// See the module docs.
pub struct InProcessStream {
    name: String,
    shards: Vec<Shard>,
    limits: KinesisLimits,
    faults: Mutex<(Faults, fastrand::Rng)>,
    arrivals: Notify,
    /// Bytes of the records kept, over all shards ([`Kept::held_bytes`]).
    held: AtomicUsize,
    /// `put_records` waits while `held` is at or above this (no limit: `usize::MAX`).
    retention_limit: usize,
    /// Signalled when records are trimmed.
    room: Notify,
    /// Per-shard limits, with each shard's current second.
    shard_limits: Option<(ShardLimits, Mutex<Vec<Window>>)>,
    /// Records answered `ProvisionedThroughputExceededException` by the shard limits.
    throttled: AtomicUsize,
    clock: Clock,
}

impl std::fmt::Debug for InProcessStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessStream")
            .field("name", &self.name)
            .field("shards", &self.shards.len())
            .field("limits", &self.limits)
            .field("shard_limits", &self.shard_limits.as_ref().map(|(l, _)| *l))
            .finish_non_exhaustive()
    }
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
                log: Mutex::new(ShardLog::default()),
            })
            .collect();
        Self {
            name: name.to_owned(),
            shards,
            limits,
            faults: Mutex::new((Faults::default(), fastrand::Rng::with_seed(0))),
            arrivals: Notify::new(),
            held: AtomicUsize::new(0),
            retention_limit: usize::MAX,
            room: Notify::new(),
            shard_limits: None,
            throttled: AtomicUsize::new(0),
            clock: {
                let start = std::time::Instant::now();
                std::sync::Arc::new(move || start.elapsed().as_millis() as u64)
            },
        }
    }

    /// The same stream, each shard taking at most `limits` per second (see the module
    /// docs).
    pub fn with_shard_limits(mut self, limits: ShardLimits) -> Self {
        let windows = vec![Window::default(); self.shards.len()];
        self.shard_limits = Some((limits, Mutex::new(windows)));
        self
    }

    /// Records the shard limits answered with `ProvisionedThroughputExceededException`.
    pub fn throttled_records(&self) -> usize {
        self.throttled.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether shard `shard` takes a record of `size` bytes now (counting it if so).
    fn within_shard_limits(&self, shard: usize, size: usize) -> bool {
        let Some((limits, windows)) = &self.shard_limits else {
            return true;
        };
        let now = (self.clock)();
        let Ok(mut windows) = windows.lock() else {
            return false;
        };
        let w = &mut windows[shard];
        if now.saturating_sub(w.started_ms) >= 1000 {
            *w = Window {
                started_ms: now,
                ..Window::default()
            };
        }
        if w.records + 1 > limits.records_per_second || w.bytes + size > limits.bytes_per_second {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        w.records += 1;
        w.bytes += size;
        true
    }

    /// The same stream, whose `put_records` waits while it holds `bytes` or more of
    /// records not yet trimmed (see the module docs). A call is taken whole once the
    /// stream holds less, so it may go over by the calls in flight (5 MiB each at
    /// most). The consumer must trim, and its buffer must fit well within `bytes`, or
    /// the producer waits for the consumer's interval.
    pub fn with_retention_limit(mut self, bytes: usize) -> Self {
        self.retention_limit = bytes.max(1);
        self
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

    /// Up to `limit` records of shard `shard` after position `from` (0-based: `from`
    /// records are passed over), like GetRecords. Records already trimmed are not
    /// there: a read from before the oldest one kept starts at it (`TRIM_HORIZON`).
    pub fn read(&self, shard: usize, from: usize, limit: usize) -> Vec<StoredRecord> {
        let Some(Ok(log)) = self.shards.get(shard).map(|s| s.log.lock()) else {
            return Vec::new();
        };
        let start = from.saturating_sub(log.trimmed).min(log.kept.len());
        let end = start.saturating_add(limit).min(log.kept.len());
        log.kept
            .range(start..end)
            .zip(log.trimmed + start + 1..)
            .map(|(k, position)| StoredRecord {
                sequence_number: SequenceNumber::at_position(position),
                partition_key: k.partition_key.clone(),
                data: k.data.clone(),
                arrived_at: k.arrived_at,
            })
            .collect()
    }

    /// Drops the records of shard `shard` up to and including `through`: its
    /// consumer has delivered them and will not read them again. Sequence numbers and
    /// [`InProcessStream::positions`] do not change; a sequence number that is not
    /// this stream's, or an unknown shard, trims nothing.
    pub fn trim(&self, shard: usize, through: &SequenceNumber) {
        let (Some(shard), Some(through)) = (self.shards.get(shard), through.position()) else {
            return;
        };
        let Ok(mut log) = shard.log.lock() else {
            return;
        };
        let count = through.saturating_sub(log.trimmed).min(log.kept.len());
        if count == 0 {
            return;
        }
        let freed: usize = log.kept.drain(..count).map(|k| k.held_bytes()).sum();
        log.trimmed += count;
        if log.kept.is_empty() {
            // A burst's worth of capacity is not kept for good.
            log.kept.shrink_to(1024);
        }
        drop(log);
        self.held.fetch_sub(freed, Ordering::AcqRel);
        self.room.notify_waiters();
    }

    /// Records kept per shard (stored and not yet trimmed).
    pub fn lengths(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| s.log.lock().map(|l| l.kept.len()).unwrap_or(0))
            .collect()
    }

    /// Bytes the kept records hold, approximately (data, partition key, bookkeeping):
    /// what [`InProcessStream::with_retention_limit`] bounds.
    pub fn held_bytes(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Per shard, the sequence number of the last record stored (`None` while the
    /// shard is empty): where the stream is now, to compare with a reader's
    /// checkpoints. Trimming does not change it.
    pub fn positions(&self) -> Vec<Option<SequenceNumber>> {
        self.shards
            .iter()
            .map(|s| {
                let last = s.log.lock().map(|l| l.last_position()).unwrap_or(0);
                (last > 0).then(|| SequenceNumber::at_position(last))
            })
            .collect()
    }

    /// Waits while the stream holds its retention limit or more (see the module docs).
    async fn room(&self) {
        loop {
            let trimmed = self.room.notified();
            tokio::pin!(trimmed);
            // Registered before the check, so a trim in between is not missed.
            trimmed.as_mut().enable();
            if self.held.load(Ordering::Acquire) < self.retention_limit {
                return;
            }
            trimmed.await;
        }
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
        self.room().await;
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
            let at = self.shard_for(&record.partition_key);
            let shard = &self.shards[at];
            if !self.within_shard_limits(at, record.size()) {
                results.push(RecordResult::Rejected {
                    code: "ProvisionedThroughputExceededException".into(),
                    message: format!(
                        "Rate exceeded for shard {} in stream {} under account 000000000000.",
                        shard.id, self.name
                    ),
                });
                continue;
            }
            let Ok(mut log) = shard.log.lock() else {
                results.push(RecordResult::Rejected {
                    code: "InternalFailure".into(),
                    message: "shard lock poisoned".into(),
                });
                continue;
            };
            let kept = Kept {
                partition_key: record.partition_key.clone(),
                data: record.data.clone(),
                arrived_at: now,
            };
            self.held.fetch_add(kept.held_bytes(), Ordering::AcqRel);
            log.kept.push_back(kept);
            let sequence_number = SequenceNumber::at_position(log.last_position());
            drop(log);
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
        Record::single(Bytes::from(vec![b'x'; len]), key.into(), 0)
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
    async fn trimming_drops_records_and_keeps_sequence_numbers_and_positions() {
        let stream = InProcessStream::new("s", 1);
        let records: Vec<Record> = (0..10).map(|i| record(&i.to_string(), 100)).collect();
        stream.put_records(&records).await.unwrap();
        let before = stream.held_bytes();
        assert!(before >= 10 * 100, "{before}");
        let positions = stream.positions();

        stream.trim(0, &SequenceNumber::at_position(4));
        assert_eq!(stream.lengths(), vec![6]);
        assert_eq!(stream.positions(), positions, "trimming moves no position");
        assert_eq!(stream.held_bytes(), before / 10 * 6);
        // After a kept position: as before. From a trimmed one: the oldest kept.
        let seqs = |from, limit| -> Vec<usize> {
            stream
                .read(0, from, limit)
                .iter()
                .map(|r| r.sequence_number.position().unwrap())
                .collect()
        };
        assert_eq!(seqs(6, 2), vec![7, 8]);
        assert_eq!(seqs(4, 100), vec![5, 6, 7, 8, 9, 10]);
        assert_eq!(seqs(0, 3), vec![5, 6, 7], "TRIM_HORIZON");
        assert_eq!(seqs(10, 5), Vec::<usize>::new());
        // The data is the record's at that position.
        assert_eq!(stream.read(0, 0, 1)[0].partition_key, "4");

        // Trimming again, behind or past the end, is harmless; new records go on numbering.
        stream.trim(0, &SequenceNumber::at_position(2));
        stream.trim(0, &SequenceNumber::at_position(99));
        stream.trim(5, &SequenceNumber::at_position(1));
        assert_eq!(stream.lengths(), vec![0]);
        assert_eq!(stream.held_bytes(), 0);
        let answer = stream.put_records(&records[..1]).await.unwrap();
        assert!(matches!(
            &answer[0],
            RecordResult::Accepted { sequence_number, .. } if sequence_number == "00000000000000000011"
        ));
        assert_eq!(seqs(0, 10), vec![11]);
    }

    #[tokio::test]
    async fn a_full_stream_makes_put_records_wait_until_its_consumer_trims() {
        let stream = std::sync::Arc::new(InProcessStream::new("s", 2).with_retention_limit(2_000));
        let records: Vec<Record> = (0..10).map(|i| record(&i.to_string(), 300)).collect();
        // Under the limit: taken at once, even though the call goes over it.
        stream.put_records(&records).await.unwrap();
        assert!(stream.held_bytes() >= 3_000);
        // At the limit: the next call waits.
        let waiting = tokio::spawn({
            let stream = stream.clone();
            let records = records.clone();
            async move { stream.put_records(&records).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the stream is full");
        assert_eq!(stream.lengths().iter().sum::<usize>(), 10);
        // One shard trimmed leaves too much; both, and the call goes through.
        stream.trim(0, &SequenceNumber::at_position(1));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(stream.held_bytes() >= 2_000);
        assert!(!waiting.is_finished(), "still full");
        for shard in 0..2 {
            stream.trim(shard, &SequenceNumber::at_position(10));
        }
        let answers = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            answers
                .iter()
                .all(|r| matches!(r, RecordResult::Accepted { .. }))
        );
        assert_eq!(stream.lengths().iter().sum::<usize>(), 10);
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

    #[tokio::test]
    async fn shard_limits_reject_the_records_past_a_second_of_writes_and_take_them_later() {
        let now = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let clock = std::sync::Arc::clone(&now);
        let limits = ShardLimits {
            bytes_per_second: 10_000,
            records_per_second: 5,
        };
        let stream = InProcessStream::new("s", 2)
            .with_shard_limits(limits)
            .with_clock(std::sync::Arc::new(move || clock.load(Ordering::Relaxed)));
        // "a" goes to shard 0 and "z" to shard 1: each has its own second.
        let seven_a: Vec<Record> = (0..7).map(|_| record("a", 10)).collect();
        let answer = stream.put_records(&seven_a).await.unwrap();
        let codes: Vec<&str> = answer
            .iter()
            .map(|r| match r {
                RecordResult::Accepted { .. } => "ok",
                RecordResult::Rejected { code, .. } => code.as_str(),
            })
            .collect();
        assert_eq!(codes[..5], ["ok"; 5]);
        assert_eq!(codes[5..], ["ProvisionedThroughputExceededException"; 2]);
        let z = stream.put_records(&[record("z", 10)]).await.unwrap();
        assert!(
            matches!(z[0], RecordResult::Accepted { .. }),
            "another shard"
        );
        // Bytes count too (data plus key): one of 9,999 bytes fills shard 1's second.
        now.store(999, Ordering::Relaxed);
        let big = stream.put_records(&[record("z", 9_990)]).await.unwrap();
        assert!(matches!(big[0], RecordResult::Rejected { .. }), "{big:?}");
        // A second later: taken again.
        now.store(1_000, Ordering::Relaxed);
        let again = stream.put_records(&seven_a[..2]).await.unwrap();
        assert!(
            again
                .iter()
                .all(|r| matches!(r, RecordResult::Accepted { .. }))
        );
        assert_eq!(stream.throttled_records(), 3);
        assert_eq!(stream.lengths(), vec![7, 1]);
        // Without limits nothing is throttled.
        let free = InProcessStream::new("s", 1);
        let all = free.put_records(&vec![record("a", 10); 500]).await.unwrap();
        assert!(
            all.iter()
                .all(|r| matches!(r, RecordResult::Accepted { .. }))
        );
    }
}
