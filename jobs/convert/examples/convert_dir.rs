//! Converts every raw object under a local folder as one group (what `feedpipe
//! convert` does with compaction), with the sample contract, and prints the time:
//! a quick way to profile the conversion core without building the CLI (which links
//! DataFusion).
//!
//! usage: cargo run --release -p feedpipe-convert --example convert_dir -- RAW_DIR OUT_DIR [DECODE_THREADS [ROW_GROUP_ROWS [ENCODE_THREADS]]]

#![allow(clippy::unwrap_used)] // a profiling tool: a failed unwrap is the answer

use std::sync::Arc;
use std::time::Instant;

use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract};
use feedpipe_convert::{ConvertConfig, Converter, RawInput};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{StorageLocation, object_version};
use futures::TryStreamExt;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let raw = StorageLocation::parse(&args[1]).unwrap();
    let out = StorageLocation::parse(&args[2]).unwrap();
    let quarantine = StorageLocation::parse(&format!("{}/_quarantine", args[2])).unwrap();
    let mut config = ConvertConfig::default();
    if let Some(threads) = args.get(3) {
        config.decode_threads = threads.parse().unwrap();
    }
    if let Some(rows) = args.get(4) {
        config.row_group_rows = rows.parse().unwrap();
    }
    if let Some(threads) = args.get(5) {
        config.encode_threads = threads.parse().unwrap();
    }
    let mut listed: Vec<_> = raw.store.list(Some(&raw.path)).try_collect().await.unwrap();
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let inputs: Vec<RawInput> = listed
        .iter()
        .map(|meta| RawInput {
            location: raw.at(meta.location.clone()),
            version_id: None,
            listed_version: Some(object_version(meta, None)),
            e_tag: None,
        })
        .collect();
    let bytes: u64 = listed.iter().map(|m| m.size).sum();
    let converter = Converter::new(
        SchemaContract::from_json(SAMPLE_CONTRACT).unwrap(),
        out,
        Arc::new(ObjectStoreQuarantine::new(quarantine)),
        config,
    );
    let started = Instant::now();
    let manifest = converter.convert_group(&inputs).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} objects, {:.1} MB, {} records, {} rows, {} files in {seconds:.2} s: {:.1} MB/s",
        inputs.len(),
        bytes as f64 / 1e6,
        manifest.records_read,
        manifest.rows_written,
        manifest.outputs.len(),
        bytes as f64 / 1e6 / seconds
    );
}
