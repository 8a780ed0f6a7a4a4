//! `feedpipe sql render --feeds FILE [--out DIR]`: writes (or prints) the scripts of
//! [`feedpipe_convert::sql_render`], and names the `.sql` files of the folder it did
//! not write.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use feedpipe_convert::contract;
use feedpipe_convert::sql_render::render_feeds;
use feedpipe_shared::feeds::FeedsFile;

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(subcommand)]
    command: SqlCommand,
}

#[derive(Debug, Subcommand)]
enum SqlCommand {
    /// Write the schemachange root folder of a deployment with many feeds: the shared
    /// scripts of sql/, and per feed its table (from its contract), stage, pipe,
    /// manifest stage, dedup view and monitoring queries.
    Render {
        /// The feeds file (TOML); contract paths in it are relative to it.
        #[arg(long)]
        feeds: PathBuf,
        /// Write the scripts into this folder (created if needed); without it they
        /// are printed, each after a `-- file: NAME` line.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let SqlCommand::Render { feeds, out } = args.command;
    let file = FeedsFile::read(&feeds)?;
    let contracts = contract::load_feeds(&file, |_| None).await?;
    let name = feeds
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.origin.clone());
    let scripts = render_feeds(&file, &contracts).map_err(anyhow::Error::msg)?;
    match out {
        None => {
            for (name, text) in &scripts {
                print!("-- file: {name}\n{text}");
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, text) in &scripts {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!(
                "wrote {} script(s) for {} feed(s) to {}: {}",
                scripts.len(),
                contracts.len(),
                dir.display(),
                scripts
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for stray in strays(&dir, &scripts)? {
                eprintln!(
                    "note: {} was not rendered from {name} (a feed removed, or a script of your own): left as it is; schemachange still runs it when it changes, and the objects it created stay",
                    dir.join(stray).display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `.sql` files in `dir` that this render did not write, sorted.
fn strays(dir: &Path, scripts: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sql") && !scripts.iter().any(|(n, _)| *n == name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
