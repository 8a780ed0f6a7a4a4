//! The built binary as Lambda runs it: started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at a stand-in of the Runtime API (tests/support/runtime_api.rs), it
//! takes the S3 event of a feed on the local S3 server (moto, started by
//! tests/run.sh), puts the feed's records into a Kinesis stream there, and answers
//! with its summary. The packaging check of the deploy: the same `main` that
//! `cargo lambda build` packs into bootstrap.zip. Without its configuration the
//! binary does not start, and says which variable is missing (no server needed).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/runtime_api.rs"]
mod runtime_api;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

#[tokio::test]
async fn the_built_binary_ingests_what_an_s3_event_names_through_the_runtime_api() {
    let endpoint = runtime_api::aws_endpoint();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let (source, stream) = (runtime_api::unique("source"), runtime_api::unique("feed"));
    s3.create_bucket().bucket(&source).send().await.unwrap();
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let body = "{\"order_id\":\"ORD-1\",\"customer_id\":\"C-1\"}\nnot json\n{\"order_id\":\"ORD-2\",\"customer_id\":\"C-2\"}\n";
    let key = "in/orders 1.jsonl";
    let put = s3
        .put_object()
        .bucket(&source)
        .key(key)
        .body(ByteStream::from_static(body.as_bytes()))
        .send()
        .await
        .unwrap();
    let event = runtime_api::s3_put_notification(
        &source,
        "in/orders+1.jsonl",
        body.len(),
        put.e_tag().unwrap(),
    );
    let (kind, answer) = runtime_api::invoke(
        env!("CARGO_BIN_EXE_ingest-lambda"),
        &event,
        &[
            ("FEEDPIPE_STREAM_NAME", stream.clone()),
            (
                "FEEDPIPE_QUARANTINE_URL",
                format!("s3://{source}/quarantine"),
            ),
            // moto numbers a shard's records without a lock: one call in flight.
            ("FEEDPIPE_MAX_IN_FLIGHT", "1".into()),
        ],
    );
    assert_eq!(kind, "response", "{answer}");
    let summary: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(summary["records_read"], 3, "{summary}");
    assert_eq!(summary["records_sent"], 2, "{summary}");
    assert_eq!(summary["records_quarantined"], 1, "{summary}");

    // The records are in the stream, with the decoded key in their lineage.
    let shard = kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_owned();
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(&stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_owned();
    let page = kinesis
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    // Packed by default: both records in one Kinesis record, one JSON line each.
    assert_eq!(page.records().len(), 1);
    assert_eq!(summary["kinesis_records"], 1, "{summary}");
    let records: Vec<Value> = page.records()[0]
        .data()
        .as_ref()
        .split_inclusive(|b| *b == b'\n')
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["_source_uri"], format!("s3://{source}/{key}"));
    assert_eq!(records[1]["order_id"], "ORD-2");
}

/// The binary refuses to start without its configuration, and says which variable is
/// missing: a cold start that fails fast and clearly.
#[test]
fn missing_configuration_fails_the_cold_start_naming_the_variable() {
    let (started, printed) = runtime_api::cold_start(
        env!("CARGO_BIN_EXE_ingest-lambda"),
        &[("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine")],
    );
    assert!(!started, "{printed}");
    assert!(
        printed.contains("FEEDPIPE_STREAM_NAME is required but not set"),
        "{printed}"
    );
}
