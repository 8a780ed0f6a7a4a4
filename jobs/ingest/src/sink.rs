//! `RecordSink`: where batches go, and the retry rules around it.
//!
//! A sink takes one `PutRecords` call's worth of records and says, per record, whether
//! it was accepted: Kinesis can accept some records of a call and reject others
//! (`ProvisionedThroughputExceededException`, `InternalFailure`). [`deliver`] re-sends
//! only the rejected ones, with exponential backoff and full jitter; a whole call that
//! fails with a retryable error is retried the same way. It gives up after
//! `max_attempts` calls in a row during which the stream took nothing: neither from
//! this call nor from the other calls of the run ([`Progress`]). A stream at its write
//! limit takes a share of the calls made to it each second and refuses the rest; that
//! is the stream's pace, not a failure, so a file larger than what the stream takes at
//! once still goes through, and a call that loses the race for a second while others
//! get in keeps its budget. A stream that takes nothing fails the batch as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::batch::Batch;
use crate::frame::Record;

/// The answer for one record of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordResult {
    /// Stored: on this shard, at this sequence number.
    Accepted {
        shard_id: String,
        sequence_number: String,
    },
    /// Not stored; `code` is the Kinesis error code.
    Rejected { code: String, message: String },
}

/// A whole call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth trying again (throttling, 5xx, timeouts, connection errors).
    #[error("{0}")]
    Retryable(String),
    /// Will fail again (no such stream, access denied, invalid request).
    #[error("{0}")]
    Permanent(String),
}

/// A destination for records with `PutRecords` semantics.
#[async_trait]
pub trait RecordSink: Send + Sync {
    /// Sends `records` in one call; the result has one entry per record, in order.
    async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError>;
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in a row that get no record accepted before the rest is given up on,
    /// the first one included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time (then full jitter).
    pub base_delay: Duration,
    /// Upper bound of a single backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The sleep before retry number `retry` (1-based): uniform in `[0, min(max, base·2^(retry-1))]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (retry.saturating_sub(1)).min(20));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

/// What delivering one batch came to.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Framed records accepted (a packed Kinesis record counts each it holds).
    pub sent: u64,
    /// Kinesis records accepted.
    pub kinesis_records: u64,
    /// Bytes (data + partition keys) of the accepted records.
    pub bytes: u64,
    /// `PutRecords` calls made.
    pub calls: u64,
    /// Calls that were retries.
    pub retry_calls: u64,
    /// Framed records sent again after a rejection or failed call (all of a packed
    /// record's).
    pub retried_records: u64,
    /// Kinesis records given up on, with the reason; empty when all went through.
    pub undelivered: Vec<(Record, String)>,
    /// True when the sink said the failure will not go away (stop the file).
    pub permanent: bool,
}

/// Records the stream accepted, over all the calls of a run: what tells a stream at
/// its limit (others get in) from one that takes nothing.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    fn accepted(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sends `batch`, re-sending only what was rejected, within `policy`; `progress` is
/// shared by the run's calls in flight.
pub async fn deliver<S: RecordSink + ?Sized>(
    sink: &S,
    batch: Batch,
    policy: &RetryPolicy,
    progress: &Progress,
) -> Delivery {
    let mut report = Delivery::default();
    let mut pending = batch.records;
    let (mut calls, mut stalled) = (0u32, 0u32);
    let mut seen = progress.accepted();
    loop {
        report.calls += 1;
        calls += 1;
        let reason = match sink.put_records(&pending).await {
            Ok(results) if results.len() == pending.len() => {
                let mut failed = Vec::new();
                let mut last = None;
                for (record, result) in pending.into_iter().zip(results) {
                    match result {
                        RecordResult::Accepted { .. } => {
                            progress.0.fetch_add(1, Ordering::Relaxed);
                            report.sent += record.count();
                            report.kinesis_records += 1;
                            report.bytes += record.size() as u64;
                        }
                        RecordResult::Rejected { code, message } => {
                            last = Some(format!("{code}: {message}"));
                            failed.push(record);
                        }
                    }
                }
                pending = failed;
                match last {
                    None => return report,
                    Some(reason) => reason,
                }
            }
            Ok(results) => {
                let reason = format!(
                    "sink answered {} results for {} records",
                    results.len(),
                    pending.len()
                );
                report.permanent = true;
                report.undelivered = pending.into_iter().map(|r| (r, reason.clone())).collect();
                return report;
            }
            Err(SinkError::Permanent(reason)) => {
                report.permanent = true;
                let reason = format!("PutRecords failed permanently: {reason}");
                report.undelivered = pending.into_iter().map(|r| (r, reason.clone())).collect();
                return report;
            }
            Err(SinkError::Retryable(reason)) => reason,
        };
        // Stalled only when nothing of the run got in since this call's last try.
        let now = progress.accepted();
        stalled = if now > seen { 0 } else { stalled + 1 };
        seen = now;
        if stalled >= policy.max_attempts {
            let reason = format!(
                "not accepted after {calls} attempts, the last {stalled} while the stream took no record; last error {reason}"
            );
            report.undelivered = pending.into_iter().map(|r| (r, reason.clone())).collect();
            return report;
        }
        // After progress the stream's next second is near: back off from the start.
        tokio::time::sleep(policy.backoff(stalled + 1)).await;
        report.retry_calls += 1;
        report.retried_records += pending.iter().map(Record::count).sum::<u64>();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;

    /// Rejects a share of records per call, and fails a share of whole calls, from a
    /// seeded generator; remembers every accepted record.
    struct FlakySink {
        reject_share: f64,
        throttle_share: f64,
        rng: Mutex<fastrand::Rng>,
        accepted: Mutex<HashMap<u64, usize>>,
    }

    impl FlakySink {
        fn new(reject_share: f64, throttle_share: f64) -> Self {
            Self {
                reject_share,
                throttle_share,
                rng: Mutex::new(fastrand::Rng::with_seed(7)),
                accepted: Mutex::default(),
            }
        }
    }

    #[async_trait]
    impl RecordSink for FlakySink {
        async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
            let mut rng = self.rng.lock().unwrap();
            if rng.f64() < self.throttle_share {
                return Err(SinkError::Retryable(
                    "ThrottlingException: Rate exceeded".into(),
                ));
            }
            let mut accepted = self.accepted.lock().unwrap();
            Ok(records
                .iter()
                .map(|r| {
                    if rng.f64() < self.reject_share {
                        RecordResult::Rejected {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "slow down".into(),
                        }
                    } else {
                        *accepted.entry(r.line).or_default() += 1;
                        RecordResult::Accepted {
                            shard_id: "shardId-0".into(),
                            sequence_number: r.line.to_string(),
                        }
                    }
                })
                .collect())
        }
    }

    fn batch(n: u64) -> Batch {
        let records: Vec<Record> = (0..n)
            .map(|line| Record::single(Bytes::from(format!("{line}\n")), "k".into(), line))
            .collect();
        let bytes = records.iter().map(Record::size).sum();
        Batch { records, bytes }
    }

    fn fast_policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_micros(10),
            max_delay: Duration::from_micros(100),
        }
    }

    #[tokio::test]
    async fn a_sink_that_fails_a_share_of_records_still_gets_each_exactly_once() {
        let sink = FlakySink::new(0.3, 0.2);
        let report = deliver(&sink, batch(500), &fast_policy(30), &Progress::default()).await;
        assert!(report.undelivered.is_empty());
        assert_eq!(report.sent, 500);
        let accepted = sink.accepted.lock().unwrap();
        assert_eq!(accepted.len(), 500);
        assert!(
            accepted.values().all(|n| *n == 1),
            "each record accepted exactly once"
        );
        assert!(report.retry_calls > 0 && report.retried_records > 0);
        assert_eq!(report.calls, report.retry_calls + 1);
    }

    #[tokio::test]
    async fn when_retries_run_out_the_rest_is_reported_undelivered() {
        // No record gets in: after 3 such calls the batch is undelivered.
        let sink = FlakySink::new(1.0, 0.0);
        let report = deliver(&sink, batch(200), &fast_policy(3), &Progress::default()).await;
        let accepted = sink.accepted.lock().unwrap();
        assert_eq!(report.sent as usize, accepted.len());
        assert_eq!(report.sent as usize + report.undelivered.len(), 200);
        assert_eq!(report.undelivered.len(), 200);
        assert!(!report.permanent);
        let (record, reason) = &report.undelivered[0];
        assert!(
            !accepted.contains_key(&record.line),
            "an undelivered record was never accepted"
        );
        assert!(
            reason.contains("after 3 attempts") && reason.contains("ProvisionedThroughputExceeded"),
            "{reason}"
        );
        assert_eq!(report.calls, 3);
    }

    /// A stream at its write limit: each call, only the first `take` records get in.
    struct Saturated {
        take: usize,
        accepted: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl RecordSink for Saturated {
        async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
            let mut accepted = self.accepted.lock().unwrap();
            Ok(records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if i < self.take {
                        accepted.push(r.line);
                        RecordResult::Accepted {
                            shard_id: "shardId-0".into(),
                            sequence_number: r.line.to_string(),
                        }
                    } else {
                        RecordResult::Rejected {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "Rate exceeded for shard shardId-0".into(),
                        }
                    }
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn a_stream_that_takes_a_share_of_each_call_gets_everything_at_its_pace() {
        // 10 of 500 records a call: 50 calls, far more than 3 attempts, all progress.
        let sink = Saturated {
            take: 10,
            accepted: Mutex::default(),
        };
        let report = deliver(&sink, batch(500), &fast_policy(3), &Progress::default()).await;
        assert!(
            report.undelivered.is_empty(),
            "{:?}",
            report.undelivered.first()
        );
        assert_eq!((report.sent, report.calls), (500, 50));
        assert_eq!(
            *sink.accepted.lock().unwrap(),
            (0..500).collect::<Vec<_>>(),
            "each once, in order"
        );
        // A stream that takes nothing still fails the batch after 3 calls.
        let none = Saturated {
            take: 0,
            accepted: Mutex::default(),
        };
        let report = deliver(&none, batch(5), &fast_policy(3), &Progress::default()).await;
        assert_eq!(
            (report.sent, report.calls, report.undelivered.len()),
            (0, 3, 5)
        );
        assert!(
            report.undelivered[0]
                .1
                .contains("the last 3 while the stream took no record"),
            "{}",
            report.undelivered[0].1
        );
    }

    /// Refuses this call's records for its first `losses` calls while other calls of
    /// the run get in (it counts their records into the run's progress), then takes all.
    struct Outrun<'a> {
        losses: Mutex<u32>,
        others: &'a Progress,
    }

    #[async_trait]
    impl RecordSink for Outrun<'_> {
        async fn put_records(&self, records: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
            let mut losses = self.losses.lock().unwrap();
            let lost = *losses > 0;
            *losses = losses.saturating_sub(1);
            if lost {
                self.others.0.fetch_add(100, Ordering::Relaxed);
            }
            Ok(records
                .iter()
                .map(|r| match lost {
                    true => RecordResult::Rejected {
                        code: "ProvisionedThroughputExceededException".into(),
                        message: "Rate exceeded".into(),
                    },
                    false => RecordResult::Accepted {
                        shard_id: "shardId-0".into(),
                        sequence_number: r.line.to_string(),
                    },
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn a_call_that_loses_the_race_while_others_get_in_keeps_its_budget() {
        let progress = Progress::default();
        let sink = Outrun {
            losses: Mutex::new(10),
            others: &progress,
        };
        let report = deliver(&sink, batch(50), &fast_policy(3), &progress).await;
        assert!(
            report.undelivered.is_empty(),
            "{:?}",
            report.undelivered.first()
        );
        assert_eq!((report.sent, report.calls), (50, 11));
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        struct Gone;
        #[async_trait]
        impl RecordSink for Gone {
            async fn put_records(&self, _: &[Record]) -> Result<Vec<RecordResult>, SinkError> {
                Err(SinkError::Permanent(
                    "ResourceNotFoundException: no stream `s`".into(),
                ))
            }
        }
        let report = deliver(&Gone, batch(3), &fast_policy(5), &Progress::default()).await;
        assert_eq!(report.calls, 1);
        assert!(report.permanent);
        assert_eq!(report.undelivered.len(), 3);
        assert!(report.undelivered[0].1.contains("no stream `s`"));
    }

    #[test]
    fn backoff_grows_exponentially_and_stays_under_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for _ in 0..200 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(3) <= Duration::from_millis(400));
            assert!(policy.backoff(30) <= Duration::from_secs(2));
        }
        let mean = |retry| {
            (0..2000)
                .map(|_| policy.backoff(retry).as_secs_f64())
                .sum::<f64>()
                / 2000.0
        };
        assert!(
            mean(4) > 1.5 * mean(2),
            "later retries wait longer on average"
        );
    }
}
