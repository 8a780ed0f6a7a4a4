//! Ingest throughput: a local sample feed → the ingest core → the in-process stream.
//!
//! Prints records/s and MB/s (of the uncompressed feed) for JSON lines, gzip JSON
//! lines and a JSON array, and the average records and bytes per `PutRecords` call.
//! Figures, not assertions: run with
//!
//! ```text
//! cargo bench -p feedpipe-ingest --bench ingest_throughput
//! FEEDPIPE_BENCH_ROWS=1000000 cargo bench -p feedpipe-ingest --bench ingest_throughput
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use feedpipe_ingest::{IngestConfig, IngestJob, IngestSummary};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::StorageLocation;
use feedpipe_standins::InProcessStream;

const RUNS: usize = 3;

fn main() {
    let rows: u64 = std::env::var("FEEDPIPE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut plain = Vec::new();
    let stats = write_feed(
        &mut plain,
        &SampleOptions {
            rows,
            bad_rate: 0.001,
            ..Default::default()
        },
    )
    .expect("generate");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    // The array holds the well-formed records only: a producer of a JSON array writes
    // whole values (an element with unbalanced brackets would swallow the rest).
    let mut array = Vec::with_capacity(plain.len() + rows as usize * 2);
    array.push(b'[');
    let elements = plain
        .split(|b| *b == b'\n')
        .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok_and(|v| v.is_object()));
    for (i, line) in elements.enumerate() {
        if i > 0 {
            array.extend_from_slice(b",\n");
        }
        array.extend_from_slice(line);
    }
    array.extend_from_slice(b"]\n");
    let feeds = [
        ("json lines", "feed.jsonl", &plain),
        ("json lines, gzip", "feed.jsonl.gz", &gz),
        ("json array", "feed.json", &array),
    ];
    for (_, name, bytes) in &feeds {
        std::fs::write(dir.path().join(name), bytes).expect("write feed");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "ingest throughput: {} records ({} malformed lines), {:.1} MB uncompressed, {:.1} MB gzip; best and median of {RUNS} runs",
        stats.good,
        stats.bad,
        plain.len() as f64 / 1e6,
        gz.len() as f64 / 1e6
    );
    println!(
        "{:<18} {:>12} {:>12} {:>10} {:>10} {:>14} {:>16}",
        "feed", "records/s", "median r/s", "MB/s", "median", "records/call", "KiB/call"
    );
    for (label, name, _) in &feeds {
        let mut results: Vec<(f64, IngestSummary)> = (0..RUNS)
            .map(|_| {
                let stream = Arc::new(InProcessStream::new("bench", 4));
                let quarantine = StorageLocation::parse(
                    dir.path().join("quarantine").to_str().expect("utf-8 path"),
                )
                .expect("q");
                let config = IngestConfig {
                    partition_key_field: Some("customer_id".into()),
                    ..Default::default()
                };
                let job = IngestJob::new(
                    stream,
                    Arc::new(ObjectStoreQuarantine::new(quarantine)),
                    config,
                );
                let feed =
                    StorageLocation::parse(dir.path().join(name).to_str().expect("utf-8 path"))
                        .expect("feed");
                let start = Instant::now();
                let summary = runtime.block_on(job.run(&feed, None)).expect("ingest");
                (start.elapsed().as_secs_f64(), summary)
            })
            .collect();
        results.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (best, summary) = &results[0];
        let median = results[RUNS / 2].0;
        let mb = summary.bytes_read as f64 / 1e6;
        println!(
            "{:<18} {:>12.0} {:>12.0} {:>10.1} {:>10.1} {:>14.1} {:>16.1}",
            label,
            summary.records_read as f64 / best,
            summary.records_read as f64 / median,
            mb / best,
            mb / median,
            summary.records_sent as f64 / summary.put_calls as f64,
            summary.bytes_sent as f64 / summary.put_calls as f64 / 1024.0,
        );
    }
}
