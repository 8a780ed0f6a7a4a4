//! `feedpipe ingest`: the ingest core over local paths or s3:// URLs.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use clap::Args;
use feedpipe_convert::source_key;
use feedpipe_ingest::kinesis::KinesisSink;
use feedpipe_ingest::pack::{DEFAULT_PACK_BYTES, MAX_PACK_BYTES};
use feedpipe_ingest::sink::{RecordSink, RetryPolicy};
use feedpipe_ingest::{IngestConfig, IngestJob, IngestSummary};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{StorageLocation, feed_version};
use feedpipe_standins::InProcessStream;
use object_store::ObjectStoreExt;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Feed files: local paths or s3://bucket/key URLs.
    #[arg(required = true, value_name = "FEED")]
    files: Vec<String>,
    /// The feeds file (TOML) of a deployment with many feeds: each file goes with its
    /// feed's partition key, by the longest prefix of its key; a file of no feed is
    /// quarantined whole and fails the run.
    #[arg(
        long = "feeds",
        value_name = "FILE",
        env = "FEEDPIPE_FEEDS_URL",
        conflicts_with = "partition_key"
    )]
    feeds_file: Option<String>,
    /// With --feeds, for files that are not s3:// URLs: the folder the feeds' prefixes
    /// are relative to.
    #[arg(long, requires = "feeds_file")]
    source_root: Option<String>,
    /// Kinesis data stream name or ARN.
    #[arg(
        long,
        env = "FEEDPIPE_STREAM_NAME",
        required_unless_present = "in_process_shards"
    )]
    stream: Option<String>,
    /// Send to an in-process stream with this many shards instead of Kinesis (no AWS needed).
    #[arg(long, conflicts_with = "stream")]
    in_process_shards: Option<usize>,
    /// Record field used as partition key (the record id when absent).
    #[arg(long, env = "FEEDPIPE_PARTITION_KEY_FIELD")]
    partition_key: Option<String>,
    /// Where rejected records go (local folder or s3:// URL).
    #[arg(long, env = "FEEDPIPE_QUARANTINE_URL", default_value = "quarantine")]
    quarantine: String,
    /// S3 version id of the feed to read (one feed only).
    #[arg(long)]
    version: Option<String>,
    /// Attempts per record before giving up.
    #[arg(long, env = "FEEDPIPE_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=20))]
    max_attempts: u32,
    /// PutRecords calls in flight at once.
    #[arg(long, env = "FEEDPIPE_MAX_IN_FLIGHT", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    max_in_flight: u64,
    /// Pack framed records into Kinesis records of up to this many bytes (data plus
    /// partition key) to pay for less rounding; 0 sends each record alone.
    #[arg(long, env = "FEEDPIPE_PACK_BYTES", default_value_t = DEFAULT_PACK_BYTES, value_parser = parse_pack_bytes)]
    pack_bytes: usize,
}

/// `--pack-bytes`: 0 to Firehose's 1,000 KiB record limit.
pub fn parse_pack_bytes(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_PACK_BYTES => Ok(n),
        _ => Err(format!(
            "expected a whole number of bytes from 0 (no packing) to {MAX_PACK_BYTES} (Firehose's 1,000 KiB record limit)"
        )),
    }
}

/// `--source-root` (ingest and convert with `--feeds`): the folder URI that source
/// keys are taken relative to.
pub fn source_root(root: Option<&str>) -> anyhow::Result<Option<String>> {
    root.map(|root| {
        StorageLocation::parse(root)
            .map(|l| l.folder_uri())
            .with_context(|| format!("bad --source-root {root}"))
    })
    .transpose()
}

pub async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if args.version.is_some() && args.files.len() > 1 {
        anyhow::bail!("--version names one object version: give one feed with it");
    }
    let sink: Arc<dyn RecordSink> = match (&args.stream, args.in_process_shards) {
        (_, Some(shards)) => Arc::new(InProcessStream::new("in-process", shards)),
        (Some(stream), None) => {
            let aws = aws_config::defaults(BehaviorVersion::latest())
                .retry_config(RetryConfig::disabled())
                .load()
                .await;
            Arc::new(KinesisSink::new(aws_sdk_kinesis::Client::new(&aws), stream))
        }
        (None, None) => anyhow::bail!("give --stream NAME or --in-process-shards N"),
    };
    let quarantine_location = StorageLocation::parse(&args.quarantine)
        .with_context(|| format!("bad --quarantine {}", args.quarantine))?;
    let config = IngestConfig {
        partition_key_field: args.partition_key.clone(),
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        },
        max_in_flight: args.max_in_flight as usize,
        pack_bytes: args.pack_bytes,
        ..IngestConfig::default()
    };
    let job = IngestJob::new(
        sink,
        Arc::new(ObjectStoreQuarantine::new(quarantine_location)),
        config,
    );
    let feeds = match &args.feeds_file {
        Some(url) => Some(FeedsFile::load(url).await?),
        None => None,
    };
    let source_root = source_root(args.source_root.as_deref())?;
    let mut total = IngestSummary::default();
    let mut failed = 0;
    for feed in &args.files {
        let location =
            StorageLocation::parse(feed).with_context(|| format!("bad feed location {feed}"))?;
        let job = match &feeds {
            None => job.clone(),
            Some(feeds) => {
                let uri = location.uri();
                let key = source_key(&uri, source_root.as_deref()).with_context(|| {
                    format!("{uri} is not under --source-root; give the folder the feeds' prefixes are relative to")
                })?;
                match feeds.route(key) {
                    Some(spec) => job.with_partition_key(spec.partition_key.clone()),
                    None => {
                        let meta = location
                            .store
                            .head(&location.path)
                            .await
                            .with_context(|| format!("cannot read {uri}"))?;
                        let source = SourceObject {
                            version: feed_version(&location, &meta, args.version.as_deref())
                                .await?,
                            uri: uri.clone(),
                        };
                        let written = job.quarantine_unrouted(&source, key, &feeds.origin).await?;
                        failed += 1;
                        eprintln!(
                            "error: {}: no feed for key `{key}` in {}; quarantined whole ({})",
                            source.uri,
                            feeds.origin,
                            written.join(", ")
                        );
                        continue;
                    }
                }
            }
        };
        match job.run(&location, args.version.as_deref()).await {
            Ok(summary) => total += summary,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    println!(
        "{} file(s): {} records read, {} sent in {} Kinesis records, {} quarantined; {} PutRecords calls ({} retries), {} bytes sent",
        total.files,
        total.records_read,
        total.records_sent,
        total.kinesis_records,
        total.records_quarantined,
        total.put_calls,
        total.retry_calls,
        total.bytes_sent
    );
    for q in &total.quarantine_objects {
        println!("quarantine: {q}");
    }
    if failed > 0 {
        eprintln!("{failed} feed(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
