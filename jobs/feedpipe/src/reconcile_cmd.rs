//! `feedpipe reconcile`: proves, per source file, that records read = rows in the
//! curated Parquet + records quarantined, by `_record_id`; lists missing and duplicated
//! records. Exit code 0 only when everything matches.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use feedpipe_shared::storage::StorageLocation;

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
    let mut report = feedpipe_warehouse::reconcile(&source, &curated, quarantine.as_ref()).await?;
    report.dedup = args.dedup;
    print!("{}", report.render());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
