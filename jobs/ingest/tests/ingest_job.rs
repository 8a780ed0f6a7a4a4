//! The ingest job end to end on local files: feed in, in-process stream and
//! quarantine out, with the counts and the bytes checked independently.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use feedpipe_ingest::sink::RetryPolicy;
use feedpipe_ingest::{IngestConfig, IngestError, IngestJob, IngestSummary};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::lineage::record_id;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::StorageLocation;
use feedpipe_standins::{Faults, InProcessStream};
use serde_json::Value;

struct Setup {
    dir: tempfile::TempDir,
    stream: Arc<InProcessStream>,
}

impl Setup {
    fn new(shards: usize) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            stream: Arc::new(InProcessStream::new("feed", shards)),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = self.dir.path().join("source").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn job(&self, config: IngestConfig) -> IngestJob {
        let quarantine =
            StorageLocation::parse(self.dir.path().join("quarantine").to_str().unwrap()).unwrap();
        IngestJob::new(
            self.stream.clone(),
            Arc::new(ObjectStoreQuarantine::new(quarantine)),
            config,
        )
    }

    async fn run(&self, path: &Path, config: IngestConfig) -> Result<IngestSummary, IngestError> {
        self.job(config)
            .run(
                &StorageLocation::parse(path.to_str().unwrap()).unwrap(),
                None,
            )
            .await
    }

    /// Every record in the stream, parsed (packed Kinesis records split into theirs).
    fn stream_records(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for (shard, len) in self.stream.lengths().into_iter().enumerate() {
            for r in self.stream.read(shard, 0, len) {
                assert!(
                    r.data.ends_with(b"\n"),
                    "a Kinesis record ends with a whole line"
                );
                for line in r.lines() {
                    all.push(serde_json::from_slice::<Value>(line).unwrap());
                }
            }
        }
        all
    }

    /// Every quarantine entry, parsed.
    fn quarantine_entries(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let root = self.dir.path().join("quarantine");
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "jsonl") {
                    // (`.raw` files are side objects, the whole of a long record.)
                    let text = std::fs::read_to_string(&p).unwrap();
                    out.extend(
                        text.lines()
                            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                    );
                }
            }
        }
        out.sort_by_key(|v| v["line"].as_u64());
        out
    }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_micros(50),
        max_delay: Duration::from_millis(2),
    }
}

#[tokio::test]
async fn good_records_go_through_and_bad_ones_are_quarantined_with_file_line_and_reason() {
    let s = Setup::new(3);
    let mut feed = Vec::new();
    feed.extend(b"{\"customer_id\":\"C1\",\"amount\":1.50}\n");
    feed.extend(b"{\"customer_id\":\"C2\",\"amount\":\n"); // 2: malformed
    feed.extend(b"\n"); // 3: blank
    feed.extend(b"[1,2]\n"); // 4: not an object
    feed.extend(b"{\"customer_id\":\"C3\",\"note\":\"\xff\"}\n"); // 5: invalid UTF-8
    let big = format!(
        "{{\"customer_id\":\"C4\",\"big\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    feed.extend(big.as_bytes()); // 6: 2 MiB
    feed.push(b'\n');
    feed.extend(b"{\"customer_id\":\"C5\",\"_record_id\":\"mine\"}\n"); // 7: reserved name
    feed.extend("{\"customer_id\":\"C6\",\"name\":\"Zoë 東京\"}\r\n".as_bytes()); // 8: good, CRLF
    let path = s.write("mixed feed ü.jsonl", &feed);
    let config = IngestConfig {
        partition_key_field: Some("customer_id".into()),
        ..Default::default()
    };
    let summary = s.run(&path, config).await.unwrap();

    assert_eq!(summary.records_read, 7);
    assert_eq!(summary.records_sent, 2);
    assert_eq!(summary.records_quarantined, 5);
    assert_eq!(summary.put_calls, 1);

    let records = s.stream_records();
    let uri = format!("file://{}", path.display());
    let mut by_line: Vec<_> = records
        .iter()
        .map(|r| (r["_source_line"].as_u64().unwrap(), r))
        .collect();
    by_line.sort_by_key(|(l, _)| *l);
    assert_eq!(
        by_line.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![1, 8]
    );
    let (_, first) = by_line[0];
    assert_eq!(first["_source_uri"], uri.as_str());
    let version = first["_source_version"].as_str().unwrap();
    assert_eq!(first["_record_id"], record_id(&uri, version, 1).as_str());
    assert_eq!(by_line[1].1["name"], "Zoë 東京");
    // The customer's bytes, untouched: 1.50 stays 1.50.
    let raw = s.stream.read(s.stream.shard_for("C1"), 0, 10);
    assert!(
        raw.iter()
            .flat_map(|r| r.lines())
            .any(|line| { line.ends_with(b",\"customer_id\":\"C1\",\"amount\":1.50}\n") })
    );

    let q = s.quarantine_entries();
    let lines: Vec<u64> = q.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 4, 5, 6, 7]);
    for e in &q {
        assert_eq!(e["source"], uri.as_str());
        assert_eq!(e["stage"], "ingest");
    }
    assert!(
        q[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );
    assert_eq!(q[0]["raw"], "{\"customer_id\":\"C2\",\"amount\":");
    assert_eq!(q[1]["error"], "expected a JSON object, found an array");
    assert!(q[2]["error"].as_str().unwrap().contains("invalid UTF-8"));
    assert!(
        q[2].get("raw_base64").is_some(),
        "bytes that are not UTF-8 are kept as base64"
    );
    assert!(
        q[3]["error"]
            .as_str()
            .unwrap()
            .contains("Kinesis accepts at most 1048576")
    );
    assert_eq!(
        q[3]["raw"].as_str().unwrap(),
        big,
        "the whole 2 MiB record is kept"
    );
    assert!(
        q[4]["error"]
            .as_str()
            .unwrap()
            .contains("`_record_id` is reserved")
    );
}

#[tokio::test]
async fn gzip_json_array_under_faults_delivers_every_record_exactly_once() {
    let s = Setup::new(4);
    let mut plain = Vec::new();
    let stats = write_feed(
        &mut plain,
        &SampleOptions {
            rows: 5000,
            ..Default::default()
        },
    )
    .unwrap();
    // As a pretty JSON array, gzip-compressed, with a name that does not say so.
    let lines: Vec<&[u8]> = plain
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut array = b"[\n".to_vec();
    for (i, l) in lines.iter().enumerate() {
        array.extend(b"  ");
        array.extend(*l);
        array.extend(if i + 1 < lines.len() {
            &b",\n"[..]
        } else {
            &b"\n"[..]
        });
    }
    array.extend(b"]\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&array).unwrap();
    let path = s.write("orders.json", &gz.finish().unwrap());

    s.stream.set_faults(Faults {
        throttle_calls: 0.2,
        reject_records: 0.1,
        seed: 3,
    });
    let config = IngestConfig {
        partition_key_field: Some("customer_id".into()),
        retry: fast_retry(40),
        ..Default::default()
    };
    let summary = s.run(&path, config).await.unwrap();
    assert_eq!(summary.records_read, stats.good);
    assert_eq!(summary.records_sent, stats.good);
    assert_eq!(summary.records_quarantined, 0);
    assert!(summary.retried_records > 0 && summary.retry_calls > 0);

    let records = s.stream_records();
    assert_eq!(records.len() as u64, stats.good);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *seen.entry(r["_record_id"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(seen.len() as u64, stats.good, "every record exactly once");
    let orders: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["order_id"].as_str().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<String> =
        (1..=stats.good).map(|n| format!("ORD-{n:09}")).collect();
    assert!(
        orders
            .iter()
            .copied()
            .eq(expected.iter().map(String::as_str))
    );
    // Array elements are numbered by position.
    let first = records
        .iter()
        .find(|r| r["order_id"] == "ORD-000000001")
        .unwrap();
    assert_eq!(first["_source_line"], 1);
    // A packed Kinesis record is on the shard of its first record's customer (the
    // pack's partition key).
    for shard in 0..s.stream.lengths().len() {
        for x in s.stream.read(shard, 0, usize::MAX) {
            let first: Value = serde_json::from_slice(x.lines().next().unwrap()).unwrap();
            assert_eq!(x.partition_key, first["customer_id"].as_str().unwrap());
            assert_eq!(s.stream.shard_for(&x.partition_key), shard);
        }
    }
    assert!(
        summary.kinesis_records * 10 <= summary.records_sent,
        "packed: {summary:?}"
    );
}

#[tokio::test]
async fn when_the_stream_keeps_refusing_the_run_fails_and_the_rest_is_quarantined() {
    let s = Setup::new(1);
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 50,
            ..Default::default()
        },
    )
    .unwrap();
    let path = s.write("f.jsonl", &feed);
    s.stream.set_faults(Faults {
        throttle_calls: 0.0,
        reject_records: 1.0,
        seed: 1,
    });
    let err = s
        .run(
            &path,
            IngestConfig {
                retry: fast_retry(3),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    match &err {
        IngestError::Undelivered {
            count, first_line, ..
        } => {
            assert_eq!(*count, 50);
            assert_eq!(*first_line, 1);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        err.to_string().contains("not accepted after 3 attempts"),
        "{err}"
    );
    // The 50 records went in packed Kinesis records; each record is its own entry,
    // under its own line, holding its own framed bytes, ready to replay.
    let q = s.quarantine_entries();
    assert_eq!(q.len(), 50);
    assert!(
        q.iter()
            .all(|e| e["error"].as_str().unwrap().starts_with("undelivered: "))
    );
    let mut lines: Vec<u64> = q.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, (1..=50).collect::<Vec<_>>());
    for entry in &q {
        let raw = entry["raw"].as_str().unwrap();
        assert_eq!(raw.matches('\n').count(), 1, "one record: {raw}");
        let replay: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(replay["_source_line"], entry["line"]);
    }
}

#[tokio::test]
async fn a_missing_feed_is_a_permanent_error() {
    let s = Setup::new(1);
    let err = s
        .run(&s.dir.path().join("nope.jsonl"), IngestConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::NotFound { .. }));
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("nope.jsonl"));
}

#[tokio::test]
async fn empty_and_blank_feeds_succeed_with_nothing_to_send() {
    let s = Setup::new(1);
    for (name, body) in [("empty.jsonl", &b""[..]), ("blank.jsonl", b"\n\n  \n")] {
        let summary = s
            .run(&s.write(name, body), IngestConfig::default())
            .await
            .unwrap();
        assert_eq!(
            (
                summary.records_read,
                summary.records_sent,
                summary.put_calls
            ),
            (0, 0, 0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_rerun_produces_the_same_record_ids() {
    let s = Setup::new(2);
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 300,
            ..Default::default()
        },
    )
    .unwrap();
    let path = s.write("f.jsonl", &feed);
    s.run(&path, IngestConfig::default()).await.unwrap();
    s.run(&path, IngestConfig::default()).await.unwrap();
    let records = s.stream_records();
    assert_eq!(records.len(), 600);
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *ids.entry(r["_record_id"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(ids.len(), 300);
    assert!(
        ids.values().all(|n| *n == 2),
        "a duplicate delivery carries the same id, for dedupe downstream"
    );
}

/// A record longer than the keep limit is kept whole: its entry holds the first
/// `keep_limit` bytes and names a side object with every byte of it, for a line and
/// for a JSON-array element that swallows the rest of the file (an unclosed `[`);
/// the records around them go through.
#[tokio::test]
async fn a_record_past_the_keep_limit_goes_whole_to_a_side_object_the_entry_names() {
    let s = Setup::new(2);
    let long_line = format!("{{\"note\":\"{}\"", "x".repeat(50_000)); // no closing brace
    let lines = format!("{{\"a\":1}}\n{long_line}\n{{\"a\":3}}\n");
    let array_tail = format!("{{\"b\":[{}}}, {{\"b\":3}}\n]\n", "7,".repeat(30_000));
    let array = format!("[{{\"b\":1}},\n{array_tail}");
    let config = IngestConfig {
        keep_limit: 1_000,
        ..Default::default()
    };
    let summary = s
        .run(&s.write("lines.jsonl", lines.as_bytes()), config.clone())
        .await
        .unwrap();
    assert_eq!((summary.records_sent, summary.records_quarantined), (2, 1));
    let summary = s
        .run(&s.write("array.json", array.as_bytes()), config)
        .await
        .unwrap();
    assert_eq!(summary.records_sent, 1);
    let entries = s.quarantine_entries();
    let whole = |name: &str| -> Vec<u8> {
        let entry = entries
            .iter()
            .find(|e| e["source"].as_str().unwrap().ends_with(name))
            .unwrap();
        assert_eq!(entry["truncated"], true, "{entry}");
        assert_eq!(entry["raw"].as_str().unwrap().len(), 1_000);
        let side = entry["side_object"].as_str().unwrap();
        let path = side.strip_prefix("file://").unwrap();
        assert!(path.ends_with(".raw"), "{side}");
        std::fs::read(path).unwrap()
    };
    assert!(whole("lines.jsonl") == long_line.as_bytes());
    // The broken element runs to the end of the file: every byte of it is kept.
    let kept = whole("array.json");
    let want = array_tail.as_bytes(); // to the end of the file, its last newline too
    let first_difference = kept.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        kept == want,
        "{} bytes kept, {} expected, first difference at {first_difference:?}",
        kept.len(),
        want.len()
    );
}

#[tokio::test]
async fn a_shard_at_its_write_limits_throttles_and_every_record_still_arrives_once() {
    // One shard taking 500 records a second (Kinesis: 1,000): 1,500 records need three
    // seconds of it, so the sink is answered ProvisionedThroughputExceededException and
    // retries with its default backoff until each is in.
    let limits = feedpipe_standins::ShardLimits {
        bytes_per_second: 1024 * 1024,
        records_per_second: 500,
    };
    let s = Setup {
        dir: tempfile::tempdir().unwrap(),
        stream: Arc::new(InProcessStream::new("feed", 1).with_shard_limits(limits)),
    };
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 1500,
            ..Default::default()
        },
    )
    .unwrap();
    let path = s.write("orders.jsonl", &feed);
    let unpacked = IngestConfig {
        pack_bytes: 0,
        ..Default::default()
    };
    let summary = s.run(&path, unpacked).await.unwrap();
    assert_eq!(
        (summary.records_sent, summary.records_quarantined),
        (1500, 0)
    );
    assert!(summary.retried_records > 0, "{summary:?}");
    assert!(s.stream.throttled_records() > 0);
    let ids: std::collections::BTreeSet<String> = s
        .stream_records()
        .iter()
        .map(|r| r["_record_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1500, "each record once");
    assert_eq!(s.stream.lengths(), vec![1500]);

    // Packed, the same records are some 50 Kinesis records: the records-a-second limit
    // no longer binds, only the 1 MiB a second one (the feed is ~1.1 MB), so a handful
    // of Kinesis records are throttled where thousands were.
    let throttled = s.stream.throttled_records();
    let packed = Setup {
        dir: tempfile::tempdir().unwrap(),
        stream: Arc::new(InProcessStream::new("feed", 1).with_shard_limits(limits)),
    };
    let path = packed.write("orders.jsonl", &feed);
    let summary = packed.run(&path, IngestConfig::default()).await.unwrap();
    assert_eq!(summary.records_sent, 1500);
    assert!(summary.kinesis_records * 20 <= 1500, "{summary:?}");
    let packed_throttled = packed.stream.throttled_records();
    assert!(
        packed_throttled * 100 < throttled,
        "packed: {packed_throttled} throttled, unpacked: {throttled}"
    );
    assert_eq!(packed.stream_records().len(), 1500);
}

/// Each JSON line of the raw objects under `raw`, without its `_ingested_at` (the one
/// field that differs between two runs of one file), sorted.
fn raw_lines(raw: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![raw.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                bytes.ends_with(b"\n"),
                "{} ends with a whole line",
                path.display()
            );
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                let text = std::str::from_utf8(line).unwrap();
                let (head, rest) = text.split_once(",\"_ingested_at\":\"").unwrap();
                let (_, tail) = rest.split_once('"').unwrap();
                out.push(format!("{head}{tail}").into_bytes());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn packed_and_unpacked_runs_land_the_same_json_lines_in_the_raw_objects() {
    use feedpipe_ingest::pack::DEFAULT_PACK_BYTES;
    use feedpipe_standins::{Firehose, FirehoseConfig};

    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 3000,
            bad_rate: 0.02,
            seed: 9,
            ..Default::default()
        },
    )
    .unwrap();
    // A record longer than a pack goes alone, between packed ones.
    feed.extend(
        format!(
            "{{\"customer_id\":\"C9\",\"note\":\"{}\"}}\n",
            "n".repeat(40_000)
        )
        .as_bytes(),
    );
    feed.extend(b"{\"customer_id\":\"C9\",\"after\":true}\n");
    // One file (its URI is in the lineage), two runs, each with its own stream.
    let source = Setup::new(1);
    let path = source.write("orders.jsonl", &feed);
    let mut runs = Vec::new();
    for pack_bytes in [0, DEFAULT_PACK_BYTES] {
        let s = Setup::new(3);
        let config = IngestConfig {
            partition_key_field: Some("customer_id".into()),
            pack_bytes,
            ..Default::default()
        };
        let summary = s.run(&path, config).await.unwrap();
        let raw_dir = s.dir.path().join("raw");
        std::fs::create_dir_all(&raw_dir).unwrap();
        let raw = StorageLocation::parse(raw_dir.to_str().unwrap()).unwrap();
        let firehose_config = FirehoseConfig {
            buffer_bytes: 256 * 1024,
            ..Default::default()
        };
        let mut firehose = Firehose::new(s.stream.clone(), raw, firehose_config)
            .await
            .unwrap();
        firehose.poll().await.unwrap();
        firehose.flush().await.unwrap();
        let delivered = firehose.summary().clone();
        assert_eq!(delivered.records, summary.kinesis_records);
        assert_eq!(delivered.lines, summary.records_sent);
        runs.push((summary, delivered, raw_lines(&raw_dir)));
    }
    let (unpacked, unpacked_firehose, unpacked_lines) = &runs[0];
    let (packed, packed_firehose, packed_lines) = &runs[1];
    assert_eq!(unpacked.kinesis_records, unpacked.records_sent);
    assert_eq!(packed.records_sent, unpacked.records_sent);
    assert!(
        packed.kinesis_records * 10 <= packed.records_sent,
        "{} Kinesis records for {} records",
        packed.kinesis_records,
        packed.records_sent
    );
    assert_eq!(packed_lines.len() as u64, packed.records_sent);
    assert!(
        packed_lines == unpacked_lines,
        "the same JSON lines, byte for byte"
    );
    assert_eq!(packed_firehose.bytes, unpacked_firehose.bytes);
    // What Firehose bills: every record rounded up to 5 KB.
    assert!(
        packed_firehose.billed_bytes * 5 < unpacked_firehose.billed_bytes,
        "billed {} packed, {} unpacked",
        packed_firehose.billed_bytes,
        unpacked_firehose.billed_bytes
    );
    assert!(packed_firehose.billed_bytes < packed_firehose.bytes * 11 / 10);
}

/// The file run in parts, each stopped by a deadline already past (so each reads one
/// item), every part going on from the last one's continuation. Returns the final
/// summary and the number of parts.
async fn run_in_parts(s: &Setup, path: &Path, config: IngestConfig) -> (IngestSummary, u32) {
    use feedpipe_ingest::{Part, RunOptions};
    let job = s.job(config);
    let feed = StorageLocation::parse(path.to_str().unwrap()).unwrap();
    let mut continuation = None;
    let mut parts = 0;
    loop {
        parts += 1;
        let options = RunOptions {
            deadline: Some(std::time::Instant::now()),
            continuation: continuation.take(),
            ..Default::default()
        };
        match job.run_part(&feed, options).await.unwrap() {
            Part::Done(summary) => return (summary, parts),
            Part::Stopped(next) => {
                assert_eq!(next.parts, parts);
                // A continuation crosses a queue as JSON.
                let json = serde_json::to_string(&next).unwrap();
                continuation = Some(serde_json::from_str(&json).unwrap());
            }
        }
    }
}

/// What reached the stream (by record id: its line and bytes without `_ingested_at`)
/// and the quarantine (by line: kind, byte range and raw bytes).
type Outcome = (
    std::collections::BTreeMap<String, (u64, String)>,
    Vec<(u64, String, String)>,
);

fn outcome(s: &Setup) -> Outcome {
    let records = s
        .stream_records()
        .into_iter()
        .map(|mut r| {
            let id = r["_record_id"].as_str().unwrap().to_owned();
            r.as_object_mut().unwrap().remove("_ingested_at");
            (id, (r["_source_line"].as_u64().unwrap(), r.to_string()))
        })
        .collect::<std::collections::BTreeMap<_, _>>();
    let quarantine = s
        .quarantine_entries()
        .into_iter()
        .map(|e| {
            // Where it lies in the file too: a later part places its items as one run would.
            let raw = format!("{} {}", e["source_bytes"], e["raw"].as_str().unwrap());
            (
                e["line"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_owned(),
                raw,
            )
        })
        .collect();
    (records, quarantine)
}

#[tokio::test]
async fn a_file_ingested_in_parts_gives_what_one_run_gives_plain_gzip_and_array() {
    // Blank lines, CRLF, a BOM, bad lines and a line past the keep limit: every kind of
    // item, so that a part boundary falls after each kind.
    let mut lines = b"\xEF\xBB\xBF{\"customer_id\":\"C0\",\"n\":0}\r\n\n".to_vec();
    for n in 1..=60u32 {
        match n % 10 {
            3 => lines.extend(b"{\"customer_id\": broken\n"),
            5 => lines.extend(b"   \n"),
            7 => lines.extend(
                format!(
                    "{{\"customer_id\":\"C{n}\",\"pad\":\"{}\"}}\n",
                    "p".repeat(3000)
                )
                .as_bytes(),
            ),
            _ => lines.extend(format!("{{\"customer_id\":\"C{n}\",\"n\":{n}}}\r\n").as_bytes()),
        }
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&lines).unwrap();
    let gz = gz.finish().unwrap();
    let elements: Vec<String> = (1..=40)
        .map(|n| format!("{{\"customer_id\":\"C{n}\",\"n\":{n}}}"))
        .collect();
    let array = format!("[\n{}\n]\n", elements.join(",\n "));
    let feeds: [(&str, &[u8]); 3] = [
        ("lines.jsonl", &lines),
        ("lines.jsonl.gz", &gz),
        ("array.json", array.as_bytes()),
    ];
    for (name, bytes) in feeds {
        let config = IngestConfig {
            partition_key_field: Some("customer_id".into()),
            keep_limit: 2048,
            ..Default::default()
        };
        let whole = Setup::new(2);
        let path = whole.write(name, bytes);
        let one_run = whole.run(&path, config.clone()).await.unwrap();
        let parted = Setup::new(2);
        let (summary, parts) = run_in_parts(&parted, &path, config).await;
        let items = one_run.records_read;
        assert!(
            parts as u64 >= items,
            "{name}: {parts} parts for {items} items"
        );
        let counts = |s: &IngestSummary| {
            (
                s.files,
                s.records_read,
                s.records_sent,
                s.records_quarantined,
                s.bytes_stored,
                s.bytes_read,
            )
        };
        assert_eq!(
            counts(&summary),
            counts(&one_run),
            "{name}: the whole file's summary, once"
        );
        assert!(
            outcome(&parted) == outcome(&whole),
            "{name}: the same records and ids, the same quarantine"
        );
        assert_eq!(outcome(&parted).0.len() as u64, one_run.records_sent);
    }
}

#[tokio::test]
async fn a_continuation_refuses_a_file_that_changed_since_its_first_part() {
    use feedpipe_ingest::{Part, RunOptions};
    let s = Setup::new(1);
    let path = s.write("f.jsonl", b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    let job = s.job(IngestConfig::default());
    let feed = StorageLocation::parse(path.to_str().unwrap()).unwrap();
    let options = RunOptions {
        deadline: Some(std::time::Instant::now()),
        ..Default::default()
    };
    let Part::Stopped(next) = job.run_part(&feed, options).await.unwrap() else {
        panic!("a deadline in the past stops after the first line");
    };
    assert_eq!((next.lines_done, next.byte_offset), (1, 8));
    std::fs::write(&path, b"{\"a\":1}\n{\"a\":9}\n{\"a\":3}\n").unwrap();
    let options = RunOptions {
        continuation: Some(next),
        ..Default::default()
    };
    let err = job.run_part(&feed, options).await.unwrap_err();
    assert!(
        matches!(err, IngestError::Changed(_)) && !err.is_retryable(),
        "{err}"
    );
    assert!(
        err.to_string().contains("changed since the first part"),
        "{err}"
    );
    assert_eq!(
        s.stream_records().len(),
        1,
        "nothing of the changed file is sent"
    );
}

#[tokio::test]
async fn a_file_of_no_feed_is_one_unrouted_quarantine_entry_naming_its_key() {
    let s = Setup::new(1);
    let job = s.job(IngestConfig::default());
    let source = feedpipe_shared::lineage::SourceObject {
        uri: "s3://src/loyalty/points.jsonl".into(),
        version: "v1".into(),
    };
    let written = job
        .quarantine_unrouted(&source, "loyalty/points.jsonl", "s3://config/feeds.toml")
        .await
        .unwrap();
    assert_eq!(written.len(), 1);
    let entries = s.quarantine_entries();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e["kind"].as_str(), e["line"].as_u64()),
        (Some("unrouted"), Some(0))
    );
    assert_eq!(e["source"], "s3://src/loyalty/points.jsonl");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("no feed for key `loyalty/points.jsonl`: it starts with no prefix of the feeds file s3://config/feeds.toml"),
        "{e}"
    );
    assert_eq!(s.stream_records().len(), 0, "nothing of it is sent");
    // The partition key of a feed replaces the job's.
    let path = s.write("f.jsonl", b"{\"customer\":{\"id\":\"C-9\"}}\n");
    let feed_job = job.with_partition_key(Some("customer.id".into()));
    feed_job
        .run(
            &StorageLocation::parse(path.to_str().unwrap()).unwrap(),
            None,
        )
        .await
        .unwrap();
    let stored = s.stream.read(0, 0, 10);
    assert_eq!(stored[0].partition_key, "C-9");
}
