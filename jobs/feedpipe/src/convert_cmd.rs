//! `feedpipe convert`: manual backfill of raw JSON into curated Parquet, over one raw
//! object or every object under a prefix: small raw objects are compacted into
//! Parquet files of about `--target-file-size`, groups run in parallel, a stopped run
//! resumes (objects whose manifest is there are skipped), with a progress bar on a
//! terminal and plain progress lines otherwise.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use feedpipe_convert::backfill::{self, PlanOptions};
use feedpipe_convert::contract;
use feedpipe_convert::{Codec, ConvertConfig, Converter, FeedConverter, Manifest};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::quarantine::{ObjectStoreQuarantine, Quarantine};
use feedpipe_shared::storage::StorageLocation;
use futures::StreamExt;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Raw object or prefix (local path or s3:// URL).
    #[arg(long)]
    input: String,
    /// Curated root: Parquet goes to <output>/<table>/dt=YYYY-MM-DD/, manifests to <output>/_manifests/.
    #[arg(
        long,
        env = "FEEDPIPE_CURATED_URL",
        required_unless_present = "distributed"
    )]
    output: Option<String>,
    /// Schema contract (JSON; a local path or s3:// URL); the sample feed's contract when absent.
    #[arg(long, conflicts_with = "feeds")]
    schema: Option<String>,
    /// The feeds file (TOML; a local path or s3:// URL) of a deployment with many
    /// feeds: each record goes to its feed's table and contract, by its source key.
    #[arg(long, env = "FEEDPIPE_FEEDS_URL")]
    feeds: Option<String>,
    /// With --feeds: convert only this table's records (the others' are left alone).
    #[arg(long, requires = "feeds")]
    table: Option<String>,
    /// With --feeds, for sources that are not s3:// URLs: the source folder the feeds'
    /// prefixes are relative to (`feedpipe local`'s DIR/source).
    #[arg(long, requires = "feeds")]
    source_root: Option<String>,
    /// Where records that do not fit go.
    #[arg(long, env = "FEEDPIPE_QUARANTINE_URL", default_value = "quarantine")]
    quarantine: String,
    /// Only raw objects from this time on (RFC 3339 or YYYY-MM-DD; by the raw/YYYY/MM/DD/HH key, else last modified).
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only raw objects before this time.
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Objects converted at once (default: the machine's cores).
    #[arg(long)]
    parallel: Option<usize>,
    /// Convert again even objects whose manifest says they are done.
    #[arg(long)]
    force: bool,
    /// Parquet compression: zstd or snappy.
    #[arg(long, env = "FEEDPIPE_COMPRESSION", default_value = "zstd")]
    compression: Codec,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = 64 * 1024)]
    row_group_rows: usize,
    /// Compaction: raw objects are converted together, in key order, into Parquet
    /// files of about this size (estimated at 8 bytes of raw JSON per byte of
    /// Parquet); 0 converts each raw object on its own, as the Lambda does.
    #[arg(long, default_value = "128MiB", value_parser = parse_size)]
    target_file_size: u64,
    /// Backfill on AWS instead of this machine: start the backfill state machine
    /// (a Distributed Map over the raw objects under the s3:// --input, each batch
    /// converted by the raw-to-parquet Lambda) and follow it to its end.
    #[arg(long, requires = "state_machine")]
    distributed: bool,
    /// The backfill state machine (Terraform output backfill_state_machine_arn).
    #[arg(long, env = "FEEDPIPE_BACKFILL_STATE_MACHINE")]
    state_machine: Option<String>,
    /// Seconds between two looks at a distributed backfill.
    #[arg(long, default_value_t = 10)]
    poll_seconds: u64,
}

/// `128MiB`, `100MB`, `1GiB`, `5000000`, `0`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a size (for example 128MiB, 100MB, 0)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}` (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    Ok((number * scale) as u64)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("`{s}` is not RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23)"))
}

pub async fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    if args.distributed {
        let machine = args.state_machine.as_deref().unwrap_or_default();
        return crate::distributed::run(
            machine,
            &args.input,
            std::time::Duration::from_secs(args.poll_seconds.max(1)),
        )
        .await;
    }
    let output = args.output.as_deref().unwrap_or_default();
    let started = Instant::now();
    let input = StorageLocation::parse(&args.input)
        .with_context(|| format!("bad --input {}", args.input))?;
    let curated =
        StorageLocation::parse(output).with_context(|| format!("bad --output {output}"))?;
    let quarantine = StorageLocation::parse(&args.quarantine)
        .with_context(|| format!("bad --quarantine {}", args.quarantine))?;
    let config = ConvertConfig {
        codec: args.compression,
        row_group_rows: args.row_group_rows,
        ..ConvertConfig::default()
    };
    let quarantine: Arc<dyn Quarantine> = Arc::new(ObjectStoreQuarantine::new(quarantine));
    let converter_of = |contract| {
        Converter::new(
            contract,
            curated.clone(),
            Arc::clone(&quarantine),
            config.clone(),
        )
    };
    let converter = match &args.feeds {
        None => FeedConverter::single(converter_of(
            contract::load_or_sample(args.schema.as_deref()).await?,
        )),
        Some(url) => {
            let feeds = FeedsFile::load(url).await?;
            let contracts = contract::load_feeds(&feeds, |_| None).await?;
            let source_root = crate::ingest_cmd::source_root(args.source_root.as_deref())?;
            FeedConverter::routed(
                &feeds,
                contracts.into_iter().map(converter_of).collect(),
                source_root,
                args.table.as_deref(),
            )
            .map_err(anyhow::Error::msg)?
        }
    };

    let plan = backfill::prepare(
        &converter,
        &input,
        &PlanOptions {
            target_file_size: args.target_file_size,
            force: args.force,
            since: args.since,
            until: args.until,
        },
    )
    .await?;
    let parallel = args
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let (listed, skipped) = (plan.listed, plan.skipped);
    let total_bytes = plan.bytes();
    let groups = plan.groups;
    // The cores go to the groups running at once: each decodes on its share.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let converter = converter.with_threads(cores.div_ceil(parallel.min(groups.len()).max(1)));

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    eprintln!(
        "convert: {listed} raw object(s), {skipped} already converted; {} to convert ({}) in {} group(s), {parallel} at a time",
        listed - skipped,
        HumanBytes(total_bytes),
        groups.len()
    );

    let results: Vec<(u64, usize, Result<Vec<Manifest>, String>)> = futures::stream::iter(groups)
        .map(|group| {
            let converter = converter.clone();
            let input = input.clone();
            let bar = bar.clone();
            async move {
                let bytes: u64 = group.iter().map(|o| o.size).sum();
                let inputs = backfill::inputs(&input, &group);
                let name = match inputs.as_slice() {
                    [one] => one.location.uri(),
                    [first, ..] => format!("{} (+{} more)", first.location.uri(), inputs.len() - 1),
                    [] => String::new(),
                };
                let result = converter
                    .convert_group(&inputs)
                    .await
                    .map_err(|e| e.to_string());
                let line = match &result {
                    Ok(manifests) => manifests
                        .iter()
                        .map(|m| {
                            format!(
                                "{name}: {}{} read, {} rows written, {} quarantined, {} file(s)",
                                match manifests.len() {
                                    1 => String::new(),
                                    _ => format!("table {}: ", m.table),
                                },
                                m.records_read,
                                m.rows_written,
                                m.records_quarantined,
                                m.outputs.len()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    Err(e) => format!("{name}: failed: {e}"),
                };
                match &bar {
                    Some(bar) => {
                        bar.inc(bytes);
                        bar.println(line);
                    }
                    None => eprintln!("{line}"),
                }
                (bytes, group.len(), result)
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let (mut converted, mut failed) = (0, 0);
    let (mut read, mut written, mut quarantined, mut files) = (0u64, 0u64, 0u64, 0usize);
    let mut bytes = 0u64;
    for (size, count, result) in &results {
        match result {
            Ok(manifests) => {
                converted += count;
                bytes += size;
                for m in manifests {
                    read += m.records_read;
                    written += m.rows_written;
                    quarantined += m.records_quarantined;
                    files += m.outputs.len();
                }
            }
            Err(_) => failed += count,
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "converted {converted} object(s), skipped {skipped}, failed {failed}: {read} records read, {written} rows written to {files} Parquet file(s), {quarantined} quarantined; {} in {secs:.1} s ({}/s, {:.0} rows/s)",
        HumanBytes(bytes),
        HumanBytes((bytes as f64 / secs) as u64),
        written as f64 / secs
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
