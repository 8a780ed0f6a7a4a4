//! Step 2: every curated row, by `_record_id`.

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use futures::StreamExt;

use super::report::Report;
use super::{Index, ReconcileError, parse_id};
use crate::query::{QueryError, Warehouse};

/// Enters each curated row's `_record_id` in `index`, to be counted against its
/// source record; rows without a readable id go to `report.unexpected` at once.
pub(super) async fn read_curated(
    warehouse: &Warehouse,
    index: &mut Index,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    for table in warehouse.tables() {
        let sql = format!(
            "SELECT _record_id, _source_uri, _source_version FROM \"{}\"",
            table.replace('"', "\"\"")
        );
        let mut stream = warehouse
            .context()
            .sql(&sql)
            .await
            .map_err(QueryError::from)?
            .execute_stream()
            .await
            .map_err(QueryError::from)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(QueryError::from)?;
            let text = |i: usize| {
                cast(batch.column(i), &DataType::Utf8)
                    .map_err(|e| QueryError::Format(e.to_string()))
            };
            let (ids, uris, versions) = (text(0)?, text(1)?, text(2)?);
            let (ids, uris, versions) = (
                ids.as_string::<i32>(),
                uris.as_string::<i32>(),
                versions.as_string::<i32>(),
            );
            report.curated_rows += batch.num_rows() as u64;
            for row in 0..batch.num_rows() {
                let id = (!ids.is_null(row))
                    .then(|| parse_id(ids.value(row)))
                    .flatten();
                match id {
                    // Matched to its source record (or found to have none) in the tally.
                    Some(id) => index.add_curated(id, text_at(uris, row), text_at(versions, row)),
                    None => {
                        let key = (
                            text_at(uris, row).to_owned(),
                            text_at(versions, row).to_owned(),
                        );
                        *report.unexpected.entry(key).or_default() += 1;
                    }
                }
            }
            index.spill_if_full().await?;
        }
    }
    Ok(())
}

/// A row's text, empty when null.
fn text_at(column: &StringArray, row: usize) -> &str {
    if column.is_valid(row) {
        column.value(row)
    } else {
        ""
    }
}
