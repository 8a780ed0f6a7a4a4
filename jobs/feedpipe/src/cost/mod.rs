//! `feedpipe cost`: the pipeline's monthly bill for a feed profile, hop by hop, with
//! packed Kinesis records and without, beside the seed design's Glue job and
//! Firehose's own conversion.
//!
//! The profile comes from flags, or is measured from a local run's workdir
//! (`--workdir DIR`): the raw objects give the framed record size and the lineage it
//! carries, the source files the records, the curated Parquet its size per byte of
//! JSON, and `DIR/state/last-run.json` (written by `feedpipe local`) the throughput
//! of both cores. Prices: [`prices`], overridable with `--prices FILE`.

mod model;
mod prices;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use model::{Bill, Profile, Setup, bill};
use prices::Prices;

/// What `feedpipe local` leaves in `DIR/state/last-run.json` for `feedpipe cost`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// Feed bytes the ingest read (decompressed), and the seconds it took.
    pub ingest_bytes: u64,
    pub ingest_seconds: f64,
    /// Raw bytes the conversion read, and the seconds it was busy.
    pub convert_bytes: u64,
    pub convert_seconds: f64,
}

impl LastRun {
    /// Where a workdir keeps it.
    pub fn path(workdir: &Path) -> PathBuf {
        workdir.join("state").join("last-run.json")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Measure the profile from a local run's workdir (flags given too override it).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Feed JSON a day, decompressed, in GB (with --workdir: default, the workdir's
    /// feeds as one day).
    #[arg(long)]
    gb_per_day: Option<f64>,
    /// Average customer record size in bytes.
    #[arg(long)]
    record_bytes: Option<f64>,
    /// Feed files a day.
    #[arg(long)]
    files_per_day: Option<f64>,
    /// Packed Kinesis record size to price beside no packing (FEEDPIPE_PACK_BYTES).
    #[arg(long, default_value_t = 25_600)]
    pack_bytes: u64,
    /// MiB/s the stream takes from one ingest invocation (4: a new on-demand stream).
    #[arg(long, default_value_t = 4.0)]
    stream_mib_per_s: f64,
    /// Ingest Lambda memory (infra: ingest_memory_mb).
    #[arg(long, default_value_t = 512)]
    ingest_memory_mb: u64,
    /// Raw-to-parquet Lambda memory (infra: raw_to_parquet_memory_mb).
    #[arg(long, default_value_t = 2048)]
    convert_memory_mb: u64,
    /// Firehose buffering size (infra: firehose_buffering_size_mib).
    #[arg(long, default_value_t = 64)]
    firehose_buffer_mib: u64,
    /// Days each bucket keeps its data.
    #[arg(long, default_value_t = 30)]
    retention_days: u64,
    /// A price table (JSON) replacing some of the built-in prices.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// A profile measured from a workdir: what the flags do not give.
#[derive(Debug, Default)]
struct Measured {
    feed_bytes: f64,
    records: f64,
    files: f64,
    lineage_bytes: Option<f64>,
    raw_ratio: Option<f64>,
    parquet_ratio: Option<f64>,
    last_run: Option<LastRun>,
}

pub fn run(args: CostArgs) -> anyhow::Result<ExitCode> {
    let prices = match &args.prices {
        Some(path) => Prices::load(path)?,
        None => Prices::default(),
    };
    let measured = match &args.workdir {
        Some(dir) => measure(dir)?,
        None => Measured::default(),
    };
    let need = |flag: &str| {
        anyhow::anyhow!("give {flag}, or --workdir DIR of a local run to measure it from")
    };
    let gb_per_day = match (args.gb_per_day, measured.feed_bytes) {
        (Some(gb), _) => gb,
        (None, bytes) if bytes > 0.0 => bytes / 1e9,
        _ => return Err(need("--gb-per-day")),
    };
    let record_bytes = match args.record_bytes {
        Some(b) => b,
        None if measured.records > 0.0 => measured.feed_bytes / measured.records,
        None => return Err(need("--record-bytes")),
    };
    let files_per_day = args
        .files_per_day
        .or((measured.files > 0.0).then_some(measured.files))
        .ok_or_else(|| need("--files-per-day"))?;
    for (name, v) in [
        ("--gb-per-day", gb_per_day),
        ("--record-bytes", record_bytes),
        ("--files-per-day", files_per_day),
    ] {
        if !(v.is_finite() && v > 0.0) {
            anyhow::bail!("{name} must be a number above 0, not {v}");
        }
    }
    let rate = |bytes: u64, seconds: f64| (seconds > 0.0).then(|| bytes as f64 / seconds / 1e6);
    let last = measured.last_run.clone().unwrap_or_default();
    let profile = Profile {
        gb_per_day,
        record_bytes,
        files_per_day,
        // The sample feed's lineage: the URI of an S3 key of ~40 characters.
        lineage_bytes: measured.lineage_bytes.unwrap_or(260.0),
        partition_key_bytes: 32.0,
        parquet_ratio: measured.parquet_ratio.unwrap_or(0.15),
        // Firehose's GZIP (infra's default) on the sample feed's raw objects: 0.127.
        raw_ratio: measured.raw_ratio.unwrap_or(0.13),
        ingest_mb_per_s: rate(last.ingest_bytes, last.ingest_seconds).unwrap_or(60.0),
        convert_mb_per_s: rate(last.convert_bytes, last.convert_seconds).unwrap_or(60.0),
    };
    let setup = |pack_bytes: f64| Setup {
        pack_bytes,
        stream_mib_per_s: args.stream_mib_per_s,
        peak_factor: 2.0,
        ingest_memory_mb: args.ingest_memory_mb as f64,
        convert_memory_mb: args.convert_memory_mb as f64,
        // infra: a 300 s timeout less the 60 s deadline margin.
        ingest_seconds_per_invocation: 240.0,
        firehose_buffer_mib: args.firehose_buffer_mib as f64,
        retention_days: args.retention_days as f64,
        glue_dpus: 2.0,
        glue_mb_per_dpu_second: 10.0,
    };
    let unpacked = bill(&profile, &setup(0.0), &prices);
    let packed = bill(&profile, &setup(args.pack_bytes as f64), &prices);
    match args.format {
        Format::Json => {
            let out = serde_json::json!({
                "profile": profile,
                "measured_from": args.workdir,
                "prices": prices,
                "unpacked": unpacked,
                "packed": { "pack_bytes": args.pack_bytes, "bill": packed },
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Table => print_table(&profile, &prices, args.pack_bytes, &unpacked, &packed),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(
    profile: &Profile,
    prices: &Prices,
    pack_bytes: u64,
    unpacked: &Bill,
    packed: &Bill,
) {
    println!(
        "feedpipe cost: {} GB/day of feed JSON, {:.0}-byte records ({:.0} framed with lineage), {} file(s)/day; 30-day month, USD",
        profile.gb_per_day,
        profile.record_bytes,
        profile.record_bytes + profile.lineage_bytes,
        profile.files_per_day
    );
    println!("prices: {}", prices.source);
    println!(
        "packed: {:.0} records per Kinesis record ({:.1} M Kinesis records a month, against {:.1} M unpacked)\n",
        packed.records_per_kinesis_record,
        packed.kinesis_records / 1e6,
        unpacked.kinesis_records / 1e6
    );
    let head = format!("packed {pack_bytes} B");
    println!(
        "{:<34} {:>12} {:>14}  packed: what is counted",
        "hop", "unpacked", head
    );
    let row = |a: &model::Line, b: &model::Line| {
        println!(
            "{:<34} {:>12.2} {:>14.2}  {}",
            a.item, a.usd, b.usd, b.basis
        );
    };
    row(&unpacked.kinesis_on_demand, &packed.kinesis_on_demand);
    row(&unpacked.kinesis_provisioned, &packed.kinesis_provisioned);
    for (a, b) in unpacked.lines.iter().zip(&packed.lines) {
        row(a, b);
    }
    println!(
        "{:<34} {:>12.2} {:>14.2}",
        "total, on-demand stream", unpacked.total_on_demand, packed.total_on_demand
    );
    println!(
        "{:<34} {:>12.2} {:>14.2}",
        "total, provisioned stream", unpacked.total_provisioned, packed.total_provisioned
    );
    let convert = |b: &Bill| {
        b.lines
            .iter()
            .find(|l| l.item == "Lambda raw-to-parquet")
            .map_or(0.0, |l| l.usd)
    };
    println!(
        "\nthe conversion hop instead of the raw-to-parquet Lambda ({:.2} / {:.2} a month):",
        convert(unpacked),
        convert(packed)
    );
    for (a, b) in unpacked.alternatives.iter().zip(&packed.alternatives) {
        if a.item.starts_with("Firehose") {
            // Firehose converts one JSON document per record: packed records are
            // several, so only the unpacked stream can use it.
            println!(
                "{:<34} {:>12.2} {:>14}  {} (unpacked only: one JSON document a record)",
                a.item, a.usd, "-", a.basis
            );
        } else {
            row(a, b);
        }
    }
}

/// The profile a workdir shows: feed bytes and records (the raw objects' lines, less
/// the lineage each carries), the files ingested, and what `last-run.json` says.
fn measure(dir: &Path) -> anyhow::Result<Measured> {
    let mut m = Measured::default();
    let raw = dir.join("raw");
    let (mut lines, mut framed, mut lineage, mut stored) = (0f64, 0f64, 0f64, 0f64);
    let mut gzip = true;
    for path in files_under(&raw)? {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        stored += bytes.len() as f64;
        gzip &= bytes.starts_with(&[0x1f, 0x8b]);
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .with_context(|| format!("cannot gunzip {}", path.display()))?;
            out
        } else {
            bytes
        };
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1.0;
            framed += line.len() as f64 + 1.0;
            lineage += lineage_len(line) as f64;
        }
    }
    if lines == 0.0 {
        anyhow::bail!(
            "no raw objects with records under {}: run `feedpipe local --workdir {}` first",
            raw.display(),
            dir.display()
        );
    }
    m.records = lines;
    m.feed_bytes = framed - lineage;
    m.lineage_bytes = Some(lineage / lines);
    // Firehose gzips in production (infra's default): a plain local run's raw size
    // says nothing of that, a `--gzip` one does.
    m.raw_ratio = gzip.then_some(stored / framed);
    let parquet: f64 = files_under(&dir.join("curated"))?
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()) as f64)
        .sum();
    m.parquet_ratio = (parquet > 0.0).then(|| parquet / m.feed_bytes);
    m.files = files_under(&dir.join("state").join("ingested"))?.len() as f64;
    let last = LastRun::path(dir);
    if last.exists() {
        let text = std::fs::read_to_string(&last)
            .with_context(|| format!("cannot read {}", last.display()))?;
        m.last_run =
            Some(serde_json::from_str(&text).with_context(|| format!("bad {}", last.display()))?);
    }
    Ok(m)
}

/// Bytes of a framed line that are lineage: up to the end of `_ingested_at`'s value.
fn lineage_len(line: &[u8]) -> usize {
    let key = b",\"_ingested_at\":\"";
    let Some(at) = memchr::memmem::find(line, key) else {
        return 0;
    };
    let value = at + key.len();
    memchr::memchr(b'"', &line[value..]).map_or(0, |end| value + end + 1)
}

fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", d.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
