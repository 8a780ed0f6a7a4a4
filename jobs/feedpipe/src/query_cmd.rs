//! `feedpipe query`: DataFusion SQL over the curated Parquet, the local stand-in for
//! querying the Snowflake table. Each table folder under `--data` is a table of that
//! name, with `dt` as a `DATE` partition column.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use feedpipe_shared::storage::StorageLocation;
use feedpipe_warehouse::{OutputFormat, Warehouse, render};

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Curated root (local folder or s3:// URL); after `feedpipe local` it is feedpipe-local/curated.
    #[arg(
        long,
        env = "FEEDPIPE_CURATED_URL",
        default_value = "feedpipe-local/curated"
    )]
    data: String,
    /// Output: table (aligned), csv or json.
    #[arg(long, default_value = "table")]
    format: OutputFormat,
    /// The SQL (for example: SELECT dt, count(*) FROM feed GROUP BY dt ORDER BY dt).
    sql: String,
}

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let curated =
        StorageLocation::parse(&args.data).with_context(|| format!("bad --data {}", args.data))?;
    let warehouse = Warehouse::open(&curated).await?;
    if warehouse.tables().is_empty() {
        anyhow::bail!(
            "no tables under {}: each table is a folder of Parquet files (run `feedpipe local` or `feedpipe convert` first)",
            curated.uri()
        );
    }
    let batches = warehouse.sql(&args.sql).await.with_context(|| {
        format!(
            "tables under {}: {}",
            curated.uri(),
            warehouse.tables().join(", ")
        )
    })?;
    let text = render(&batches, args.format)?;
    print!("{text}");
    if args.format == OutputFormat::Table {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
