//! Which contract a local run uses: `--schema`, else the one an earlier run inferred,
//! else the conversion core's choice for the feeds in the source folder.

use anyhow::Context;
use feedpipe_convert::contract::{self, Choice, SchemaContract};
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
