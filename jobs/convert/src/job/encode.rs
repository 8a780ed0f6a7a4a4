//! A Parquet file writer that encodes and compresses its column chunks on several
//! threads, writing the same bytes as parquet's `AsyncArrowWriter` would.
//!
//! Parquet's Arrow writer encodes a batch column by column on the calling thread;
//! with zstd that is about half the conversion's CPU, and on one thread it held the
//! whole pipeline back. Each column chunk is encoded by its own
//! [`ArrowColumnWriter`], which depends on nothing but the leaf values it is given,
//! in order. So this writer does what `ArrowWriter` does (the same row-group cuts,
//! the same schema and metadata, the chunks appended in column order), but hands
//! each batch's leaf columns to `threads` scoped threads, each owning a fixed set
//! of the column writers. Which thread encodes a column changes no byte: the tests
//! compare the files with `AsyncArrowWriter`'s.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::buffered::BufWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use tokio::io::AsyncWriteExt;

/// Rows below which a batch is encoded on the calling thread alone: starting
/// threads would cost more than it saves.
const PARALLEL_ROWS: usize = 1024;

/// One Parquet file being written; see the module docs.
pub(crate) struct ParallelWriter {
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    sink: BufWriter,
    max_rows: usize,
    threads: usize,
    /// The row group being built: its column writers (in leaf order) and its rows.
    in_progress: Option<(Vec<ArrowColumnWriter>, usize)>,
    /// The thread of each leaf column, fixed for the file.
    lanes: Vec<usize>,
}

impl ParallelWriter {
    /// A writer of `schema` to `sink` with `properties`, encoding on `threads`
    /// threads (1: on the calling thread only).
    pub fn try_new(
        sink: BufWriter,
        schema: SchemaRef,
        mut properties: WriterProperties,
        threads: usize,
    ) -> Result<Self> {
        // What `ArrowWriter::try_new` does, so the footer is the same.
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(&schema)?;
        add_encoded_arrow_schema_to_metadata(&schema, &mut properties);
        let max_rows = properties.max_row_group_row_count().unwrap_or(usize::MAX);
        if properties.max_row_group_bytes().is_some() {
            return Err(ParquetError::General(
                "a byte limit per row group is not supported here".into(),
            ));
        }
        let file = SerializedFileWriter::new(
            Vec::new(),
            parquet_schema.root_schema_ptr(),
            Arc::new(properties),
        )?;
        let factory = ArrowRowGroupWriterFactory::new(&file, Arc::clone(&schema));
        Ok(Self {
            file,
            factory,
            schema,
            sink,
            max_rows: max_rows.max(1),
            threads: threads.max(1),
            in_progress: None,
            lanes: Vec::new(),
        })
    }

    /// Rows in the row group being built.
    pub fn in_progress_rows(&self) -> usize {
        self.in_progress.as_ref().map_or(0, |(_, rows)| *rows)
    }

    /// What the row group being built holds in memory (as `ArrowWriter::memory_size`).
    pub fn memory_size(&self) -> usize {
        self.in_progress.as_ref().map_or(0, |(writers, _)| {
            writers.iter().map(|w| w.memory_size()).sum()
        })
    }

    /// Appends `batch`, ending a row group whenever it reaches the row limit (and
    /// uploading what it wrote).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut start = 0;
        while start < batch.num_rows() {
            let room = self.max_rows - self.in_progress_rows();
            let rows = room.min(batch.num_rows() - start);
            self.write_rows(&batch.slice(start, rows))?;
            start += rows;
            if self.in_progress_rows() >= self.max_rows {
                self.flush().await?;
            }
        }
        Ok(())
    }

    fn write_rows(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut leaves = Vec::new();
        let mut per_column = Vec::new();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            let column_leaves = compute_leaves(field, column)?;
            per_column.push(column_leaves.len());
            leaves.extend(column_leaves);
        }
        if self.lanes.len() != leaves.len() {
            // Once per file, from its first batch: a leaf weighs its column's share.
            let weights: Vec<usize> = batch
                .columns()
                .iter()
                .zip(&per_column)
                .flat_map(|(column, n)| {
                    std::iter::repeat_n(column.get_array_memory_size() / (*n).max(1), *n)
                })
                .collect();
            self.lanes = lanes(&weights, self.threads);
        }
        let (writers, rows) = match &mut self.in_progress {
            Some(in_progress) => in_progress,
            none => none.insert((
                self.factory
                    .create_column_writers(self.file.flushed_row_groups().len())?,
                0,
            )),
        };
        *rows += batch.num_rows();
        let threads = if batch.num_rows() < PARALLEL_ROWS {
            1
        } else {
            self.threads
        };
        let work = by_lane(writers.iter_mut().zip(leaves), &self.lanes, threads);
        on_threads(work, |(writer, leaf)| writer.write(&leaf))?;
        Ok(())
    }

    /// Ends the row group being built, if any, and uploads it.
    pub async fn flush(&mut self) -> Result<()> {
        if let Some((writers, _)) = self.in_progress.take() {
            let work = by_lane(writers.into_iter().enumerate(), &self.lanes, self.threads);
            let mut chunks: Vec<(usize, ArrowColumnChunk)> =
                on_threads(work, |(i, writer)| writer.close().map(|chunk| (i, chunk)))?;
            chunks.sort_by_key(|(i, _)| *i);
            let mut row_group = self.file.next_row_group()?;
            for (_, chunk) in chunks {
                chunk.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
        }
        self.upload().await
    }

    /// Ends the last row group, writes the footer and completes the upload.
    pub async fn close(mut self) -> Result<()> {
        self.flush().await?;
        self.file.finish()?;
        self.upload().await?;
        self.sink.flush().await?;
        self.sink.shutdown().await?;
        Ok(())
    }

    /// Hands what the file writer has written so far to the upload.
    async fn upload(&mut self) -> Result<()> {
        let written = std::mem::take(self.file.inner_mut());
        if !written.is_empty() {
            self.sink.write_all(&written).await?;
        }
        Ok(())
    }
}

/// Which of `threads` threads encodes each leaf column: the heaviest first, each to
/// the least loaded thread.
fn lanes(weights: &[usize], threads: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(weights[*i]));
    let mut load = vec![0usize; threads.max(1)];
    let mut lanes = vec![0; weights.len()];
    for i in order {
        let lane = (0..load.len()).min_by_key(|l| load[*l]).unwrap_or(0);
        load[lane] += weights[i].max(1);
        lanes[i] = lane;
    }
    lanes
}

/// The items (one per leaf column, in leaf order) split among `threads` threads by
/// their lanes.
fn by_lane<T>(items: impl Iterator<Item = T>, lanes: &[usize], threads: usize) -> Vec<Vec<T>> {
    let threads = threads.max(1);
    let mut work: Vec<Vec<T>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, item) in items.enumerate() {
        work[lanes.get(i).copied().unwrap_or(0) % threads].push(item);
    }
    work
}

/// Runs `f` over each list of items, the first list on this thread and each other
/// on a scoped thread of its own; the results of all, or the first error.
fn on_threads<T: Send, R: Send>(
    work: Vec<Vec<T>>,
    f: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let run = |items: Vec<T>| items.into_iter().map(&f).collect::<Result<Vec<R>>>();
    let mut work = work.into_iter().filter(|items| !items.is_empty());
    let Some(first) = work.next() else {
        return Ok(Vec::new());
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = work.map(|items| scope.spawn(|| run(items))).collect();
        let mut out = run(first)?;
        for other in others {
            let done = other
                .join()
                .map_err(|_| ParquetError::General("a Parquet encoding thread panicked".into()))?;
            out.extend(done?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder, StructBuilder};
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Fields, Schema};
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt};
    use parquet::arrow::AsyncArrowWriter;

    use super::*;
    use crate::job::writers::{Codec, WriterTuning, writer_properties};

    fn item_fields() -> Fields {
        Fields::from(vec![
            Field::new("sku", DataType::Utf8, false),
            Field::new("qty", DataType::Int64, true),
        ])
    }

    fn schema() -> SchemaRef {
        let item = Field::new("item", DataType::Struct(item_fields()), true);
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "customer",
                DataType::Struct(Fields::from(vec![
                    Field::new("city", DataType::Utf8, true),
                    Field::new("tier", DataType::Utf8, true),
                ])),
                true,
            ),
            Field::new("items", DataType::List(Arc::new(item)), true),
        ]))
    }

    /// Batches of 1 to 2,999 rows: ids, free text with nulls, a struct of few
    /// values, lists of 0 to 3 structs.
    fn batches(schema: &SchemaRef) -> Vec<RecordBatch> {
        let mut next = 0i64;
        [1usize, 700, 2999, 64, 1500, 2048, 3, 2500, 999]
            .iter()
            .map(|&rows| {
                let ids: Vec<i64> = (next..next + rows as i64).collect();
                next += rows as i64;
                let names: StringArray = ids
                    .iter()
                    .map(|i| (i % 7 != 0).then(|| format!("name {} ünïcode {}", i * 31 % 1000, i)))
                    .collect();
                let cities = ["東京", "Kraków", "Lisbon", "Austin"];
                let customer = arrow_array::StructArray::from(vec![
                    (
                        Arc::new(Field::new("city", DataType::Utf8, true)),
                        Arc::new(StringArray::from_iter(
                            ids.iter().map(|i| Some(cities[(*i % 4) as usize])),
                        )) as ArrayRef,
                    ),
                    (
                        Arc::new(Field::new("tier", DataType::Utf8, true)),
                        Arc::new(StringArray::from_iter(
                            ids.iter().map(|i| (i % 3 == 0).then_some("gold")),
                        )) as ArrayRef,
                    ),
                ]);
                let mut items = ListBuilder::new(StructBuilder::new(
                    item_fields(),
                    vec![
                        Box::new(StringBuilder::new()),
                        Box::new(Int64Builder::new()),
                    ],
                ))
                .with_field(Arc::new(Field::new(
                    "item",
                    DataType::Struct(item_fields()),
                    true,
                )));
                for i in &ids {
                    for k in 0..(i % 4) {
                        let item = items.values();
                        item.field_builder::<StringBuilder>(0)
                            .unwrap()
                            .append_value(format!("SKU-{:05}", (i * 13 + k) % 20_000));
                        item.field_builder::<Int64Builder>(1)
                            .unwrap()
                            .append_option((k != 2).then_some(k + 1));
                        item.append(true);
                    }
                    items.append(i % 11 != 0);
                }
                RecordBatch::try_new(
                    Arc::clone(schema),
                    vec![
                        Arc::new(Int64Array::from(ids)),
                        Arc::new(names),
                        Arc::new(customer),
                        Arc::new(items.finish()),
                    ],
                )
                .unwrap()
            })
            .collect()
    }

    fn properties(batch: &RecordBatch, codec: Codec) -> WriterProperties {
        writer_properties(
            WriterTuning {
                codec,
                row_group_rows: 2500,
                row_group_budget: usize::MAX,
                max_open_files: 1,
                encode_threads: 1,
            },
            batch,
        )
    }

    /// The batches written by parquet's own writer, with a flush after the 5th.
    async fn reference(batches: &[RecordBatch], codec: Codec) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = AsyncArrowWriter::try_new(
            &mut out,
            batches[0].schema(),
            Some(properties(&batches[0], codec)),
        )
        .unwrap();
        for (i, batch) in batches.iter().enumerate() {
            writer.write(batch).await.unwrap();
            if i == 4 {
                writer.flush().await.unwrap();
            }
        }
        writer.close().await.unwrap();
        out
    }

    async fn parallel(batches: &[RecordBatch], codec: Codec, threads: usize) -> Vec<u8> {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let path = Path::from("t/x.parquet");
        let sink = BufWriter::with_capacity(Arc::clone(&store), path.clone(), 64 * 1024);
        let mut writer = ParallelWriter::try_new(
            sink,
            batches[0].schema(),
            properties(&batches[0], codec),
            threads,
        )
        .unwrap();
        for (i, batch) in batches.iter().enumerate() {
            writer.write(batch).await.unwrap();
            assert!(writer.in_progress_rows() < 2500);
            if i == 4 {
                writer.flush().await.unwrap();
                assert_eq!((writer.in_progress_rows(), writer.memory_size()), (0, 0));
            }
        }
        writer.close().await.unwrap();
        store
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn on_any_number_of_threads_the_bytes_are_parquets_own_writers() {
        let batches = batches(&schema());
        for codec in [Codec::Zstd, Codec::Snappy] {
            let expected = reference(&batches, codec).await;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let read = parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(
                expected.clone(),
            ))
            .unwrap();
            let row_groups = parquet::file::reader::FileReader::metadata(&read).num_row_groups();
            assert!(row_groups >= 5, "{row_groups} row groups");
            for threads in [1, 2, 3, 8] {
                let got = parallel(&batches, codec, threads).await;
                assert_eq!(got.len(), expected.len(), "{codec:?} on {threads} threads");
                assert!(
                    got == expected,
                    "{codec:?} on {threads} threads: other bytes"
                );
            }
            assert_eq!(
                parquet::file::reader::FileReader::metadata(&read)
                    .file_metadata()
                    .num_rows() as usize,
                rows
            );
        }
    }

    #[test]
    fn the_heaviest_columns_are_spread_first() {
        assert_eq!(lanes(&[10, 1, 9, 1, 2], 2), vec![0, 0, 1, 0, 1]);
        assert_eq!(lanes(&[5, 5, 5], 1), vec![0, 0, 0]);
    }
}
