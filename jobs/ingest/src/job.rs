//! `IngestJob`: one feed object, read as a stream, into a [`RecordSink`].
//!
//! Reading, framing and batching run on a blocking thread (they are CPU work over a
//! synchronous reader); batches cross a small bounded channel to the async side,
//! which keeps up to `max_in_flight` `PutRecords` calls going. Memory is bounded by
//! the channel and the calls in flight (a few batches of at most 5 MiB), whatever the
//! size of the file.
//!
//! For every file: records read = records sent + records quarantined (+ records
//! already delivered, when an interrupted ingest is resumed, see [`crate::resume`]), or
//! the run fails (and the invocation with it, so that it is retried).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use feedpipe_shared::lineage::{SourceObject, format_timestamp};
use feedpipe_shared::quarantine::{
    Quarantine, QuarantineBuffer, QuarantineEntry, QuarantineError, RejectKind, Stage,
};
use feedpipe_shared::storage::{
    Expected, OpenError, OpenedObject, StorageLocation, feed_version, open_expected_from,
};

use crate::batch::{Batch, KinesisLimits, RecordBatcher};
use crate::continuation::Continuation;
use crate::frame::{Record, RecordFramer};
use crate::pack::{DEFAULT_PACK_BYTES, RecordPacker};
use crate::reader::{
    FeedError, FeedFormat, FeedItem, FeedReader, Overflow, open_feed, open_plain_feed,
};
use crate::resume::DeliveredLines;
use crate::sink::{Progress, RecordSink, RetryPolicy, deliver};

/// How an ingest run behaves; plain data, validated by whoever builds it.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Top-level field whose value is the partition key; the record id when absent.
    pub partition_key_field: Option<String>,
    /// Kinesis limits for batches and records.
    pub limits: KinesisLimits,
    /// Retries of rejected records and failed calls.
    pub retry: RetryPolicy,
    /// `PutRecords` calls in flight at once.
    pub max_in_flight: usize,
    /// Largest record kept whole for the quarantine (longer ones are cut).
    pub keep_limit: usize,
    /// Size of one quarantine object.
    pub quarantine_part_bytes: usize,
    /// Largest Kinesis record that framed records are packed into, data plus partition
    /// key ([`crate::pack`]); 0 sends every record alone.
    pub pack_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            partition_key_field: None,
            limits: KinesisLimits::default(),
            retry: RetryPolicy::default(),
            max_in_flight: 4,
            keep_limit: 16 * 1024 * 1024,
            quarantine_part_bytes: 8 * 1024 * 1024,
            pack_bytes: DEFAULT_PACK_BYTES,
        }
    }
}

/// What one file came to; logged as one line and returned to the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestSummary {
    /// Files read.
    pub files: u64,
    /// Records read (good and bad; blank lines are not records).
    pub records_read: u64,
    /// Records accepted by the stream.
    pub records_sent: u64,
    /// Kinesis records the sent records were packed into ([`crate::pack`]); equal to
    /// `records_sent` when packing is off.
    pub kinesis_records: u64,
    /// Records written to the quarantine (bad data, or not accepted in the end).
    pub records_quarantined: u64,
    /// Records not sent because an interrupted earlier run delivered them
    /// ([`IngestJob::resume`]); 0 otherwise.
    pub records_already_delivered: u64,
    /// `PutRecords` calls.
    pub put_calls: u64,
    /// Calls that were retries.
    pub retry_calls: u64,
    /// Records sent more than once because a call or the record failed.
    pub retried_records: u64,
    /// Bytes of the object as stored (compressed when gzip).
    pub bytes_stored: u64,
    /// Bytes read after decompression.
    pub bytes_read: u64,
    /// Bytes accepted by the stream (data plus partition keys).
    pub bytes_sent: u64,
    /// Quarantine objects written.
    pub quarantine_objects: Vec<String>,
    /// Files whose rest was handed to a continuation (a later run ingests it): the
    /// counts above are then the file's so far.
    pub continued: u64,
}

impl std::ops::AddAssign for IngestSummary {
    fn add_assign(&mut self, o: Self) {
        self.files += o.files;
        self.records_read += o.records_read;
        self.records_sent += o.records_sent;
        self.kinesis_records += o.kinesis_records;
        self.records_quarantined += o.records_quarantined;
        self.records_already_delivered += o.records_already_delivered;
        self.put_calls += o.put_calls;
        self.retry_calls += o.retry_calls;
        self.retried_records += o.retried_records;
        self.bytes_stored += o.bytes_stored;
        self.bytes_read += o.bytes_read;
        self.bytes_sent += o.bytes_sent;
        self.quarantine_objects.extend(o.quarantine_objects);
        self.continued += o.continued;
    }
}

/// Why a file could not be ingested completely.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The object (or that version of it) does not exist.
    #[error("feed `{uri}` not found: {source}")]
    NotFound {
        uri: String,
        source: object_store::Error,
    },
    /// The object could not be read; records sent before the failure stay sent.
    #[error("cannot read feed `{uri}`: {source}")]
    Read { uri: String, source: io::Error },
    /// The quarantine could not be written.
    #[error(transparent)]
    Quarantine(#[from] QuarantineError),
    /// Some records were not accepted by the stream; they are in the quarantine.
    #[error(
        "{count} record(s) of `{uri}` not delivered (first at line {first_line}): {reason}; written to the quarantine, reading stopped"
    )]
    Undelivered {
        uri: String,
        count: usize,
        first_line: u64,
        reason: String,
        permanent: bool,
    },
    /// The reading thread died.
    #[error("feed reader for `{uri}` failed: {reason}")]
    Internal { uri: String, reason: String },
    /// The object is not the one the event named (overwritten since, on an
    /// unversioned bucket): the newer object's own event ingests it.
    #[error("feed {0}")]
    Changed(String),
    /// A continuation that cannot be followed (it names another file, or its
    /// timestamp does not parse).
    #[error("cannot continue the ingest of `{uri}`: {reason}")]
    Continuation { uri: String, reason: String },
}

/// What one run of [`IngestJob::run_part`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The file is done: the summary of the whole file (all its parts).
    Done(IngestSummary),
    /// The run stopped at its deadline; the rest of the file is for another run.
    Stopped(Continuation),
}

/// Which object [`IngestJob::run_with`] reads, and what of it is delivered already.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The S3 version id to read, as S3 events give it on a versioned bucket.
    pub version: Option<String>,
    /// The ETag the event gave. Without a version id the object is read only if it
    /// still has this ETag (`If-Match`), so a late or repeated event never reads a
    /// newer object under the older one's name; it fails with
    /// [`IngestError::Changed`] instead.
    pub e_tag: Option<String>,
    /// Lines an earlier, interrupted run delivered (see [`crate::resume`]): not sent
    /// again, counted as `records_already_delivered`.
    pub delivered: Option<Arc<DeliveredLines>>,
    /// A local feed's version ([`feed_version`], a digest of its bytes) when the
    /// caller computed it already: the file is then not read twice.
    pub content_version: Option<String>,
    /// Stop reading before this instant, at a record boundary, and hand the rest of
    /// the file on ([`Part::Stopped`]; only [`IngestJob::run_part`] takes it). At least
    /// one item is read, so that every part makes progress.
    pub deadline: Option<Instant>,
    /// Go on where an earlier part stopped: it names the object (its version and ETag
    /// take the place of `version` and `e_tag`) and the line to start from.
    pub continuation: Option<Continuation>,
}

impl IngestError {
    /// Whether running the file again may succeed (throttling, network) or not.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::NotFound { .. }
            | IngestError::Changed(_)
            | IngestError::Continuation { .. } => false,
            IngestError::Undelivered { permanent, .. } => !permanent,
            IngestError::Read { .. }
            | IngestError::Quarantine(_)
            | IngestError::Internal { .. } => true,
        }
    }
}

enum Message {
    Batch(Batch),
    /// A rejected record, with its bytes past the keep limit when it had more.
    Rejected(QuarantineEntry, Option<Overflow>),
}

struct ReadStats {
    records: u64,
    already_delivered: u64,
    bytes: u64,
    format: FeedFormat,
    gzip: bool,
    /// Where reading stopped at the deadline (lines read, byte where the next begins);
    /// `None` when it read to the end.
    stopped: Option<(u64, u64)>,
}

/// Where in the feed a run starts.
enum Start {
    /// At the first byte.
    Beginning,
    /// At byte `at_byte` of a plain JSON-lines feed (the body starts there), which is
    /// the start of line `after_line + 1`.
    Ranged { after_line: u64, at_byte: u64 },
    /// At the first byte, skipping the items through `through_line` (which end at
    /// `at_byte`): gzip or a JSON array.
    Skip { through_line: u64, at_byte: u64 },
}

/// The body of the object, where it starts, and when to stop reading it.
struct Feed<R> {
    body: R,
    start: Start,
    deadline: Option<Instant>,
}

/// Runs feeds into a sink; see the module docs.
#[derive(Clone)]
pub struct IngestJob {
    sink: Arc<dyn RecordSink>,
    quarantine: Arc<dyn Quarantine>,
    config: IngestConfig,
}

impl IngestJob {
    /// A job sending to `sink` and quarantining to `quarantine`.
    pub fn new(
        sink: Arc<dyn RecordSink>,
        quarantine: Arc<dyn Quarantine>,
        config: IngestConfig,
    ) -> Self {
        Self {
            sink,
            quarantine,
            config,
        }
    }

    /// This job with `field` as the partition-key field (a feed's, from the feeds file).
    pub fn with_partition_key(&self, field: Option<String>) -> Self {
        let mut job = self.clone();
        job.config.partition_key_field = field;
        job
    }

    /// Ingests the object at `feed` (its `path` names the object). `version` pins an
    /// S3 version id, as S3 events give it.
    pub async fn run(
        &self,
        feed: &StorageLocation,
        version: Option<&str>,
    ) -> Result<IngestSummary, IngestError> {
        let options = RunOptions {
            version: version.map(str::to_owned),
            ..Default::default()
        };
        self.run_with(feed, options).await
    }

    /// Writes one quarantine entry for a whole file that cannot be read at all (a key
    /// that `object_store` cannot address: `//`, `/./`, control characters), naming
    /// it and saying why, so that it is not lost without a word: line 0, kind
    /// `unreadable`, no bytes. Returns the quarantine object written (its name derives
    /// from the file, so a retry rewrites it).
    pub async fn quarantine_unreadable(
        &self,
        source: &SourceObject,
        reason: String,
    ) -> Result<Vec<String>, QuarantineError> {
        self.quarantine_file(source, RejectKind::Unreadable, reason)
            .await
    }

    /// Writes the one quarantine entry for a file whose key starts with no feed's
    /// prefix (kind `unrouted`, line 0, no bytes), naming the key: it is not sent, and
    /// `reconcile` reports it as unrouted. Returns the quarantine object written.
    pub async fn quarantine_unrouted(
        &self,
        source: &SourceObject,
        key: &str,
        feeds: &str,
    ) -> Result<Vec<String>, QuarantineError> {
        let reason = format!(
            "no feed for key `{key}`: it starts with no prefix of the feeds file {feeds}; add a feed for it, or move the file under a feed's prefix"
        );
        self.quarantine_file(source, RejectKind::Unrouted, reason)
            .await
    }

    async fn quarantine_file(
        &self,
        source: &SourceObject,
        kind: RejectKind,
        reason: String,
    ) -> Result<Vec<String>, QuarantineError> {
        let mut buffer = QuarantineBuffer::new(
            Arc::clone(&self.quarantine),
            Stage::Ingest,
            source.clone(),
            Utc::now().date_naive(),
            "",
            self.config.quarantine_part_bytes,
        );
        buffer
            .push(&QuarantineEntry {
                kind,
                error: reason,
                line: 0,
                raw: bytes::Bytes::new(),
                truncated: false,
                span: None,
            })
            .await?;
        buffer.finish().await
    }

    /// Ingests the object at `feed` that `options` names, leaving out the lines it says
    /// are delivered already (see [`RunOptions`]), in one run (no deadline).
    pub async fn run_with(
        &self,
        feed: &StorageLocation,
        options: RunOptions,
    ) -> Result<IngestSummary, IngestError> {
        let options = RunOptions {
            deadline: None,
            ..options
        };
        match self.run_part(feed, options).await? {
            Part::Done(summary) => Ok(summary),
            Part::Stopped(_) => unreachable!("a run without a deadline reads to the end"),
        }
    }

    /// Ingests the object at `feed` that `options` names, or the part of it up to
    /// `options.deadline`, going on from `options.continuation` (see
    /// [`crate::continuation`]).
    pub async fn run_part(
        &self,
        feed: &StorageLocation,
        options: RunOptions,
    ) -> Result<Part, IngestError> {
        let RunOptions {
            version,
            e_tag,
            delivered,
            content_version,
            deadline,
            continuation,
        } = options;
        let uri = feed.uri();
        let (version, e_tag) = match &continuation {
            Some(c) if c.uri != uri => {
                return Err(IngestError::Continuation {
                    uri,
                    reason: format!("the continuation is for `{}`", c.uri),
                });
            }
            Some(c) => (c.version_id.clone(), c.e_tag.clone()),
            None => (version, e_tag),
        };
        let version = version.as_deref();
        let expected = Expected {
            version,
            e_tag: e_tag.as_deref(),
        };
        let started = Instant::now();
        let ingested_at = match &continuation {
            None => Utc::now(),
            Some(c) => chrono::DateTime::parse_from_rfc3339(&c.ingested_at)
                .map_err(|e| IngestError::Continuation {
                    uri: uri.clone(),
                    reason: format!("ingested_at `{}`: {e}", c.ingested_at),
                })?
                .with_timezone(&Utc),
        };
        let from = continuation
            .as_ref()
            .filter(|c| c.ranged())
            .map_or(0, |c| c.byte_offset);
        let opened = |e| match e {
            OpenError::NotFound { uri, source } => IngestError::NotFound { uri, source },
            OpenError::Read { uri, source } => IngestError::Read {
                uri,
                source: io::Error::other(source),
            },
            e @ OpenError::Changed { .. } => IngestError::Changed(e.to_string()),
        };
        let OpenedObject {
            meta,
            mut source,
            body,
        } = open_expected_from(feed, expected, from)
            .await
            .map_err(opened)?;
        // A local feed is versioned by its content (see `feed_version`), unless the
        // caller read it already.
        source.version = match content_version {
            Some(v) => v,
            None => feed_version(feed, &meta, version).await.map_err(opened)?,
        };
        if let Some(c) = &continuation
            && c.source_version != source.version
        {
            return Err(IngestError::Changed(format!(
                "`{uri}` changed since the first part of its ingest read it (version {} then, {} now): not mixing two versions in one file; the newer object's own event ingests it",
                c.source_version, source.version
            )));
        }
        let bytes_stored = if continuation.is_some() { 0 } else { meta.size };
        let framer = RecordFramer::new(
            source.clone(),
            self.config.partition_key_field.clone(),
            &format_timestamp(ingested_at),
            self.config.limits.max_record_bytes,
        );
        let (tx, mut rx) = mpsc::channel::<Message>(2);
        let (limits, keep_limit) = (self.config.limits, self.config.keep_limit);
        let packer = RecordPacker::new(self.config.pack_bytes);
        let start = match &continuation {
            None => Start::Beginning,
            Some(c) if c.ranged() => Start::Ranged {
                after_line: c.lines_done,
                at_byte: c.byte_offset,
            },
            Some(c) => Start::Skip {
                through_line: c.lines_done,
                at_byte: c.byte_offset,
            },
        };
        let reader = tokio::task::spawn_blocking(move || {
            let feed = Feed {
                body,
                start,
                deadline,
            };
            read_feed(feed, framer, packer, limits, keep_limit, delivered, tx)
        });
        let part_label = continuation
            .as_ref()
            .map(Continuation::quarantine_label)
            .unwrap_or_default();

        let dt = ingested_at.date_naive();
        let mut rejected = QuarantineBuffer::new(
            Arc::clone(&self.quarantine),
            Stage::Ingest,
            source.clone(),
            dt,
            &part_label,
            self.config.quarantine_part_bytes,
        );
        let undelivered_label = format!(
            "undelivered-{}-{part_label}",
            ingested_at.format("%Y%m%dT%H%M%S%6fZ")
        );
        let mut undelivered = QuarantineBuffer::new(
            Arc::clone(&self.quarantine),
            Stage::Ingest,
            source.clone(),
            dt,
            &undelivered_label,
            self.config.quarantine_part_bytes,
        );
        let mut summary = IngestSummary {
            files: u64::from(continuation.is_none()),
            bytes_stored,
            ..Default::default()
        };
        let mut failure: Option<(u64, String, bool)> = None;
        let mut first_error: Option<String> = None;
        let progress = Progress::default();
        let mut in_flight = FuturesUnordered::new();
        let mut channel_open = true;
        let max_in_flight = self.config.max_in_flight.max(1);
        while channel_open || !in_flight.is_empty() {
            tokio::select! {
                Some(delivery) = in_flight.next(), if !in_flight.is_empty() => {
                    let delivery: crate::sink::Delivery = delivery;
                    summary.records_sent += delivery.sent;
                    summary.kinesis_records += delivery.kinesis_records;
                    summary.bytes_sent += delivery.bytes;
                    summary.put_calls += delivery.calls;
                    summary.retry_calls += delivery.retry_calls;
                    summary.retried_records += delivery.retried_records;
                    for (record, reason) in delivery.undelivered {
                        if failure.is_none() {
                            failure = Some((record.line, reason.clone(), delivery.permanent));
                            // Stop reading: the file will be retried as a whole.
                            rx.close();
                        }
                        // A packed record's records are each quarantined, each counted.
                        for entry in undelivered_entries(&record, &reason) {
                            undelivered.push(&entry).await?;
                        }
                    }
                }
                message = rx.recv(), if channel_open && in_flight.len() < max_in_flight => match message {
                    Some(Message::Batch(batch)) if failure.is_none() => {
                        in_flight.push(deliver(self.sink.as_ref(), batch, &self.config.retry, &progress));
                    }
                    Some(Message::Batch(_)) => {}
                    Some(Message::Rejected(entry, rest)) => {
                        first_error.get_or_insert_with(|| format!("line {}: {}", entry.line, entry.error));
                        match rest {
                            Some(rest) => rejected.push_whole(&entry, rest).await?,
                            None => rejected.push(&entry).await?,
                        }
                    }
                    None => channel_open = false,
                },
            }
        }
        let read = reader.await.map_err(|e| IngestError::Internal {
            uri: uri.clone(),
            reason: e.to_string(),
        })?;
        let undelivered_records = undelivered.records();
        summary.records_quarantined = rejected.records() + undelivered_records;
        summary.quarantine_objects = rejected.finish().await?;
        summary
            .quarantine_objects
            .extend(undelivered.finish().await?);
        let (format, gzip) = match &read {
            Ok(stats) => {
                summary.records_read = stats.records;
                summary.records_already_delivered = stats.already_delivered;
                summary.bytes_read = stats.bytes;
                (Some(stats.format), stats.gzip)
            }
            Err(_) => (None, false),
        };
        let parts = continuation.as_ref().map_or(0, |c| c.parts) + 1;
        let stopped = match &read {
            Ok(stats) if failure.is_none() => stats.stopped,
            _ => None,
        };
        let log = Log {
            uri: &uri,
            format,
            gzip,
            first_error: first_error.as_deref(),
            elapsed: started.elapsed(),
        };
        if stopped.is_some() || continuation.is_some() {
            log.part(parts, &summary, stopped.is_none());
        }
        if let Some((lines_done, byte_offset)) = stopped {
            let mut so_far = continuation.map(|c| c.so_far).unwrap_or_default();
            so_far += summary;
            return Ok(Part::Stopped(Continuation {
                uri,
                version_id: version.map(str::to_owned),
                e_tag: e_tag
                    .or(meta.e_tag)
                    .filter(|_| feed.is_s3() && version.is_none()),
                source_version: source.version,
                lines_done,
                byte_offset,
                json_array: format == Some(FeedFormat::JsonArray),
                gzip,
                parts,
                ingested_at: format_timestamp(ingested_at),
                so_far,
            }));
        }
        if let Some(c) = continuation {
            let mut total = c.so_far;
            total += summary;
            summary = total;
        }
        log.file(&summary);
        if let Some((first_line, reason, permanent)) = failure {
            let count = undelivered_records as usize;
            return Err(IngestError::Undelivered {
                uri,
                count,
                first_line,
                reason,
                permanent,
            });
        }
        match read {
            Ok(_) => Ok(Part::Done(summary)),
            Err(e) => Err(IngestError::Read {
                uri,
                source: io::Error::new(e.source.kind(), e.to_string()),
            }),
        }
    }
}

fn undelivered_entries<'a>(
    record: &'a Record,
    reason: &'a str,
) -> impl Iterator<Item = QuarantineEntry> + 'a {
    record.members().map(move |(line, raw)| QuarantineEntry {
        kind: RejectKind::Undelivered,
        error: format!("undelivered: {reason}"),
        line,
        raw,
        truncated: false,
        span: None,
    })
}

/// The blocking half: read, frame, batch; hand batches and rejects to the async half.
fn read_feed(
    feed: Feed<impl io::Read + Send + 'static>,
    framer: RecordFramer,
    mut packer: RecordPacker,
    limits: KinesisLimits,
    keep_limit: usize,
    delivered: Option<Arc<DeliveredLines>>,
    tx: mpsc::Sender<Message>,
) -> Result<ReadStats, FeedError> {
    let Feed {
        body,
        start,
        deadline,
    } = feed;
    let (mut reader, skip_through, first_byte) = match start {
        Start::Ranged {
            after_line,
            at_byte,
        } => {
            let feed = open_plain_feed(body);
            let reader = FeedReader::json_lines_after(feed, keep_limit, after_line, at_byte);
            (reader, 0, at_byte)
        }
        Start::Beginning | Start::Skip { .. } => {
            let feed = open_feed(body)
                .map_err(|source| FeedError { line: 0, source })?
                .framing_under_test();
            let (through, at) = match start {
                Start::Skip {
                    through_line,
                    at_byte,
                } => (through_line, at_byte),
                _ => (0, 0),
            };
            (FeedReader::new(feed, keep_limit)?, through, at)
        }
    };
    // Every byte of a record too long to keep goes to the quarantine's side object.
    reader = reader.keep_whole();
    let mut stopped = None;
    let mut batcher = RecordBatcher::new(limits);
    let mut scratch = Vec::new();
    let mut records = 0u64;
    let mut already_delivered = 0u64;
    let send = |m: Message| tx.blocking_send(m).is_ok();
    loop {
        // Stop at the deadline, between two items, once this run has read one.
        if records > 0 && deadline.is_some_and(|d| Instant::now() >= d) && !reader.at_end() {
            stopped = Some((reader.lines_read(), reader.bytes_read()));
            break;
        }
        let Some(item) = reader.next_item()? else {
            break;
        };
        let line = match &item {
            FeedItem::Record { line, .. } | FeedItem::Bad { line, .. } => *line,
        };
        if line <= skip_through {
            continue;
        }
        records += 1;
        let message = match item {
            FeedItem::Record { line, .. }
                if delivered.as_ref().is_some_and(|d| d.contains(line)) =>
            {
                already_delivered += 1;
                continue;
            }
            FeedItem::Record { line, bytes } => match framer.frame(line, bytes, &mut scratch) {
                Ok(record) => {
                    let full = packer.push(record).filter_map(|r| batcher.push(r));
                    if !full.map(Message::Batch).all(send) {
                        break;
                    }
                    continue;
                }
                Err(reject) => Message::Rejected(
                    QuarantineEntry {
                        kind: reject.kind(),
                        error: reject.to_string(),
                        line,
                        raw: bytes::Bytes::copy_from_slice(bytes),
                        truncated: false,
                        span: reader.item_span(),
                    },
                    None,
                ),
            },
            FeedItem::Bad {
                line,
                bytes,
                truncated,
                reason,
                kind,
            } => {
                let raw = bytes::Bytes::copy_from_slice(bytes);
                // A cut record's bytes past the keep limit, for its side object.
                let rest = if truncated {
                    reader.take_overflow()
                } else {
                    None
                };
                let entry = QuarantineEntry {
                    kind,
                    error: reason,
                    line,
                    raw,
                    truncated,
                    span: reader.item_span(),
                };
                Message::Rejected(entry, rest)
            }
        };
        if !send(message) {
            break;
        }
    }
    if let Some(batch) = packer.finish().and_then(|r| batcher.push(r)) {
        send(Message::Batch(batch));
    }
    if let Some(batch) = batcher.finish() {
        send(Message::Batch(batch));
    }
    Ok(ReadStats {
        records,
        already_delivered,
        bytes: reader.bytes_read() - first_byte,
        format: reader.format(),
        gzip: reader.gzip(),
        stopped,
    })
}

/// The per-file log lines: one per part of a continued file, and one for the file.
struct Log<'a> {
    uri: &'a str,
    format: Option<FeedFormat>,
    gzip: bool,
    first_error: Option<&'a str>,
    elapsed: Duration,
}

impl Log<'_> {
    fn format(&self) -> &'static str {
        match self.format {
            Some(FeedFormat::JsonLines) => "json-lines",
            Some(FeedFormat::JsonArray) => "json-array",
            None => "unknown",
        }
    }

    /// One part of a file ingested in several runs: its own counts.
    fn part(&self, part: u32, s: &IngestSummary, last: bool) {
        tracing::info!(
            source = %self.uri,
            part,
            last,
            records_read = s.records_read,
            records_sent = s.records_sent,
            kinesis_records = s.kinesis_records,
            records_quarantined = s.records_quarantined,
            bytes_read = s.bytes_read,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "Feed part ingested."
        );
    }

    /// The whole file (all its parts), once.
    fn file(&self, s: &IngestSummary) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        tracing::info!(
            source = %self.uri,
            format = self.format(),
            gzip = self.gzip,
            records_read = s.records_read,
            records_sent = s.records_sent,
            kinesis_records = s.kinesis_records,
            records_quarantined = s.records_quarantined,
            records_already_delivered = s.records_already_delivered,
            put_calls = s.put_calls,
            retry_calls = s.retry_calls,
            retried_records = s.retried_records,
            bytes_stored = s.bytes_stored,
            bytes_read = s.bytes_read,
            bytes_sent = s.bytes_sent,
            first_error = self.first_error.unwrap_or(""),
            quarantine_objects = s.quarantine_objects.len(),
            elapsed_ms = self.elapsed.as_millis() as u64,
            records_per_sec = (s.records_read as f64 / secs) as u64,
            "Feed ingested."
        );
    }
}
