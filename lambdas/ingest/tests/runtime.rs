//! The built binary as Lambda runs it: started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at a stand-in of the Runtime API (tests/support/runtime_api.rs), it
//! takes the S3 event of a feed on the local S3 server (moto, started by
//! tests/run.sh), puts the feed's records into a Kinesis stream there, and answers
//! with its summary. The packaging check of the deploy: the same `main` that
//! `cargo lambda build` packs into bootstrap.zip.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/runtime_api.rs"]
mod runtime_api;

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{:x}-{}",
        nanos & 0xffff_ffff_ffff,
        std::process::id()
    )
}

#[tokio::test]
async fn the_built_binary_ingests_what_an_s3_event_names_through_the_runtime_api() {
    let endpoint = std::env::var("FEEDPIPE_TEST_AWS_ENDPOINT").expect(
        "FEEDPIPE_TEST_AWS_ENDPOINT is not set: this test needs the local S3 and Kinesis server; run it with ./tests/run.sh",
    );
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
    let (source, stream) = (unique("source"), unique("feed"));
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
    let event = json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:00:05.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "AWS:AIDAEXAMPLE" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": { "x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE" },
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "ingest",
            "bucket": { "name": source, "ownerIdentity": { "principalId": "EXAMPLE" }, "arn": format!("arn:aws:s3:::{source}") },
            "object": { "key": "in/orders+1.jsonl", "size": body.len(), "eTag": put.e_tag().unwrap().trim_matches('"'), "sequencer": "0055AED6DCD90281E5" }
        }
    }]});

    let api = runtime_api::RuntimeApi::serve(event.to_string());
    let mut lambda = Command::new(env!("CARGO_BIN_EXE_ingest-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "feedpipe-test-ingest")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/feedpipe-test")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("FEEDPIPE_STREAM_NAME", &stream)
        .env(
            "FEEDPIPE_QUARANTINE_URL",
            format!("s3://{source}/quarantine"),
        )
        // moto numbers a shard's records without a lock: one call in flight.
        .env("FEEDPIPE_MAX_IN_FLIGHT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (kind, answer) = api.answer(Duration::from_secs(120));
    lambda.kill().unwrap();
    lambda.wait().unwrap();
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
    let records: Vec<Value> = page
        .records()
        .iter()
        .map(|r| serde_json::from_slice(r.data().as_ref()).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["_source_uri"], format!("s3://{source}/{key}"));
    assert_eq!(records[1]["order_id"], "ORD-2");
}
