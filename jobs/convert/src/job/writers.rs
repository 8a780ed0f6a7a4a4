//! The Parquet files of one conversion: one writer per `dt`, uploading as it goes,
//! with the writer tuning and the memory budget over all of them.
//!
//! Each file is streamed to the store through a small buffered upload (multipart on
//! S3), so it becomes visible only when [`DtWriters::close`] completes it; dropping
//! the writers instead abandons every upload, and nothing partial appears.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::NaiveDate;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use feedpipe_shared::storage::StorageLocation;

use super::ConvertError;
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
}

/// One open file.
struct DtWriter {
    writer: AsyncArrowWriter<BufWriter>,
    path: Path,
    rows: u64,
}

/// The open files of one conversion, one per `dt`, named `<table>/dt=…/<stem>.parquet`.
pub(crate) struct DtWriters<'a> {
    curated: &'a StorageLocation,
    table: &'a str,
    schema: SchemaRef,
    tuning: WriterTuning,
    open: BTreeMap<NaiveDate, DtWriter>,
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
        }
    }

    /// Appends `batch` to the file of `dt` (opened on its first batch, under `stem`),
    /// then keeps the row groups in progress within the budget.
    pub async fn write(
        &mut self,
        dt: NaiveDate,
        stem: &str,
        batch: &RecordBatch,
    ) -> Result<(), ConvertError> {
        let file = match self.open.entry(dt) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let path = self.curated.join(&parquet_key(self.table, dt, stem));
                // Small upload buffers: one file per `dt` may be open at once.
                let sink = BufWriter::with_capacity(
                    Arc::clone(&self.curated.store),
                    path.clone(),
                    UPLOAD_PART_BYTES,
                )
                .with_max_concurrency(2);
                let properties = writer_properties(self.tuning, batch);
                let writer =
                    AsyncArrowWriter::try_new(sink, Arc::clone(&self.schema), Some(properties))
                        .map_err(|e| write_error(self.curated, &path, e))?;
                e.insert(DtWriter {
                    writer,
                    path,
                    rows: 0,
                })
            }
        };
        file.rows += batch.num_rows() as u64;
        file.writer
            .write(batch)
            .await
            .map_err(|e| write_error(self.curated, &file.path, e))?;
        self.keep_within_budget().await
    }

    /// Ends the largest row group in progress while all of them together hold more
    /// than the budget. Deterministic: it depends only on the input's order.
    async fn keep_within_budget(&mut self) -> Result<(), ConvertError> {
        while self
            .open
            .values()
            .map(|f| f.writer.memory_size())
            .sum::<usize>()
            > self.tuning.row_group_budget
        {
            let Some(file) = self
                .open
                .values_mut()
                .max_by_key(|f| f.writer.memory_size())
            else {
                break;
            };
            if file.writer.in_progress_rows() == 0 {
                break;
            }
            file.writer
                .flush()
                .await
                .map_err(|e| write_error(self.curated, &file.path, e))?;
        }
        Ok(())
    }

    /// Completes every file, in `dt` order, and says what was written.
    pub async fn close(self) -> Result<Vec<OutputFile>, ConvertError> {
        let mut outputs = Vec::with_capacity(self.open.len());
        for (dt, file) in self.open {
            file.writer
                .close()
                .await
                .map_err(|e| write_error(self.curated, &file.path, e))?;
            outputs.push(OutputFile {
                uri: self.curated.uri_of(&file.path),
                dt,
                rows: file.rows,
            });
        }
        Ok(outputs)
    }
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
fn writer_properties(tuning: WriterTuning, first: &RecordBatch) -> WriterProperties {
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
