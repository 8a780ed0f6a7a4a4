//! The ingest Lambda's handler against a real S3 and Kinesis wire protocol (moto's
//! server, started by tests/run.sh): upload a feed with bad lines, hand the handler
//! the S3 event the upload would produce, read every record back with GetRecords and
//! compare with the input, computed independently.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_s3::primitives::ByteStream;
use feedpipe_e2e::{
    create_stream, kinesis_client, quarantine_entries, s3_client, s3_put_event, unique,
};
use feedpipe_ingest::kinesis::KinesisSink;
use feedpipe_ingest::{IngestConfig, IngestJob};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::lineage::record_id;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::{Expected, S3Buckets, StorageLocation};
use ingest_lambda::handler::{App, handle};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;

struct Aws {
    s3: aws_sdk_s3::Client,
    kinesis: aws_sdk_kinesis::Client,
    source: String,
    raw: String,
    stream: String,
}

impl Aws {
    async fn new(shards: i32) -> Self {
        let aws = Self {
            s3: s3_client().await,
            kinesis: kinesis_client().await,
            source: unique("source"),
            raw: unique("raw"),
            stream: unique("feed"),
        };
        for bucket in [&aws.source, &aws.raw] {
            aws.s3
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .expect("create bucket");
        }
        create_stream(&aws.kinesis, &aws.stream, shards).await;
        aws
    }

    fn app(&self, partition_key: Option<&str>) -> App {
        let sink = KinesisSink::new(self.kinesis.clone(), &self.stream);
        let quarantine = StorageLocation::parse(&format!("s3://{}/quarantine", self.raw)).unwrap();
        // One call in flight: moto numbers a shard's records as `max + 1` without a
        // lock, so concurrent PutRecords calls overwrite each other's records there
        // (moto 5.2.5, kinesis/models.py `Shard.put_record`). Concurrency itself is
        // tested against the in-process stream (feedpipe-ingest's tests).
        let config = IngestConfig {
            partition_key_field: partition_key.map(str::to_owned),
            max_in_flight: 1,
            ..Default::default()
        };
        App {
            job: IngestJob::new(
                Arc::new(sink),
                Arc::new(ObjectStoreQuarantine::new(quarantine)),
                config,
            ),
            buckets: Arc::new(S3Buckets::default()),
            continuations: None,
            feeds: None,
        }
    }

    /// Uploads `body` and returns the S3 event for it, with the real ETag.
    async fn upload(&self, key: &str, body: Vec<u8>) -> LambdaEvent<S3Event> {
        let size = body.len() as u64;
        let put = self
            .s3
            .put_object()
            .bucket(&self.source)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        let event = s3_put_event(&self.source, key, size, put.e_tag().unwrap());
        LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
    }

    /// Every record of every shard, by GetRecords from TRIM_HORIZON.
    async fn read_stream(&self) -> Vec<(String, Vec<u8>)> {
        let shards = self
            .kinesis
            .list_shards()
            .stream_name(&self.stream)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for shard in shards.shards() {
            let mut iterator = self
                .kinesis
                .get_shard_iterator()
                .stream_name(&self.stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator()
                .map(str::to_owned);
            while let Some(it) = iterator {
                let page = self
                    .kinesis
                    .get_records()
                    .shard_iterator(it)
                    .limit(1000)
                    .send()
                    .await
                    .unwrap();
                if page.records().is_empty() {
                    break;
                }
                out.extend(
                    page.records()
                        .iter()
                        .map(|r| (r.partition_key().to_owned(), r.data().as_ref().to_vec())),
                );
                iterator = page.next_shard_iterator().map(str::to_owned);
            }
        }
        out
    }

    /// The JSON lines the stream holds, each with its Kinesis record's partition key
    /// when it is the record's first line (a packed record takes its first line's key).
    async fn read_lines(&self) -> Vec<(Option<String>, Vec<u8>)> {
        let mut out = Vec::new();
        for (key, data) in self.read_stream().await {
            assert!(
                data.ends_with(b"\n"),
                "a Kinesis record ends with its last line's newline"
            );
            for (i, line) in data.split_inclusive(|b| *b == b'\n').enumerate() {
                out.push(((i == 0).then(|| key.clone()), line.to_vec()));
            }
        }
        out
    }

    /// The raw-to-parquet core on each of `raw` objects into a new curated bucket,
    /// then reconcile of the source bucket's `feeds/` against it and the quarantine.
    async fn convert_and_reconcile(
        &self,
        raw: &[feedpipe_standins::firehose::DeliveredObject],
    ) -> (StorageLocation, feedpipe_warehouse::Report) {
        let curated_bucket = unique("curated");
        self.s3
            .create_bucket()
            .bucket(&curated_bucket)
            .send()
            .await
            .unwrap();
        let curated = StorageLocation::parse(&format!("s3://{curated_bucket}")).unwrap();
        let quarantine = StorageLocation::parse(&format!("s3://{}/quarantine", self.raw)).unwrap();
        let contract = feedpipe_convert::contract::SchemaContract::from_json(
            feedpipe_convert::contract::SAMPLE_CONTRACT,
        )
        .unwrap();
        let converter = feedpipe_convert::Converter::new(
            contract,
            curated.clone(),
            Arc::new(ObjectStoreQuarantine::new(quarantine.clone())),
            feedpipe_convert::ConvertConfig::default(),
        );
        for object in raw {
            converter
                .convert_object(&object.location, None)
                .await
                .unwrap();
        }
        let source = StorageLocation::parse(&format!("s3://{}/feeds/", self.source)).unwrap();
        let report = feedpipe_warehouse::reconcile(&source, &curated, Some(&quarantine))
            .await
            .unwrap();
        (curated, report)
    }

    /// Every quarantine entry under `quarantine/ingest/`, by line.
    async fn quarantine(&self) -> Vec<Value> {
        let mut out = quarantine_entries(&self.s3, &self.raw, "quarantine/ingest/").await;
        out.sort_by_key(|v| v["line"].as_u64());
        out
    }
}

/// The good and bad lines of a feed, found without the code under test.
fn split_feed(feed: &[u8]) -> (BTreeMap<u64, Vec<u8>>, Vec<u64>) {
    let mut good = BTreeMap::new();
    let mut bad = Vec::new();
    for (i, line) in feed.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v) if v.is_object() => {
                good.insert(i as u64 + 1, line.to_vec());
            }
            _ => bad.push(i as u64 + 1),
        }
    }
    (good, bad)
}

#[tokio::test]
async fn handler_streams_a_gzip_feed_with_bad_lines_from_s3_into_kinesis() {
    let aws = Aws::new(3).await;
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 2500,
            bad_rate: 0.02,
            seed: 11,
            ..Default::default()
        },
    )
    .unwrap();
    let (good, bad) = split_feed(&feed);
    assert!(bad.len() > 20);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&feed).unwrap();
    let key = "incoming/2026-11-23/orders d'été + bonus ü.jsonl.gz";
    let event = aws.upload(key, gz.finish().unwrap()).await;
    let etag = event.payload.records[0].s3.object.e_tag.clone().unwrap();

    let summary = handle(event, &aws.app(Some("customer_id"))).await.unwrap();
    assert_eq!(summary.records_read, (good.len() + bad.len()) as u64);
    assert_eq!(summary.records_sent, good.len() as u64);
    assert_eq!(summary.records_quarantined, bad.len() as u64);
    // Packed: at most a tenth as many Kinesis records as records (jobs/ingest/src/pack.rs).
    let kinesis = aws.read_stream().await.len() as u64;
    assert_eq!(summary.kinesis_records, kinesis);
    assert!(
        kinesis * 10 <= summary.records_sent,
        "{kinesis} Kinesis records"
    );
    assert_eq!(summary.put_calls, kinesis.div_ceil(500));

    let uri = format!("s3://{}/{key}", aws.source);
    let records = aws.read_lines().await;
    assert_eq!(
        records.len(),
        good.len(),
        "every good record once, none twice"
    );
    let mut ids = HashSet::new();
    for (partition_key, data) in &records {
        assert!(data.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(data).unwrap();
        let line = v["_source_line"].as_u64().unwrap();
        assert_eq!(v["_source_uri"], uri.as_str());
        assert_eq!(v["_source_version"], etag.as_str());
        assert_eq!(v["_record_id"], record_id(&uri, &etag, line).as_str());
        assert!(ids.insert(line));
        if let Some(partition_key) = partition_key {
            assert_eq!(partition_key, v["customer_id"].as_str().unwrap());
        }
        // The customer's bytes, exactly: lineage is added in front, nothing else changes.
        let original = &good[&line];
        let tail = &data[data.len() - original.len()..data.len() - 1];
        assert_eq!(tail, &original[1..], "line {line}");
    }
    assert_eq!(ids, good.keys().copied().collect::<HashSet<_>>());

    let quarantine = aws.quarantine().await;
    assert_eq!(
        quarantine
            .iter()
            .map(|e| e["line"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        bad
    );
    for entry in &quarantine {
        assert_eq!(entry["source"], uri.as_str());
        assert!(!entry["error"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_missing_stream_fails_the_invocation_as_permanent() {
    let aws = Aws::new(1).await;
    let event = aws.upload("in/one.jsonl", b"{\"a\":1}\n".to_vec()).await;
    let mut app = aws.app(None);
    let sink = KinesisSink::new(aws.kinesis.clone(), "no-such-stream");
    let quarantine = StorageLocation::parse(&format!("s3://{}/quarantine", aws.raw)).unwrap();
    app.job = IngestJob::new(
        Arc::new(sink),
        Arc::new(ObjectStoreQuarantine::new(quarantine)),
        IngestConfig::default(),
    );
    let err = handle(event, &app).await.unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(
        diagnostic.error_type, "Permanent",
        "{}",
        diagnostic.error_message
    );
    assert!(
        diagnostic.error_message.contains("ResourceNotFound"),
        "{}",
        diagnostic.error_message
    );
    // Nothing is lost: the record that could not be sent is in the quarantine.
    let quarantine = aws.quarantine().await;
    assert_eq!(quarantine.len(), 1);
    assert!(
        quarantine[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("undelivered: ")
    );
}

/// On an unversioned bucket the event's ETag names the object. An event handled after
/// its object was overwritten fails, as permanent, rather than read the newer object
/// under the older one's identity; the newer object's own event ingests it. The same
/// holds for the raw-to-parquet core.
#[tokio::test]
async fn a_late_event_on_an_unversioned_bucket_reads_its_own_object_or_fails_clearly() {
    let aws = Aws::new(1).await;
    let app = aws.app(None);
    let old = aws
        .upload("in/late.jsonl", b"{\"a\":1}\n{\"a\":2}\n".to_vec())
        .await;
    let new = aws.upload("in/late.jsonl", b"{\"a\":3}\n".to_vec()).await;
    let err = handle(old, &app).await.unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(
        diagnostic.error_type, "Permanent",
        "{}",
        diagnostic.error_message
    );
    assert!(
        diagnostic.error_message.contains("in/late.jsonl")
            && diagnostic.error_message.contains("ETag is no longer"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        aws.read_stream().await.is_empty(),
        "nothing read, nothing sent"
    );
    let summary = handle(new, &app).await.unwrap();
    assert_eq!((summary.records_read, summary.records_sent), (1, 1));

    // The conversion core, given a raw object's event after the object changed.
    let raw = StorageLocation::parse(&format!("s3://{}/raw/one.jsonl", aws.raw)).unwrap();
    let curated = StorageLocation::parse(&format!("s3://{}/curated", aws.raw)).unwrap();
    let put = |body: &'static [u8]| {
        aws.s3
            .put_object()
            .bucket(&aws.raw)
            .key("raw/one.jsonl")
            .body(ByteStream::from_static(body))
            .send()
    };
    let first = put(b"{\"order_id\":\"A\"}\n").await.unwrap();
    put(b"{\"order_id\":\"B\"}\n").await.unwrap();
    let converter = feedpipe_convert::Converter::new(
        feedpipe_convert::contract::SchemaContract::from_json(
            feedpipe_convert::contract::SAMPLE_CONTRACT,
        )
        .unwrap(),
        curated,
        Arc::new(ObjectStoreQuarantine::new(
            StorageLocation::parse(&format!("s3://{}/quarantine", aws.raw)).unwrap(),
        )),
        feedpipe_convert::ConvertConfig::default(),
    );
    let expected = Expected {
        version: None,
        e_tag: first.e_tag(),
    };
    let err = converter
        .convert_expected(&raw, expected)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("ETag is no longer"), "{err}");
}

#[tokio::test]
async fn a_json_array_feed_and_the_same_event_twice_give_the_same_ids_twice() {
    let aws = Aws::new(2).await;
    let body =
        b"[\n {\"customer_id\": \"C1\", \"v\": 1},\n {\"customer_id\": \"C2\", \"v\": 2}\n]\n"
            .to_vec();
    let event = aws.upload("in/array.json", body).await;
    let app = aws.app(Some("customer_id"));
    let first = handle(event.clone(), &app).await.unwrap();
    let second = handle(event, &app).await.unwrap();
    assert_eq!((first.records_sent, second.records_sent), (2, 2));
    let records = aws.read_lines().await;
    assert_eq!(records.len(), 4);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, data) in &records {
        let v: Value = serde_json::from_slice(data).unwrap();
        *counts
            .entry(v["_record_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![2, 2]);
}

#[tokio::test]
async fn s3_all_the_way_firehose_stand_in_conversion_reconcile_and_query() {
    use feedpipe_standins::{Firehose, FirehoseConfig, KinesisSource};
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;

    let aws = Aws::new(2).await;
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 1200,
            bad_rate: 0.01,
            seed: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let (good, _) = split_feed(&feed);
    let event = aws.upload("feeds/orders.jsonl", feed).await;
    handle(event, &aws.app(Some("customer_id"))).await.unwrap();

    let source = Arc::new(KinesisSource::new(aws.kinesis.clone(), &aws.stream));
    let raw = StorageLocation::parse(&format!("s3://{}", aws.raw)).unwrap();
    let config = FirehoseConfig {
        buffer_bytes: 256 * 1024,
        gzip: true,
        ..Default::default()
    };
    let mut firehose = Firehose::new(source, raw.clone(), config).await.unwrap();
    let (mut written, _) = firehose.poll().await.unwrap();
    written.extend(firehose.flush().await.unwrap());
    assert!(written.len() >= 2, "256 KiB buffers over ~600 KB");
    assert_eq!(firehose.summary().lines, good.len() as u64);

    // Read back through the S3 API: every good line once, in Firehose's layout.
    let listed: Vec<_> = raw
        .store
        .list(Some(&"raw".into()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), written.len());
    let mut lines = HashSet::new();
    for meta in listed {
        let key = meta.location.to_string();
        assert!(key.starts_with("raw/20") && key.ends_with(".gz"), "{key}");
        let bytes = raw
            .store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(
                lines.insert(v["_source_line"].as_u64().unwrap()),
                "twice: {line}"
            );
        }
    }
    assert_eq!(lines, good.keys().copied().collect::<HashSet<_>>());

    // The raw-to-parquet core on each raw object, into a curated bucket; reconcile
    // and query, on s3:// URLs.
    let (curated, report) = aws.convert_and_reconcile(&written).await;
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.files.len(), 1);
    let f = &report.files[0];
    assert_eq!(f.read, good.len() as u64 + f.quarantined);
    assert_eq!(f.loaded, good.len() as u64);
    assert!(report.manifests as usize == written.len());

    let warehouse = feedpipe_warehouse::Warehouse::open(&curated).await.unwrap();
    assert_eq!(warehouse.tables(), ["feed"]);
    let batches = warehouse
        .sql("SELECT count(*) AS n, count(DISTINCT _record_id) AS ids FROM feed")
        .await
        .unwrap();
    let text = feedpipe_warehouse::render(&batches, feedpipe_warehouse::OutputFormat::Csv).unwrap();
    assert_eq!(text, format!("n,ids\n{0},{0}\n", good.len()));
}

/// A multi-MB feed, plain and gzip, each ingested in many parts: every part stops at a
/// deadline 10 ms after it starts and hands a continuation (through JSON, as the queue
/// carries it) to the next. The parts read the objects back from the S3 server, the
/// plain one by ranged GETs. Then the Firehose stand-in, the conversion and
/// `reconcile`: every record exactly once, with the ids one run gives.
#[tokio::test]
async fn a_multi_mb_feed_ingested_in_many_parts_reconciles_exactly_plain_and_gzip() {
    use feedpipe_ingest::{Continuation, Part, RunOptions};
    use feedpipe_standins::{Firehose, FirehoseConfig, KinesisSource};

    let aws = Aws::new(2).await;
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 8000,
            bad_rate: 0.01,
            seed: 8,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(feed.len() > 3_000_000, "{} bytes", feed.len());
    let (good, bad) = split_feed(&feed);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&feed).unwrap();
    // Small packs and calls, so that a part of 10 ms is a small share of the file.
    let config = IngestConfig {
        partition_key_field: Some("customer_id".into()),
        max_in_flight: 1,
        pack_bytes: 8192,
        limits: feedpipe_ingest::batch::KinesisLimits {
            max_records_per_call: 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let quarantine = StorageLocation::parse(&format!("s3://{}/quarantine", aws.raw)).unwrap();
    let job = IngestJob::new(
        Arc::new(KinesisSink::new(aws.kinesis.clone(), &aws.stream)),
        Arc::new(ObjectStoreQuarantine::new(quarantine.clone())),
        config,
    );
    let mut uris = Vec::new();
    for (key, body) in [
        ("feeds/big.jsonl", feed.clone()),
        ("feeds/big.jsonl.gz", gz.finish().unwrap()),
    ] {
        let event = aws.upload(key, body).await;
        let object = &event.payload.records[0].s3.object;
        let feed_at = StorageLocation::parse(&format!("s3://{}/{key}", aws.source)).unwrap();
        let mut next: Option<Continuation> = None;
        let mut parts = 0;
        let summary = loop {
            parts += 1;
            assert!(parts < 10_000, "{key}: no end");
            let options = RunOptions {
                version: object.version_id.clone(),
                e_tag: object.e_tag.clone(),
                deadline: Some(std::time::Instant::now() + std::time::Duration::from_millis(10)),
                continuation: next.take(),
                ..Default::default()
            };
            match job.run_part(&feed_at, options).await.unwrap() {
                Part::Done(summary) => break summary,
                Part::Stopped(c) => {
                    let json = serde_json::to_string(&c).unwrap();
                    next = Some(serde_json::from_str(&json).unwrap());
                }
            }
        };
        assert!(parts >= 5, "{key}: {parts} part(s)");
        assert_eq!(summary.files, 1, "{key}");
        assert_eq!(
            summary.records_read,
            (good.len() + bad.len()) as u64,
            "{key}"
        );
        assert_eq!(summary.records_sent, good.len() as u64, "{key}");
        assert_eq!(summary.bytes_read, feed.len() as u64, "{key}");
        eprintln!("{key}: {parts} parts");
        uris.push(format!("s3://{}/{key}", aws.source));
    }

    let source = Arc::new(KinesisSource::new(aws.kinesis.clone(), &aws.stream));
    let raw = StorageLocation::parse(&format!("s3://{}", aws.raw)).unwrap();
    let firehose_config = FirehoseConfig {
        buffer_bytes: 2 * 1024 * 1024,
        gzip: true,
        ..Default::default()
    };
    let mut firehose = Firehose::new(source, raw, firehose_config).await.unwrap();
    let (mut written, _) = firehose.poll().await.unwrap();
    written.extend(firehose.flush().await.unwrap());
    assert_eq!(
        firehose.summary().lines,
        2 * good.len() as u64,
        "each record once"
    );

    let (curated, report) = aws.convert_and_reconcile(&written).await;
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.files.len(), 2);
    for f in &report.files {
        assert!(
            f.missing.is_empty() && f.duplicated.is_empty(),
            "{}",
            report.render()
        );
        assert_eq!(f.read, (good.len() + bad.len()) as u64);
    }
    // The ids are the ones one run gives: derived from URI, version and line alone.
    let warehouse = feedpipe_warehouse::Warehouse::open(&curated).await.unwrap();
    for uri in &uris {
        let batches = warehouse
            .sql(&format!(
                "SELECT _source_line AS line, _record_id AS id, _source_version AS v FROM feed WHERE _source_uri = '{uri}'"
            ))
            .await
            .unwrap();
        let csv =
            feedpipe_warehouse::render(&batches, feedpipe_warehouse::OutputFormat::Csv).unwrap();
        let mut lines = HashSet::new();
        for row in csv.lines().skip(1) {
            let mut cols = row.split(',');
            let (line, id, version) = (
                cols.next().unwrap(),
                cols.next().unwrap(),
                cols.next().unwrap(),
            );
            let line: u64 = line.parse().unwrap();
            assert_eq!(id, record_id(uri, version, line), "{uri} line {line}");
            assert!(lines.insert(line), "{uri} line {line} twice");
        }
        assert_eq!(lines, good.keys().copied().collect::<HashSet<_>>(), "{uri}");
    }
}
