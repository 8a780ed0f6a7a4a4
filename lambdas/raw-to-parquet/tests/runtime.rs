//! The built binary as Lambda runs it: started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at a stand-in of the Runtime API (tests/support/runtime_api.rs), it
//! takes an SQS event holding S3's test event and the notification of a raw object
//! on the local S3 server (moto, started by tests/run.sh), converts the object into
//! the curated bucket and answers with no failed message. The packaging check of
//! the deploy: the same `main` that `cargo lambda build` packs into bootstrap.zip.
//! Without its configuration the binary does not start, and says which variable is
//! missing (no server needed).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/runtime_api.rs"]
mod runtime_api;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

async fn s3() -> aws_sdk_s3::Client {
    let endpoint = runtime_api::aws_endpoint();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::test]
async fn the_built_binary_converts_what_an_sqs_event_names_through_the_runtime_api() {
    let s3 = s3().await;
    let (raw, curated) = (runtime_api::unique("raw"), runtime_api::unique("curated"));
    for bucket in [&raw, &curated] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let record = |i: u32, ts: &str| {
        format!(
            r#"{{"order_id":"ORD-{i}","customer_id":"C-1","order_ts":"{ts}","status":"paid","currency":"EUR","total":12.50}}"#
        )
    };
    let body = format!(
        "{}\n{}\n{}\n",
        record(1, "2026-11-01T10:00:00Z"),
        record(2, "2026-11-01T23:30:00-02:00"),
        record(3, "2026-11-02T08:00:00+01:00")
    );
    let key = "raw/2026/11/23/10/feedpipe-test-1-2026-11-23-10-00-00-runtime";
    let put = s3
        .put_object()
        .bucket(&raw)
        .key(key)
        .body(ByteStream::from(body.clone().into_bytes()))
        .send()
        .await
        .unwrap();
    let notification =
        runtime_api::s3_put_notification(&raw, key, body.len(), put.e_tag().unwrap());
    let message = |id: &str, body: String| {
        json!({
            "messageId": id, "receiptHandle": format!("handle-{id}"), "body": body,
            "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": "1763892005000" },
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:feedpipe-raw-events",
            "awsRegion": "us-east-1"
        })
    };
    let event = json!({ "Records": [
        message("m-1", json!({ "Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": raw }).to_string()),
        message("m-2", notification.to_string()),
    ]});

    let (kind, answer) = runtime_api::invoke(
        env!("CARGO_BIN_EXE_raw-to-parquet-lambda"),
        &event,
        &[
            ("FEEDPIPE_CURATED_URL", format!("s3://{curated}")),
            ("FEEDPIPE_QUARANTINE_URL", format!("s3://{raw}/quarantine")),
        ],
    );
    assert_eq!(kind, "response", "{answer}");
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap(),
        json!({ "batchItemFailures": [] })
    );

    // Two days of Parquet and a manifest in the curated bucket.
    let listed = s3.list_objects_v2().bucket(&curated).send().await.unwrap();
    let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort_unstable();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys[0].starts_with("_manifests/feed/"), "{keys:?}");
    assert!(
        keys[1].starts_with("feed/dt=2026-11-01/") && keys[1].ends_with(".parquet"),
        "{keys:?}"
    );
    assert!(
        keys[2].starts_with("feed/dt=2026-11-02/") && keys[2].ends_with(".parquet"),
        "{keys:?}"
    );
    let manifest = s3
        .get_object()
        .bucket(&curated)
        .key(keys[0])
        .send()
        .await
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&manifest.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(manifest["rows_written"], 3);
}

/// The binary refuses to start without its configuration, and says which variable is
/// missing: a cold start that fails fast and clearly.
#[test]
fn missing_configuration_fails_the_cold_start_naming_the_variable() {
    let (started, printed) = runtime_api::cold_start(
        env!("CARGO_BIN_EXE_raw-to-parquet-lambda"),
        &[("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine")],
    );
    assert!(!started, "{printed}");
    assert!(
        printed.contains("FEEDPIPE_CURATED_URL is required but not set"),
        "{printed}"
    );
}

/// A raw record as ingest frames it: the lineage first, then the customer's fields.
fn framed(source: &str, line: u64, fields: &str) -> String {
    format!(
        r#"{{"_source_uri":"{source}","_source_version":"v1","_source_line":{line},"_record_id":"{source}#{line}","_ingested_at":"2026-11-23T10:00:00.000000Z",{fields}}}"#
    )
}

/// With `FEEDPIPE_FEEDS_URL`, the binary reads the feeds file and its contracts (one
/// relative to the file, one by URL) from S3 at cold start, and the records of one
/// raw object go to their feeds' tables, each with its manifest.
#[tokio::test]
async fn with_a_feeds_file_each_record_of_a_raw_object_goes_to_its_feeds_table() {
    let s3 = s3().await;
    let (raw, curated, config) = (
        runtime_api::unique("raw"),
        runtime_api::unique("curated"),
        runtime_api::unique("config"),
    );
    for bucket in [&raw, &curated, &config] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let put = |bucket: String, key: &'static str, body: String| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .unwrap()
        }
    };
    put(
        config.clone(),
        "feedpipe/feeds.toml",
        format!(
            "[[feeds]]\ntable = \"orders\"\nprefix = \"orders/\"\ncontract = \"contracts/orders.json\"\n\n[[feeds]]\ntable = \"customers\"\nprefix = \"customers/\"\ncontract = \"s3://{config}/elsewhere/customers.json\"\n"
        ),
    )
    .await;
    put(
        config.clone(),
        "feedpipe/contracts/orders.json",
        r#"{"table": "orders", "event_time": "order_ts", "columns": [
            {"name": "order_id", "type": "string", "nullable": false},
            {"name": "order_ts", "type": "timestamp"}]}"#
            .into(),
    )
    .await;
    put(
        config.clone(),
        "elsewhere/customers.json",
        r#"{"table": "customers", "columns": [{"name": "id", "type": "string", "nullable": false}]}"#.into(),
    )
    .await;
    let body = [
        framed(
            "s3://src/orders/a.jsonl",
            1,
            r#""order_id":"O1","order_ts":"2026-11-01T10:00:00Z""#,
        ),
        framed("s3://src/customers/c.jsonl", 1, r#""id":"C1""#),
        framed(
            "s3://src/orders/a.jsonl",
            2,
            r#""order_id":"O2","order_ts":"2026-11-02T10:00:00Z""#,
        ),
        framed("s3://src/customers/c.jsonl", 2, r#""id":"C2""#),
    ]
    .join("\n");
    let key = "raw/2026/11/23/10/feedpipe-test-1-2026-11-23-10-00-00-feeds";
    let put = put(raw.clone(), key, body.clone()).await;
    let event = runtime_api::s3_put_notification(&raw, key, body.len(), put.e_tag().unwrap());
    let (kind, answer) = runtime_api::invoke(
        env!("CARGO_BIN_EXE_raw-to-parquet-lambda"),
        &event,
        &[
            ("FEEDPIPE_CURATED_URL", format!("s3://{curated}")),
            ("FEEDPIPE_QUARANTINE_URL", format!("s3://{raw}/quarantine")),
            (
                "FEEDPIPE_FEEDS_URL",
                format!("s3://{config}/feedpipe/feeds.toml"),
            ),
        ],
    );
    assert_eq!(kind, "response", "{answer}");
    let listed = s3.list_objects_v2().bucket(&curated).send().await.unwrap();
    let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort_unstable();
    let folders: Vec<String> = keys
        .iter()
        .map(|k| k.rsplit_once('/').unwrap().0.to_owned())
        .collect();
    assert_eq!(
        folders,
        [
            "_manifests/customers",
            "_manifests/orders",
            "customers/dt=2026-11-23",
            "orders/dt=2026-11-01",
            "orders/dt=2026-11-02"
        ],
        "{keys:?}"
    );
}

/// A feeds file beside the single-feed variables, or one whose contract does not
/// parse, stops the cold start with a message naming what is wrong.
#[test]
fn a_feeds_file_with_single_feed_variables_or_a_bad_contract_fails_the_cold_start() {
    let (started, printed) = runtime_api::cold_start(
        env!("CARGO_BIN_EXE_raw-to-parquet-lambda"),
        &[
            ("FEEDPIPE_CURATED_URL", "s3://c"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine"),
            ("FEEDPIPE_FEEDS_URL", "s3://config/feeds.toml"),
            ("FEEDPIPE_SCHEMA_URL", "s3://config/feed.json"),
        ],
    );
    assert!(!started, "{printed}");
    assert!(
        printed.contains("FEEDPIPE_SCHEMA_URL set too: with a feeds file each feed names its own"),
        "{printed}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feeds.toml"),
        "[[feeds]]\ntable = \"orders\"\nprefix = \"orders/\"\ncontract = \"orders.json\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("orders.json"),
        r#"{"table": "orders", "columns": [{"name": "x", "type": "uuid"}]}"#,
    )
    .unwrap();
    let feeds = dir.path().join("feeds.toml").display().to_string();
    let (started, printed) = runtime_api::cold_start(
        env!("CARGO_BIN_EXE_raw-to-parquet-lambda"),
        &[
            ("FEEDPIPE_CURATED_URL", "s3://c"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine"),
            ("FEEDPIPE_FEEDS_URL", &feeds),
        ],
    );
    assert!(!started, "{printed}");
    assert!(
        printed.contains(&format!("feeds file {feeds}: entry 1 (table `orders`)")),
        "{printed}"
    );
}
