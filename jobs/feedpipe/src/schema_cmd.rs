//! `feedpipe schema infer|sql`: write a schema contract from sample data, and print
//! the Snowflake table that matches a contract.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use feedpipe_convert::contract::{SchemaContract, infer};
use feedpipe_ingest::reader::{FeedItem, FeedReader, open_feed};

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Infer a contract from a sample feed (JSON lines or array, gzip or not).
    Infer {
        /// The sample feed.
        sample: PathBuf,
        /// Table name in the contract.
        #[arg(long, default_value = "feed")]
        table: String,
        /// Records to read from the sample at most.
        #[arg(long, default_value_t = 100_000)]
        sample_rows: u64,
        /// Write the contract here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the Snowflake CREATE TABLE matching a contract.
    Sql {
        /// The contract (JSON).
        contract: PathBuf,
    },
}

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SchemaCommand::Infer {
            sample,
            table,
            sample_rows,
            out,
        } => {
            let file = std::fs::File::open(&sample)
                .with_context(|| format!("cannot open {}", sample.display()))?;
            let feed =
                open_feed(file).with_context(|| format!("cannot read {}", sample.display()))?;
            let mut reader = FeedReader::new(feed, 16 << 20)
                .with_context(|| format!("cannot read {}", sample.display()))?;
            let mut records = Vec::new();
            let mut bad = 0u64;
            while (records.len() as u64) < sample_rows {
                match reader
                    .next_item()
                    .with_context(|| format!("cannot read {}", sample.display()))?
                {
                    Some(FeedItem::Record { bytes, .. }) => records.push(bytes.to_vec()),
                    Some(FeedItem::Bad { .. }) => bad += 1,
                    None => break,
                }
            }
            let inferred = infer(&table, records.iter().map(Vec::as_slice))
                .with_context(|| format!("cannot infer a contract from {}", sample.display()))?;
            let contract = inferred.contract;
            contract.validate()?;
            match out {
                Some(path) => {
                    std::fs::write(&path, contract.to_json())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "wrote {} ({} columns from {} records; {} lines skipped as not JSON objects)",
                        path.display(),
                        contract.columns.len(),
                        inferred.used,
                        bad + inferred.skipped
                    );
                }
                None => print!("{}", contract.to_json()),
            }
        }
        SchemaCommand::Sql { contract } => {
            let text = std::fs::read_to_string(&contract)
                .with_context(|| format!("cannot read {}", contract.display()))?;
            let parsed = SchemaContract::from_json(&text)
                .with_context(|| format!("in {}", contract.display()))?;
            print!("{}", parsed.snowflake_table_sql());
        }
    }
    Ok(ExitCode::SUCCESS)
}
