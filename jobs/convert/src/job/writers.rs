//! The Parquet files of one conversion: a writer per `dt`, uploading as it goes,
//! with the writer tuning, a bound on the files open at once, and the memory budget
//! over all of them.
//!
//! Each file is streamed to the store through a small buffered upload (multipart on
//! S3), so it becomes visible only when it is completed; dropping the writers
//! abandons every upload still open, and nothing partial appears.
//!
//! At most `max_open_files` files are open at once: a batch of a day without an open
//! file, when that many are open, first completes the file written to least
//! recently. A day met again later goes on in a new file, `<stem>-2.parquet`, then
//! `-3`, … (the first keeps `<stem>.parquet`), so one day may be several files.
//! Which file closes depends on the order of the input alone, so names and bytes
//! stay deterministic; an object with no more days than the bound is written exactly
//! as without it. A file completed early is complete and final: if the conversion
//! fails later, a retry writes it again under the same name with the same bytes.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::NaiveDate;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use feedpipe_shared::storage::StorageLocation;

use super::ConvertError;
use super::encode::ParallelWriter;
use super::manifest::{OutputFile, parquet_key};

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

/// How the files are written; plain data, from [`super::ConvertConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterTuning {
    pub codec: Codec,
    /// Rows per row group, at most.
    pub row_group_rows: usize,
    /// Bytes all row groups in progress may hold together.
    pub row_group_budget: usize,
    /// Files open at once, at most (at least 1).
    pub max_open_files: usize,
    /// Threads each file's column chunks are encoded on.
    pub encode_threads: usize,
}

/// One open file.
struct DtWriter {
    writer: ParallelWriter,
    path: Path,
    rows: u64,
    /// The first 64 bits of each row's `_record_id` (counted distinct when the file
    /// closes: 8 bytes a row).
    ids: Vec<u64>,
    /// Its number among the files of its day (1 for the first).
    part: u32,
    /// The writer's `memory_size()` as last measured: its share of the running total.
    accounted: usize,
    /// When it was last written to (a count of writes): the least recent closes first.
    last_write: u64,
}

impl DtWriter {
    /// Measures the writer again: the change to the running total.
    fn remeasure(&mut self, total: &mut usize) {
        let now = self.writer.memory_size();
        *total = total.saturating_sub(self.accounted) + now;
        self.accounted = now;
    }
}

/// The files of one conversion, named `<table>/dt=…/<stem>[-<part>].parquet`; see the
/// module docs.
pub(crate) struct DtWriters<'a> {
    curated: &'a StorageLocation,
    table: &'a str,
    schema: SchemaRef,
    tuning: WriterTuning,
    open: BTreeMap<NaiveDate, DtWriter>,
    /// Per day, the files completed so far, each with its part number.
    done: BTreeMap<NaiveDate, Vec<(u32, OutputFile)>>,
    /// What the open writers' row groups in progress hold together (the sum of their
    /// `accounted`), kept up to date instead of summed for every batch.
    in_progress: usize,
    writes: u64,
    /// Most files open at once so far.
    most_open: usize,
}

impl<'a> DtWriters<'a> {
    pub fn new(
        curated: &'a StorageLocation,
        table: &'a str,
        schema: SchemaRef,
        tuning: WriterTuning,
    ) -> Self {
        Self {
            curated,
            table,
            schema,
            tuning,
            open: BTreeMap::new(),
            done: BTreeMap::new(),
            in_progress: 0,
            writes: 0,
            most_open: 0,
        }
    }

    /// Appends `batch` to the open file of `dt` (opened on the day's first batch, or
    /// again after it was closed early, under `stem`), then keeps the row groups in
    /// progress within the budget.
    pub async fn write(
        &mut self,
        dt: NaiveDate,
        stem: &str,
        batch: &RecordBatch,
    ) -> Result<(), ConvertError> {
        if !self.open.contains_key(&dt) && self.open.len() >= self.tuning.max_open_files.max(1) {
            self.close_least_recent().await?;
        }
        self.writes += 1;
        let file = match self.open.entry(dt) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let part = self.done.get(&dt).map_or(0, Vec::len) as u32 + 1;
                let stem = match part {
                    1 => stem.to_owned(),
                    n => format!("{stem}-{n}"),
                };
                let path = self.curated.join(&parquet_key(self.table, dt, &stem));
                // Small upload buffers: many files may be open at once.
                let sink = BufWriter::with_capacity(
                    Arc::clone(&self.curated.store),
                    path.clone(),
                    UPLOAD_PART_BYTES,
                )
                .with_max_concurrency(2);
                let properties = writer_properties(self.tuning, batch);
                let writer = ParallelWriter::try_new(
                    sink,
                    Arc::clone(&self.schema),
                    properties,
                    self.tuning.encode_threads,
                )
                .map_err(|e| write_error(self.curated, &path, e))?;
                e.insert(DtWriter {
                    writer,
                    path,
                    rows: 0,
                    ids: Vec::new(),
                    part,
                    accounted: 0,
                    last_write: 0,
                })
            }
        };
        file.rows += batch.num_rows() as u64;
        record_ids(batch, &mut file.ids);
        file.last_write = self.writes;
        file.writer
            .write(batch)
            .await
            .map_err(|e| write_error(self.curated, &file.path, e))?;
        file.remeasure(&mut self.in_progress);
        self.most_open = self.most_open.max(self.open.len());
        self.keep_within_budget().await
    }

    /// Ends the largest row group in progress while all of them together hold more
    /// than the budget. Deterministic: it depends only on the input's order.
    async fn keep_within_budget(&mut self) -> Result<(), ConvertError> {
        while self.in_progress > self.tuning.row_group_budget {
            let Some(file) = self.open.values_mut().max_by_key(|f| f.accounted) else {
                break;
            };
            if file.writer.in_progress_rows() == 0 {
                break;
            }
            file.writer
                .flush()
                .await
                .map_err(|e| write_error(self.curated, &file.path, e))?;
            file.remeasure(&mut self.in_progress);
        }
        Ok(())
    }

    /// Completes the open file written to least recently.
    async fn close_least_recent(&mut self) -> Result<(), ConvertError> {
        let Some(dt) = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_write)
            .map(|(dt, _)| *dt)
        else {
            return Ok(());
        };
        if let Some(file) = self.open.remove(&dt) {
            self.in_progress = self.in_progress.saturating_sub(file.accounted);
            let done = complete(self.curated, dt, file).await?;
            self.done.entry(dt).or_default().push(done);
        }
        Ok(())
    }

    /// Most files that were open at once.
    pub fn most_open(&self) -> usize {
        self.most_open
    }

    /// Completes every open file, in `dt` order, and says what was written: every
    /// file, in `dt` order and within a day in part order.
    pub async fn close(mut self) -> Result<Vec<OutputFile>, ConvertError> {
        for (dt, file) in std::mem::take(&mut self.open) {
            let done = complete(self.curated, dt, file).await?;
            self.done.entry(dt).or_default().push(done);
        }
        Ok(self
            .done
            .into_values()
            .flat_map(|mut files| {
                files.sort_by_key(|(part, _)| *part);
                files.into_iter().map(|(_, file)| file)
            })
            .collect())
    }
}

/// Completes one file (writes its footer and finishes the upload).
async fn complete(
    curated: &StorageLocation,
    dt: NaiveDate,
    file: DtWriter,
) -> Result<(u32, OutputFile), ConvertError> {
    file.writer
        .close()
        .await
        .map_err(|e| write_error(curated, &file.path, e))?;
    let mut ids = file.ids;
    ids.sort_unstable();
    ids.dedup();
    Ok((
        file.part,
        OutputFile {
            uri: curated.uri_of(&file.path),
            dt,
            rows: file.rows,
            records: ids.len() as u64,
        },
    ))
}

/// Appends the first 64 bits of each row's `_record_id` (32 hex digits) to `ids`; a
/// batch without the column adds nothing.
fn record_ids(batch: &RecordBatch, ids: &mut Vec<u64>) {
    use arrow_array::{Array, cast::AsArray};
    let Some(column) = batch.column_by_name(feedpipe_shared::lineage::RECORD_ID) else {
        return;
    };
    let Some(strings) = column.as_string_opt::<i32>() else {
        return;
    };
    ids.extend(
        (0..strings.len())
            .filter(|i| strings.is_valid(*i))
            .map(|i| {
                let id = strings.value(i);
                u64::from_str_radix(id.get(..16).unwrap_or(id), 16).unwrap_or_else(|_| {
                    // Not hex (a record id written by hand): its own hash.
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    std::hash::Hash::hash(id, &mut h);
                    std::hash::Hasher::finish(&h)
                })
            }),
    );
}

/// A write to `path` under `curated` failed.
pub(crate) fn write_error(
    curated: &StorageLocation,
    path: &Path,
    e: impl std::fmt::Display,
) -> ConvertError {
    ConvertError::Write {
        uri: curated.uri_of(path),
        reason: e.to_string(),
    }
}

/// The writer's settings, given the file's first batch: dictionary encoding is
/// turned off for the top-level columns whose values there are mostly distinct
/// (ids, line numbers, timestamps, free text). For those a dictionary only costs
/// time: it fills up and the writer falls back to plain encoding anyway. Decided
/// from the input alone, so the same input still gives the same bytes.
pub(super) fn writer_properties(tuning: WriterTuning, first: &RecordBatch) -> WriterProperties {
    let compression = match tuning.codec {
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
        .set_max_row_group_row_count(Some(tuning.row_group_rows.max(1)))
        .set_created_by(format!("feedpipe {}", env!("CARGO_PKG_VERSION")))
        // Min/max per column chunk, not per page: the page index would be held in
        // memory for every row group until the file closes, and the warehouse
        // does not read it.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_statistics_truncate_length(Some(64))
        .build()
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use arrow_array::Int64Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    const DAYS: i64 = 300;

    fn tuning(max_open_files: usize) -> WriterTuning {
        WriterTuning {
            codec: Codec::Zstd,
            row_group_rows: 1024,
            row_group_budget: 64 * 1024 * 1024,
            max_open_files,
            encode_threads: 2,
        }
    }

    fn day(n: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2001, 1, 1).unwrap_or_default() + chrono::Days::new(n as u64)
    }

    /// The batches of the test, in order: 4,000 of 1 to 4 rows, each on one of 300
    /// days in a scrambled order (so days come back after many others), the rows
    /// numbered 0, 1, … across all of them.
    fn batches(schema: &SchemaRef) -> Vec<(NaiveDate, RecordBatch)> {
        let mut next = 0i64;
        (0..4_000i64)
            .map(|i| {
                let rows = 1 + i % 4;
                let values: Vec<i64> = (next..next + rows).collect();
                next += rows;
                let batch = RecordBatch::try_new(
                    Arc::clone(schema),
                    vec![Arc::new(Int64Array::from(values))],
                )
                .unwrap();
                (day((i * 7_919) % DAYS), batch)
            })
            .collect()
    }

    /// Writes the batches with at most `bound` files open into a new folder, checking
    /// the bound and the running total after every batch.
    async fn write_all(bound: usize) -> (tempfile::TempDir, Vec<OutputFile>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let curated = StorageLocation::parse(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let mut writers = DtWriters::new(&curated, "t", Arc::clone(&schema), tuning(bound));
        for (dt, batch) in batches(&schema) {
            writers.write(dt, "stem", &batch).await.unwrap();
            assert!(writers.open.len() <= bound, "{} open", writers.open.len());
            let summed: usize = writers.open.values().map(|f| f.writer.memory_size()).sum();
            assert_eq!(writers.in_progress, summed, "the running total is the sum");
        }
        let most = writers.most_open();
        let outputs = writers.close().await.unwrap();
        (dir, outputs, most)
    }

    fn read_n(path: &std::path::Path) -> Vec<i64> {
        let file = std::fs::File::open(path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .flat_map(|b| {
                b.unwrap()
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn at_most_the_bound_of_files_is_open_and_every_row_is_written_once() {
        let (dir, outputs, most) = write_all(16).await;
        assert_eq!(most, 16, "the bound is reached and never passed");
        // Every row once, each in a file of its batch's day; the outputs say so.
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let expected_day: BTreeMap<i64, NaiveDate> = batches(&schema)
            .iter()
            .flat_map(|(dt, b)| {
                let values = b.column(0).as_primitive::<Int64Type>().values().to_vec();
                values.into_iter().map(move |n| (n, *dt))
            })
            .collect();
        let mut seen = Vec::new();
        let mut names = BTreeSet::new();
        for output in &outputs {
            let path = std::path::PathBuf::from(output.uri.trim_start_matches("file://"));
            let ns = read_n(&path);
            assert_eq!(ns.len() as u64, output.rows, "{}", output.uri);
            for n in &ns {
                assert_eq!(expected_day[n], output.dt, "row {n} in {}", output.uri);
            }
            seen.extend(ns);
            assert!(
                names.insert(output.uri.clone()),
                "{} listed twice",
                output.uri
            );
        }
        seen.sort_unstable();
        assert_eq!(seen, expected_day.keys().copied().collect::<Vec<_>>());
        // Every file on disk is an output, and a day's files are numbered from its first.
        let on_disk: BTreeSet<String> = walk(dir.path())
            .into_iter()
            .map(|p| format!("file://{}", p.display()))
            .collect();
        assert_eq!(on_disk, names);
        let first_day: Vec<&OutputFile> = outputs.iter().filter(|o| o.dt == day(0)).collect();
        assert!(first_day.len() > 1, "day 0 comes back after 16 others");
        for (i, o) in first_day.iter().enumerate() {
            let name = match i {
                0 => "stem.parquet".to_owned(),
                i => format!("stem-{}.parquet", i + 1),
            };
            assert!(
                o.uri.ends_with(&format!("/t/dt=2001-01-01/{name}")),
                "{}",
                o.uri
            );
        }
        assert!(
            outputs.windows(2).all(|w| w[0].dt <= w[1].dt),
            "outputs in dt order"
        );
    }

    #[tokio::test]
    async fn bounded_writers_give_the_same_names_and_bytes_each_run() {
        let (a, first, _) = write_all(16).await;
        let (b, second, _) = write_all(16).await;
        let relative = |dir: &tempfile::TempDir, outputs: &[OutputFile]| {
            let root = format!("file://{}", dir.path().display());
            outputs
                .iter()
                .map(|o| {
                    let bytes = std::fs::read(o.uri.trim_start_matches("file://")).unwrap();
                    (o.uri.trim_start_matches(&root).to_owned(), o.rows, bytes)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(relative(&a, &first), relative(&b, &second));
        // With room for every day, one file per day.
        let (_c, unbounded, most) = write_all(usize::MAX).await;
        assert_eq!((unbounded.len(), most), (DAYS as usize, DAYS as usize));
        assert!(first.len() > unbounded.len());
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }
}
