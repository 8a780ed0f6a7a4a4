//! `Converter`: one raw object → Parquet files in the curated bucket (one per `dt`),
//! its rejects in the quarantine, and a manifest that says it is done.
//!
//! Reading runs on a blocking thread that cuts objects into chunks of records;
//! `decode_threads` threads decode chunks into Arrow record batches (per `dt`), which
//! come back in input order over a small bounded channel; the async side streams
//! them into Parquet writers that upload as they go (multipart on S3), so memory stays
//! bounded by the batches in flight and the row groups being built, whatever the
//! object's size. An object becomes visible only when its upload completes, never
//! half written. Names and bytes are deterministic for the same input object and
//! contract: a re-run overwrites with identical files, and Snowpipe does not load
//! them twice.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use feedpipe_shared::feed::{FeedError, FeedItem, FeedReader, open_feed};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::{
    Quarantine, QuarantineBuffer, QuarantineEntry, QuarantineError, Stage,
};
use feedpipe_shared::storage::{StorageLocation, object_version, open_object};

use crate::columns::{ColumnBuf, arrow_schema};
use crate::contract::SchemaContract;
use crate::decode::{RawOrigin, RecordDecoder};

/// Upload buffer (and multipart part size) per open Parquet file.
const UPLOAD_PART_BYTES: usize = 5 * 1024 * 1024;

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// zstd, level 3 (the default).
    #[default]
    Zstd,
    /// snappy.
    Snappy,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "zstd" => Ok(Codec::Zstd),
            "snappy" => Ok(Codec::Snappy),
            other => Err(format!("unknown compression `{other}` (zstd or snappy)")),
        }
    }
}

/// How a conversion behaves; plain data.
#[derive(Debug, Clone)]
pub struct ConvertConfig {
    /// Parquet compression.
    pub codec: Codec,
    /// Rows per Parquet row group (at most; see `row_group_budget`).
    pub row_group_rows: usize,
    /// Bytes all row groups being built may hold together; past it, the largest is
    /// written out early. Bounds memory when one raw object spans many `dt` days.
    pub row_group_budget: usize,
    /// Records per chunk a decoder thread takes (so at most the rows of one Arrow
    /// batch handed to the writer; a chunk spanning several `dt` days gives a
    /// batch per day).
    pub batch_rows: usize,
    /// Threads decoding one conversion's records; the reading and the Parquet
    /// writing have a thread each besides.
    pub decode_threads: usize,
    /// Largest record kept whole for the quarantine.
    pub keep_limit: usize,
    /// Size of one quarantine object.
    pub quarantine_part_bytes: usize,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        Self {
            codec: Codec::Zstd,
            row_group_rows: 64 * 1024,
            row_group_budget: 64 * 1024 * 1024,
            batch_rows: 8192,
            decode_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            keep_limit: 16 * 1024 * 1024,
            quarantine_part_bytes: 8 * 1024 * 1024,
        }
    }
}

/// One Parquet file written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Where it is.
    pub uri: String,
    /// Its `dt=` partition.
    pub dt: NaiveDate,
    /// Rows in it.
    pub rows: u64,
}

/// One input object of a conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputObject {
    /// Its URI.
    pub uri: String,
    /// Its version id or ETag.
    pub version: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a conversion did; also the manifest written beside the output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The contract's table.
    pub table: String,
    /// The raw objects read.
    pub inputs: Vec<InputObject>,
    /// Records read (good and bad).
    pub records_read: u64,
    /// Rows written to Parquet.
    pub rows_written: u64,
    /// Records sent to the quarantine.
    pub records_quarantined: u64,
    /// Parquet files written.
    pub outputs: Vec<OutputFile>,
    /// Quarantine objects written.
    pub quarantine_objects: Vec<String>,
}

/// Why an object could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The raw object does not exist.
    #[error("raw object `{uri}` not found: {source}")]
    NotFound {
        uri: String,
        source: object_store::Error,
    },
    /// Reading it failed.
    #[error("cannot read raw object `{uri}`: {source}")]
    Read { uri: String, source: io::Error },
    /// Writing Parquet failed.
    #[error("cannot write Parquet `{uri}`: {reason}")]
    Write { uri: String, reason: String },
    /// Writing the quarantine failed.
    #[error(transparent)]
    Quarantine(#[from] QuarantineError),
    /// The reading thread died.
    #[error("reader for `{uri}` failed: {reason}")]
    Internal { uri: String, reason: String },
}

impl ConvertError {
    /// Whether another try may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ConvertError::NotFound { .. })
    }
}

enum Message {
    /// The next input object is being read (its rejects follow).
    Start(SourceObject, object_store::ObjectMeta),
    Batch(NaiveDate, RecordBatch),
    Rejected(QuarantineEntry),
}

/// One raw object of a conversion.
#[derive(Debug, Clone)]
pub struct RawInput {
    /// Where it is.
    pub location: StorageLocation,
    /// The S3 version id to read, if the bucket is versioned (pins the version).
    pub version_id: Option<String>,
    /// The version (as lineage writes it: version id, else ETag) seen when it was
    /// listed. Required when several objects are converted together: their output
    /// name comes from it, and an object that changed since is an error, not a
    /// silent change of content under the same name.
    pub listed_version: Option<String>,
}

/// Converts raw objects under one contract; see the module docs.
#[derive(Clone)]
pub struct Converter {
    contract: Arc<SchemaContract>,
    decoder: Arc<RecordDecoder>,
    schema: SchemaRef,
    curated: StorageLocation,
    quarantine: Arc<dyn Quarantine>,
    config: ConvertConfig,
}

impl Converter {
    /// Writes Parquet under `curated` (the bucket or folder root) for `contract`.
    pub fn new(
        contract: SchemaContract,
        curated: StorageLocation,
        quarantine: Arc<dyn Quarantine>,
        config: ConvertConfig,
    ) -> Self {
        let decoder = RecordDecoder::new(&contract);
        let schema = Arc::new(arrow_schema(decoder.columns()));
        Self {
            contract: Arc::new(contract),
            decoder: Arc::new(decoder),
            schema,
            curated,
            quarantine,
            config,
        }
    }

    /// The same converter, with `threads` decoder threads per conversion (when
    /// several conversions run at once, the cores are theirs to share).
    pub fn with_decode_threads(mut self, threads: usize) -> Self {
        self.config.decode_threads = threads.max(1);
        self
    }

    /// The Arrow schema of the Parquet written.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Where the manifest of `source` goes: `_manifests/<table>/<name>-<digest>.json`.
    pub fn manifest_path(&self, source: &SourceObject) -> Path {
        self.curated.join(&format!(
            "_manifests/{}/{}.json",
            self.contract.table,
            output_stem(source)
        ))
    }

    /// The manifest of a finished conversion of `source`, if there is one.
    pub async fn manifest(&self, source: &SourceObject) -> Option<Manifest> {
        let found = self
            .curated
            .store
            .get(&self.manifest_path(source))
            .await
            .ok()?;
        serde_json::from_slice(&found.bytes().await.ok()?).ok()
    }

    /// Converts the raw object at `raw` (`version` pins an S3 version id).
    pub async fn convert_object(
        &self,
        raw: &StorageLocation,
        version: Option<&str>,
    ) -> Result<Manifest, ConvertError> {
        self.convert_group(&[RawInput {
            location: raw.clone(),
            version_id: version.map(str::to_owned),
            listed_version: None,
        }])
        .await
    }

    /// Converts several raw objects into one set of Parquet files (one per `dt`):
    /// compaction of small Firehose objects. The files are named after the whole
    /// group (`<first name>-<digest of every URI and version>-x<count>`), so the same
    /// group gives the same names and bytes; the manifest lists every input and is
    /// written at each input's manifest path, so each counts as done. A single input
    /// is named as [`Converter::convert_object`] names it.
    pub async fn convert_group(&self, inputs: &[RawInput]) -> Result<Manifest, ConvertError> {
        let started = Instant::now();
        let Some(first) = inputs.first() else {
            return Ok(Manifest {
                table: self.contract.table.clone(),
                ..Manifest::default()
            });
        };
        let uri = if inputs.len() == 1 {
            first.location.uri()
        } else {
            format!("{} (+{} more)", first.location.uri(), inputs.len() - 1)
        };
        // A group's name is known before reading: from the versions listed.
        let mut stem = if inputs.len() == 1 {
            None
        } else {
            let listed = inputs
                .iter()
                .map(|i| {
                    i.listed_version.clone().map(|v| SourceObject {
                        uri: i.location.uri(),
                        version: v,
                    })
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ConvertError::Internal {
                    uri: uri.clone(),
                    reason: "a group of raw objects needs each object's listed version".into(),
                })?;
            Some(group_stem(&listed))
        };

        // One message per chunk, holding a batch per `dt` it has: the slots bound
        // the chunks waiting for the writers, whatever their number of dates.
        let (tx, mut rx) = mpsc::channel::<Vec<Message>>(2);
        let (decoder, schema, config) = (
            Arc::clone(&self.decoder),
            Arc::clone(&self.schema),
            self.config.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        let owned: Vec<RawInput> = inputs.to_vec();
        let reader = tokio::task::spawn_blocking(move || {
            read_objects(&handle, &owned, &decoder, &schema, &config, &tx)
        });

        let mut writers: BTreeMap<NaiveDate, (AsyncArrowWriter<BufWriter>, Path, u64)> =
            BTreeMap::new();
        let mut quarantine: Option<QuarantineBuffer> = None;
        let mut quarantine_objects = Vec::new();
        let mut records_quarantined = 0;
        let mut sources: Vec<SourceObject> = Vec::new();
        let mut manifest_inputs: Vec<InputObject> = Vec::new();
        let mut first_error = None;
        // The channel carries a decoded chunk's messages together; taken one by one.
        let mut messages =
            futures::stream::poll_fn(|cx| rx.poll_recv(cx)).flat_map(futures::stream::iter);
        while let Some(message) = messages.next().await {
            match message {
                Message::Start(source, meta) => {
                    if let Some(done) = quarantine.take() {
                        records_quarantined += done.records();
                        quarantine_objects.extend(done.finish().await?);
                    }
                    stem.get_or_insert_with(|| output_stem(&source));
                    manifest_inputs.push(InputObject {
                        uri: source.uri.clone(),
                        version: source.version.clone(),
                        bytes: meta.size,
                    });
                    quarantine = Some(QuarantineBuffer::new(
                        Arc::clone(&self.quarantine),
                        Stage::Convert,
                        source.clone(),
                        meta.last_modified.date_naive(),
                        "",
                        self.config.quarantine_part_bytes,
                    ));
                    sources.push(source);
                }
                Message::Batch(dt, batch) => {
                    let (writer, path, rows) = match writers.entry(dt) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            let path = self.curated.join(&format!(
                                "{}/dt={}/{}.parquet",
                                self.contract.table,
                                dt.format("%Y-%m-%d"),
                                stem.as_deref().unwrap_or("unnamed")
                            ));
                            // Small upload buffers: one file per `dt` may be open at once.
                            let store = Arc::clone(&self.curated.store);
                            let sink =
                                BufWriter::with_capacity(store, path.clone(), UPLOAD_PART_BYTES)
                                    .with_max_concurrency(2);
                            let writer = AsyncArrowWriter::try_new(
                                sink,
                                Arc::clone(&self.schema),
                                Some(self.writer_properties(&batch)),
                            )
                            .map_err(|e| self.write_error(&path, e))?;
                            e.insert((writer, path, 0))
                        }
                    };
                    *rows += batch.num_rows() as u64;
                    writer
                        .write(&batch)
                        .await
                        .map_err(|e| self.write_error(path, e))?;
                    self.keep_within_budget(&mut writers).await?;
                }
                Message::Rejected(entry) => {
                    first_error
                        .get_or_insert_with(|| format!("line {}: {}", entry.line, entry.error));
                    if let Some(q) = quarantine.as_mut() {
                        q.push(&entry).await?;
                    }
                }
            }
        }
        // Dropping the writers on an error abandons their uploads: nothing partial
        // becomes visible.
        let records_read = reader.await.map_err(|e| ConvertError::Internal {
            uri: uri.clone(),
            reason: e.to_string(),
        })??;
        if let Some(done) = quarantine.take() {
            records_quarantined += done.records();
            quarantine_objects.extend(done.finish().await?);
        }
        let mut outputs = Vec::new();
        for (dt, (writer, path, rows)) in writers {
            writer
                .close()
                .await
                .map_err(|e| self.write_error(&path, e))?;
            outputs.push(OutputFile {
                uri: self.curated.uri_of(&path),
                dt,
                rows,
            });
        }
        let manifest = Manifest {
            table: self.contract.table.clone(),
            inputs: manifest_inputs,
            records_read,
            rows_written: outputs.iter().map(|o| o.rows).sum(),
            records_quarantined,
            outputs,
            quarantine_objects,
        };
        let body = Bytes::from(serde_json::to_vec_pretty(&manifest).unwrap_or_default());
        for source in &sources {
            let manifest_path = self.manifest_path(source);
            self.curated
                .store
                .put(&manifest_path, PutPayload::from_bytes(body.clone()))
                .await
                .map_err(|e| self.write_error(&manifest_path, e))?;
        }
        tracing::info!(
            source = %uri,
            objects = manifest.inputs.len(),
            records_read = manifest.records_read,
            rows_written = manifest.rows_written,
            records_quarantined = manifest.records_quarantined,
            files = manifest.outputs.len(),
            first_error = first_error.as_deref().unwrap_or(""),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Raw object converted."
        );
        Ok(manifest)
    }

    /// Ends the largest row group in progress while all of them together hold more
    /// than the budget. Deterministic: it depends only on the input's order.
    async fn keep_within_budget(
        &self,
        writers: &mut BTreeMap<NaiveDate, (AsyncArrowWriter<BufWriter>, Path, u64)>,
    ) -> Result<(), ConvertError> {
        while writers.values().map(|w| w.0.memory_size()).sum::<usize>()
            > self.config.row_group_budget
        {
            let Some((writer, path, _)) = writers.values_mut().max_by_key(|w| w.0.memory_size())
            else {
                break;
            };
            if writer.in_progress_rows() == 0 {
                break;
            }
            writer
                .flush()
                .await
                .map_err(|e| self.write_error(path, e))?;
        }
        Ok(())
    }

    /// The writer's settings, given the file's first batch: dictionary encoding is
    /// turned off for the top-level columns whose values there are mostly distinct
    /// (ids, line numbers, timestamps, free text). For those a dictionary only costs
    /// time: it fills up and the writer falls back to plain encoding anyway. Decided
    /// from the input alone, so the same input still gives the same bytes.
    fn writer_properties(&self, first: &RecordBatch) -> WriterProperties {
        let compression = match self.config.codec {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
            Codec::Snappy => Compression::SNAPPY,
        };
        let mut builder = WriterProperties::builder();
        let mut distinct = Vec::new();
        for (field, column) in first.schema().fields().iter().zip(first.columns()) {
            distinct_leaves(
                &mut vec![field.name().clone()],
                column.as_ref(),
                &mut distinct,
            );
        }
        for path in distinct {
            builder = builder.set_column_dictionary_enabled(path, false);
        }
        builder
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.config.row_group_rows.max(1)))
            .set_created_by(format!("feedpipe {}", env!("CARGO_PKG_VERSION")))
            // Min/max per column chunk, not per page: the page index would be held in
            // memory for every row group until the file closes, and the warehouse
            // does not read it.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_statistics_truncate_length(Some(64))
            .build()
    }

    fn write_error(&self, path: &Path, e: impl std::fmt::Display) -> ConvertError {
        ConvertError::Write {
            uri: self.curated.uri_of(path),
            reason: e.to_string(),
        }
    }
}

/// The Parquet leaf columns under `column` (at `path`) whose values are mostly
/// distinct. Leaves are named as the Arrow writer names them: a struct's children
/// under its name, a list's items under `<name>.list.element`.
fn distinct_leaves(
    path: &mut Vec<String>,
    column: &dyn arrow_array::Array,
    out: &mut Vec<ColumnPath>,
) {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    match column.data_type() {
        DataType::Struct(_) => {
            let column = column.as_struct();
            for (field, child) in column.fields().iter().zip(column.columns()) {
                path.push(field.name().clone());
                distinct_leaves(path, child.as_ref(), out);
                path.pop();
            }
        }
        DataType::List(item) => {
            path.push("list".into());
            path.push(item.name().clone());
            distinct_leaves(path, column.as_list::<i32>().values().as_ref(), out);
            path.truncate(path.len() - 2);
        }
        _ => {
            if mostly_distinct(column) {
                out.push(ColumnPath::new(path.clone()));
            }
        }
    }
}

/// Whether more than half of the non-null values of a string or 64-bit integer
/// column are distinct (at least 64 values to judge from).
fn mostly_distinct(column: &dyn arrow_array::Array) -> bool {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    use std::collections::HashSet;
    let values = column.len() - column.null_count();
    if values < 64 {
        return false;
    }
    let distinct = if let Some(strings) = column.as_string_opt::<i32>() {
        strings.iter().flatten().collect::<HashSet<_>>().len()
    } else if let Some(ints) = column.as_primitive_opt::<Int64Type>() {
        ints.iter().flatten().collect::<HashSet<_>>().len()
    } else if let Some(times) = column.as_primitive_opt::<TimestampMicrosecondType>() {
        times.iter().flatten().collect::<HashSet<_>>().len()
    } else {
        return false;
    };
    distinct * 2 > values
}

/// `<raw file name, made safe>-<digest of URI and version>`.
fn output_stem(source: &SourceObject) -> String {
    let name: String = source
        .file_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{}-{}", name.trim_end_matches(".gz"), source.digest())
}

/// `<first object's stem>-<digest of every URI and version>-x<count>`.
fn group_stem(sources: &[SourceObject]) -> String {
    let mut all = String::new();
    for source in sources {
        all.push_str(&source.uri);
        all.push('\0');
        all.push_str(&source.version);
        all.push('\n');
    }
    format!(
        "{}-{}-x{}",
        output_stem(&sources[0]),
        feedpipe_shared::lineage::source_digest(&all, "group"),
        sources.len()
    )
}

/// Bytes of raw records in one [`Chunk`] (at most, past the record that crosses it).
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Work for the decoder threads, handed out round-robin in input order.
enum Work {
    /// The next input object starts: passed through as [`Message::Start`].
    Start(SourceObject, object_store::ObjectMeta),
    /// Consecutive records of one object.
    Chunk(Chunk),
}

/// Consecutive records of one raw object, copied out of the reader's buffer.
struct Chunk {
    origin: Arc<RawOrigin>,
    /// The records' bytes, back to back.
    text: Vec<u8>,
    /// One per record, in order; each ends where the next starts.
    items: Vec<ChunkItem>,
}

struct ChunkItem {
    line: u64,
    end: usize,
    /// For what the framing refused: whether it is cut short, and why.
    bad: Option<(bool, String)>,
}

/// What a decoder made of one piece of work.
struct Decoded {
    messages: Vec<Message>,
    records: u64,
}

/// The blocking half over a group, returning the records read. Three kinds of
/// thread: this one opens each object in turn and cuts it into chunks of records
/// (framing only); `decode_threads` decoders turn chunks into Arrow batches per
/// `dt` and quarantine entries; a collector takes their results back in chunk
/// order and hands them to the writers. Work goes round-robin and comes back the
/// same way, so the output's order, and so its bytes, do not depend on timing.
/// Channels of one slot bound the chunks in flight.
fn read_objects(
    handle: &tokio::runtime::Handle,
    inputs: &[RawInput],
    decoder: &RecordDecoder,
    schema: &SchemaRef,
    config: &ConvertConfig,
    tx: &mpsc::Sender<Vec<Message>>,
) -> Result<u64, ConvertError> {
    let threads = config.decode_threads.max(1);
    let group_uri = || inputs.first().map(|i| i.location.uri()).unwrap_or_default();
    std::thread::scope(|scope| {
        let mut work_txs = Vec::with_capacity(threads);
        let mut done_rxs = Vec::with_capacity(threads);
        // Chunk buffers go back to the reader once decoded, to be filled again.
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..threads {
            let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Work>(1);
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            let spare_tx = spare_tx.clone();
            let decode = move || {
                let mut buffers = ColumnBuf::for_columns(decoder.columns());
                for work in work_rx {
                    let done = match work {
                        Work::Start(source, meta) => Ok(Decoded {
                            messages: vec![Message::Start(source, meta)],
                            records: 0,
                        }),
                        Work::Chunk(chunk) => {
                            let done = decode_chunk(&chunk, decoder, schema, &mut buffers);
                            let mut text = chunk.text;
                            text.clear();
                            let _ = spare_tx.send(text);
                            done
                        }
                    };
                    let failed = done.is_err();
                    if done_tx.send(done).is_err() || failed {
                        break;
                    }
                }
            };
            spawn_named(scope, "feedpipe-decode", decode).map_err(|e| ConvertError::Internal {
                uri: group_uri(),
                reason: format!("cannot start a decoder thread: {e}"),
            })?;
            work_txs.push(work_tx);
            done_rxs.push(done_rx);
        }
        let collect = move || -> Result<u64, ConvertError> {
            let mut records = 0;
            // A decoder's channel closes only after its last work, and work went
            // round-robin: the first closed channel in turn is the end.
            for turn in 0.. {
                let Ok(done) = done_rxs[turn % done_rxs.len()].recv() else {
                    break;
                };
                let done = done?;
                records += done.records;
                if tx.blocking_send(done.messages).is_err() {
                    return Ok(records);
                }
            }
            Ok(records)
        };
        let collector = spawn_named(scope, "feedpipe-collect", collect).map_err(|e| {
            ConvertError::Internal {
                uri: group_uri(),
                reason: format!("cannot start the collector thread: {e}"),
            }
        })?;
        drop(spare_tx);
        let read = read_into(handle, inputs, config, &work_txs, &spare_rx);
        drop(work_txs);
        let collected = collector.join().map_err(|_| ConvertError::Internal {
            uri: group_uri(),
            reason: "the collector thread panicked".into(),
        })?;
        read.and(collected)
    })
}

/// A scoped thread named `name` (named for profilers and debuggers).
fn spawn_named<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, f)
}

/// Opens each input in turn and hands its records to the decoders, chunk by chunk.
/// Returns early (`Ok`) when the decoders have gone (an error they report, or the
/// writers gone).
fn read_into(
    handle: &tokio::runtime::Handle,
    inputs: &[RawInput],
    config: &ConvertConfig,
    work: &[std::sync::mpsc::SyncSender<Work>],
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> Result<(), ConvertError> {
    let mut turn = 0usize;
    let mut send = |w: Work| {
        let sent = work[turn % work.len()].send(w).is_ok();
        turn += 1;
        sent
    };
    for input in inputs {
        let uri = input.location.uri();
        let (meta, body) = handle
            .block_on(open_object(&input.location, input.version_id.as_deref()))
            .map_err(|source| match source {
                object_store::Error::NotFound { .. } => ConvertError::NotFound {
                    uri: uri.clone(),
                    source,
                },
                other => ConvertError::Read {
                    uri: uri.clone(),
                    source: io::Error::other(other),
                },
            })?;
        let source = SourceObject {
            uri: uri.clone(),
            version: object_version(&meta, input.version_id.as_deref()),
        };
        if let Some(listed) = &input.listed_version
            && *listed != source.version
        {
            return Err(ConvertError::Read {
                uri,
                source: io::Error::other(format!(
                    "changed since it was listed (version {listed} listed, {} now); list again",
                    source.version
                )),
            });
        }
        let origin = Arc::new(RawOrigin {
            source: source.clone(),
            written_at_micros: meta.last_modified.timestamp_micros(),
        });
        if !send(Work::Start(source, meta)) {
            return Ok(());
        }
        match chunk_object(body, config, &origin, spare, &mut send) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                return Err(ConvertError::Read {
                    uri,
                    source: io::Error::new(e.source.kind(), e.to_string()),
                });
            }
        }
    }
    Ok(())
}

/// Frames one object's records into chunks of at most `batch_rows` records (or
/// about [`CHUNK_BYTES`]) and sends them. `Ok(false)` when the decoders have gone.
fn chunk_object(
    body: Box<dyn io::Read + Send>,
    config: &ConvertConfig,
    origin: &Arc<RawOrigin>,
    spare: &std::sync::mpsc::Receiver<Vec<u8>>,
    send: &mut impl FnMut(Work) -> bool,
) -> Result<bool, FeedError> {
    let feed = open_feed(body).map_err(|source| FeedError { line: 0, source })?;
    let mut reader = FeedReader::new(feed, config.keep_limit)?;
    let rows = config.batch_rows.max(1);
    // A decoded chunk's buffer when there is one, else one sized once: growing by
    // doubling would copy and fault in each chunk twice.
    let new_chunk = || Chunk {
        origin: Arc::clone(origin),
        text: spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_BYTES + 64 * 1024)),
        items: Vec::with_capacity(rows.min(8192)),
    };
    let mut chunk = new_chunk();
    while let Some(item) = reader.next_item()? {
        let (line, bytes, bad) = match item {
            FeedItem::Record { line, bytes } => (line, bytes, None),
            FeedItem::Bad {
                line,
                bytes,
                truncated,
                reason,
            } => (line, bytes, Some((truncated, reason))),
        };
        chunk.text.extend_from_slice(bytes);
        chunk.items.push(ChunkItem {
            line,
            end: chunk.text.len(),
            bad,
        });
        if (chunk.items.len() >= rows || chunk.text.len() >= CHUNK_BYTES)
            && !send(Work::Chunk(std::mem::replace(&mut chunk, new_chunk())))
        {
            return Ok(false);
        }
    }
    Ok(chunk.items.is_empty() || send(Work::Chunk(chunk)))
}

/// `reason`, naming the customer's file and line when the raw record carries
/// lineage (ingest frames every record with it): a convert quarantine entry's own
/// `source` and `line` are the raw object's.
fn with_origin(reason: String, record: &str) -> String {
    #[derive(Deserialize)]
    struct Lineage {
        #[serde(rename = "_source_uri")]
        uri: Option<String>,
        #[serde(rename = "_source_line")]
        line: Option<u64>,
    }
    match serde_json::from_str::<Lineage>(record) {
        Ok(Lineage {
            uri: Some(uri),
            line: Some(line),
        }) => format!("{reason} (source {uri}, line {line})"),
        _ => reason,
    }
}

/// Decodes one chunk: a batch per `dt` (in date order), then its rejects (in line
/// order), and the records counted (a line may hold several, `{..}{..}`).
///
/// Records are appended to the thread's column buffers (empty between chunks) in line order,
/// with their `dt` beside; the batch is cut per `dt` at the end (most chunks hold one).
fn decode_chunk(
    chunk: &Chunk,
    decoder: &RecordDecoder,
    schema: &SchemaRef,
    buffers: &mut [ColumnBuf],
) -> Result<Decoded, ConvertError> {
    let mut dts: Vec<NaiveDate> = Vec::with_capacity(chunk.items.len());
    let mut rejected = Vec::new();
    let mut records = 0u64;
    let mut start = 0;
    for item in &chunk.items {
        let bytes = &chunk.text[start..item.end];
        start = item.end;
        let line = item.line;
        let mut reject = |raw: &[u8], error: String, truncated: bool| {
            rejected.push(Message::Rejected(QuarantineEntry {
                error,
                line,
                raw: Bytes::copy_from_slice(raw),
                truncated,
            }));
        };
        if let Some((truncated, reason)) = &item.bad {
            records += 1;
            reject(bytes, reason.clone(), *truncated);
            continue;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                records += 1;
                reject(
                    bytes,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    false,
                );
                continue;
            }
        };
        // The common case: one object on the line, parsed once into the buffers.
        if let Some(dt) = decoder.append(text, line, &chunk.origin, buffers) {
            records += 1;
            dts.push(dt);
            continue;
        }
        let mut keep = |decoded: crate::decode::DecodedRecord<'_>| {
            for (buf, cell) in buffers.iter_mut().zip(decoded.cells) {
                buf.push(cell);
            }
            dts.push(decoded.dt);
        };
        // Otherwise the exact path decides, and says why a record does not fit.
        if let Some(decoded) = decoder.decode_line(text, line, &chunk.origin) {
            records += 1;
            match decoded {
                Ok(decoded) => keep(decoded),
                Err(e) => reject(text.as_bytes(), with_origin(e.reason, text), false),
            }
            continue;
        }
        // One line may hold several objects written back to back (`{..}{..}`).
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        loop {
            let at = values.byte_offset();
            match values.next() {
                None => break,
                Some(Ok(value)) => {
                    records += 1;
                    match decoder.decode(value.get(), line, &chunk.origin) {
                        Ok(decoded) => keep(decoded),
                        Err(e) => reject(
                            value.get().as_bytes(),
                            with_origin(e.reason, value.get()),
                            false,
                        ),
                    }
                }
                Some(Err(e)) => {
                    records += 1;
                    reject(
                        &text.as_bytes()[at..],
                        format!("malformed JSON: {e}"),
                        false,
                    );
                    break;
                }
            }
        }
    }
    let mut messages = Vec::with_capacity(rejected.len() + 1);
    if !dts.is_empty() {
        let failed = |e: arrow_schema::ArrowError| ConvertError::Read {
            uri: chunk.origin.source.uri.clone(),
            source: io::Error::other(format!(
                "building an Arrow batch (lines {}..={}): {e}",
                chunk.items.first().map_or(0, |i| i.line),
                chunk.items.last().map_or(0, |i| i.line)
            )),
        };
        let batch = buffers
            .iter_mut()
            .map(ColumnBuf::finish)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|arrays| RecordBatch::try_new(Arc::clone(schema), arrays))
            .map_err(failed)?;
        if dts.iter().all(|dt| *dt == dts[0]) {
            messages.push(Message::Batch(dts[0], batch));
        } else {
            let mut rows: BTreeMap<NaiveDate, Vec<u32>> = BTreeMap::new();
            for (row, dt) in dts.iter().enumerate() {
                rows.entry(*dt).or_default().push(row as u32);
            }
            for (dt, rows) in rows {
                let part = arrow_select::take::take_record_batch(
                    &batch,
                    &arrow_array::UInt32Array::from(rows),
                )
                .map_err(failed)?;
                messages.push(Message::Batch(dt, part));
            }
        }
    }
    messages.extend(rejected);
    Ok(Decoded { messages, records })
}

#[cfg(test)]
mod tests;
