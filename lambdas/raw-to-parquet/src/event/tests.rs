use serde_json::json;

use super::*;

/// The S3 notification of one created object in `raw-bucket` (`key` as events carry it).
pub(crate) fn s3_notification(key: &str) -> Value {
    s3_notification_tagged(key, "e")
}

/// The same, for an object whose ETag is `e_tag`.
pub(crate) fn s3_notification_tagged(key: &str, e_tag: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:05:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:FIREHOSE"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "raw",
               "bucket": {"name": "raw-bucket", "arn": "arn:aws:s3:::raw-bucket"},
               "object": {"key": key, "size": 1, "eTag": e_tag, "sequencer": "1"}}
    }]})
}

/// An SQS event of one message per `(message id, body)`.
pub(crate) fn sqs(bodies: &[(&str, String)]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
                   "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:1:raw", "awsRegion": "us-east-1"})
        })
        .collect();
    json!({ "Records": records })
}

#[test]
fn backfill_batches_name_their_items_in_the_batch_bucket() {
    let batch = json!({"BatchInput": {"bucket": "raw-bucket", "source": "backfill"},
                       "Items": [{"key": "raw/a b.gz", "size": 1, "etag": "e1"}, {"Key": "raw/c.gz", "Etag": "\"e2\""}]});
    let RawEvent::Backfill(batch) = RawEvent::try_from(batch).unwrap() else {
        panic!("not a backfill batch");
    };
    let objects = batch.objects();
    assert_eq!(
        objects,
        vec![
            ObjectRef {
                bucket: "raw-bucket".into(),
                key: "raw/a b.gz".into(),
                version: None,
                e_tag: Some("e1".into())
            },
            ObjectRef {
                bucket: "raw-bucket".into(),
                key: "raw/c.gz".into(),
                version: None,
                e_tag: Some("\"e2\"".into())
            },
        ],
        "keys are taken as listed, not URL-decoded"
    );
}

#[test]
fn sqs_bodies_are_decoded_per_message() {
    let test_event =
        json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "raw-bucket"});
    let payload = sqs(&[
        ("m-test", test_event.to_string()),
        ("m-ok", s3_notification("raw/a+b.gz").to_string()),
        ("m-junk", json!({"hello": 1}).to_string()),
        ("m-text", "not json".into()),
        (
            "m-shape",
            json!({"Records": [{"eventName": 3}]}).to_string(),
        ),
    ]);
    let RawEvent::Sqs(messages) = RawEvent::try_from(payload).unwrap() else {
        panic!("not an SQS event");
    };
    let ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["m-test", "m-ok", "m-junk", "m-text", "m-shape"]);
    assert_eq!(messages[0].body, Ok(Notification::Test));
    let Ok(Notification::Records(records)) = &messages[1].body else {
        panic!("{:?}", messages[1].body);
    };
    assert_eq!(records[0].s3.object.key.as_deref(), Some("raw/a+b.gz"));
    assert_eq!(
        messages[2].body,
        Err(DecodeError::NotANotification {
            message_id: "m-junk".into(),
            reason: "no Records".into()
        })
    );
    assert!(
        matches!(&messages[3].body, Err(DecodeError::BodyNotJson { message_id, .. }) if message_id == "m-text")
    );
    let shape = messages[4].body.as_ref().unwrap_err();
    assert!(
        matches!(shape, DecodeError::NotANotification { .. }),
        "{shape}"
    );
    assert!(
        shape
            .to_string()
            .starts_with("unrecognised event: message m-shape: not an S3 notification: ")
    );
}

#[test]
fn s3_events_are_told_from_sqs_by_the_event_source() {
    assert!(matches!(
        RawEvent::try_from(s3_notification("raw/x.gz")),
        Ok(RawEvent::S3(e)) if e.records.len() == 1
    ));
    assert!(matches!(
        RawEvent::try_from(json!({"Records": []})),
        Ok(RawEvent::S3(e)) if e.records.is_empty()
    ));
}

#[test]
fn unknown_and_malformed_events_are_permanent_errors() {
    let err = RawEvent::try_from(json!({"hello": "world"})).unwrap_err();
    assert_eq!(err, DecodeError::Unrecognised);
    assert!(err.to_string().contains("expected an SQS event"));
    assert!(!err.is_retryable());
    let err = RawEvent::try_from(json!({"BatchInput": {}, "Items": []})).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Malformed(m) if m.contains("bucket")),
        "{err}"
    );
}

#[test]
fn answers_keep_their_json_shapes() {
    let mut sqs = SqsBatchResponse::default();
    assert_eq!(
        serde_json::to_value(Answer::Sqs(sqs.clone())).unwrap(),
        json!({"batchItemFailures": []})
    );
    sqs.add_failure("m-1");
    assert_eq!(
        serde_json::to_string(&Answer::Sqs(sqs)).unwrap(),
        r#"{"batchItemFailures":[{"itemIdentifier":"m-1"}]}"#
    );
    let converted = Converted {
        converted: 2,
        rows_written: 1000,
    };
    assert_eq!(
        serde_json::to_string(&Answer::Converted(converted)).unwrap(),
        r#"{"converted":2,"rows_written":1000}"#
    );
}
