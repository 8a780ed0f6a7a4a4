//! Which contract a local run uses: `--schema`, else the one an earlier run inferred,
//! else the conversion core's choice for the feeds in the source folder.

use std::collections::HashMap;

use anyhow::Context;
use feedpipe_convert::contract::{self, Choice, SchemaContract};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::storage::{StorageLocation, open_object};

use super::LocalArgs;
use super::workdir::Dirs;

/// The contract: `--schema`, else the one an earlier run inferred (`DIR/schema.json`),
/// else the core's choice between the sample contract and one inferred from the
/// feeds (written to `DIR/schema.json` for review).
pub(super) async fn choose_contract(
    args: &LocalArgs,
    dirs: &Dirs,
    files: &[StorageLocation],
) -> anyhow::Result<(SchemaContract, String)> {
    let pinned = dirs.root.join("schema.json");
    let (mut contract, note) = if let Some(path) = &args.schema {
        (
            contract::load(&path.display().to_string()).await?,
            format!("contract {}", path.display()),
        )
    } else if pinned.exists() {
        (
            contract::load(&pinned.display().to_string()).await?,
            format!("contract {} (inferred by an earlier run)", pinned.display()),
        )
    } else {
        let mut feeds = Vec::with_capacity(files.len());
        for file in files {
            let (_, body) = open_object(file, None)
                .await
                .with_context(|| format!("cannot open {}", file.uri()))?;
            feeds.push(body);
        }
        let records = contract::sample_records(feeds, contract::SAMPLE_PER_FILE);
        let table = args.table.clone().unwrap_or_else(|| "feed".into());
        let chosen = contract::choose(&table, &records)?;
        match chosen.choice {
            Choice::Sample => (chosen.contract, "the built-in sample contract".to_owned()),
            Choice::Inferred {
                used,
                fit,
                set_aside,
            } => {
                std::fs::write(&pinned, chosen.contract.to_json())
                    .with_context(|| format!("cannot write {}", pinned.display()))?;
                let set_aside = if set_aside.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; field(s) `{}` kept in `_extra` (feedpipe reserves the name{})",
                        set_aside.join("`, `"),
                        if set_aside.len() > 1 { "s" } else { "" }
                    )
                };
                (
                    chosen.contract,
                    format!(
                        "contract inferred from {used} record(s) (only {fit} fit the sample contract) and written to {}: review it, and pin it with --schema{set_aside}",
                        pinned.display()
                    ),
                )
            }
        }
    };
    if let Some(table) = &args.table {
        contract.table = table.clone();
    }
    contract.validate()?;
    Ok((contract, note))
}

/// The contract of every feed of `feeds`, in order: the one its entry names, else
/// the one an earlier run inferred for it (`DIR/contracts/<table>.json`), else the
/// core's choice for its own files (those under its prefix), written there for
/// review. A feed with no contract and no file yet has no column but `_extra`, and
/// nothing is written. Also returns a note per feed.
pub(super) async fn feed_contracts(
    feeds: &FeedsFile,
    dirs: &Dirs,
    files: &[StorageLocation],
    source_root: &str,
) -> anyhow::Result<(Vec<SchemaContract>, Vec<String>)> {
    let folder = dirs.root.join("contracts");
    let mut found: HashMap<String, SchemaContract> = HashMap::new();
    let mut notes = Vec::with_capacity(feeds.feeds.len());
    for (i, feed) in feeds.feeds.iter().enumerate() {
        if let Some(url) = feeds.contract_location(feed) {
            notes.push(format!("`{}`: contract {url}", feed.table));
            continue;
        }
        let pinned = folder.join(format!("{}.json", feed.table));
        if pinned.exists() {
            let contract = contract::load(&pinned.display().to_string()).await?;
            notes.push(format!(
                "`{}`: contract {} (inferred by an earlier run)",
                feed.table,
                pinned.display()
            ));
            found.insert(feed.table.clone(), contract);
            continue;
        }
        let mut bodies = Vec::new();
        for file in files {
            let uri = file.uri();
            let key = uri.strip_prefix(source_root).unwrap_or(&uri);
            if feeds.route_index(key) == Some(i) {
                let (_, body) = open_object(file, None)
                    .await
                    .with_context(|| format!("cannot open {uri}"))?;
                bodies.push(body);
            }
        }
        if bodies.is_empty() {
            notes.push(format!(
                "`{}`: no contract and no file yet, so every field goes to `_extra`",
                feed.table
            ));
            found.insert(
                feed.table.clone(),
                SchemaContract {
                    table: feed.table.clone(),
                    event_time: None,
                    columns: Vec::new(),
                },
            );
            continue;
        }
        let records = contract::sample_records(bodies, contract::SAMPLE_PER_FILE);
        let chosen = contract::choose(&feed.table, &records)
            .with_context(|| format!("cannot infer a contract for feed `{}`", feed.table))?;
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        std::fs::write(&pinned, chosen.contract.to_json())
            .with_context(|| format!("cannot write {}", pinned.display()))?;
        notes.push(format!(
            "`{}`: {} written to {}: review it, and name it in the feeds file to pin it",
            feed.table,
            match chosen.choice {
                Choice::Sample => "the built-in sample contract fits its files,".to_owned(),
                Choice::Inferred { used, .. } =>
                    format!("contract inferred from {used} record(s) of its files"),
            },
            pinned.display()
        ));
        found.insert(feed.table.clone(), chosen.contract);
    }
    let contracts = contract::load_feeds(feeds, |feed| found.remove(&feed.table)).await?;
    Ok((contracts, notes))
}
