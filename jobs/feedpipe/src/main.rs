//! `feedpipe`: the command line of the pipeline.
//!
//! - `feedpipe ingest FEED... --stream NAME`: the ingest core from the command line,
//!   into a Kinesis stream (the standard AWS environment, `AWS_ENDPOINT_URL` included)
//!   or, with `--in-process-shards N`, into an in-process stream (no AWS at all).
//! - `feedpipe convert --input URL --output URL`: raw JSON to curated Parquet (backfill).
//! - `feedpipe local`: the whole pipeline on this machine (folders as buckets, an
//!   in-process stream, a Firehose stand-in, DataFusion as the warehouse).
//! - `feedpipe query --data URL SQL`: SQL over the curated Parquet.
//! - `feedpipe reconcile --source URL --curated URL --quarantine URL`: proves every
//!   source record is loaded once or quarantined.
//! - `feedpipe schema infer SAMPLE` / `feedpipe schema sql CONTRACT`: schema contracts;
//!   `feedpipe schema diff OLD NEW` / `feedpipe schema suggest --curated URL --table T`:
//!   their evolution.
//! - `feedpipe sql render --feeds FILE --out DIR`: the Snowflake scripts of many feeds.
//! - `feedpipe gen --rows N --out FILE`: the sample feed of the README and benchmarks.
//! - `feedpipe cost --gb-per-day N …` or `--workdir DIR`: the monthly bill per hop.

mod convert_cmd;
mod cost;
mod distributed;
mod gen_cmd;
mod ingest_cmd;
mod local;
mod query_cmd;
mod reconcile_cmd;
mod schema_cmd;
mod sql_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// feedpipe: customer feed files → Kinesis → raw JSON → Parquet → Snowflake.
#[derive(Debug, Parser)]
#[command(name = "feedpipe", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stream feed files (local paths or s3:// URLs) into a Kinesis data stream.
    Ingest(ingest_cmd::IngestArgs),
    /// Convert raw JSON objects (one, or all under a prefix) to curated Parquet: manual backfill.
    Convert(convert_cmd::ConvertArgs),
    /// Run the whole pipeline on this machine: folders as buckets, an in-process stream, DataFusion as the warehouse.
    Local(local::LocalArgs),
    /// SQL over the curated Parquet (each table folder is a table, `dt` a partition column).
    Query(query_cmd::QueryArgs),
    /// Prove that every source record is in the curated Parquet once or in the quarantine.
    Reconcile(reconcile_cmd::ReconcileArgs),
    /// Schema contracts: infer one from sample data, print its Snowflake table, follow or refuse its change, propose columns from _extra.
    Schema(schema_cmd::SchemaArgs),
    /// Snowflake scripts: render the schemachange folder of a deployment with many feeds.
    Sql(sql_cmd::SqlArgs),
    /// Write a realistic, deterministic sample feed.
    Gen(gen_cmd::GenArgs),
    /// The pipeline's monthly bill for a feed profile, hop by hop, packed and not.
    Cost(cost::CostArgs),
}

/// mimalloc: the conversion allocates per record (cells, field lists); about 10%
/// faster than the system allocator (jobs/convert/examples/convert_dir.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FEEDPIPE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,feedpipe_convert=warn,aws_config=warn,aws_smithy_runtime=warn",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Ingest(args) => ingest_cmd::run(args).await,
            Command::Gen(args) => gen_cmd::run(args),
            Command::Convert(args) => convert_cmd::run(args).await,
            Command::Local(args) => local::run(args).await,
            Command::Query(args) => query_cmd::run(args).await,
            Command::Reconcile(args) => reconcile_cmd::run(args).await,
            Command::Schema(args) => schema_cmd::run(args).await,
            Command::Sql(args) => sql_cmd::run(args).await,
            Command::Cost(args) => cost::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
