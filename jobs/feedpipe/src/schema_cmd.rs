//! `feedpipe schema infer|sql|diff|suggest`: write a schema contract from sample
//! data, print the Snowflake table that matches a contract, print the Snowflake
//! statements that follow a contract's change (or refuse it), and propose new columns
//! from the fields the curated data keeps in `_extra`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use feedpipe_convert::contract::{self, Proposal, SchemaContract, Suggestion, infer};
use feedpipe_ingest::reader::{FeedItem, FeedReader, open_feed};
use feedpipe_shared::storage::StorageLocation;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Infer a contract from a sample feed (JSON lines or array, gzip or not).
    Infer {
        /// The sample feed.
        sample: PathBuf,
        /// Table name in the contract.
        #[arg(long, default_value = "feed")]
        table: String,
        /// Records to read from the sample at most.
        #[arg(long, default_value_t = 100_000)]
        sample_rows: u64,
        /// Write the contract here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the Snowflake CREATE TABLE matching a contract.
    Sql {
        /// The contract (JSON).
        contract: PathBuf,
    },
    /// Print the Snowflake statements that follow a contract's change (ALTER TABLE …
    /// ADD COLUMN for each new nullable column, and the dedup view again), or refuse
    /// every change Snowflake or the curated Parquet cannot follow, each with its
    /// reason on standard error, and exit 2.
    Diff {
        /// The contract deployed now (a path or an s3:// URL).
        old: String,
        /// The contract to deploy.
        new: String,
        /// Database of the statements; the default is schemachange's placeholder.
        #[arg(long, default_value = "{{ database }}")]
        database: String,
        /// Schema of the statements; the default is schemachange's placeholder.
        #[arg(long, default_value = "{{ schema }}")]
        schema: String,
    },
    /// Read `_extra` in the curated data of a table and propose the fields seen there
    /// as new nullable columns: how often each appears and its inferred type on
    /// standard error, the columns (or, with --contract, the whole new contract) as
    /// JSON on standard output or in --out.
    Suggest {
        /// Curated root (local folder or s3:// URL): the table is <curated>/<table>/dt=*/.
        #[arg(long, env = "FEEDPIPE_CURATED_URL")]
        curated: String,
        /// The table (its curated folder).
        #[arg(long)]
        table: String,
        /// The table's contract now (a path or an s3:// URL): the output is this
        /// contract with the proposed columns appended, which `schema diff` accepts.
        #[arg(long)]
        contract: Option<String>,
        /// Write the JSON here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SchemaCommand::Infer {
            sample,
            table,
            sample_rows,
            out,
        } => infer_cmd(&sample, &table, sample_rows, out)?,
        SchemaCommand::Sql { contract } => {
            let text = std::fs::read_to_string(&contract)
                .with_context(|| format!("cannot read {}", contract.display()))?;
            let parsed = SchemaContract::from_json(&text)
                .with_context(|| format!("in {}", contract.display()))?;
            print!("{}", parsed.snowflake_table_sql());
        }
        SchemaCommand::Diff {
            old,
            new,
            database,
            schema,
        } => {
            let before = contract::load(&old).await?;
            let after = contract::load(&new).await?;
            match contract::diff(&before, &after) {
                Ok(evolution) => print!("{}", evolution.snowflake_sql(&database, &schema)),
                Err(refused) => {
                    eprintln!("schema diff {old} {new}: {refused}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        SchemaCommand::Suggest {
            curated,
            table,
            contract,
            out,
        } => suggest_cmd(&curated, &table, contract.as_deref(), out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn infer_cmd(
    sample: &std::path::Path,
    table: &str,
    sample_rows: u64,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(sample).with_context(|| format!("cannot open {}", sample.display()))?;
    let feed = open_feed(file).with_context(|| format!("cannot read {}", sample.display()))?;
    let mut reader = FeedReader::new(feed, 16 << 20)
        .with_context(|| format!("cannot read {}", sample.display()))?;
    let mut records = Vec::new();
    let mut bad = 0u64;
    while (records.len() as u64) < sample_rows {
        match reader
            .next_item()
            .with_context(|| format!("cannot read {}", sample.display()))?
        {
            Some(FeedItem::Record { bytes, .. }) => records.push(bytes.to_vec()),
            Some(FeedItem::Bad { .. }) => bad += 1,
            None => break,
        }
    }
    let inferred = infer(table, records.iter().map(Vec::as_slice))
        .with_context(|| format!("cannot infer a contract from {}", sample.display()))?;
    let contract = inferred.contract;
    contract.validate()?;
    match out {
        Some(path) => {
            std::fs::write(&path, contract.to_json())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} ({} columns from {} records; {} lines skipped as not JSON objects)",
                path.display(),
                contract.columns.len(),
                inferred.used,
                bad + inferred.skipped
            );
        }
        None => print!("{}", contract.to_json()),
    }
    Ok(())
}

async fn suggest_cmd(
    curated: &str,
    table: &str,
    contract_url: Option<&str>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let location =
        StorageLocation::parse(curated).with_context(|| format!("bad --curated {curated}"))?;
    let current = match contract_url {
        Some(url) => Some(contract::load(url).await?),
        None => None,
    };
    if let Some(c) = current.as_ref().filter(|c| c.table != table) {
        anyhow::bail!(
            "the contract {} is of table `{}`, not `{table}`",
            contract_url.unwrap_or_default(),
            c.table
        );
    }
    let suggestion = contract::read_extra(&location, table, current.as_ref()).await?;
    if suggestion.rows == 0 {
        anyhow::bail!(
            "no curated Parquet of table `{table}` under {} (looked for {}/{table}/dt=*/*.parquet)",
            location.uri(),
            location.uri().trim_end_matches('/')
        );
    }
    eprint!(
        "{}",
        report(&suggestion, location.uri().trim_end_matches('/'))
    );
    let json = match &current {
        Some(c) => suggestion.extend(c)?.to_json(),
        None => {
            let mut text = serde_json::to_string_pretty(&suggestion.proposed())?;
            text.push('\n');
            text
        }
    };
    match out {
        Some(path) => {
            std::fs::write(&path, &json)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} ({} proposed column(s){})",
                path.display(),
                suggestion.proposed().len(),
                match &current {
                    Some(_) => ", appended to the contract",
                    None => "",
                }
            );
        }
        None => print!("{json}"),
    }
    Ok(())
}

/// The table of fields seen in `_extra`, for a human.
fn report(s: &Suggestion, root: &str) -> String {
    let share = |rows: u64| 100.0 * rows as f64 / s.rows.max(1) as f64;
    let mut out = format!(
        "schema suggest: {root}/{}/: {} row(s), {} with fields outside the contract in _extra ({:.1}%)\n",
        s.table,
        s.rows,
        s.rows_with_extra,
        share(s.rows_with_extra)
    );
    if s.unreadable > 0 {
        out.push_str(&format!(
            "  {} _extra value(s) are not a JSON object and were skipped\n",
            s.unreadable
        ));
    }
    if s.fields.is_empty() {
        out.push_str("no field outside the contract: nothing to propose\n");
        return out;
    }
    let rows: Vec<[String; 5]> = s
        .fields
        .iter()
        .map(|f| {
            [
                if f.name.is_empty() {
                    "\"\"".to_owned()
                } else {
                    f.name.clone()
                },
                f.rows.to_string(),
                format!("{:.1}%", share(f.rows)),
                f.ty.as_ref().map(type_text).unwrap_or_else(|| "-".into()),
                match &f.proposal {
                    Proposal::Column => "yes".to_owned(),
                    other => format!(
                        "no: {}",
                        other.to_string().trim_start_matches("not proposed: ")
                    ),
                },
            ]
        })
        .collect();
    let head = ["field", "rows", "share", "type", "proposed"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&head))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in std::iter::once(&head).chain(&rows) {
        out.push_str(&format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:<w3$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        ));
    }
    out
}

/// A type as the contract writes it: the name, or the JSON of a nested type.
fn type_text(ty: &contract::ColumnType) -> String {
    match serde_json::to_value(ty) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => ty.to_string(),
    }
}
