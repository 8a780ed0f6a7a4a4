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

/// Clients of the local AWS server, a source bucket and a one-shard stream on it.
struct Server {
    s3: aws_sdk_s3::Client,
    kinesis: aws_sdk_kinesis::Client,
    sqs: aws_sdk_sqs::Client,
    source: String,
    stream: String,
}

impl Server {
    async fn start() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(runtime_api::aws_endpoint())
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
        Self {
            s3,
            kinesis,
            sqs: aws_sdk_sqs::Client::new(&config),
            source,
            stream,
        }
    }
}

#[tokio::test]
async fn the_built_binary_ingests_what_an_s3_event_names_through_the_runtime_api() {
    let Server {
        s3,
        kinesis,
        source,
        stream,
        ..
    } = Server::start().await;
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

/// Every JSON line on the stream's one shard, parsed.
async fn stream_lines(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Vec<Value> {
    let shard = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_owned();
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(str::to_owned);
    let mut lines = Vec::new();
    while let Some(it) = iterator {
        let page = kinesis
            .get_records()
            .shard_iterator(it)
            .limit(1000)
            .send()
            .await
            .unwrap();
        if page.records().is_empty() {
            break;
        }
        for record in page.records() {
            for line in record.data().as_ref().split_inclusive(|b| *b == b'\n') {
                lines.push(serde_json::from_slice(line).unwrap());
            }
        }
        iterator = page.next_shard_iterator().map(str::to_owned);
    }
    lines
}

/// A feed too slow to finish before a short deadline: each invocation stops a second
/// before its deadline, sends the rest of the file to the continuation queue (SQS on
/// the local server), and the next invocation, fed that message as Lambda's SQS event
/// source would feed it, goes on, until one ends the file. Every good record reaches
/// the stream exactly once with the id one uninterrupted run gives it.
#[tokio::test]
async fn a_feed_past_the_deadline_continues_through_the_queue_into_the_next_invocation() {
    let Server {
        s3,
        kinesis,
        sqs,
        source,
        stream,
    } = Server::start().await;
    let queue = sqs
        .create_queue()
        .queue_name(runtime_api::unique("ingest-continuations"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    // 12,000 lines of ~600 bytes, every 500th one malformed.
    let mut body = String::new();
    let mut good = std::collections::BTreeMap::new();
    for line in 1..=12_000u64 {
        if line % 500 == 0 {
            body.push_str("{\"order_id\": oops\n");
            continue;
        }
        body.push_str(&format!(
            "{{\"order_id\":\"ORD-{line}\",\"customer_id\":\"C-{}\",\"note\":\"{}\"}}\n",
            line % 97,
            "n".repeat(540)
        ));
        good.insert(line, format!("ORD-{line}"));
    }
    let key = "in/big orders.jsonl";
    let put = s3
        .put_object()
        .bucket(&source)
        .key(key)
        .body(ByteStream::from(body.clone().into_bytes()))
        .send()
        .await
        .unwrap();
    let env = [
        ("FEEDPIPE_STREAM_NAME", stream.clone()),
        (
            "FEEDPIPE_QUARANTINE_URL",
            format!("s3://{source}/quarantine"),
        ),
        ("FEEDPIPE_MAX_IN_FLIGHT", "1".into()),
        // Small packs, so that moto takes a while over the file.
        ("FEEDPIPE_PACK_BYTES", "2048".into()),
        ("FEEDPIPE_CONTINUATION_QUEUE_URL", queue.clone()),
        ("FEEDPIPE_DEADLINE_MARGIN_SECONDS", "1".into()),
    ];
    let mut event = runtime_api::s3_put_notification(
        &source,
        "in/big+orders.jsonl",
        body.len(),
        put.e_tag().unwrap(),
    );
    let mut invocations = 0;
    let summary = loop {
        invocations += 1;
        assert!(invocations <= 200, "no end after 200 invocations");
        let (kind, answer) = runtime_api::invoke_until(
            env!("CARGO_BIN_EXE_ingest-lambda"),
            &event,
            &env,
            std::time::Duration::from_millis(1300),
        );
        assert_eq!(kind, "response", "{answer}");
        let summary: Value = serde_json::from_str(&answer).unwrap();
        if summary["continued"] == 0 {
            break summary;
        }
        // The continuation is on the queue: one message, given to the next invocation
        // as the SQS event source gives it.
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        assert_eq!(messages.len(), 1, "one continuation a stopped part");
        let message = &messages[0];
        let next: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        assert_eq!(next["uri"], format!("s3://{source}/{key}"));
        assert_eq!(next["parts"], invocations);
        sqs.delete_message()
            .queue_url(&queue)
            .receipt_handle(message.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        event = serde_json::json!({ "Records": [{
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest-continuations",
            "awsRegion": "us-east-1"
        }]});
    };
    assert!(invocations >= 2, "the file took one invocation: {summary}");
    // The last part reports the whole file.
    assert_eq!(summary["records_read"], 12_000, "{summary}");
    assert_eq!(summary["records_sent"], good.len(), "{summary}");
    assert_eq!(summary["records_quarantined"], 24, "{summary}");
    assert_eq!(summary["files"], 1, "{summary}");
    let lines = stream_lines(&kinesis, &stream).await;
    let uri = format!("s3://{source}/{key}");
    let version = put.e_tag().unwrap().trim_matches('"').to_owned();
    let mut seen = std::collections::BTreeMap::new();
    for line in &lines {
        let n = line["_source_line"].as_u64().unwrap();
        assert_eq!(line["_source_version"], version.as_str());
        assert_eq!(
            line["_record_id"],
            feedpipe_shared::lineage::record_id(&uri, &version, n).as_str()
        );
        assert!(
            seen.insert(n, line["order_id"].as_str().unwrap().to_owned())
                .is_none(),
            "line {n} sent twice"
        );
    }
    assert!(
        seen == good,
        "every good line once ({} of {})",
        seen.len(),
        good.len()
    );
    eprintln!("{invocations} invocations");
}

/// A feeds file beside `FEEDPIPE_PARTITION_KEY_FIELD`, or one that is not valid,
/// stops the cold start with a message naming the file and the entry.
#[test]
fn a_feeds_file_with_a_single_feed_variable_or_a_bad_entry_fails_the_cold_start() {
    let (started, printed) = runtime_api::cold_start(
        env!("CARGO_BIN_EXE_ingest-lambda"),
        &[
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine"),
            ("FEEDPIPE_FEEDS_URL", "s3://config/feeds.toml"),
            ("FEEDPIPE_PARTITION_KEY_FIELD", "customer_id"),
        ],
    );
    assert!(!started, "{printed}");
    assert!(
        printed.contains("FEEDPIPE_PARTITION_KEY_FIELD set too"),
        "{printed}"
    );
    let dir = std::env::temp_dir().join(runtime_api::unique("feeds"));
    std::fs::create_dir_all(&dir).unwrap();
    let feeds = dir.join("feeds.toml");
    std::fs::write(
        &feeds,
        "[[feeds]]\ntable = \"orders\"\nprefix = \"orders/\"\n\n[[feeds]]\ntable = \"ORDERS\"\nprefix = \"eu/\"\n",
    )
    .unwrap();
    let feeds = feeds.display().to_string();
    let (started, printed) = runtime_api::cold_start(
        env!("CARGO_BIN_EXE_ingest-lambda"),
        &[
            ("FEEDPIPE_STREAM_NAME", "feed"),
            ("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine"),
            ("FEEDPIPE_FEEDS_URL", &feeds),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!started, "{printed}");
    assert!(
        printed.contains(&format!(
            "feeds file {feeds}: entry 2 (table `ORDERS`): table `orders` is entry 1 already"
        )),
        "{printed}"
    );
}
