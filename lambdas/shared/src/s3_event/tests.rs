use feedpipe_shared::storage::MemoryBuckets;
use serde_json::{Value, json};

use super::*;

/// A record as S3 sends it, with `object` as the record's `s3.object`.
fn record(event_name: &str, bucket: Value, object: Value) -> S3EventRecord {
    serde_json::from_value(json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": event_name,
        "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": bucket, "object": object}
    }))
    .unwrap()
}

fn created(key: &str) -> S3EventRecord {
    record(
        "ObjectCreated:Put",
        json!({"name": "feeds"}),
        json!({"key": key, "size": 1, "eTag": "0123abcd", "sequencer": "1"}),
    )
}

fn object(key: &str) -> ObjectRef {
    ObjectRef {
        bucket: "feeds".into(),
        key: key.into(),
        version: None,
        e_tag: Some("0123abcd".into()),
    }
}

#[test]
fn url_encoded_keys_are_decoded() {
    // S3 (and moto) encode keys the way `quote_plus` does: `+` for a space, `%2B`
    // for a plus, and in moto's case `%2F` for the slashes too.
    for (sent, decoded) in [
        (
            "incoming/commandes+d%27%C3%A9t%C3%A9+%2B+more.jsonl",
            "incoming/commandes d'été + more.jsonl",
        ),
        ("in%2Forders+1.jsonl", "in/orders 1.jsonl"),
        ("plain/key.jsonl.gz", "plain/key.jsonl.gz"),
    ] {
        assert_eq!(
            read_record(0, &created(sent)),
            Ok(Named::Object(object(decoded)))
        );
    }
}

#[test]
fn only_object_created_events_count_with_or_without_the_s3_prefix() {
    let counted = [
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectCreated:Put",
    ];
    let skipped = [
        "ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "ObjectRestore:Completed",
        "s3:TestEvent",
        "",
    ];
    for name in counted.into_iter().chain(skipped) {
        let mut r = created("a.jsonl");
        r.event_name = Some(name.into());
        let expected = if counted.contains(&name) {
            Named::Object(object("a.jsonl"))
        } else {
            Named::Skipped(Skip::NotObjectCreated {
                event_name: name.into(),
            })
        };
        assert_eq!(read_record(0, &r), Ok(expected), "{name}");
    }
    let mut unnamed = created("a.jsonl");
    unnamed.event_name = None;
    assert!(matches!(
        read_record(0, &unnamed),
        Ok(Named::Skipped(Skip::NotObjectCreated { event_name })) if event_name.is_empty()
    ));
}

#[test]
fn folder_markers_are_skipped() {
    for key in ["incoming/folder/", "incoming%2Ffolder%2F"] {
        assert_eq!(
            read_record(0, &created(key)),
            Ok(Named::Skipped(Skip::FolderMarker))
        );
    }
}

#[test]
fn missing_bucket_or_key_and_bad_escapes_are_errors_naming_the_record() {
    let no_bucket = record("ObjectCreated:Put", json!({}), json!({"key": "a"}));
    assert_eq!(
        read_record(3, &no_bucket),
        Err(EventError::NoBucket { index: 3 })
    );
    let empty_bucket = record(
        "ObjectCreated:Put",
        json!({"name": ""}),
        json!({"key": "a"}),
    );
    assert_eq!(
        read_record(3, &empty_bucket),
        Err(EventError::NoBucket { index: 3 })
    );
    let no_key = record("ObjectCreated:Put", json!({"name": "feeds"}), json!({}));
    let err = read_record(1, &no_key).unwrap_err();
    assert_eq!(err, EventError::NoKey { index: 1 });
    assert_eq!(err.to_string(), "bad S3 event record 1: no object key");
    let err = read_record(2, &created("broken%zz.jsonl")).unwrap_err();
    assert!(matches!(err, EventError::Key { index: 2, .. }), "{err}");
    assert!(err.to_string().contains("bad percent-escape"), "{err}");
    assert!(!err.is_retryable());
    // A record that is skipped anyway is not checked further.
    let removed = record("ObjectRemoved:Delete", json!({}), json!({}));
    assert!(matches!(read_record(0, &removed), Ok(Named::Skipped(_))));
}

#[test]
fn versions_are_kept_unless_empty_or_null() {
    let versioned = |version: &str| {
        record(
            "ObjectCreated:Put",
            json!({"name": "feeds"}),
            json!({"key": "a", "versionId": version}),
        )
    };
    let version = |r: &S3EventRecord| match read_record(0, r) {
        Ok(Named::Object(o)) => o.version,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        version(&versioned("3HL4kqtJvjVBH40Nrjfkd")).as_deref(),
        Some("3HL4kqtJvjVBH40Nrjfkd")
    );
    assert_eq!(version(&versioned("null")), None);
    assert_eq!(version(&versioned("")), None);
}

#[test]
fn objects_in_keeps_the_order_leaves_out_skips_and_puts_errors_in_place() {
    let mut removed = created("gone.jsonl");
    removed.event_name = Some("ObjectRemoved:Delete".into());
    let records = [
        created("a.jsonl"),
        removed,
        created("bad%zz"),
        created("folder/"),
        created("b+c.jsonl"),
    ];
    let got: Vec<Result<String, usize>> = objects_in(&records)
        .map(|r| {
            r.map(|o| o.key).map_err(|e| match e {
                EventError::Key { index, .. } => index,
                other => panic!("{other}"),
            })
        })
        .collect();
    assert_eq!(
        got,
        vec![Ok("a.jsonl".into()), Err(2), Ok("b c.jsonl".into())]
    );
}

#[test]
fn objects_are_located_through_the_bucket_resolver() {
    let buckets = MemoryBuckets::new(["feeds"]);
    let location = object("in/a b.jsonl").locate(&buckets).unwrap();
    assert_eq!(location.uri(), "s3://feeds/in/a b.jsonl");
    let elsewhere = ObjectRef {
        bucket: "other".into(),
        ..object("in/a.jsonl")
    };
    let err = elsewhere.locate(&buckets).unwrap_err();
    assert!(
        err.to_string().starts_with("s3://other/in/a.jsonl: "),
        "{err}"
    );
    assert!(!err.is_retryable());
}
