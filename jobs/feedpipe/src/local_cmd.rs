//! `feedpipe local`: the pipeline on one machine, no AWS account needed.
//!
//! Folders stand in for the buckets (`DIR/source`, `DIR/quarantine`) and an
//! in-process stream with Kinesis semantics stands in for Kinesis; the ingest core is
//! the same one the Lambda runs. This first version runs the first hop (source →
//! stream) and reports, per file, records read / delivered / quarantined; the Firehose
//! stand-in, the conversion to Parquet and the warehouse table come next.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use feedpipe_ingest::stream::InProcessStream;
use feedpipe_ingest::{IngestConfig, IngestJob};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::StorageLocation;

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Feed files to copy into the source folder (sample data is generated when none are given).
    feeds: Vec<PathBuf>,
    /// Working folder holding the local "buckets".
    #[arg(long, default_value = "feedpipe-local")]
    workdir: PathBuf,
    /// Rows of sample data to generate when no feed is given.
    #[arg(long, default_value_t = 10_000)]
    rows: u64,
    /// Shards of the in-process stream.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Record field used as partition key.
    #[arg(long, default_value = "customer_id")]
    partition_key: String,
}

pub async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let source = args.workdir.join("source");
    let quarantine = args.workdir.join("quarantine");
    for dir in [&source, &quarantine] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if args.feeds.is_empty() {
        let sample = source.join("sample-orders.jsonl");
        if !sample.exists() {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&sample)?);
            let options = SampleOptions {
                rows: args.rows,
                bad_rate: 0.005,
                ..Default::default()
            };
            let stats = write_feed(&mut file, &options)?;
            std::io::Write::flush(&mut file)?;
            println!(
                "generated {}: {} records, {} malformed lines",
                sample.display(),
                stats.good,
                stats.bad
            );
        }
    }
    for feed in &args.feeds {
        let name = feed
            .file_name()
            .with_context(|| format!("{} is not a file", feed.display()))?;
        std::fs::copy(feed, source.join(name))
            .with_context(|| format!("cannot copy {}", feed.display()))?;
    }

    let stream = Arc::new(InProcessStream::new("feedpipe-local", args.shards));
    let quarantine_location = StorageLocation::parse(path_str(&quarantine)?)?;
    let config = IngestConfig {
        partition_key_field: Some(args.partition_key.clone()),
        ..Default::default()
    };
    let job = IngestJob::new(
        stream.clone(),
        Arc::new(ObjectStoreQuarantine::new(quarantine_location)),
        config,
    );

    let mut files: Vec<PathBuf> = std::fs::read_dir(&source)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    println!(
        "\ningest: {} file(s) from {} into an in-process stream of {} shards",
        files.len(),
        source.display(),
        args.shards
    );
    println!(
        "{:<40} {:>10} {:>10} {:>12} {:>10}",
        "file", "read", "delivered", "quarantined", "ms"
    );
    let mut unaccounted = 0u64;
    let mut failed = 0usize;
    let ingest_started = Instant::now();
    for file in &files {
        let t = Instant::now();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match job
            .run(&StorageLocation::parse(path_str(file)?)?, None)
            .await
        {
            Ok(s) => {
                unaccounted += s.records_read - s.records_sent - s.records_quarantined;
                println!(
                    "{:<40} {:>10} {:>10} {:>12} {:>10}",
                    name,
                    s.records_read,
                    s.records_sent,
                    s.records_quarantined,
                    t.elapsed().as_millis()
                );
            }
            Err(e) => {
                failed += 1;
                println!("{name:<40} failed: {e}");
            }
        }
    }
    let ingest_ms = ingest_started.elapsed().as_millis();
    let lengths = stream.lengths();
    println!(
        "\nstream: {} records over {} shards {:?}; ingest took {} ms, all stages {} ms",
        lengths.iter().sum::<usize>(),
        lengths.len(),
        lengths,
        ingest_ms,
        started.elapsed().as_millis()
    );
    println!("quarantine: {}", quarantine.display());
    if failed > 0 || unaccounted > 0 {
        eprintln!("error: {failed} file(s) failed, {unaccounted} record(s) unaccounted for");
        return Ok(ExitCode::FAILURE);
    }
    println!("every record accounted for: read = delivered + quarantined");
    Ok(ExitCode::SUCCESS)
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}
