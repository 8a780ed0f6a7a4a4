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
