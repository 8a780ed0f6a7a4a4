//! `feedpipe reconcile`: proves, per source file, that records read = rows in the
//! curated Parquet + records quarantined, by `_record_id`; lists missing and duplicated
//! records. Exit code 0 only when everything matches. Memory stays within
//! `--memory-mib` whatever the number of records: past it, the record ids are sorted
//! to disk under `--spill-dir` and merged.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use feedpipe_shared::storage::StorageLocation;
use feedpipe_warehouse::ReconcileOptions;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Source files: a feed file, or a folder or prefix of them (local or s3://).
    #[arg(long)]
    source: String,
    /// Curated root (the folder or prefix holding <table>/ and _manifests/).
    #[arg(long, env = "FEEDPIPE_CURATED_URL")]
    curated: String,
    /// Quarantine root; without it, quarantined records count as missing.
    #[arg(long, env = "FEEDPIPE_QUARANTINE_URL")]
    quarantine: Option<String>,
    /// The table is read through its `<table>_dedup` view (Snowflake, sql/R__dedup_view.sql),
    /// so records loaded more than once by at-least-once hops pass: they are counted
    /// and listed, not failures. Records both loaded and quarantined still fail.
    #[arg(long)]
    dedup: bool,
    /// Memory for the record ids being matched, in MiB (about 4 million ids for 128);
    /// past it they are sorted in runs to --spill-dir and merged. The report is the same.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    memory_mib: u32,
    /// Where the sorted runs go: a temporary folder inside it, removed afterwards
    /// (about 20 bytes a source record and 16 a curated row: 3.4 GiB at 100 million of
    /// each). Default: the system's temp folder (TMPDIR).
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
}

pub async fn run(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let parse = |url: &str, flag: &str| {
        StorageLocation::parse(url).with_context(|| format!("bad --{flag} {url}"))
    };
    let source = parse(&args.source, "source")?;
    let curated = parse(&args.curated, "curated")?;
    let quarantine = args
        .quarantine
        .as_deref()
        .map(|q| parse(q, "quarantine"))
        .transpose()?;
    let options = ReconcileOptions {
        memory_budget: (args.memory_mib as usize) << 20,
        spill_dir: args.spill_dir,
    };
    let mut report =
        feedpipe_warehouse::reconcile_with(&source, &curated, quarantine.as_ref(), &options)
            .await?;
    report.dedup = args.dedup;
    print!("{}", report.render());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
