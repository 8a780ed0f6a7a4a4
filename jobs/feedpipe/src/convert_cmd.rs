//! `feedpipe convert`: manual backfill of raw JSON into curated Parquet, over one raw
//! object or every object under a prefix, in parallel, resumable (objects whose
//! manifest is there are skipped), with a progress bar on a terminal and plain
//! progress lines otherwise.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract};
use feedpipe_convert::job::Codec;
use feedpipe_convert::{ConvertConfig, Converter, Manifest};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{StorageLocation, object_version};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use object_store::{ObjectMeta, ObjectStoreExt};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Raw object or prefix (local path or s3:// URL).
    #[arg(long)]
    input: String,
    /// Curated root: Parquet goes to <output>/<table>/dt=YYYY-MM-DD/, manifests to <output>/_manifests/.
    #[arg(long, env = "FEEDPIPE_CURATED_URL")]
    output: String,
    /// Schema contract (JSON); the sample feed's contract when absent.
    #[arg(long)]
    schema: Option<PathBuf>,
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
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("`{s}` is not RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23)"))
}

/// The hour a Firehose key names (`…/YYYY/MM/DD/HH/…`), if it has that layout.
fn key_hour(key: &str) -> Option<DateTime<Utc>> {
    let parts: Vec<&str> = key.split('/').collect();
    parts.windows(4).find_map(|w| {
        let [y, m, d, h] = w else { return None };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 || h.len() != 2 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
        Some(date.and_hms_opt(h.parse().ok()?, 0, 0)?.and_utc())
    })
}

pub async fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let contract_text = match &args.schema {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => SAMPLE_CONTRACT.to_owned(),
    };
    let contract = SchemaContract::from_json(&contract_text).with_context(|| {
        format!(
            "in {}",
            args.schema
                .as_ref()
                .map_or("the built-in contract".into(), |p| p.display().to_string())
        )
    })?;
    let input = StorageLocation::parse(&args.input)
        .with_context(|| format!("bad --input {}", args.input))?;
    let curated = StorageLocation::parse(&args.output)
        .with_context(|| format!("bad --output {}", args.output))?;
    let quarantine = StorageLocation::parse(&args.quarantine)
        .with_context(|| format!("bad --quarantine {}", args.quarantine))?;
    let config = ConvertConfig {
        codec: args.compression,
        row_group_rows: args.row_group_rows,
        ..ConvertConfig::default()
    };
    let converter = Converter::new(
        contract,
        curated,
        Arc::new(ObjectStoreQuarantine::new(quarantine)),
        config,
    );

    let mut objects = list_objects(&input).await?;
    objects.retain(|o| {
        let at = key_hour(o.location.as_ref()).unwrap_or(o.last_modified);
        args.since.is_none_or(|s| at >= s) && args.until.is_none_or(|u| at < u)
    });
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    let parallel = args
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);

    let total_bytes: u64 = objects.iter().map(|o| o.size).sum();
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
        "convert: {} raw object(s), {:.1} MB, {parallel} at a time",
        objects.len(),
        total_bytes as f64 / 1e6
    );

    let results: Vec<(ObjectMeta, Result<Option<Manifest>, String>)> =
        futures::stream::iter(objects)
            .map(|meta| {
                let converter = converter.clone();
                let input = input.clone();
                let bar = bar.clone();
                let force = args.force;
                async move {
                    let location = input.at(meta.location.clone());
                    let source = SourceObject {
                        uri: location.uri(),
                        version: object_version(&meta, None),
                    };
                    let result = if !force && converter.manifest(&source).await.is_some() {
                        Ok(None)
                    } else {
                        converter
                            .convert_object(&location, meta.version.as_deref())
                            .await
                            .map(Some)
                            .map_err(|e| e.to_string())
                    };
                    let line = match &result {
                        Ok(Some(m)) => format!(
                            "{}: {} read, {} rows written, {} quarantined, {} file(s)",
                            source.uri,
                            m.records_read,
                            m.rows_written,
                            m.records_quarantined,
                            m.outputs.len()
                        ),
                        Ok(None) => format!(
                            "{}: already converted (manifest found), skipped",
                            source.uri
                        ),
                        Err(e) => format!("{}: failed: {e}", source.uri),
                    };
                    match &bar {
                        Some(bar) => {
                            bar.inc(meta.size);
                            bar.println(line);
                        }
                        None => eprintln!("{line}"),
                    }
                    (meta, result)
                }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let (mut converted, mut skipped, mut failed) = (0, 0, 0);
    let (mut read, mut written, mut quarantined, mut files) = (0u64, 0u64, 0u64, 0usize);
    let mut bytes = 0u64;
    for (meta, result) in &results {
        match result {
            Ok(Some(m)) => {
                converted += 1;
                bytes += meta.size;
                read += m.records_read;
                written += m.rows_written;
                quarantined += m.records_quarantined;
                files += m.outputs.len();
            }
            Ok(None) => skipped += 1,
            Err(_) => failed += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "converted {converted} object(s), skipped {skipped}, failed {failed}: {read} records read, {written} rows written to {files} Parquet file(s), {quarantined} quarantined; {:.1} MB in {secs:.1} s ({:.1} MB/s, {:.0} rows/s)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-9),
        written as f64 / secs.max(1e-9)
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The object at `input` if it is one, else every object under it.
async fn list_objects(input: &StorageLocation) -> anyhow::Result<Vec<ObjectMeta>> {
    if !input.path.as_ref().is_empty()
        && let Ok(meta) = input.store.head(&input.path).await
    {
        return Ok(vec![meta]);
    }
    let prefix = if input.path.as_ref().is_empty() {
        None
    } else {
        Some(&input.path)
    };
    input
        .store
        .list(prefix)
        .try_collect()
        .await
        .with_context(|| format!("cannot list {}", input.uri()))
}
