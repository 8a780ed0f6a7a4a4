//! `Firehose`: a local delivery loop that behaves like Kinesis Data Firehose with a
//! Kinesis source and an S3 destination.
//!
//! It reads every shard of a stream ([`StreamSource`]: the in-process stream here, a
//! real Kinesis stream through GetRecords in the end-to-end tests), concatenates the
//! records' bytes as Firehose does (no separator added: the ingest framer already ends
//! each record with a newline, so objects are JSON lines), and writes an object when
//! the buffer reaches its size hint or its oldest record has waited the buffering
//! interval, whichever comes first. Keys follow Firehose's layout,
//! `<prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>` (UTC, from
//! the arrival time of the buffer's first record), with `.gz` added when gzip is on.
//!
//! Like Firehose it delivers at least once: a failed write is retried with the same
//! buffer (a retry after a write that did land but reported failure writes the
//! records again, under another name), and a shard's checkpoint
//! ([`Firehose::checkpoints`]) only moves past a record once the object holding it is
//! written. Then it trims the stream up to the checkpoint ([`StreamSource::trim`]), so
//! the in-process stream holds only what is not delivered yet. It is not a
//! byte-for-byte model of Firehose's
//! scaling (Firehose splits buffers into more, smaller objects when it scales out);
//! `feedpipe convert` compacts either way.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::{mpsc, watch};

use feedpipe_shared::storage::StorageLocation;

use crate::sequence::SequenceNumber;
use crate::source::{SourceError, StreamSource};
use crate::stream::StoredRecord;

/// Records read from one shard per call.
const READ_LIMIT: usize = 10_000;

/// Firehose bills ingestion per record, each rounded up to the next 5 KB
/// (<https://aws.amazon.com/firehose/pricing/>; counted here as 5,120 bytes).
pub const BILLING_UNIT_BYTES: u64 = 5 * 1024;

/// The bytes Firehose bills for ingesting one record of `len` bytes.
pub fn billed_bytes(len: usize) -> u64 {
    (len as u64).div_ceil(BILLING_UNIT_BYTES).max(1) * BILLING_UNIT_BYTES
}

/// How the delivery stream buffers and names objects; plain data.
#[derive(Debug, Clone)]
pub struct FirehoseConfig {
    /// Delivery stream name, the first part of each object name.
    pub delivery_stream: String,
    /// Delivery stream version, the second part (Firehose starts at 1).
    pub version: u32,
    /// Key prefix before `YYYY/MM/DD/HH/` (Firehose's default layout in this project is `raw/`).
    pub prefix: String,
    /// Buffering hint, size: an object is written once this many bytes are buffered.
    pub buffer_bytes: usize,
    /// Buffering hint, interval: an object is written once its first record has waited this long.
    pub buffer_interval: Duration,
    /// Gzip the objects (Firehose's `GZIP` compression; keys get `.gz`).
    pub gzip: bool,
    /// Attempts to write one object before the loop gives up.
    pub max_attempts: u32,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        Self {
            delivery_stream: "feedpipe-raw".into(),
            version: 1,
            prefix: "raw/".into(),
            buffer_bytes: 5 * 1024 * 1024,
            buffer_interval: Duration::from_secs(300),
            gzip: false,
            max_attempts: 5,
        }
    }
}

/// One object written to the raw bucket.
#[derive(Debug, Clone)]
pub struct DeliveredObject {
    /// Where it is.
    pub location: StorageLocation,
    /// Records in it (Kinesis records: a packed one holds several JSON lines).
    pub records: u64,
    /// JSON lines in it (customer records, one per line).
    pub lines: u64,
    /// Bytes of the records (before gzip).
    pub bytes: u64,
}

/// Why delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    /// The stream could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An object could not be written after every attempt.
    #[error("cannot write {uri} after {attempts} attempt(s): {message}")]
    Write {
        /// The object.
        uri: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        message: String,
    },
}

/// Totals of a delivery loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirehoseSummary {
    /// Objects written.
    pub objects: u64,
    /// Records written (Kinesis records).
    pub records: u64,
    /// JSON lines written (customer records).
    pub lines: u64,
    /// Bytes of records written (before gzip).
    pub bytes: u64,
    /// Bytes Firehose bills for their ingestion: each record rounded up to 5 KB
    /// ([`billed_bytes`]).
    pub billed_bytes: u64,
}

#[derive(Debug, Default)]
struct Buffer {
    data: Vec<u8>,
    records: u64,
    billed_bytes: u64,
    first_arrival: Option<DateTime<Utc>>,
    /// When the buffer's first record was taken from the stream (the interval runs from here).
    opened: Option<tokio::time::Instant>,
    /// Per shard index: the last sequence number in the buffer.
    positions: Vec<(usize, SequenceNumber)>,
}

/// See the module docs.
pub struct Firehose<S: ?Sized> {
    source: std::sync::Arc<S>,
    raw: StorageLocation,
    config: FirehoseConfig,
    shards: Vec<String>,
    /// Per shard: the last sequence number written to the raw bucket (a checkpoint).
    checkpoints: watch::Sender<Vec<Option<SequenceNumber>>>,
    /// Per shard: the last sequence number taken into the buffer.
    read: Vec<Option<SequenceNumber>>,
    buffer: Buffer,
    summary: FirehoseSummary,
}

impl<S: StreamSource + ?Sized> Firehose<S> {
    /// A delivery loop from `source` into `raw` (the raw bucket's root; keys start with `config.prefix`).
    pub async fn new(
        source: std::sync::Arc<S>,
        raw: StorageLocation,
        config: FirehoseConfig,
    ) -> Result<Self, FirehoseError> {
        let shards = source.shards().await?;
        Ok(Self {
            checkpoints: watch::Sender::new(vec![None; shards.len()]),
            read: vec![None; shards.len()],
            source,
            raw,
            config,
            shards,
            buffer: Buffer::default(),
            summary: FirehoseSummary::default(),
        })
    }

    /// What has been written so far.
    pub fn summary(&self) -> &FirehoseSummary {
        &self.summary
    }

    /// Per shard (in the order of [`StreamSource::shards`]), the last sequence number
    /// whose record is in an object written to the raw bucket: everything up to it is
    /// durable. Changes after each object written.
    pub fn checkpoints(&self) -> watch::Receiver<Vec<Option<SequenceNumber>>> {
        self.checkpoints.subscribe()
    }

    /// Records buffered and not yet written.
    pub fn buffered_records(&self) -> u64 {
        self.buffer.records
    }

    /// Takes what the stream holds now into the buffer, writing an object each time the
    /// buffer reaches its size hint, and once more if the interval has passed. Returns
    /// the objects written and whether any record was read.
    pub async fn poll(&mut self) -> Result<(Vec<DeliveredObject>, bool), FirehoseError> {
        let mut written = Vec::new();
        let mut any = false;
        for i in 0..self.shards.len() {
            loop {
                let records = self
                    .source
                    .get_records(&self.shards[i], self.read[i].as_ref(), READ_LIMIT)
                    .await?;
                let Some(last) = records.last() else { break };
                self.read[i] = Some(last.sequence_number.clone());
                any = true;
                let full = records.len() == READ_LIMIT;
                for record in records {
                    self.take(i, record);
                    if self.buffer.data.len() >= self.config.buffer_bytes {
                        written.extend(self.flush().await?);
                    }
                }
                if !full {
                    break;
                }
            }
        }
        if self
            .buffer
            .opened
            .is_some_and(|t| t.elapsed() >= self.config.buffer_interval)
        {
            written.extend(self.flush().await?);
        }
        Ok((written, any))
    }

    fn take(&mut self, shard: usize, record: StoredRecord) {
        let b = &mut self.buffer;
        if b.records == 0 {
            b.first_arrival = Some(record.arrived_at);
            b.opened = Some(tokio::time::Instant::now());
        }
        b.data.extend_from_slice(&record.data);
        b.records += 1;
        b.billed_bytes += billed_bytes(record.data.len());
        match b.positions.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, seq)) => *seq = record.sequence_number,
            None => b.positions.push((shard, record.sequence_number)),
        }
    }

    /// Writes the buffer as one object now (nothing when it is empty).
    pub async fn flush(&mut self) -> Result<Option<DeliveredObject>, FirehoseError> {
        if self.buffer.records == 0 {
            return Ok(None);
        }
        let at = self.buffer.first_arrival.unwrap_or_else(Utc::now);
        let key = format!(
            "{}{}/{}-{}-{}-{}{}",
            self.config.prefix,
            at.format("%Y/%m/%d/%H"),
            self.config.delivery_stream,
            self.config.version,
            at.format("%Y-%m-%d-%H-%M-%S"),
            uuid4(),
            if self.config.gzip { ".gz" } else { "" }
        );
        let path = self.raw.join(&key);
        let uri = self.raw.uri_of(&path);
        let body = if self.config.gzip {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(&self.buffer.data)
                .and_then(|_| gz.finish())
                .map_err(|e| FirehoseError::Write {
                    uri: uri.clone(),
                    attempts: 0,
                    message: format!("gzip: {e}"),
                })?
        } else {
            self.buffer.data.clone()
        };
        let payload = PutPayload::from(Bytes::from(body));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.raw.store.put(&path, payload.clone()).await {
                Ok(_) => break,
                Err(e) if attempt >= self.config.max_attempts.max(1) => {
                    return Err(FirehoseError::Write {
                        uri,
                        attempts: attempt,
                        message: e.to_string(),
                    });
                }
                Err(e) => {
                    tracing::warn!(%uri, attempt, error = %e, "raw object write failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                }
            }
        }
        let buffer = std::mem::take(&mut self.buffer);
        self.checkpoints.send_modify(|acked| {
            for (shard, seq) in &buffer.positions {
                if let Some(slot) = acked.get_mut(*shard) {
                    *slot = Some(seq.clone());
                }
            }
        });
        // Delivered: the stream may drop them (the in-process one does).
        for (shard, seq) in &buffer.positions {
            self.source.trim(&self.shards[*shard], seq).await;
        }
        let delivered = DeliveredObject {
            location: self.raw.at(path),
            records: buffer.records,
            lines: memchr::memchr_iter(b'\n', &buffer.data).count() as u64,
            bytes: buffer.data.len() as u64,
        };
        self.summary.objects += 1;
        self.summary.records += delivered.records;
        self.summary.lines += delivered.lines;
        self.summary.bytes += delivered.bytes;
        self.summary.billed_bytes += buffer.billed_bytes;
        Ok(Some(delivered))
    }

    /// Runs until `stop` turns true: polls the stream, waits for records or the
    /// interval, and sends each written object to `delivered` (as an S3 event would).
    /// On stop it reads what is left, writes the buffer, and returns the totals.
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        delivered: mpsc::Sender<DeliveredObject>,
    ) -> Result<FirehoseSummary, FirehoseError> {
        let tick = (self.config.buffer_interval / 4)
            .clamp(Duration::from_millis(20), Duration::from_millis(500));
        loop {
            let stopping = *stop.borrow();
            let (objects, any) = self.poll().await?;
            for object in objects {
                let _ = delivered.send(object).await;
            }
            if stopping {
                if let Some(object) = self.flush().await? {
                    let _ = delivered.send(object).await;
                }
                return Ok(self.summary);
            }
            if !any {
                tokio::select! {
                    _ = self.source.wait(tick) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// A random UUID (version 4) as Firehose puts at the end of its object names.
fn uuid4() -> String {
    let mut b = [0u8; 16];
    fastrand::fill(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

#[cfg(test)]
mod tests;
