use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use futures::StreamExt;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use feedpipe_ingest::{IngestConfig, IngestJob};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::MemoryBuckets;
use feedpipe_standins::InProcessStream;

use super::*;

/// The ETags of the fixture's objects (`s3-event.json`) and the ones the in-memory
/// store gave them when `setup` put them: the handler reads an object only if it still
/// has the ETag its event names.
type Tags = Vec<(&'static str, String)>;

fn event(json: &str, tags: &Tags) -> LambdaEvent<S3Event> {
    let mut json = json.to_owned();
    for (fixture, real) in tags {
        json = json.replace(fixture, real);
    }
    LambdaEvent::new(serde_json::from_str(&json).unwrap(), Context::default())
}

async fn setup() -> (App, Arc<InProcessStream>, Arc<dyn ObjectStore>, Tags) {
    let buckets = MemoryBuckets::new(["feedpipe-source", "raw"]);
    let source = buckets.bucket("feedpipe-source").unwrap().store;
    let raw = buckets.bucket("raw").unwrap();
    let key = Path::parse("incoming/commandes d'été + more.jsonl").unwrap();
    let first = source
        .put(
            &key,
            PutPayload::from_static(
                b"{\"customer_id\":\"C1\"}\n{\"customer_id\":\"C2\"}\nnot json\n",
            ),
        )
        .await
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"[{\"customer_id\":\"C3\"}]").unwrap();
    let second = source
        .put(
            &Path::parse("incoming/big.json.gz").unwrap(),
            PutPayload::from(gz.finish().unwrap()),
        )
        .await
        .unwrap();
    let stream = Arc::new(InProcessStream::new("feed", 2));
    let quarantine = ObjectStoreQuarantine::new(raw.at(Path::from("quarantine")));
    let config = IngestConfig {
        partition_key_field: Some("customer_id".into()),
        ..Default::default()
    };
    let app = App {
        job: IngestJob::new(stream.clone(), Arc::new(quarantine), config),
        buckets: Arc::new(buckets),
        continuations: None,
        feeds: None,
    };
    let tags = vec![
        ("0123456789abcdef0123456789abcdef", first.e_tag.unwrap()),
        ("abcdefabcdefabcdefabcdefabcdefab-2", second.e_tag.unwrap()),
    ];
    (app, stream, raw.store, tags)
}

#[tokio::test]
async fn every_created_object_of_the_event_is_ingested_with_decoded_keys() {
    let (app, stream, raw, tags) = setup().await;
    let summary = handle(event(include_str!("s3-event.json"), &tags), &app)
        .await
        .unwrap();
    assert_eq!(summary.files, 2, "the ObjectRemoved record is skipped");
    assert_eq!(
        (
            summary.records_read,
            summary.records_sent,
            summary.records_quarantined
        ),
        (4, 3, 1)
    );
    let mut uris: Vec<String> = (0..2)
        .flat_map(|shard| stream.read(shard, 0, 10))
        .flat_map(|r| {
            r.lines()
                .map(|line| {
                    serde_json::from_slice::<serde_json::Value>(line).unwrap()["_source_uri"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    uris.sort();
    assert_eq!(
        uris,
        vec![
            "s3://feedpipe-source/incoming/big.json.gz",
            "s3://feedpipe-source/incoming/commandes d'été + more.jsonl",
            "s3://feedpipe-source/incoming/commandes d'été + more.jsonl",
        ]
    );
    let quarantined = raw.list(None).next().await.unwrap().unwrap();
    assert!(
        quarantined
            .location
            .as_ref()
            .starts_with("quarantine/ingest/dt=")
    );
}

#[tokio::test]
async fn a_bad_record_fails_the_invocation_but_not_the_other_objects() {
    let (app, stream, _, tags) = setup().await;
    let json =
        include_str!("s3-event.json").replace("incoming/big.json.gz", "incoming/missing.json");
    let json = json.replacen(
        "commandes+d%27%C3%A9t%C3%A9+%2B+more.jsonl",
        "broken%zz.jsonl",
        1,
    );
    let err = handle(event(&json, &tags), &app).await.unwrap_err();
    assert!(
        matches!(&err, HandlerError::Several(v) if v.len() == 2),
        "{err}"
    );
    assert!(
        !err.is_retryable(),
        "a bad key and a missing object will not get better"
    );
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "Permanent");
    assert!(
        diagnostic.error_message.contains("bad percent-escape"),
        "{}",
        diagnostic.error_message
    );
    assert!(diagnostic.error_message.contains("incoming/missing.json"));
    assert_eq!(stream.lengths().iter().sum::<usize>(), 0);
}

#[tokio::test]
async fn the_same_event_twice_sends_the_same_record_ids_twice() {
    let (app, stream, _, tags) = setup().await;
    handle(event(include_str!("s3-event.json"), &tags), &app)
        .await
        .unwrap();
    handle(event(include_str!("s3-event.json"), &tags), &app)
        .await
        .unwrap();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for r in (0..2).flat_map(|shard| stream.read(shard, 0, 100)) {
        for line in r.lines() {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            *ids.entry(v["_record_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(ids.len(), 3);
    assert!(ids.values().all(|n| *n == 2));
}

#[tokio::test]
async fn folder_markers_and_empty_events_ingest_nothing() {
    let (app, stream, _, tags) = setup().await;
    let json = include_str!("s3-event.json")
        .replace("incoming/big.json.gz", "incoming/folder/")
        .replace("ObjectCreated:Put", "s3:ObjectCreated:Put");
    let summary = handle(event(&json, &tags), &app).await.unwrap();
    assert_eq!(
        (summary.files, summary.records_read),
        (1, 3),
        "only the first record names a feed"
    );
    let summary = handle(event(r#"{"Records":[]}"#, &tags), &app)
        .await
        .unwrap();
    assert_eq!(summary, IngestSummary::default());
    let lines = (0..2)
        .flat_map(|shard| stream.read(shard, 0, 100))
        .map(|r| r.lines().count())
        .sum::<usize>();
    assert_eq!(lines, 2);
}

/// A key that `object_store` cannot address (here `//`) is never readable: the
/// invocation fails as permanent, and one quarantine entry names the file and why,
/// while the event's other object is ingested.
#[tokio::test]
async fn a_key_no_store_can_address_is_quarantined_as_one_entry_naming_it() {
    let (app, stream, raw, tags) = setup().await;
    let json = include_str!("s3-event.json").replacen(
        "commandes+d%27%C3%A9t%C3%A9+%2B+more.jsonl",
        "a%2F%2Fdouble+slash.jsonl",
        1,
    );
    let err = handle(event(&json, &tags), &app).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("incoming/a//double slash.jsonl"),
        "{err}"
    );
    assert_eq!(
        stream.lengths().iter().sum::<usize>(),
        1,
        "big.json.gz still went through"
    );
    let mut entries = Vec::new();
    let listed: Vec<_> = raw.list(None).map(|m| m.unwrap()).collect().await;
    for meta in listed {
        let bytes = raw
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            entries.push(serde_json::from_slice::<serde_json::Value>(line).unwrap());
        }
    }
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        entry["source"],
        "s3://feedpipe-source/incoming/a//double slash.jsonl"
    );
    assert_eq!(entry["kind"], "unreadable");
    assert_eq!(entry["line"], 0);
    assert!(
        entry["error"].as_str().unwrap().contains("rename it"),
        "{entry}"
    );
}

fn sqs_event(body: &str) -> LambdaEvent<serde_json::Value> {
    let event = serde_json::json!({ "Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": body,
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1"
    }]});
    LambdaEvent::new(event, Context::default())
}

#[tokio::test]
async fn a_continuation_message_goes_on_with_the_file_where_its_part_stopped() {
    let (app, stream, _, _) = setup().await;
    let uri = "s3://feedpipe-source/incoming/commandes d'été + more.jsonl";
    let location = app
        .buckets
        .object("feedpipe-source", "incoming/commandes d'été + more.jsonl")
        .unwrap();
    let first = RunOptions {
        deadline: Some(std::time::Instant::now()),
        ..Default::default()
    };
    let Part::Stopped(next) = app.job.run_part(&location, first).await.unwrap() else {
        panic!("a past deadline stops after the first line");
    };
    assert_eq!((next.uri.as_str(), next.lines_done), (uri, 1));
    let summary = handle_event(sqs_event(&serde_json::to_string(&next).unwrap()), &app)
        .await
        .unwrap();
    assert_eq!(
        (summary.files, summary.records_read, summary.records_sent),
        (1, 3, 2),
        "the whole file, once: {summary:?}"
    );
    assert_eq!(summary.records_quarantined, 1);
    assert_eq!(summary.continued, 0);
    let lines: Vec<u64> = (0..2)
        .flat_map(|shard| stream.read(shard, 0, 100))
        .flat_map(|r| {
            r.lines()
                .map(|l| {
                    serde_json::from_slice::<serde_json::Value>(l).unwrap()["_source_line"]
                        .as_u64()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![1, 2], "each good line once: {lines:?}");
}

#[tokio::test]
async fn a_message_that_is_no_continuation_fails_for_good_and_an_unknown_event_too() {
    let (app, stream, _, _) = setup().await;
    let err = handle_event(sqs_event("{\"hello\":1}"), &app)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("message m-1 of the continuation queue is not a continuation"),
        "{err}"
    );
    let unknown = LambdaEvent::new(serde_json::json!({"detail": {}}), Context::default());
    let err = handle_event(unknown, &app).await.unwrap_err();
    assert!(
        !err.is_retryable() && err.to_string().starts_with("unrecognised event"),
        "{err}"
    );
    assert_eq!(stream.lengths().iter().sum::<usize>(), 0);
}

#[tokio::test]
async fn with_a_feeds_file_each_key_goes_to_its_feed_and_a_key_of_none_is_quarantined_whole() {
    let (mut app, stream, raw, tags) = setup().await;
    // The feed names no partition key: its records are keyed by their record id, not
    // by the job's `customer_id`.
    let feeds = FeedsFile::parse(
        "s3://config/feeds.toml",
        "[[feeds]]\ntable = \"commandes\"\nprefix = \"incoming/commandes\"\n",
    )
    .unwrap();
    app.feeds = Some(Arc::new(feeds));
    let err = handle(event(include_str!("s3-event.json"), &tags), &app)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("no feed for key `incoming/big.json.gz` in s3://config/feeds.toml"),
        "{text}"
    );
    // The routed file went through, keyed by record id.
    let records: Vec<_> = (0..2)
        .flat_map(|shard| stream.read(shard, 0, 100))
        .collect();
    let lines: Vec<serde_json::Value> = records
        .iter()
        .flat_map(|r| {
            r.lines()
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["_source_uri"].as_str().unwrap().contains("commandes"))
    );
    for r in &records {
        let first: serde_json::Value = serde_json::from_slice(r.lines().next().unwrap()).unwrap();
        assert_eq!(r.partition_key, first["_record_id"].as_str().unwrap());
    }
    // The unrouted one is one quarantine entry, line 0, kind `unrouted`.
    let mut entries = Vec::new();
    let mut listed = raw.list(Some(&Path::from("quarantine")));
    while let Some(meta) = listed.next().await {
        let body = raw
            .get(&meta.unwrap().location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            entries.push(serde_json::from_slice::<serde_json::Value>(line).unwrap());
        }
    }
    let unrouted: Vec<_> = entries.iter().filter(|e| e["kind"] == "unrouted").collect();
    assert_eq!(unrouted.len(), 1, "{entries:?}");
    assert_eq!(unrouted[0]["line"], 0);
    assert_eq!(
        unrouted[0]["source"],
        "s3://feedpipe-source/incoming/big.json.gz"
    );
    assert!(
        unrouted[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("no feed for key `incoming/big.json.gz`")
    );
}
