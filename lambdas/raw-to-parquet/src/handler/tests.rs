use std::collections::HashMap;

use feedpipe_convert::ConvertConfig;
use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::StorageLocation;
use lambda_runtime::Context;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::*;

struct MemoryBuckets(HashMap<String, Arc<dyn ObjectStore>>);

impl BucketResolver for MemoryBuckets {
    fn bucket(&self, name: &str) -> Result<StorageLocation, StorageError> {
        self.0
            .get(name)
            .map(|s| StorageLocation::s3(Arc::clone(s), name, Path::default()))
            .ok_or_else(|| StorageError::Unsupported {
                url: format!("s3://{name}"),
                reason: "no such bucket".into(),
            })
    }
}

struct Setup {
    app: App,
    raw: Arc<dyn ObjectStore>,
    curated: Arc<dyn ObjectStore>,
}

const KEY: &str = "raw/2026/11/23/10/feed-1-2026-11-23-10-00-00-a b.gz";
const ENCODED: &str = "raw/2026/11/23/10/feed-1-2026-11-23-10-00-00-a+b.gz";

async fn setup() -> Setup {
    let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let curated: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 500,
            bad_rate: 0.02,
            ..Default::default()
        },
    )
    .unwrap();
    raw.put(&Path::parse(KEY).unwrap(), PutPayload::from(feed))
        .await
        .unwrap();
    let converter = Converter::new(
        SchemaContract::from_json(SAMPLE_CONTRACT).unwrap(),
        StorageLocation::s3(Arc::clone(&curated), "curated", Path::default()),
        Arc::new(ObjectStoreQuarantine::new(StorageLocation::s3(
            Arc::clone(&raw),
            "raw",
            Path::from("quarantine"),
        ))),
        ConvertConfig::default(),
    );
    let buckets = MemoryBuckets(HashMap::from([("raw-bucket".to_owned(), Arc::clone(&raw))]));
    Setup {
        app: App {
            converter,
            buckets: Arc::new(buckets),
        },
        raw,
        curated,
    }
}

fn s3_event(key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:05:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:FIREHOSE"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "raw",
               "bucket": {"name": "raw-bucket", "ownerIdentity": {"principalId": "X"}, "arn": "arn:aws:s3:::raw-bucket"},
               "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "1"}}
    }]})
}

fn sqs_message(id: &str, body: &Value) -> Value {
    json!({"messageId": id, "receiptHandle": "r", "body": body.to_string(), "attributes": {}, "messageAttributes": {},
           "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:raw", "awsRegion": "us-east-1"})
}

fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

async fn parquet_objects(store: &Arc<dyn ObjectStore>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let listed: Vec<_> = futures_list(store).await;
    for path in listed.into_iter().filter(|p| p.ends_with(".parquet")) {
        let bytes = store
            .get(&Path::parse(&path).unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((path, bytes.to_vec()));
    }
    out.sort();
    out
}

async fn futures_list(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    use futures::TryStreamExt;
    store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn sqs_messages_are_converted_and_only_the_failed_one_is_reported() {
    let s = setup().await;
    let test_event =
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "raw-bucket"});
    let payload = json!({"Records": [
        sqs_message("m-test", &test_event),
        sqs_message("m-ok", &s3_event(ENCODED)),
        sqs_message("m-missing", &s3_event("raw/2026/11/23/10/gone")),
        sqs_message("m-junk", &json!({"hello": 1})),
    ]});
    let answer = handle(event(payload), &s.app).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-missing"}, {"itemIdentifier": "m-junk"}]})
    );
    let files = parquet_objects(&s.curated).await;
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|(p, _)| p.starts_with("feed/dt=2026-11-0")
            && p.contains("feed-1-2026-11-23-10-00-00-a_b-")),
        "{files:?}"
    );
    let quarantined = futures_list(&s.raw)
        .await
        .into_iter()
        .filter(|p| p.starts_with("quarantine/convert/"))
        .count();
    assert_eq!(
        quarantined, 1,
        "the malformed lines of the sample are quarantined"
    );
}

#[tokio::test]
async fn the_same_s3_event_twice_writes_the_same_files() {
    let s = setup().await;
    let first = handle(event(s3_event(ENCODED)), &s.app).await.unwrap();
    let before = parquet_objects(&s.curated).await;
    let second = handle(event(s3_event(ENCODED)), &s.app).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first["rows_written"], 500);
    assert_eq!(parquet_objects(&s.curated).await, before);
}

#[tokio::test]
async fn backfill_batches_use_plain_keys_and_fail_as_a_whole() {
    let s = setup().await;
    let batch = json!({"BatchInput": {"bucket": "raw-bucket", "source": "backfill"}, "Items": [{"key": KEY, "size": 1, "etag": "e"}]});
    let answer = handle(event(batch), &s.app).await.unwrap();
    assert_eq!(answer, json!({"converted": 1, "rows_written": 500}));
    let bad = json!({"BatchInput": {"bucket": "raw-bucket"}, "Items": [{"key": KEY}, {"key": "raw/none"}]});
    let err = handle(event(bad), &s.app).await.unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "Permanent");
    assert!(diagnostic.error_message.contains("raw/none"));
}

#[tokio::test]
async fn an_unknown_event_is_a_permanent_error() {
    let s = setup().await;
    let err = handle(event(json!({"hello": "world"})), &s.app)
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("expected an SQS event"));
}
