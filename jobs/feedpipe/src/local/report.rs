//! The closing report of a local run: what each file and stage did, reconcile's
//! verdict, and the sample query over the table.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use feedpipe_convert::contract::SchemaContract;
use feedpipe_ingest::IngestSummary;
use feedpipe_shared::feed::listing::{SkipReason, SkippedFile};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::storage::StorageLocation;
use feedpipe_standins::firehose::FirehoseSummary;
use feedpipe_warehouse::{OutputFormat, Warehouse, reconcile, render};

use super::convert::ConvertStats;
use super::ingest::{IngestedFile, Outcome};
use super::workdir::{Dirs, location};

/// What a run did, for the closing report.
pub(super) struct RunReport<'a> {
    pub dirs: &'a Dirs,
    /// Each table's contract (one without a feeds file).
    pub contracts: &'a [SchemaContract],
    /// The feeds file, when the run has one.
    pub feeds: Option<&'a FeedsFile>,
    pub curated: &'a StorageLocation,
    pub ingested: &'a [IngestedFile],
    /// What the source listing skipped (see `feedpipe_shared::feed::listing`).
    pub skipped: &'a [SkippedFile],
    pub delivery: &'a FirehoseSummary,
    pub delivery_time: Duration,
    pub convert: &'a ConvertStats,
    pub started: Instant,
}

impl RunReport<'_> {
    /// Prints the per-file and per-stage tables, reconciles, runs the sample query,
    /// and says whether the run succeeded.
    pub async fn print(&self) -> anyhow::Result<ExitCode> {
        let Self {
            dirs,
            contracts,
            feeds,
            curated,
            ingested,
            skipped,
            delivery,
            delivery_time,
            convert,
            started,
        } = *self;
        print_files(ingested);
        let failed = ingested
            .iter()
            .filter(|i| matches!(i.outcome, Outcome::Failed(_)))
            .count();
        let mut ingest = IngestSummary::default();
        let mut ingest_ms = 0;
        for i in ingested {
            if let Outcome::Ingested(s) = &i.outcome {
                ingest += s.clone();
                ingest_ms += i.millis;
            }
        }

        // What `feedpipe cost --workdir` reads for the throughput of both cores.
        let last_run = crate::cost::LastRun {
            ingest_bytes: ingest.bytes_read,
            ingest_seconds: ingest_ms as f64 / 1000.0,
            convert_bytes: delivery.bytes,
            convert_seconds: convert.busy.as_secs_f64(),
        };
        let last_path = crate::cost::LastRun::path(&dirs.root);
        if let Err(e) = std::fs::write(&last_path, serde_json::to_vec(&last_run)?) {
            eprintln!("warning: cannot write {}: {e}", last_path.display());
        }
        println!(
            "\n{:<12} {:>8} {:>9} {:>9}  written to",
            "stage", "objects", "records", "seconds"
        );
        println!(
            "{:<12} {:>8} {:>9} {:>9.2}  in-process stream, in {} Kinesis record(s) ({} quarantine object(s))",
            "ingest",
            ingest.files,
            ingest.records_sent,
            ingest_ms as f64 / 1000.0,
            ingest.kinesis_records,
            ingest.quarantine_objects.len()
        );
        println!(
            "{:<12} {:>8} {:>9} {:>9.2}  {} (Firehose would bill {:.1} MB of ingestion for {:.1} MB of records)",
            "firehose",
            delivery.objects,
            delivery.lines,
            delivery_time.as_secs_f64(),
            dirs.raw.display(),
            delivery.billed_bytes as f64 / 1e6,
            delivery.bytes as f64 / 1e6,
        );
        println!(
            "{:<12} {:>8} {:>9} {:>9.2}  {} ({} Parquet file(s), {} record(s) quarantined)",
            "convert",
            convert.objects,
            convert.rows_written,
            convert.busy.as_secs_f64(),
            match contracts {
                [one] => dirs.curated.join(&one.table).display().to_string(),
                _ => format!(
                    "{} (tables {})",
                    dirs.curated.display(),
                    contracts
                        .iter()
                        .map(|c| c.table.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
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

        let warehouse = Warehouse::open(curated).await?;
        for contract in contracts {
            let table = contract.table.as_str();
            let t = Instant::now();
            let sql = sample_query(table, contract);
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
        }
        println!("done in {:.2} s", started.elapsed().as_secs_f64());

        let unusable: Vec<&SkippedFile> = skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::Unusable(_)))
            .collect();
        for file in &unusable {
            eprintln!("error: {file}");
        }
        // Accounted for (reconcile reports them), but not loaded: the user must act.
        let unrouted: Vec<&IngestedFile> = ingested
            .iter()
            .filter(|i| matches!(i.outcome, Outcome::Unrouted(_)))
            .collect();
        for file in &unrouted {
            eprintln!(
                "error: {} belongs to no feed of {}: quarantined whole, not loaded; add a feed for it or move it under a feed's prefix",
                file.name,
                feeds.map_or("the feeds file", |f| f.origin.as_str())
            );
        }
        let ok = report.ok()
            && failed == 0
            && convert.failures.is_empty()
            && unusable.is_empty()
            && unrouted.is_empty();
        if !ok {
            eprintln!(
                "error: {failed} file(s) failed to ingest, {} file(s) cannot be read, {} file(s) of no feed, {} raw object(s) failed to convert, reconcile {}",
                unusable.len(),
                unrouted.len(),
                convert.failures.len(),
                if report.ok() { "passed" } else { "FAILED" }
            );
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// One line per source file: read, delivered, quarantined, or why not.
fn print_files(ingested: &[IngestedFile]) {
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
    for i in ingested {
        match &i.outcome {
            Outcome::Ingested(s) => println!(
                "{:<width$} {:>9} {:>10} {:>12} {:>8}",
                i.name,
                s.records_read,
                // With the records an interrupted earlier run delivered (see `resume`).
                s.records_sent + s.records_already_delivered,
                s.records_quarantined,
                i.millis
            ),
            Outcome::AlreadyIngested => {
                println!(
                    "{:<width$} already ingested (same version), skipped",
                    i.name
                )
            }
            Outcome::Failed(e) => println!("{:<width$} failed: {e}", i.name),
            Outcome::Unrouted(e) => println!("{:<width$} unrouted: {e}", i.name),
        }
    }
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
