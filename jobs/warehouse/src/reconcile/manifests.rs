//! Step 5: every Parquet file a manifest lists exists with the rows it says.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::parquet;
use datafusion::parquet::arrow::async_reader::MetadataFetch;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use feedpipe_convert::Manifest;
use feedpipe_shared::storage::StorageLocation;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::report::Report;
use super::{ReconcileError, list, read_whole};

/// Checks the manifests under `<curated>/_manifests/`.
pub(super) async fn check_manifests(
    curated: &StorageLocation,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let manifests = curated.at(curated.join("_manifests"));
    // A compacted group's manifest is written once per input: check its files once.
    let mut checked = HashSet::new();
    for meta in list(&manifests).await? {
        if !meta.location.as_ref().ends_with(".json") {
            continue;
        }
        let (uri, bytes) = read_whole(curated, &meta.location).await?;
        report.manifests += 1;
        let manifest: Manifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                report
                    .manifest_problems
                    .push(format!("{uri}: not a manifest: {e}"));
                continue;
            }
        };
        for output in &manifest.outputs {
            if !checked.insert(output.uri.clone()) {
                continue;
            }
            let Some(relative) = output.uri.strip_prefix(&curated.uri()) else {
                report.manifest_problems.push(format!(
                    "{uri}: lists {} outside {}",
                    output.uri,
                    curated.uri()
                ));
                continue;
            };
            match parquet_rows(curated, &curated.join(relative)).await {
                Ok(rows) if rows == output.rows => {}
                Ok(rows) => report.manifest_problems.push(format!(
                    "{}: {rows} rows, the manifest {uri} says {}",
                    output.uri, output.rows
                )),
                Err(e) => report.manifest_problems.push(format!(
                    "{}: listed in {uri} but unreadable: {e}",
                    output.uri
                )),
            }
        }
    }
    Ok(())
}

/// Rows in a Parquet file, from its footer: parquet's own metadata reader over range
/// reads (a HEAD and the footer, not the whole file).
async fn parquet_rows(location: &StorageLocation, path: &Path) -> Result<u64, String> {
    let size = location
        .store
        .head(path)
        .await
        .map_err(|e| e.to_string())?
        .size;
    let ranges = RangeReads { location, path };
    let metadata = ParquetMetaDataReader::new()
        .load_and_finish(ranges, size)
        .await
        .map_err(|e| e.to_string())?;
    Ok(metadata.file_metadata().num_rows() as u64)
}

/// Range reads of one object, as the metadata reader asks for them.
struct RangeReads<'a> {
    location: &'a StorageLocation,
    path: &'a Path,
}

impl MetadataFetch for RangeReads<'_> {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let (store, path) = (Arc::clone(&self.location.store), self.path.clone());
        async move {
            store
                .get_range(&path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}
