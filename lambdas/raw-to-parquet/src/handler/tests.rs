use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract};
use feedpipe_convert::{ConvertConfig, Converter};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::MemoryBuckets;
use lambda_runtime::Context;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;

use super::*;
use crate::event::tests::{s3_notification, s3_notification_tagged, sqs};

struct Setup {
    app: App,
    raw: Arc<dyn ObjectStore>,
    curated: Arc<dyn ObjectStore>,
    /// The raw object's ETag, as its event names it.
    e_tag: String,
}

const KEY: &str = "raw/2026/11/23/10/feed-1-2026-11-23-10-00-00-a b.gz";
const ENCODED: &str = "raw/2026/11/23/10/feed-1-2026-11-23-10-00-00-a+b.gz";

async fn setup() -> Setup {
    let buckets = MemoryBuckets::new(["raw-bucket", "curated"]);
    let raw = buckets.bucket("raw-bucket").unwrap();
    let curated = buckets.bucket("curated").unwrap();
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
    let e_tag = raw
        .store
        .put(&Path::parse(KEY).unwrap(), PutPayload::from(feed))
        .await
        .unwrap()
        .e_tag
        .unwrap();
    let converter = Converter::new(
        SchemaContract::from_json(SAMPLE_CONTRACT).unwrap(),
        curated.clone(),
        Arc::new(ObjectStoreQuarantine::new(raw.at(Path::from("quarantine")))),
        ConvertConfig::default(),
    );
    Setup {
        app: App {
            converter: converter.into(),
            buckets: Arc::new(buckets),
        },
        raw: raw.store,
        curated: curated.store,
        e_tag,
    }
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
    let payload = sqs(&[
        ("m-test", test_event.to_string()),
        (
            "m-ok",
            s3_notification_tagged(ENCODED, &s.e_tag).to_string(),
        ),
        // A late notification for an earlier object under the same key: not read.
        (
            "m-stale",
            s3_notification_tagged(ENCODED, "an-earlier-etag").to_string(),
        ),
        (
            "m-missing",
            s3_notification("raw/2026/11/23/10/gone").to_string(),
        ),
        ("m-junk", json!({"hello": 1}).to_string()),
    ]);
    let answer = handle(event(payload), &s.app).await.unwrap();
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-stale"}, {"itemIdentifier": "m-missing"}, {"itemIdentifier": "m-junk"}]})
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
    let first = handle(event(s3_notification_tagged(ENCODED, &s.e_tag)), &s.app)
        .await
        .unwrap();
    let before = parquet_objects(&s.curated).await;
    let second = handle(event(s3_notification_tagged(ENCODED, &s.e_tag)), &s.app)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        json!({"converted": 1, "rows_written": 500})
    );
    assert_eq!(parquet_objects(&s.curated).await, before);
}

#[tokio::test]
async fn backfill_batches_use_plain_keys_and_fail_as_a_whole() {
    let s = setup().await;
    let batch = json!({"BatchInput": {"bucket": "raw-bucket", "source": "backfill"}, "Items": [{"key": KEY, "size": 1, "etag": "e"}]});
    let answer = handle(event(batch.clone()), &s.app).await.unwrap();
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        json!({"converted": 1, "rows_written": 500})
    );
    // Resume, as `feedpipe convert` plans it: a converted object is skipped.
    let again = handle(event(batch), &s.app).await.unwrap();
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        json!({"converted": 0, "rows_written": 0})
    );
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
