//! `feedpipe local`: the whole pipeline on one machine, no AWS account needed.
//!
//! Folders stand in for the buckets (`DIR/source`, `DIR/raw`, `DIR/curated`,
//! `DIR/quarantine`), an in-process stream with Kinesis semantics for Kinesis, the
//! [`Firehose`] delivery loop for Firehose, and DataFusion over the curated Parquet for
//! the Snowflake table. The ingest and conversion cores are the ones the Lambdas run:
//!
//! source file → ingest core → in-process stream → Firehose stand-in (buffering hints,
//! `YYYY/MM/DD/HH/…` keys under `DIR/raw`) → conversion core, once per raw object as
//! the raw-to-parquet Lambda → `DIR/curated/<table>/dt=…/*.parquet` → `query`.
//!
//! Re-running is safe. A source file is ingested once per version: a ledger entry in
//! `DIR/state/ingested/` is written only when every record of the file is in a raw
//! object (the Firehose checkpoints have passed it), so a run killed before that
//! ingests the file again ([`ledger`]). Raw objects without a conversion manifest (a
//! run killed between the hops) are converted first, as a backfill plan of one object
//! per group ([`feedpipe_convert::backfill`]). Every run ends with `reconcile`.
//!
//! This module wires the run; [`workdir`] holds the folders and staging, [`contract`]
//! the choice of contract, [`ingest`] and [`watch`] the source side, [`convert`] the
//! raw-to-parquet side, and [`report`] what is printed at the end.

mod contract;
mod convert;
mod ingest;
mod ledger;
mod report;
mod resume;
mod watch;
mod workdir;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use feedpipe_convert::backfill::{self, PlanOptions};
use feedpipe_convert::{ConvertConfig, Converter, FeedConverter, RawInput};
use feedpipe_ingest::pack::DEFAULT_PACK_BYTES;
use feedpipe_ingest::{IngestConfig, IngestJob};
use feedpipe_shared::feed::listing::list_feeds;
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_standins::firehose::{DeliveredObject, Firehose, FirehoseConfig};
use feedpipe_standins::{InProcessStream, ShardLimits};
use tokio::sync::mpsc;

use contract::{choose_contract, feed_contracts};
use convert::{ConvertStats, convert_one};
use ingest::SourceIngest;
use ledger::Ledger;
use report::RunReport;
use watch::watch_source;
use workdir::{Dirs, location, stage_feeds};

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Feed files to copy into the source folder (sample data is generated when none are given).
    #[arg(value_name = "FEED")]
    files: Vec<PathBuf>,
    /// The feeds file (TOML) of several feeds: the files under DIR/source/<prefix> go
    /// to that feed's table, with its contract (one inferred from its files and
    /// written to DIR/contracts/<table>.json when it names none) and partition key;
    /// a file of no feed is quarantined whole. No sample data is generated.
    #[arg(long = "feeds", value_name = "FILE", conflicts_with_all = ["table", "schema"])]
    feeds_file: Option<PathBuf>,
    /// Working folder holding the local "buckets".
    #[arg(long, default_value = "feedpipe-local")]
    workdir: PathBuf,
    /// Table name (the curated folder and the query table); default: the contract's, else `feed`.
    #[arg(long)]
    table: Option<String>,
    /// Schema contract (JSON). Without it: DIR/schema.json if an earlier run inferred
    /// one, the built-in sample contract if the feeds fit it, else one inferred now.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Rows of sample data to generate when no feed is given.
    #[arg(long, default_value_t = 10_000)]
    rows: u64,
    /// Shards of the in-process stream.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Record field used as partition key.
    #[arg(long, default_value = "customer_id")]
    partition_key: String,
    /// Firehose buffering hint: MiB buffered before an object is written (1 to 128).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=128))]
    buffer_mib: u64,
    /// Firehose buffering hint: seconds a record waits at most before its object is written (0 to 900).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=900))]
    buffer_seconds: u64,
    /// Gzip the raw objects, as Firehose's GZIP compression does.
    #[arg(long)]
    gzip: bool,
    /// Each shard takes at most what a provisioned Kinesis shard takes (1 MiB and
    /// 1,000 records a second) and answers the rest
    /// ProvisionedThroughputExceededException, which the ingest retries.
    #[arg(long)]
    shard_limits: bool,
    /// Pack framed records into Kinesis records of up to this many bytes (data plus
    /// partition key), as the ingest Lambda does; 0 sends each record alone.
    #[arg(long, env = "FEEDPIPE_PACK_BYTES", default_value_t = DEFAULT_PACK_BYTES, value_parser = crate::ingest_cmd::parse_pack_bytes)]
    pack_bytes: usize,
    /// Keep running: files dropped into DIR/source flow through as they arrive; Ctrl-C stops.
    #[arg(long)]
    watch: bool,
    /// With --watch: a file is taken once its size and modification time have not
    /// changed for this many seconds (write to NAME.part and rename it when done to
    /// have it taken at once).
    #[arg(long, default_value_t = 5.0, value_parser = parse_settle)]
    settle_seconds: f64,
}

/// `--settle-seconds`: a number of seconds, 0 to 3600.
fn parse_settle(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds from 0 to 3600")),
    }
}

pub async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dirs = Dirs::new(&args.workdir)?;
    let feeds = match &args.feeds_file {
        Some(path) => Some(Arc::new(FeedsFile::read(path)?)),
        None => None,
    };
    let sample_rows = feeds.is_none().then_some(args.rows);
    stage_feeds(&args.files, sample_rows, &dirs)?;
    let source = location(&dirs.source)?;
    let source_root = source.folder_uri();
    let listing = list_feeds(&source).await?;
    let files: Vec<_> = listing.feeds.iter().map(|(l, _)| l.clone()).collect();
    let contracts = match &feeds {
        None => {
            let (contract, note) = choose_contract(&args, &dirs, &files).await?;
            println!(
                "feedpipe local: workdir {}, table `{}`, {note}",
                dirs.root.display(),
                contract.table
            );
            vec![contract]
        }
        Some(feeds) => {
            let (contracts, notes) = feed_contracts(feeds, &dirs, &files, &source_root).await?;
            println!(
                "feedpipe local: workdir {}, {} feed(s) of {}:",
                dirs.root.display(),
                contracts.len(),
                feeds.origin
            );
            for note in notes {
                println!("  {note}");
            }
            contracts
        }
    };

    let quarantine = Arc::new(ObjectStoreQuarantine::new(location(&dirs.quarantine)?));
    let raw = location(&dirs.raw)?;
    let curated = location(&dirs.curated)?;
    let mut converters: Vec<Converter> = contracts
        .iter()
        .map(|contract| {
            Converter::new(
                contract.clone(),
                curated.clone(),
                quarantine.clone(),
                ConvertConfig::default(),
            )
        })
        .collect();
    let converter = match &feeds {
        Some(feeds) => FeedConverter::routed(feeds, converters, Some(source_root.clone()), None)
            .map_err(anyhow::Error::msg)?,
        None => FeedConverter::single(converters.remove(0)),
    };

    // Raw objects an earlier run wrote but did not convert (killed between the hops).
    let mut convert_stats = ConvertStats::default();
    let catch_up = backfill::prepare(&converter, &raw, &PlanOptions::default()).await?;
    if !catch_up.groups.is_empty() {
        println!(
            "catch-up: {} raw object(s) from an earlier run without a manifest",
            catch_up.objects()
        );
        for group in &catch_up.groups {
            convert_one(
                &converter,
                &backfill::inputs(&raw, group),
                &mut convert_stats,
                true,
            )
            .await;
        }
    }

    // Files an earlier run was ingesting when it stopped: what of them is in raw objects
    // already (read before this run's stand-in writes any).
    let interrupted = Ledger::interrupted(&dirs.ledger)?;
    let resume = resume::delivered_lines(&raw, &interrupted).await?;

    // The ingest waits while the stream holds more than a few Firehose buffers not yet
    // written: memory stays bounded however far the ingest could run ahead.
    let buffer_bytes = (args.buffer_mib * 1024 * 1024) as usize;
    let mut stream = InProcessStream::new("feedpipe-local", args.shards)
        .with_retention_limit((4 * buffer_bytes).max(32 * 1024 * 1024));
    if args.shard_limits {
        stream = stream.with_shard_limits(ShardLimits::KINESIS);
    }
    let stream = Arc::new(stream);
    let firehose = Firehose::new(
        stream.clone(),
        raw.clone(),
        FirehoseConfig {
            delivery_stream: "feedpipe-local".into(),
            prefix: String::new(),
            buffer_bytes,
            buffer_interval: Duration::from_secs(args.buffer_seconds),
            gzip: args.gzip,
            ..FirehoseConfig::default()
        },
    )
    .await?;
    let checkpoints = firehose.checkpoints();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (raw_tx, mut raw_rx) = mpsc::channel::<DeliveredObject>(64);
    let delivery_started = Instant::now();
    let firehose_task = tokio::spawn(async move {
        let result = firehose.run(stop_rx, raw_tx).await;
        (result, delivery_started.elapsed())
    });
    // The raw-to-parquet "Lambda": one conversion per raw object written.
    let verbose = args.watch;
    let convert_task = tokio::spawn({
        let converter = converter.clone();
        let raw_root = raw.folder_uri();
        async move {
            let mut stats = convert_stats;
            while let Some(object) = raw_rx.recv().await {
                if verbose {
                    let uri = object.location.uri();
                    println!(
                        "  firehose {} record(s) → raw/{}",
                        object.records,
                        uri.strip_prefix(&raw_root).unwrap_or(&uri)
                    );
                }
                let input = RawInput {
                    location: object.location,
                    version_id: None,
                    listed_version: None,
                    e_tag: None,
                };
                convert_one(&converter, &[input], &mut stats, verbose).await;
            }
            stats
        }
    });

    let job = IngestJob::new(
        stream.clone(),
        quarantine.clone(),
        IngestConfig {
            partition_key_field: match feeds {
                None => Some(args.partition_key.clone()),
                // Each feed's own (see `SourceIngest::ingest`).
                Some(_) => None,
            },
            pack_bytes: args.pack_bytes,
            ..Default::default()
        },
    );
    let ledger = Ledger::new(dirs.ledger.clone(), checkpoints);
    let ingest_stream = Arc::clone(&stream);
    let mut ingest = SourceIngest::new(job, stream, ledger, &source, resume, feeds.clone());
    println!(
        "\ningest: {} file(s) in {} → in-process stream of {} shards{} → Firehose stand-in ({} MiB / {} s buffers{}) → {}",
        files.len(),
        dirs.source.display(),
        args.shards,
        if args.shard_limits {
            " (Kinesis shard limits: 1 MiB and 1,000 records a second each)"
        } else {
            ""
        },
        args.buffer_mib,
        args.buffer_seconds,
        if args.gzip { ", gzip" } else { "" },
        dirs.raw.display()
    );
    ingest.skipped(&listing);
    for (file, meta) in &listing.feeds {
        ingest.ingest(file, meta, verbose).await?;
    }
    if args.watch {
        println!(
            "watching {} (drop feed files there; Ctrl-C to stop)",
            dirs.source.display()
        );
        watch_source(
            &source,
            &mut ingest,
            Duration::from_secs_f64(args.settle_seconds),
        )
        .await?;
        println!("stopping: writing what is buffered");
    }

    // Stop the delivery loop: it writes what is buffered, then the converter drains.
    let _ = stop_tx.send(true);
    let (delivery, delivery_time) = firehose_task.await?;
    let delivery = delivery.context("the Firehose stand-in failed")?;
    let convert_stats = convert_task.await?;
    ingest.ledger.write_durable().await?;
    if args.shard_limits {
        println!(
            "shard limits: {} record(s) answered ProvisionedThroughputExceededException and sent again",
            ingest_stream.throttled_records()
        );
    }

    RunReport {
        dirs: &dirs,
        contracts: &contracts,
        feeds: feeds.as_deref(),
        curated: &curated,
        ingested: &ingest.files,
        skipped: &ingest.skipped,
        delivery: &delivery,
        delivery_time,
        convert: &convert_stats,
        started,
    }
    .print()
    .await
}
