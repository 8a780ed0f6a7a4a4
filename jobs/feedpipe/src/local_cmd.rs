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
//! ingests the file again. Raw objects without a conversion manifest (a run killed
//! between the hops) are converted first. Every run ends with `reconcile`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract, infer};
use feedpipe_convert::decode::{RawOrigin, RecordDecoder};
use feedpipe_convert::{ConvertConfig, Converter, Manifest};
use feedpipe_ingest::reader::{FeedItem, FeedReader, open_feed};
use feedpipe_ingest::{IngestConfig, IngestJob, IngestSummary};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{StorageLocation, object_version};
use feedpipe_standins::firehose::{DeliveredObject, Firehose, FirehoseConfig, FirehoseSummary};
use feedpipe_standins::{InProcessStream, SequenceNumber};
use feedpipe_warehouse::{OutputFormat, Warehouse, reconcile, render};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Feed files to copy into the source folder (sample data is generated when none are given).
    feeds: Vec<PathBuf>,
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
    /// Keep running: files dropped into DIR/source flow through as they arrive; Ctrl-C stops.
    #[arg(long)]
    watch: bool,
}

/// The workdir's folders.
struct Dirs {
    root: PathBuf,
    source: PathBuf,
    raw: PathBuf,
    curated: PathBuf,
    quarantine: PathBuf,
    ledger: PathBuf,
}

impl Dirs {
    fn new(root: &Path) -> anyhow::Result<Self> {
        // Kept as given (relative paths stay relative in what is printed); storage
        // locations are made absolute where they are parsed.
        let root = root.to_path_buf();
        let dirs = Self {
            source: root.join("source"),
            raw: root.join("raw"),
            curated: root.join("curated"),
            quarantine: root.join("quarantine"),
            ledger: root.join("state").join("ingested"),
            root,
        };
        for dir in [
            &dirs.source,
            &dirs.raw,
            &dirs.curated,
            &dirs.quarantine,
            &dirs.ledger,
        ] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(dirs)
    }
}

fn location(path: &Path) -> anyhow::Result<StorageLocation> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
    Ok(StorageLocation::parse(text)?)
}

/// What the conversion side did.
#[derive(Debug, Default)]
struct ConvertStats {
    objects: u64,
    records_read: u64,
    rows_written: u64,
    quarantined: u64,
    parquet_files: u64,
    quarantine_objects: u64,
    busy: Duration,
    failures: Vec<String>,
}

impl ConvertStats {
    fn add(&mut self, m: &Manifest) {
        self.objects += 1;
        self.records_read += m.records_read;
        self.rows_written += m.rows_written;
        self.quarantined += m.records_quarantined;
        self.parquet_files += m.outputs.len() as u64;
        self.quarantine_objects += m.quarantine_objects.len() as u64;
    }
}

/// One source file's ingest, as reported.
struct Ingested {
    name: String,
    outcome: Result<IngestSummary, String>,
    millis: u128,
}

pub async fn run(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dirs = Dirs::new(&args.workdir)?;
    stage_feeds(&args, &dirs)?;
    let files = source_files(&dirs.source)?;
    let (contract, contract_note) = choose_contract(&args, &dirs, &files)?;
    let table = contract.table.clone();
    println!(
        "feedpipe local: workdir {}, table `{table}`, {contract_note}",
        dirs.root.display()
    );

    let quarantine = Arc::new(ObjectStoreQuarantine::new(location(&dirs.quarantine)?));
    let raw = location(&dirs.raw)?;
    let curated = location(&dirs.curated)?;
    let converter = Converter::new(
        contract.clone(),
        curated.clone(),
        quarantine.clone(),
        ConvertConfig::default(),
    );

    // Raw objects an earlier run wrote but did not convert (killed between the hops).
    let mut convert_stats = ConvertStats::default();
    let catch_up = unconverted(&raw, &converter).await?;
    if !catch_up.is_empty() {
        println!(
            "catch-up: {} raw object(s) from an earlier run without a manifest",
            catch_up.len()
        );
        for object in catch_up {
            convert_one(&converter, &object, &mut convert_stats, true).await;
        }
    }

    let stream = Arc::new(InProcessStream::new("feedpipe-local", args.shards));
    let firehose = Firehose::new(
        stream.clone(),
        raw.clone(),
        FirehoseConfig {
            delivery_stream: "feedpipe-local".into(),
            prefix: String::new(),
            buffer_bytes: (args.buffer_mib * 1024 * 1024) as usize,
            buffer_interval: Duration::from_secs(args.buffer_seconds),
            gzip: args.gzip,
            ..FirehoseConfig::default()
        },
    )
    .await?;
    let checkpoints = firehose.checkpoints();
    let (stop_tx, stop_rx) = watch::channel(false);
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
        let raw_root = format!("{}/", raw.uri().trim_end_matches('/'));
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
                convert_one(&converter, &object.location, &mut stats, verbose).await;
            }
            stats
        }
    });

    let job = IngestJob::new(
        stream.clone(),
        quarantine.clone(),
        IngestConfig {
            partition_key_field: Some(args.partition_key.clone()),
            ..Default::default()
        },
    );
    let mut ledger = Ledger {
        dir: dirs.ledger.clone(),
        checkpoints,
        pending: Vec::new(),
    };
    let mut ingested: Vec<Ingested> = Vec::new();
    let mut seen: HashSet<(PathBuf, String)> = HashSet::new();
    println!(
        "\ningest: {} file(s) in {} → in-process stream of {} shards → Firehose stand-in ({} MiB / {} s buffers{}) → {}",
        files.len(),
        dirs.source.display(),
        args.shards,
        args.buffer_mib,
        args.buffer_seconds,
        if args.gzip { ", gzip" } else { "" },
        dirs.raw.display()
    );
    for file in &files {
        if let Some(done) =
            ingest_file(&job, &stream, &mut ledger, file, &mut seen, verbose).await?
        {
            ingested.push(done);
        }
    }
    if args.watch {
        println!(
            "watching {} (drop feed files there; Ctrl-C to stop)",
            dirs.source.display()
        );
        watch_source(
            &job,
            &stream,
            &mut ledger,
            &dirs.source,
            &mut seen,
            &mut ingested,
        )
        .await?;
        println!("stopping: writing what is buffered");
    }

    // Stop the delivery loop: it writes what is buffered, then the converter drains.
    let _ = stop_tx.send(true);
    let (delivery, delivery_time) = firehose_task.await?;
    let delivery = delivery.context("the Firehose stand-in failed")?;
    let convert_stats = convert_task.await?;
    ledger.write_durable().await?;

    let exit = report(
        &dirs,
        &table,
        &contract,
        &ingested,
        &delivery,
        delivery_time,
        &convert_stats,
        &curated,
        started,
    )
    .await?;
    Ok(exit)
}

/// Copies the given feeds into the source folder (an identical file already there is
/// left alone, so its version and record ids stay the same), or writes the sample feed.
fn stage_feeds(args: &LocalArgs, dirs: &Dirs) -> anyhow::Result<()> {
    if args.feeds.is_empty() {
        let sample = dirs.source.join("sample-orders.jsonl");
        let empty = std::fs::read_dir(&dirs.source)?.next().is_none();
        if empty {
            let tmp = dirs.root.join(".sample-orders.jsonl.tmp");
            let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let options = SampleOptions {
                rows: args.rows,
                bad_rate: 0.005,
                ..Default::default()
            };
            let stats = write_feed(&mut file, &options)?;
            std::io::Write::flush(&mut file)?;
            drop(file);
            std::fs::rename(&tmp, &sample)?;
            println!(
                "generated {}: {} records and {} malformed lines",
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
        let target = dirs.source.join(name);
        if target.exists() && same_content(feed, &target)? {
            continue;
        }
        // Copy then rename: a watcher never sees half a file.
        let tmp = dirs.root.join(format!(".{}.tmp", name.to_string_lossy()));
        std::fs::copy(feed, &tmp).with_context(|| format!("cannot copy {}", feed.display()))?;
        std::fs::rename(&tmp, &target)?;
    }
    Ok(())
}

fn same_content(a: &Path, b: &Path) -> anyhow::Result<bool> {
    if std::fs::metadata(a)?.len() != std::fs::metadata(b)?.len() {
        return Ok(false);
    }
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

/// Feed files in the source folder, by name (hidden and temporary files left out).
fn source_files(source: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(source)
        .with_context(|| format!("cannot list {}", source.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                !n.starts_with('.') && !n.ends_with(".tmp") && !n.ends_with(".part")
            })
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Up to `per_file` good records of each file, for choosing or inferring a contract.
fn sample_records(files: &[PathBuf], per_file: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut records = Vec::new();
    for path in files {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let Ok(feed) = open_feed(file) else { continue };
        let Ok(mut reader) = FeedReader::new(feed, 16 << 20) else {
            continue;
        };
        let mut taken = 0;
        while taken < per_file {
            match reader.next_item() {
                Ok(Some(FeedItem::Record { bytes, .. })) => {
                    records.push(bytes.to_vec());
                    taken += 1;
                }
                Ok(Some(FeedItem::Bad { .. })) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    Ok(records)
}

fn choose_contract(
    args: &LocalArgs,
    dirs: &Dirs,
    files: &[PathBuf],
) -> anyhow::Result<(SchemaContract, String)> {
    let load = |path: &Path| -> anyhow::Result<SchemaContract> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        SchemaContract::from_json(&text).with_context(|| format!("in {}", path.display()))
    };
    let pinned = dirs.root.join("schema.json");
    let (mut contract, note) = if let Some(path) = &args.schema {
        (load(path)?, format!("contract {}", path.display()))
    } else if pinned.exists() {
        (
            load(&pinned)?,
            format!("contract {} (inferred by an earlier run)", pinned.display()),
        )
    } else {
        let sample = SchemaContract::from_json(SAMPLE_CONTRACT)?;
        let records = sample_records(files, 1000)?;
        let decoder = RecordDecoder::new(&sample);
        let origin = RawOrigin {
            source: SourceObject {
                uri: "file:///contract-check".into(),
                version: "0".into(),
            },
            written_at_micros: 0,
        };
        let fits = records
            .iter()
            .filter(|r| {
                std::str::from_utf8(r).is_ok_and(|text| decoder.decode(text, 1, &origin).is_ok())
            })
            .count();
        if records.is_empty() || fits * 10 >= records.len() * 9 {
            (sample, "the built-in sample contract".to_owned())
        } else {
            let table = args.table.clone().unwrap_or_else(|| "feed".into());
            let inferred = infer(&table, records.iter().map(Vec::as_slice))
                .context("the feeds do not fit the sample contract, and no contract can be inferred from them")?;
            inferred.contract.validate()?;
            std::fs::write(&pinned, inferred.contract.to_json())
                .with_context(|| format!("cannot write {}", pinned.display()))?;
            (
                inferred.contract,
                format!(
                    "contract inferred from {} record(s) (only {fits} fit the sample contract) and written to {}: review it, and pin it with --schema",
                    inferred.used,
                    pinned.display()
                ),
            )
        }
    };
    if let Some(table) = &args.table {
        contract.table = table.clone();
    }
    contract.validate()?;
    Ok((contract, note))
}

/// Raw objects without a conversion manifest.
async fn unconverted(
    raw: &StorageLocation,
    converter: &Converter,
) -> anyhow::Result<Vec<StorageLocation>> {
    let metas: Vec<_> = raw
        .store
        .list(Some(&raw.path))
        .try_collect()
        .await
        .with_context(|| format!("cannot list {}", raw.uri()))?;
    let mut out = Vec::new();
    for meta in metas {
        let location = raw.at(meta.location.clone());
        let source = SourceObject {
            uri: location.uri(),
            version: object_version(&meta, None),
        };
        if converter.manifest(&source).await.is_none() {
            out.push(location);
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

async fn convert_one(
    converter: &Converter,
    object: &StorageLocation,
    stats: &mut ConvertStats,
    verbose: bool,
) {
    let t = Instant::now();
    let result = converter.convert_object(object, None).await;
    stats.busy += t.elapsed();
    match result {
        Ok(m) => {
            if verbose {
                let outputs: Vec<String> = m
                    .outputs
                    .iter()
                    .map(|o| {
                        o.uri
                            .rsplit('/')
                            .take(3)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .collect();
                println!(
                    "  convert  {} → {} row(s) in {}{}",
                    object.path.filename().unwrap_or_default(),
                    m.rows_written,
                    outputs.join(", "),
                    if m.records_quarantined > 0 {
                        format!(", {} quarantined", m.records_quarantined)
                    } else {
                        String::new()
                    }
                );
            }
            stats.add(&m);
        }
        Err(e) => {
            eprintln!("  convert  {}: failed: {e}", object.uri());
            stats.failures.push(format!("{}: {e}", object.uri()));
        }
    }
}

/// Source files ingested in this run, waiting for the Firehose checkpoints to pass
/// their records before their ledger entry is written.
struct Ledger {
    dir: PathBuf,
    checkpoints: watch::Receiver<Vec<Option<SequenceNumber>>>,
    pending: Vec<(PathBuf, String, Vec<Option<SequenceNumber>>)>,
}

impl Ledger {
    fn entry(&self, source: &SourceObject) -> PathBuf {
        self.dir.join(format!("{}.json", source.digest()))
    }

    /// Whether every record up to `positions` (per shard) is in a written raw object.
    fn durable(
        checkpoints: &[Option<SequenceNumber>],
        positions: &[Option<SequenceNumber>],
    ) -> bool {
        // `None` (nothing checkpointed, or an empty shard) orders before any number.
        positions
            .iter()
            .enumerate()
            .all(|(i, p)| checkpoints.get(i).and_then(Option::as_ref) >= p.as_ref())
    }

    /// Writes the entries whose records are all durable now.
    async fn write_durable(&mut self) -> anyhow::Result<()> {
        let checkpoints = self.checkpoints.borrow_and_update().clone();
        let mut still = Vec::new();
        for (path, body, positions) in std::mem::take(&mut self.pending) {
            if Self::durable(&checkpoints, &positions) {
                tokio::fs::write(&path, body)
                    .await
                    .with_context(|| format!("cannot write {}", path.display()))?;
            } else {
                still.push((path, body, positions));
            }
        }
        self.pending = still;
        Ok(())
    }
}

/// Ingests `file` unless the ledger says this version was ingested before.
async fn ingest_file(
    job: &IngestJob,
    stream: &InProcessStream,
    ledger: &mut Ledger,
    file: &Path,
    seen: &mut HashSet<(PathBuf, String)>,
    verbose: bool,
) -> anyhow::Result<Option<Ingested>> {
    let location = location(file)?;
    let meta = location
        .store
        .head(&location.path)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let source = SourceObject {
        uri: location.uri(),
        version: object_version(&meta, None),
    };
    if !seen.insert((file.to_path_buf(), source.version.clone())) {
        return Ok(None);
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entry = ledger.entry(&source);
    if entry.exists() {
        return Ok(Some(Ingested {
            name,
            outcome: Err("already ingested (same version), skipped".into()),
            millis: 0,
        }));
    }
    let t = Instant::now();
    let outcome = job
        .run(&location, meta.version.as_deref())
        .await
        .map_err(|e| format!("failed: {e}"));
    if let Ok(summary) = &outcome {
        let body = serde_json::json!({
            "source": source.uri,
            "source_version": source.version,
            "records_read": summary.records_read,
            "records_sent": summary.records_sent,
            "records_quarantined": summary.records_quarantined,
        })
        .to_string();
        ledger.pending.push((entry, body, stream.positions()));
        if verbose {
            println!(
                "  ingest   {name}: {} read, {} delivered to the stream, {} quarantined",
                summary.records_read, summary.records_sent, summary.records_quarantined
            );
        }
    } else if let Err(e) = &outcome {
        eprintln!("  ingest   {name}: {e}");
    }
    Ok(Some(Ingested {
        name,
        outcome,
        millis: t.elapsed().as_millis(),
    }))
}

/// `--watch`: ingests files as they appear (once their size stops changing) until Ctrl-C.
async fn watch_source(
    job: &IngestJob,
    stream: &InProcessStream,
    ledger: &mut Ledger,
    source: &Path,
    seen: &mut HashSet<(PathBuf, String)>,
    ingested: &mut Vec<Ingested>,
) -> anyhow::Result<()> {
    let mut sizes: BTreeMap<PathBuf, u64> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tick.tick() => {}
        }
        ledger.write_durable().await?;
        for file in source_files(source)? {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            // A file is taken once two scans in a row see the same size.
            if sizes.insert(file.clone(), size) != Some(size) {
                continue;
            }
            if let Some(done) = ingest_file(job, stream, ledger, &file, seen, true).await? {
                ingested.push(done);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn report(
    dirs: &Dirs,
    table: &str,
    contract: &SchemaContract,
    ingested: &[Ingested],
    delivery: &FirehoseSummary,
    delivery_time: Duration,
    convert: &ConvertStats,
    curated: &StorageLocation,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let width = ingested
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    println!(
        "\n{:<width$} {:>9} {:>10} {:>12} {:>8}",
        "file", "read", "delivered", "quarantined", "ms"
    );
    let mut ingest = IngestSummary::default();
    let mut ingest_ms = 0;
    let mut failed = 0;
    for i in ingested {
        match &i.outcome {
            Ok(s) => {
                println!(
                    "{:<width$} {:>9} {:>10} {:>12} {:>8}",
                    i.name, s.records_read, s.records_sent, s.records_quarantined, i.millis
                );
                ingest += s.clone();
                ingest_ms += i.millis;
            }
            Err(e) => {
                if e.starts_with("failed") {
                    failed += 1;
                }
                println!("{:<width$} {e}", i.name);
            }
        }
    }

    println!(
        "\n{:<12} {:>8} {:>9} {:>9}  written to",
        "stage", "objects", "records", "seconds"
    );
    println!(
        "{:<12} {:>8} {:>9} {:>9.2}  in-process stream ({} quarantine object(s))",
        "ingest",
        ingest.files,
        ingest.records_sent,
        ingest_ms as f64 / 1000.0,
        ingest.quarantine_objects.len()
    );
    println!(
        "{:<12} {:>8} {:>9} {:>9.2}  {}",
        "firehose",
        delivery.objects,
        delivery.records,
        delivery_time.as_secs_f64(),
        dirs.raw.display()
    );
    println!(
        "{:<12} {:>8} {:>9} {:>9.2}  {} ({} Parquet file(s), {} record(s) quarantined)",
        "convert",
        convert.objects,
        convert.rows_written,
        convert.busy.as_secs_f64(),
        dirs.curated.join(table).display(),
        convert.parquet_files,
        convert.quarantined
    );

    let t = Instant::now();
    let report = reconcile(
        &location(&dirs.source)?,
        curated,
        Some(&location(&dirs.quarantine)?),
    )
    .await?;
    println!(
        "\nreconcile ({:.2} s): source files read again, matched by _record_id against {} and {}",
        t.elapsed().as_secs_f64(),
        dirs.curated.display(),
        dirs.quarantine.display()
    );
    print!("{}", report.render());

    let t = Instant::now();
    let sql = sample_query(table, contract);
    let warehouse = Warehouse::open(curated).await?;
    if warehouse.tables().iter().any(|t| t == table) {
        let batches = warehouse.sql(&sql).await?;
        println!(
            "\nquery ({:.2} s): feedpipe query --data {} '{sql}'",
            t.elapsed().as_secs_f64(),
            dirs.curated.display()
        );
        println!("{}", render(&batches, OutputFormat::Table)?);
    } else {
        // Empty feeds, or only bad records: nothing was loaded, which is no error.
        println!(
            "\nquery: no rows loaded, so no table `{table}` under {} yet",
            dirs.curated.display()
        );
    }
    println!("done in {:.2} s", started.elapsed().as_secs_f64());

    let ok = report.ok() && failed == 0 && convert.failures.is_empty();
    if !ok {
        eprintln!(
            "error: {failed} file(s) failed to ingest, {} raw object(s) failed to convert, reconcile {}",
            convert.failures.len(),
            if report.ok() { "passed" } else { "FAILED" }
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Rows (and order value, for the sample contract) per day.
fn sample_query(table: &str, contract: &SchemaContract) -> String {
    let simple = table
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let quoted = if simple {
        table.to_owned()
    } else {
        format!("\"{}\"", table.replace('"', "\"\""))
    };
    if contract.columns.iter().any(|c| c.name == "total") {
        format!(
            "SELECT dt, count(*) AS orders, sum(total) AS total FROM {quoted} GROUP BY dt ORDER BY dt"
        )
    } else {
        format!("SELECT dt, count(*) AS records FROM {quoted} GROUP BY dt ORDER BY dt")
    }
}
