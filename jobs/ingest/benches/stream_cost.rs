//! Feed → stream under the shard limits, packed and unpacked, and what Firehose bills.
//!
//! The sample feed goes through the ingest core into the in-process stream with each
//! shard limited as a provisioned Kinesis shard is (1 MiB and 1,000 records a second,
//! `ProvisionedThroughputExceededException` past them, retried by the ingest with its
//! production policy), then through the Firehose stand-in into raw objects. For each
//! `--pack-bytes` setting it prints the wall time, records/s and MB/s of the feed, the
//! Kinesis records and throttled ones, the records left undelivered, and the bytes
//! Firehose bills for ingestion (each record rounded up to 5 KB), also per GB of data.
//! Figures, not assertions:
//!
//! ```text
//! cargo bench --workspace --bench stream_cost
//! FEEDPIPE_BENCH_ROWS=100000 FEEDPIPE_BENCH_SHARDS=2 cargo bench --workspace --bench stream_cost
//! ```

use std::sync::Arc;
use std::time::Instant;

use feedpipe_ingest::pack::DEFAULT_PACK_BYTES;
use feedpipe_ingest::{IngestConfig, IngestError, IngestJob};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::StorageLocation;
use feedpipe_standins::{Firehose, FirehoseConfig, InProcessStream, ShardLimits};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rows = env_number("FEEDPIPE_BENCH_ROWS", 40_000);
    let shards = env_number("FEEDPIPE_BENCH_SHARDS", 4) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows,
            ..Default::default()
        },
    )
    .expect("generate");
    let path = dir.path().join("feed.jsonl");
    std::fs::write(&path, &feed).expect("write feed");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "feed → stream with Kinesis shard limits: {rows} records, {:.1} MB, {shards} shard(s) of 1 MiB and 1,000 records a second",
        feed.len() as f64 / 1e6
    );
    println!(
        "{:<12} {:>8} {:>10} {:>7} {:>9} {:>10} {:>12} {:>13} {:>14}",
        "pack bytes",
        "seconds",
        "records/s",
        "MB/s",
        "kinesis",
        "throttled",
        "undelivered",
        "firehose GB",
        "billed/data"
    );
    for pack_bytes in [0, DEFAULT_PACK_BYTES] {
        let run = dir.path().join(format!("run-{pack_bytes}"));
        std::fs::create_dir_all(run.join("raw")).expect("raw dir");
        let stream =
            Arc::new(InProcessStream::new("bench", shards).with_shard_limits(ShardLimits::KINESIS));
        let location = |p: &std::path::Path| {
            StorageLocation::parse(p.to_str().expect("utf-8 path")).expect("location")
        };
        let job = IngestJob::new(
            stream.clone(),
            Arc::new(ObjectStoreQuarantine::new(location(&run.join("q")))),
            IngestConfig {
                partition_key_field: Some("customer_id".into()),
                pack_bytes,
                ..Default::default()
            },
        );
        let start = Instant::now();
        let outcome = runtime.block_on(job.run(&location(&path), None));
        let seconds = start.elapsed().as_secs_f64();
        // A file whose retries ran out fails (reading stops, the rest is not sent):
        // what reached the stream is then what the Firehose stand-in delivers.
        let (sent, undelivered) = match &outcome {
            Ok(s) => (Some(s.records_sent), "0".to_owned()),
            Err(IngestError::Undelivered { count, .. }) => (None, format!("{count}, failed")),
            Err(e) => panic!("ingest failed: {e}"),
        };
        let delivered = runtime.block_on(async {
            let mut firehose = Firehose::new(
                stream.clone(),
                location(&run.join("raw")),
                FirehoseConfig::default(),
            )
            .await
            .expect("firehose");
            firehose.poll().await.expect("poll");
            firehose.flush().await.expect("flush");
            firehose.summary().clone()
        });
        if let Some(sent) = sent {
            assert_eq!(delivered.lines, sent, "every accepted record lands once");
        }
        let sent = delivered.lines;
        println!(
            "{:<12} {:>8.2} {:>10.0} {:>7.2} {:>9} {:>10} {:>12} {:>13.4} {:>14.2}",
            if pack_bytes == 0 {
                "0 (off)".to_owned()
            } else {
                pack_bytes.to_string()
            },
            seconds,
            sent as f64 / seconds,
            delivered.bytes as f64 / 1e6 / seconds,
            delivered.records,
            stream.throttled_records(),
            undelivered,
            delivered.billed_bytes as f64 / 1e9,
            delivered.billed_bytes as f64 / delivered.bytes.max(1) as f64,
        );
    }
}
