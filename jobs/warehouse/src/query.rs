//! `Warehouse`: DataFusion SQL over the curated Parquet, the local stand-in for "query
//! the Snowflake table".
//!
//! Each folder under the curated root is a table of the same name (`_manifests` and
//! other `_`-prefixed folders are not), read as a listing table of its `*.parquet`
//! files with `dt` (the `dt=YYYY-MM-DD` folders) as a `DATE` partition column, so a
//! `WHERE dt = '2026-11-01'` only opens that day's files. Works on local folders and
//! on `s3://` (through the same `object_store` as the rest of the pipeline).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use feedpipe_shared::storage::StorageLocation;
use url::Url;

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The curated root could not be listed.
    #[error("cannot list tables under {uri}: {source}")]
    List {
        /// The curated root.
        uri: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// DataFusion refused the table or the SQL.
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// The result could not be printed.
    #[error("cannot format the result: {0}")]
    Format(String),
}

/// Output formats of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown format `{other}` (table, csv or json)")),
        }
    }
}

/// A DataFusion session with every table under a curated root registered.
pub struct Warehouse {
    ctx: SessionContext,
    tables: Vec<String>,
}

impl Warehouse {
    /// Registers each table folder under `curated`.
    pub async fn open(curated: &StorageLocation) -> Result<Self, QueryError> {
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        let root = curated.uri();
        let root = if root.ends_with('/') {
            root
        } else {
            format!("{root}/")
        };
        if curated.is_s3()
            && let Ok(url) = Url::parse(&root)
            && let Some(bucket) = url.host_str()
            && let Ok(bucket_url) = Url::parse(&format!("s3://{bucket}"))
        {
            ctx.register_object_store(&bucket_url, Arc::clone(&curated.store));
        }
        let listing = curated.store.list_with_delimiter(Some(&curated.path)).await;
        let listing = match listing {
            Ok(l) => l,
            // A local root that does not exist yet holds no tables.
            Err(object_store::Error::NotFound { .. }) => {
                return Ok(Self {
                    ctx,
                    tables: Vec::new(),
                });
            }
            Err(source) => return Err(QueryError::List { uri: root, source }),
        };
        let mut tables = Vec::new();
        for prefix in listing.common_prefixes {
            let Some(name) = prefix.filename() else {
                continue;
            };
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("dt".to_owned(), DataType::Date32)]);
            let url = format!("{root}{name}/");
            ctx.register_listing_table(name, &url, options, None, None)
                .await?;
            tables.push(name.to_owned());
        }
        tables.sort();
        Ok(Self { ctx, tables })
    }

    /// The tables registered.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// The DataFusion session (for callers that need more than [`Warehouse::sql`]).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs `sql` and collects the result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }
}

/// Renders `batches` in `format`.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String, QueryError> {
    let err = |e: datafusion::arrow::error::ArrowError| QueryError::Format(e.to_string());
    match format {
        OutputFormat::Table => datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .map(|t| t.to_string())
            .map_err(err),
        OutputFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in batches {
                    writer.write(batch).map_err(err)?;
                }
            }
            String::from_utf8(out).map_err(|e| QueryError::Format(e.to_string()))
        }
        OutputFormat::Json => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                writer.write_batches(&refs).map_err(err)?;
                writer.finish().map_err(err)?;
            }
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
            String::from_utf8(out).map_err(|e| QueryError::Format(e.to_string()))
        }
    }
}
