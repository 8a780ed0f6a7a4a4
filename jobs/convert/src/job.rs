//! `Converter`: raw objects → Parquet files in the curated bucket (one per `dt`),
//! their rejects in the quarantine, and a manifest per object that says it is done.
//!
//! The work is split along its seams:
//! - [`pipeline`]: a reading thread cuts objects into chunks of records,
//!   `decode_threads` threads decode them ([`chunk`]), and the results come back in
//!   input order over a small bounded channel;
//! - [`writers`]: the async side streams the batches into a Parquet writer per
//!   `dt`, at most `max_open_files` open at once, uploading as it goes (multipart on
//!   S3), so memory stays bounded by the batches in flight, the open files and the
//!   row groups being built, whatever the object's size and its number of days;
//! - [`manifest`]: what was written, and the names it is written under.
//!
//! An object becomes visible only when its upload completes, never half written.
//! Names and bytes are deterministic for the same input object and contract: a
//! re-run overwrites with identical files, and Snowpipe does not load them twice.

mod chunk;
mod encode;
mod feeds;
pub(crate) mod manifest;
mod pipeline;
mod writers;

use std::io;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::mpsc;

use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::{
    Quarantine, QuarantineBuffer, QuarantineEntry, QuarantineError, Stage,
};
use feedpipe_shared::storage::{Expected, OpenError, StorageLocation};

use crate::columns::arrow_schema;
use crate::contract::SchemaContract;
use crate::decode::RecordDecoder;
pub use feeds::{FeedConverter, source_key};
use manifest::{InputObject, Manifest, group_stem, manifest_key, output_stem};
use pipeline::Routes;
use pipeline::{Message, TableDecoder, read_objects};
pub use pipeline::{RouteFn, Routing};
pub use writers::Codec;
use writers::{DtWriters, WriterTuning, write_error};

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
    /// Parquet files open at once, at most (each holds its encoders and upload
    /// buffer). A conversion spanning more `dt` days completes the file written to
    /// least recently to open another, and a day met again goes on in a new file
    /// (`<stem>-2.parquet`, …).
    pub max_open_files: usize,
    /// Records per chunk a decoder thread takes (so at most the rows of one Arrow
    /// batch handed to the writer; a chunk spanning several `dt` days gives a
    /// batch per day).
    pub batch_rows: usize,
    /// Threads decoding one conversion's records; the reading has a thread of its
    /// own besides.
    pub decode_threads: usize,
    /// Threads encoding and compressing each Parquet file's column chunks (the
    /// bytes do not depend on it).
    pub encode_threads: usize,
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
            max_open_files: 64,
            batch_rows: 8192,
            decode_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            encode_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            keep_limit: 16 * 1024 * 1024,
            quarantine_part_bytes: 8 * 1024 * 1024,
        }
    }
}

impl ConvertConfig {
    fn tuning(&self) -> WriterTuning {
        WriterTuning {
            codec: self.codec,
            row_group_rows: self.row_group_rows,
            row_group_budget: self.row_group_budget,
            max_open_files: self.max_open_files,
            encode_threads: self.encode_threads.max(1),
        }
    }
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
    /// The raw object is not the one named (overwritten since): a retry will not help.
    #[error("raw object {0}")]
    Changed(String),
}

impl From<OpenError> for ConvertError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NotFound { uri, source } => ConvertError::NotFound { uri, source },
            OpenError::Read { uri, source } => ConvertError::Read {
                uri,
                source: io::Error::other(source),
            },
            e @ OpenError::Changed { .. } => ConvertError::Changed(e.to_string()),
        }
    }
}

impl ConvertError {
    /// Whether another try may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ConvertError::NotFound { .. } | ConvertError::Changed(_)
        )
    }
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
    /// The ETag the event or listing gave: without `version_id`, the object is read
    /// only if it still has it (`If-Match`), so a newer object is never read in its place.
    pub e_tag: Option<String>,
}

impl RawInput {
    /// The object at `raw` that `expected` names, as an event names it.
    pub fn expected(raw: &StorageLocation, expected: Expected<'_>) -> Self {
        Self {
            location: raw.clone(),
            version_id: expected.version.map(str::to_owned),
            listed_version: None,
            e_tag: expected.e_tag.map(str::to_owned),
        }
    }
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

    /// The same converter, with `threads` decoder threads and as many encoder
    /// threads per conversion (when several conversions run at once, the cores are
    /// theirs to share).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.config.decode_threads = threads.max(1);
        self.config.encode_threads = threads.max(1);
        self
    }

    /// The Arrow schema of the Parquet written.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The contract's table.
    pub fn table(&self) -> &str {
        &self.contract.table
    }

    /// Where the manifest of `source` goes: `_manifests/<table>/<name>-<digest>.json`.
    pub fn manifest_path(&self, source: &SourceObject) -> Path {
        self.curated
            .join(&manifest_key(&self.contract.table, source))
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
        self.convert_expected(raw, Expected::version(version)).await
    }

    /// Converts the raw object at `raw` that `expected` names, as an event names it: a
    /// version id pins it, else its ETag is checked, so that a late or repeated event
    /// never converts a newer object in its place.
    pub async fn convert_expected(
        &self,
        raw: &StorageLocation,
        expected: Expected<'_>,
    ) -> Result<Manifest, ConvertError> {
        self.convert_group(&[RawInput::expected(raw, expected)])
            .await
    }

    /// Converts several raw objects into one set of Parquet files (one per `dt`):
    /// compaction of small Firehose objects. The files are named after the whole
    /// group (`<first name>-<digest of every URI and version>-x<count>`), so the same
    /// group gives the same names and bytes; the manifest lists every input and is
    /// written at each input's manifest path, so each counts as done. A single input
    /// is named as [`Converter::convert_object`] names it.
    pub async fn convert_group(&self, inputs: &[RawInput]) -> Result<Manifest, ConvertError> {
        let mut manifests = convert_tables(std::slice::from_ref(self), None, inputs).await?;
        Ok(manifests.pop().unwrap_or_else(|| self.empty_manifest()))
    }

    fn empty_manifest(&self) -> Manifest {
        Manifest {
            table: self.contract.table.clone(),
            ..Manifest::default()
        }
    }
}

/// Converts `inputs` for every table of `converters` in one read: with `routes`,
/// each record goes to its table (a raw object may hold several feeds), else all
/// are the one table's. Returns a manifest per table, in order; each table's files,
/// quarantine and manifest are what converting its records alone would give.
pub(super) async fn convert_tables(
    converters: &[Converter],
    routes: Option<Routes>,
    inputs: &[RawInput],
) -> Result<Vec<Manifest>, ConvertError> {
    let started = Instant::now();
    let Some(first) = converters.first() else {
        return Ok(Vec::new());
    };
    let uri = match inputs {
        [] => return Ok(converters.iter().map(Converter::empty_manifest).collect()),
        [one] => one.location.uri(),
        [first, ..] => format!("{} (+{} more)", first.location.uri(), inputs.len() - 1),
    };
    let stem = listed_stem(inputs, &uri)?;
    // Several tables of one raw object: their quarantine objects are named apart.
    let labelled = routes.is_some();
    let mut runs: Vec<GroupRun<'_>> = converters
        .iter()
        .map(|c| GroupRun::new(c, stem.clone(), labelled))
        .collect();

    // One message per chunk, holding a batch per `dt` it has: the slots bound
    // the chunks waiting for the writers, whatever their number of dates.
    let (tx, mut rx) = mpsc::channel::<Vec<Message>>(2);
    let tables: Vec<TableDecoder> = converters
        .iter()
        .map(|c| TableDecoder {
            decoder: Arc::clone(&c.decoder),
            schema: Arc::clone(&c.schema),
        })
        .collect();
    let config = first.config.clone();
    let handle = tokio::runtime::Handle::current();
    let owned: Vec<RawInput> = inputs.to_vec();
    let reader = tokio::task::spawn_blocking(move || {
        read_objects(&handle, &owned, &tables, routes.as_ref(), &config, &tx)
    });
    // The channel carries a decoded chunk's messages together; taken one by one.
    let mut messages =
        futures::stream::poll_fn(|cx| rx.poll_recv(cx)).flat_map(futures::stream::iter);
    while let Some(message) = messages.next().await {
        match message {
            Message::Start(source, meta) => {
                for run in &mut runs {
                    run.start(source.clone(), &meta).await?;
                }
            }
            Message::Batch(table, dt, batch) => runs[table].batch(dt, &batch).await?,
            Message::Rejected(table, entry) => runs[table].reject(entry).await?,
        }
    }
    // Dropping the writers on an error abandons their uploads: nothing partial
    // becomes visible.
    let records_read = reader.await.map_err(|e| ConvertError::Internal {
        uri: uri.clone(),
        reason: e.to_string(),
    })??;
    let mut manifests = Vec::with_capacity(runs.len());
    for (run, records_read) in runs.into_iter().zip(records_read) {
        let table = run.converter.table().to_owned();
        let (manifest, first_error, most_open) = run.finish(records_read).await?;
        tracing::info!(
            source = %uri,
            table = %table,
            objects = manifest.inputs.len(),
            records_read = manifest.records_read,
            rows_written = manifest.rows_written,
            records_quarantined = manifest.records_quarantined,
            files = manifest.outputs.len(),
            files_open_at_most = most_open,
            first_error = first_error.as_deref().unwrap_or(""),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Raw object converted."
        );
        manifests.push(manifest);
    }
    Ok(manifests)
}

/// A group's name is known before reading, from the versions listed; a single
/// object is named when it is opened (`None` here).
fn listed_stem(inputs: &[RawInput], uri: &str) -> Result<Option<String>, ConvertError> {
    if inputs.len() < 2 {
        return Ok(None);
    }
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
            uri: uri.to_owned(),
            reason: "a group of raw objects needs each object's listed version".into(),
        })?;
    Ok(group_stem(&listed))
}

/// The writing side of one group's conversion: what it has taken so far.
struct GroupRun<'a> {
    converter: &'a Converter,
    writers: DtWriters<'a>,
    stem: Option<String>,
    /// What this table's quarantine objects start with: `""`, or `<table>-` when a
    /// raw object's records go to several tables.
    label: String,
    /// The rejects of the object being read.
    quarantine: Option<QuarantineBuffer>,
    quarantine_objects: Vec<String>,
    records_quarantined: u64,
    sources: Vec<SourceObject>,
    inputs: Vec<InputObject>,
    first_error: Option<String>,
}

impl<'a> GroupRun<'a> {
    fn new(converter: &'a Converter, stem: Option<String>, labelled: bool) -> Self {
        Self {
            label: match labelled {
                true => format!("{}-", converter.contract.table),
                false => String::new(),
            },
            converter,
            writers: DtWriters::new(
                &converter.curated,
                &converter.contract.table,
                Arc::clone(&converter.schema),
                converter.config.tuning(),
            ),
            stem,
            quarantine: None,
            quarantine_objects: Vec::new(),
            records_quarantined: 0,
            sources: Vec::new(),
            inputs: Vec::new(),
            first_error: None,
        }
    }

    /// The next input object starts.
    async fn start(
        &mut self,
        source: SourceObject,
        meta: &object_store::ObjectMeta,
    ) -> Result<(), ConvertError> {
        self.end_quarantine().await?;
        self.stem.get_or_insert_with(|| output_stem(&source));
        self.inputs.push(InputObject {
            uri: source.uri.clone(),
            version: source.version.clone(),
            bytes: meta.size,
        });
        self.quarantine = Some(QuarantineBuffer::new(
            Arc::clone(&self.converter.quarantine),
            Stage::Convert,
            source.clone(),
            meta.last_modified.date_naive(),
            &self.label,
            self.converter.config.quarantine_part_bytes,
        ));
        self.sources.push(source);
        Ok(())
    }

    /// Rows of one `dt`.
    async fn batch(&mut self, dt: NaiveDate, batch: &RecordBatch) -> Result<(), ConvertError> {
        let stem = self.stem.as_deref().unwrap_or("unnamed");
        self.writers.write(dt, stem, batch).await
    }

    /// A record that does not fit.
    async fn reject(&mut self, entry: QuarantineEntry) -> Result<(), ConvertError> {
        self.first_error
            .get_or_insert_with(|| format!("line {}: {}", entry.line, entry.error));
        if let Some(q) = self.quarantine.as_mut() {
            q.push(&entry).await?;
        }
        Ok(())
    }

    /// Writes out the rejects of the object that was being read.
    async fn end_quarantine(&mut self) -> Result<(), ConvertError> {
        if let Some(done) = self.quarantine.take() {
            self.records_quarantined += done.records();
            self.quarantine_objects.extend(done.finish().await?);
        }
        Ok(())
    }

    /// Completes the files, then writes the manifest at each input's manifest path:
    /// last, so that an object counts as done only once its files are there. Also
    /// returns the first reject's reason and the most files that were open at once.
    async fn finish(
        mut self,
        records_read: u64,
    ) -> Result<(Manifest, Option<String>, usize), ConvertError> {
        self.end_quarantine().await?;
        let most_open = self.writers.most_open();
        let outputs = self.writers.close().await?;
        let manifest = Manifest {
            table: self.converter.contract.table.clone(),
            inputs: self.inputs,
            records_read,
            rows_written: outputs.iter().map(|o| o.rows).sum(),
            records_quarantined: self.records_quarantined,
            outputs,
            quarantine_objects: self.quarantine_objects,
        };
        let body = Bytes::from(serde_json::to_vec_pretty(&manifest).unwrap_or_default());
        let curated = &self.converter.curated;
        for source in &self.sources {
            let path = self.converter.manifest_path(source);
            curated
                .store
                .put(&path, PutPayload::from_bytes(body.clone()))
                .await
                .map_err(|e| write_error(curated, &path, e))?;
        }
        Ok((manifest, self.first_error, most_open))
    }
}

#[cfg(test)]
mod tests;
