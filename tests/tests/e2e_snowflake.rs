//! The whole chain, through the AWS wire protocols and into the Snowflake stand-in.
//!
//! A generated feed with bad lines mixed in is uploaded to a source bucket on the
//! local S3 server (moto); the ingest handler gets the notification the server sent
//! for it; the records go into Kinesis (moto); the Firehose stand-in drains the
//! stream into a raw bucket; the raw-to-parquet handler gets the raw bucket's
//! notifications as SQS delivers them (the production path); and the project's own
//! `sql/` scripts (table, file format, stage on the curated bucket, the pipe's COPY)
//! run against fakesnow. The loaded rows are compared with the input, computed here
//! from the feed bytes; the quarantine with the bad lines.
//!
//! Each component signs as its own principal, through a recording proxy; at the end
//! every request is checked against that component's policy rendered from `infra/`
//! (tests/infra/iam_check.py): a call the policy does not allow fails the test, named.
//!
//! Faults on the same chain: each S3 event delivered twice to each handler, and the
//! ingest handler run again after a crash. Every hop is at-least-once, so the table
//! may hold a record twice; the `<table>_dedup` view (sql/R__dedup_view.sql) holds
//! each `_record_id` once, and `reconcile --dedup` proves nothing is missing.
//! (S3 and Kinesis errors: tests/tests/faults.rs.)

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};

use feedpipe_convert::Manifest;
use futures::StreamExt;
use object_store::ObjectStoreExt;

use feedpipe_convert::backfill::{self, PlanOptions};
use feedpipe_convert::contract::SchemaContract;
use feedpipe_e2e::chain::{
    COUNTS, Chain, PER_DAY, as_u64, cents, expected, feed, per_day, quarantined_lines,
};
use feedpipe_e2e::principals::COMPONENTS;
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::storage::StorageLocation;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_dropped_in_the_source_bucket_is_loaded_into_the_snowflake_table() {
    let chain = Chain::recorded().await;
    let feed = feed(2500, 21);
    let want = expected(&feed);
    // A key with a space and unicode: the event carries it URL-encoded.
    let key = "incoming/orders 2026-11 müller.jsonl";
    let (event, _) = chain.upload_and_ingest(key, feed.clone(), 1).await;
    let sent_key = event.records[0].s3.object.key.clone().unwrap();
    assert!(
        sent_key.contains("m%C3%BCller") && !sent_key.contains(' '),
        "{sent_key}"
    );
    let raw_objects = chain.firehose().await;
    assert!(raw_objects >= 2, "512 KiB buffers over ~1.5 MB of records");
    let delivered = chain.raw_to_parquet(1).await;
    assert_eq!(delivered, raw_objects, "a notification per raw object");

    let results = chain.snowflake(&[
        PER_DAY,
        COUNTS,
        "SELECT order_id, order_ts, total, _extra, _source_line, _source_uri, _file_name FROM FEEDPIPE.RAW.feed WHERE order_id = 'ORD-DRIFT'",
        "SELECT COUNT(*) AS n FROM FEEDPIPE.RAW.feed WHERE order_id = 'ORD-TYPE'",
        "SELECT _file_name AS f, COUNT(*) AS n FROM FEEDPIPE.RAW.feed GROUP BY _file_name",
    ]);
    // Snowflake's side of the file check (sql/R__monitoring.sql reads the manifests
    // through V7's stage, which fakesnow cannot query): the manifests, read with
    // Snowflake's keys as its stage reads them, name every curated file and its rows,
    // and the table holds each file whole.
    let manifests = chain.location_as(
        "snowflake",
        &format!("s3://{}/_manifests/feed/", chain.curated),
    );
    let mut listed: BTreeMap<String, u64> = BTreeMap::new();
    let mut entries = manifests.store.list(Some(&manifests.path));
    while let Some(meta) = entries.next().await {
        let meta = meta.unwrap();
        let body = manifests.store.get(&meta.location).await.unwrap();
        let manifest: Manifest = serde_json::from_slice(&body.bytes().await.unwrap()).unwrap();
        for out in manifest.outputs {
            let at = out.uri.find("dt=").unwrap();
            listed.insert(out.uri[at..].to_owned(), out.rows);
        }
    }
    let loaded: BTreeMap<String, u64> = results[4]
        .iter()
        .map(|r| {
            let f = r["f"].as_str().unwrap();
            (f[f.find("dt=").unwrap()..].to_owned(), as_u64(&r["n"]))
        })
        .collect();
    assert!(!listed.is_empty());
    assert_eq!(
        loaded, listed,
        "every file the manifests list, loaded whole"
    );
    assert_eq!(per_day(&results[0]), want.days);
    let counts = &results[1][0];
    assert_eq!(
        as_u64(&counts["table_rows"]),
        want.rows,
        "each record loaded once"
    );
    assert_eq!(as_u64(&counts["ids"]), want.rows);
    assert_eq!(as_u64(&counts["view_rows"]), want.rows);

    let drift = &results[2];
    assert_eq!(drift.len(), 1, "{drift:?}");
    let drift = &drift[0];
    assert!(
        drift["order_ts"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-03 01:30:00"),
        "23:30 at -02:00 is 01:30 UTC the next day: {drift}"
    );
    assert_eq!(cents(drift["total"].as_str().unwrap()), 1050);
    let extra: Value = match &drift["_extra"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(extra, json!({ "loyalty": { "points": 7 } }));
    let lines = feed.split(|b| *b == b'\n').count() as u64 - 1;
    assert_eq!(as_u64(&drift["_source_line"]), lines - 1);
    assert_eq!(
        drift["_source_uri"].as_str().unwrap(),
        format!("s3://{}/{key}", chain.source)
    );
    assert!(
        drift["_file_name"]
            .as_str()
            .unwrap()
            .contains("dt=2026-11-03/"),
        "{drift}"
    );
    assert_eq!(as_u64(&results[3][0]["n"]), 0);

    // The quarantine holds the bad lines, each with its line and reason.
    let ingest = quarantined_lines(&chain, "ingest").await;
    assert_eq!(
        ingest.iter().map(|(l, _)| *l).collect::<BTreeSet<_>>(),
        want.malformed
    );
    assert!(ingest.iter().all(|(_, reason)| !reason.is_empty()));
    let convert = quarantined_lines(&chain, "convert").await;
    assert_eq!(convert.len(), 1, "{convert:?}");
    assert!(convert[0].1.contains("total"), "{convert:?}");

    let report = chain.reconcile(false).await;
    assert!(report.ok(), "{}", report.render());

    // The documented backfill (`feedpipe convert --input s3://raw/raw/`) on the
    // versioned raw bucket: the Lambda converted every object, under the version id
    // its event gave, so there is nothing left to do; with --force, every object is
    // converted again under the same names (nothing is read at a version other than
    // the one listed), and reconcile still finds each record once.
    let converter = chain.raw_to_parquet_app().converter;
    let raw = StorageLocation::parse(&format!("s3://{}/raw/", chain.raw)).unwrap();
    let plan = backfill::prepare(&converter, &raw, &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!((plan.listed, plan.skipped), (raw_objects, raw_objects));
    assert!(plan.groups.is_empty(), "{:?}", plan.groups);
    let force = PlanOptions {
        force: true,
        ..Default::default()
    };
    let plan = backfill::prepare(&converter, &raw, &force).await.unwrap();
    assert_eq!(plan.objects(), raw_objects);
    for group in &plan.groups {
        converter
            .convert_group(&backfill::inputs(&raw, group))
            .await
            .unwrap();
    }
    let report = chain.reconcile(false).await;
    assert!(report.ok(), "{}", report.render());

    // A feed deleted for good (its version too) before its event is handled: ingest
    // may list the source bucket, so S3 answers 404, not 403, and the failure is
    // permanent rather than retried (defect 3 of the deploy issue).
    let gone = "incoming/gone.jsonl";
    chain
        .s3
        .put_object()
        .bucket(&chain.source)
        .key(gone)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}\n"))
        .send()
        .await
        .unwrap();
    let event = chain.source_events().await.remove(0);
    chain.delete_for_good(&chain.source, gone).await;
    let err = ingest_lambda::handler::handle(
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        &chain.ingest_app(),
    )
    .await
    .unwrap_err();
    let diagnostic = permanent(err);
    assert!(
        diagnostic.error_message.contains("not found"),
        "{}",
        diagnostic.error_message
    );

    // The backfill state machine's Distributed Map lists the raw objects under the
    // prefix (its ItemReader, with the state machine's role) and hands the
    // raw-to-parquet function batches of them: one whose manifest is gone is converted
    // again (its manifest read answers 404, which needs ListBucket on the curated
    // bucket), the rest are skipped as done.
    let item_reader = chain.s3_client_as("backfill").await;
    let listed = item_reader
        .list_objects_v2()
        .bucket(&chain.raw)
        .prefix("raw/")
        .send()
        .await
        .unwrap();
    let items: Vec<Value> = listed
        .contents()
        .iter()
        .map(|o| json!({ "Key": o.key().unwrap(), "Etag": o.e_tag().unwrap(), "Size": o.size() }))
        .collect();
    assert_eq!(items.len(), raw_objects);
    let manifests = chain
        .s3
        .list_objects_v2()
        .bucket(&chain.curated)
        .prefix("_manifests/feed/")
        .send()
        .await
        .unwrap();
    let manifest = manifests.contents()[0].key().unwrap().to_owned();
    chain.delete_for_good(&chain.curated, &manifest).await;
    let batch =
        json!({ "BatchInput": { "bucket": chain.raw, "source": "backfill" }, "Items": items });
    let answer = raw_to_parquet_lambda::handler::handle(
        lambda_runtime::LambdaEvent::new(batch, lambda_runtime::Context::default()),
        &chain.raw_to_parquet_app(),
    )
    .await
    .unwrap();
    let answer = serde_json::to_value(answer).unwrap();
    assert_eq!(answer["converted"], 1, "{answer}");
    let report = chain.reconcile(false).await;
    assert!(report.ok(), "{}", report.render());

    // A raw object expired before its event is handled: 404 (ListBucket on the raw
    // bucket), so the failure is permanent.
    let raw_key = listed.contents()[0].key().unwrap();
    let mut event = feedpipe_e2e::s3_put_event(&chain.raw, raw_key, 1, "e");
    chain.delete_for_good(&chain.raw, raw_key).await;
    event["Records"][0]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("eTag");
    let err = raw_to_parquet_lambda::handler::handle(
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        &chain.raw_to_parquet_app(),
    )
    .await
    .unwrap_err();
    permanent(err);

    // A feed too long for its invocation (here: a deadline already within the 60 s
    // margin, so the first part stops after one record): ingest hands the rest to its
    // continuation queue (SendMessage, signed as ingest) and the next invocation, fed
    // that message, goes on. Every record is in the table once.
    let long = feedpipe_e2e::chain::feed(600, 33);
    let long_want = expected(&long);
    let long_lines = long
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let long_key = "incoming/long feed.jsonl";
    chain
        .s3
        .put_object()
        .bucket(&chain.source)
        .key(long_key)
        .body(aws_sdk_s3::primitives::ByteStream::from(long))
        .send()
        .await
        .unwrap();
    let event = chain.source_events().await.remove(0);
    let mut near = lambda_runtime::Context::default();
    near.deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 1000;
    let first = ingest_lambda::handler::handle(
        lambda_runtime::LambdaEvent::new(event, near),
        &chain.ingest_app(),
    )
    .await
    .unwrap();
    assert_eq!((first.continued, first.records_read), (1, 1), "{first:?}");
    let rest = chain
        .continue_ingest(lambda_runtime::Context::default)
        .await;
    assert_eq!(rest.len(), 1, "one more part, without a deadline: {rest:?}");
    assert_eq!(rest[0].continued, 0);
    assert_eq!(
        rest[0].records_sent + rest[0].records_quarantined,
        rest[0].records_read
    );
    // The whole file's summary, from the part that ended it.
    assert_eq!(rest[0].records_read, long_lines);
    assert_eq!(
        rest[0].records_quarantined,
        long_want.malformed.len() as u64
    );
    // (The Firehose stand-in reads the stream from its start again: the first feed's
    // records land twice, as a Firehose redelivery would, and the dedup view keeps one.)
    chain.firehose().await;
    chain.raw_to_parquet(1).await;
    let long_uri = format!("s3://{}/{long_key}", chain.source);
    let results = chain.snowflake(&[
        COUNTS,
        &format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT _record_id) AS ids FROM FEEDPIPE.RAW.feed WHERE _source_uri = '{long_uri}'"
        ),
    ]);
    assert_eq!(
        as_u64(&results[0][0]["view_rows"]),
        want.rows + long_want.rows
    );
    let long_rows = &results[1][0];
    assert_eq!(
        (as_u64(&long_rows["n"]), as_u64(&long_rows["ids"])),
        (long_want.rows, long_want.rows),
        "the continued feed: each record once"
    );
    let report = chain.reconcile(true).await;
    assert!(report.ok(), "{}", report.render());

    // Every call of every component, under its own policy from infra/.
    println!("{}", chain.check_iam(&COMPONENTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_delivered_twice_and_a_rerun_ingest_leave_each_record_once_in_the_dedup_view() {
    let chain = Chain::new().await;
    let feed = feed(1500, 22);
    let want = expected(&feed);
    // The same S3 event twice (S3 notifications are at-least-once; a handler retried
    // after a crash sends its file again from the start, the same records).
    chain
        .upload_and_ingest("incoming/orders.jsonl", feed, 2)
        .await;
    let raw_objects = chain.firehose().await;
    // Each raw notification delivered twice to raw-to-parquet: the second run writes
    // the same names and bytes, and the load history skips them.
    let delivered = chain.raw_to_parquet(2).await;
    assert_eq!(delivered, raw_objects);

    let results = chain.snowflake(&[PER_DAY, COUNTS]);
    let counts = &results[1][0];
    assert_eq!(
        as_u64(&counts["table_rows"]),
        2 * want.rows,
        "each record twice in the table: it was ingested twice"
    );
    assert_eq!(as_u64(&counts["ids"]), want.rows);
    assert_eq!(
        as_u64(&counts["view_rows"]),
        want.rows,
        "the view holds each id once"
    );
    assert_eq!(per_day(&results[0]), want.days);

    // reconcile sees every record twice: a failure, unless duplicates are removed
    // downstream (the view); nothing is missing either way.
    let strict = chain.reconcile(false).await;
    assert!(!strict.ok());
    assert_eq!(strict.files[0].duplicated_count, want.rows);
    assert_eq!(strict.files[0].missing_count, 0);
    let dedup = chain.reconcile(true).await;
    assert!(dedup.ok(), "{}", dedup.render());
    assert!(dedup.render().contains("removed by the `_dedup` view"));
}

/// A handler's failure, which must be `Permanent` (not retried): its diagnostic.
fn permanent(err: impl Into<lambda_runtime::Diagnostic>) -> lambda_runtime::Diagnostic {
    let diagnostic = err.into();
    assert_eq!(
        diagnostic.error_type, "Permanent",
        "{}",
        diagnostic.error_message
    );
    diagnostic
}

/// Many feeds in one deployment (issue 17): three feeds of different shapes under
/// their own prefixes of one source bucket, and a file under none, through both
/// handlers as deployed with a feeds file (one stream, one Firehose, one raw bucket)
/// into one Snowflake table per feed, made by the SQL `feedpipe sql render` writes.
/// Every table holds exactly its feed's records (counted and summed here from the
/// input), each dedup view one row per record; the stray file fails its invocation
/// for good, is one unrouted quarantine entry, and reconcile passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_feeds_reach_their_own_snowflake_tables_through_both_handlers() {
    let mut chain = Chain::recorded().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("contracts")).unwrap();
    std::fs::write(
        dir.path().join("contracts/orders.json"),
        feedpipe_convert::contract::SAMPLE_CONTRACT
            .replace("\"table\": \"feed\"", "\"table\": \"orders\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("contracts/customers.json"),
        r#"{"table": "customers", "columns": [
            {"name": "id", "type": "string", "nullable": false},
            {"name": "age", "type": "int64"},
            {"name": "profile", "type": {"struct": [{"name": "region", "type": "string"}]}}
        ]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("contracts/points.json"),
        r#"{"table": "points", "event_time": "earned_at", "columns": [
            {"name": "customer", "type": "string", "nullable": false},
            {"name": "points", "type": "int64"},
            {"name": "earned_at", "type": "timestamp"}
        ]}"#,
    )
    .unwrap();
    let feeds_path = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds_path,
        r#"
[[feeds]]
table = "orders"
prefix = "orders/"
contract = "contracts/orders.json"
partition_key = "customer_id"

[[feeds]]
table = "customers"
prefix = "customers/"
contract = "contracts/customers.json"
partition_key = "profile.region"

[[feeds]]
table = "points"
prefix = "loyalty/points/"
contract = "contracts/points.json"
"#,
    )
    .unwrap();
    let feeds = FeedsFile::read(&feeds_path).unwrap();
    let contracts = feedpipe_convert::contract::load_feeds(&feeds, |_| None)
        .await
        .unwrap();
    chain.feeds = Some((std::sync::Arc::new(feeds), contracts));

    let orders = feed(1200, 31);
    let want = expected(&orders);
    let mut customers = String::new();
    let mut age_sum = 0u64;
    for i in 0..300u64 {
        age_sum += 20 + i % 50;
        customers.push_str(&format!(
            "{{\"id\":\"c{i}\",\"age\":{},\"profile\":{{\"region\":\"{}\"}}}}\n",
            20 + i % 50,
            ["eu", "us"][i as usize % 2]
        ));
    }
    let points: Vec<Value> = (0..200u64)
        .map(|i| json!({"customer": format!("c{i}"), "points": i, "earned_at": format!("2026-11-{:02}T12:00:00Z", 1 + i % 5)}))
        .collect();
    let uploads: [(&str, Vec<u8>); 4] = [
        ("orders/2026-11/o.jsonl", orders.clone()),
        ("customers/all.jsonl", customers.into_bytes()),
        (
            "loyalty/points/p.json",
            serde_json::to_vec(&points).unwrap(),
        ),
        ("stray/x.jsonl", b"{\"a\": 1}\n".to_vec()),
    ];
    for (key, body) in &uploads {
        chain
            .s3
            .put_object()
            .bucket(&chain.source)
            .key(*key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    let app = chain.ingest_app();
    let mut unrouted = Vec::new();
    for event in chain.source_events().await {
        // moto encodes `/` in the event's key as `%2F`; the handler decodes it.
        let key = event.records[0]
            .s3
            .object
            .key
            .clone()
            .unwrap()
            .replace("%2F", "/");
        match ingest_lambda::handler::handle(
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
            &app,
        )
        .await
        {
            Ok(summary) => assert!(summary.records_sent > 0, "{key}"),
            Err(e) => unrouted.push((key, permanent(e).error_message)),
        }
    }
    assert_eq!(unrouted.len(), 1, "{unrouted:?}");
    assert_eq!(unrouted[0].0, "stray/x.jsonl");
    assert!(
        unrouted[0].1.contains("no feed for key `stray/x.jsonl`"),
        "{}",
        unrouted[0].1
    );
    let raw_objects = chain.firehose().await;
    assert_eq!(chain.raw_to_parquet(1).await, raw_objects);

    let report = chain.reconcile(false).await;
    assert!(report.ok(), "{}", report.render());
    assert_eq!(
        report.tables,
        ["customers", "orders", "points"],
        "{}",
        report.render()
    );
    assert!(
        report.render().contains("unrouted, quarantined whole"),
        "{}",
        report.render()
    );

    let sql = dir.path().join("sql");
    render_feeds_sql(&feeds_path, &sql);
    let results = chain.snowflake_in(
        &sql,
        &[
            "SELECT COUNT(*) AS n, COUNT(DISTINCT _record_id) AS ids, SUM(total::NUMBER(18,2)) AS total FROM FEEDPIPE.RAW.orders",
            "SELECT COUNT(*) AS n FROM FEEDPIPE.RAW.orders_dedup",
            "SELECT COUNT(*) AS n, SUM(age)::INTEGER AS age, COUNT(DISTINCT profile:region) AS regions FROM FEEDPIPE.RAW.customers",
            "SELECT COUNT(*) AS n FROM FEEDPIPE.RAW.customers_dedup",
            "SELECT COUNT(*) AS n, SUM(points)::INTEGER AS points FROM FEEDPIPE.RAW.points",
            "SELECT COUNT(*) AS n FROM FEEDPIPE.RAW.points_dedup",
        ],
    );
    let orders_row = &results[0][0];
    assert_eq!(as_u64(&orders_row["n"]), want.rows);
    assert_eq!(as_u64(&orders_row["ids"]), want.rows);
    let want_cents: i64 = want.days.values().map(|(_, c)| *c).sum();
    let total = match &orders_row["total"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    assert_eq!(cents(&total), want_cents, "{orders_row}");
    assert_eq!(as_u64(&results[1][0]["n"]), want.rows);
    assert_eq!(as_u64(&results[2][0]["n"]), 300);
    assert_eq!(as_u64(&results[2][0]["age"]), age_sum);
    assert_eq!(as_u64(&results[2][0]["regions"]), 2);
    assert_eq!(as_u64(&results[3][0]["n"]), 300);
    assert_eq!(as_u64(&results[4][0]["n"]), 200);
    assert_eq!(as_u64(&results[4][0]["points"]), (0..200).sum::<u64>());
    assert_eq!(as_u64(&results[5][0]["n"]), 200);
    // Every call each component made is one its policy allows as infra/ renders it
    // for these feeds (feeds_dir holds feeds.toml and the contracts; the SQL render
    // wrote its folder beside them, which infra/ would upload too: it is moved out).
    std::fs::rename(&sql, dir.path().with_extension("sql")).unwrap();
    println!(
        "{}",
        chain.check_iam_feeds(dir.path(), &["orders", "customers", "points"], &COMPONENTS)
    );
    let _ = std::fs::remove_dir_all(dir.path().with_extension("sql"));
}

/// The feeds file at `path` with its contracts, as both Lambdas load it.
async fn load_feeds(
    path: &std::path::Path,
) -> Option<(std::sync::Arc<FeedsFile>, Vec<SchemaContract>)> {
    let feeds = FeedsFile::read(path).unwrap();
    let contracts = feedpipe_convert::contract::load_feeds(&feeds, |_| None)
        .await
        .unwrap();
    Some((std::sync::Arc::new(feeds), contracts))
}

/// Uploads a feed under `key`, ingests it, and converts what Firehose writes.
async fn ingest_and_convert(chain: &Chain, key: &str, body: Vec<u8>) {
    let (_, summary) = chain.upload_and_ingest(key, body, 1).await;
    assert!(summary.records_sent > 0);
    let raw = chain.firehose().await;
    assert_eq!(chain.raw_to_parquet(1).await, raw);
}

/// What `feedpipe sql render --feeds FEEDS --out DIR` writes.
fn render_feeds_sql(feeds: &std::path::Path, out: &std::path::Path) {
    let file = FeedsFile::read(feeds).unwrap();
    let contracts =
        futures::executor::block_on(feedpipe_convert::contract::load_feeds(&file, |_| None))
            .unwrap();
    std::fs::create_dir_all(out).unwrap();
    for (name, text) in feedpipe_convert::sql_render::render_feeds(&file, &contracts).unwrap() {
        std::fs::write(out.join(name), text).unwrap();
    }
}

/// Contract evolution that loses nothing (issue 17), on one warehouse that lives
/// through the change: a feed's records carry a field the contract does not know,
/// which lands in `_extra`; `schema diff`'s `ALTER TABLE` adds the column, and the
/// records converted under the new contract fill it; the older days, converted
/// again under the new contract (same file names) and reloaded as
/// `sql/backfill/refresh.sql` reloads rewritten files, fill it too, and the dedup
/// view shows one row per record, each with the column filled where the input had it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_kept_in_extra_becomes_a_column_for_new_and_reconverted_records() {
    let mut chain = Chain::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("contracts")).unwrap();
    let v1 = r#"{"table": "members", "event_time": "joined_at", "columns": [
        {"name": "id", "type": "string", "nullable": false},
        {"name": "joined_at", "type": "timestamp"},
        {"name": "name", "type": "string"}
    ]}"#;
    let v2 = v1.replace(
        r#"{"name": "name", "type": "string"}"#,
        r#"{"name": "name", "type": "string"}, {"name": "tier", "type": "string", "description": "Loyalty tier"}"#,
    );
    let (v1, v2) = (
        SchemaContract::from_json(v1).unwrap(),
        SchemaContract::from_json(&v2).unwrap(),
    );
    let contract_path = dir.path().join("contracts/members.json");
    std::fs::write(&contract_path, v1.to_json()).unwrap();
    let feeds_path = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds_path,
        "[[feeds]]\ntable = \"members\"\nprefix = \"members/\"\ncontract = \"contracts/members.json\"\n",
    )
    .unwrap();
    // Day one: every third member has a tier the contract does not know yet.
    let day = |date: &str, rows: u64, every: u64| -> (Vec<u8>, u64) {
        let mut text = String::new();
        let mut tiers = 0;
        for i in 0..rows {
            let tier = match i % every == 0 {
                true => {
                    tiers += 1;
                    format!(",\"tier\":\"{}\"", ["gold", "silver"][i as usize % 2])
                }
                false => String::new(),
            };
            text.push_str(&format!(
                "{{\"id\":\"{date}-{i}\",\"joined_at\":\"{date}T09:00:00Z\",\"name\":\"m{i}\"{tier}}}\n"
            ));
        }
        (text.into_bytes(), tiers)
    };
    chain.feeds = load_feeds(&feeds_path).await;
    let (first, first_tiers) = day("2026-11-01", 120, 3);
    ingest_and_convert(&chain, "members/2026-11-01.jsonl", first).await;

    let sql = dir.path().join("sql");
    render_feeds_sql(&feeds_path, &sql);
    let evolution = feedpipe_convert::contract::diff(&v1, &v2).unwrap();
    let alter: Vec<String> = evolution
        .snowflake_sql("FEEDPIPE", "RAW")
        .split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect();
    // The column, then the dedup view again (a `SELECT *` view does not follow a
    // column added to its table).
    assert_eq!(alter.len(), 2, "{alter:?}");
    assert!(
        alter[0].starts_with("ALTER TABLE FEEDPIPE.RAW.members ADD COLUMN tier VARCHAR"),
        "{alter:?}"
    );
    assert!(
        alter[1].starts_with("CREATE OR REPLACE VIEW FEEDPIPE.RAW.members_dedup"),
        "{alter:?}"
    );
    let (flag1, flag2) = (dir.path().join("altered"), dir.path().join("reconverted"));
    let table = "FEEDPIPE.RAW.members";
    let mut queries = vec![
        format!("SELECT COUNT(*) AS n, COUNT_IF(_extra:tier IS NOT NULL) AS in_extra FROM {table}"),
        format!("@wait {}", flag1.display()),
    ];
    queries.extend(alter.iter().cloned());
    queries.extend([
        "@pipe".to_owned(),
        format!("SELECT COUNT(*) AS n, COUNT(tier) AS filled FROM {table} WHERE joined_at >= '2026-11-02'"),
        format!("SELECT COUNT(tier) AS filled FROM {table} WHERE joined_at < '2026-11-02'"),
        format!("@wait {}", flag2.display()),
        "@reload dt=2026-11-01/".to_owned(),
        format!("SELECT COUNT(*) AS n, COUNT(DISTINCT _record_id) AS ids, COUNT(tier) AS filled, COUNT_IF(_extra:tier IS NOT NULL) AS in_extra FROM {table}_dedup"),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    ]);
    let vars = chain.sql_vars();
    let mut warehouse = feedpipe_e2e::SnowflakeSession::start(
        &sql,
        &vars,
        &queries,
        &feedpipe_e2e::endpoint(),
        None,
    );
    let before = warehouse.next_rows();
    assert_eq!(as_u64(&before[0]["n"]), 120);
    assert_eq!(
        as_u64(&before[0]["in_extra"]),
        first_tiers,
        "the new field waits in _extra"
    );

    // The contract gains the column: deployed, and day two converted under it.
    std::fs::write(&contract_path, v2.to_json()).unwrap();
    chain.feeds = load_feeds(&feeds_path).await;
    // A new stream: a new Firehose stand-in reads its stream from the start, and
    // day one's records must not be delivered again.
    chain.stream = feedpipe_e2e::unique("feed");
    feedpipe_e2e::create_stream(&chain.kinesis, &chain.stream, 2).await;
    let (second, second_tiers) = day("2026-11-02", 60, 1);
    ingest_and_convert(&chain, "members/2026-11-02.jsonl", second).await;
    warehouse.go_on(&flag1);
    assert!(warehouse.next_rows().is_empty(), "@wait");
    for _ in &alter {
        warehouse.next_rows();
    }
    assert!(warehouse.next_rows().is_empty(), "@pipe");
    let new = warehouse.next_rows();
    assert_eq!(
        (as_u64(&new[0]["n"]), as_u64(&new[0]["filled"])),
        (60, second_tiers),
        "records converted under the new contract fill the column"
    );
    assert_eq!(
        as_u64(&warehouse.next_rows()[0]["filled"]),
        0,
        "older rows not yet"
    );

    // The older day converted again under the new contract (the documented
    // backfill: `feedpipe convert --force`), then its files reloaded.
    let app = chain.raw_to_parquet_app();
    let raw = StorageLocation::parse(&format!("s3://{}/raw/", chain.raw)).unwrap();
    let force = PlanOptions {
        force: true,
        ..Default::default()
    };
    let plan = backfill::prepare(&app.converter, &raw, &force)
        .await
        .unwrap();
    assert!(plan.objects() >= 2);
    for group in &plan.groups {
        app.converter
            .convert_group(&backfill::inputs(&raw, group))
            .await
            .unwrap();
    }
    warehouse.go_on(&flag2);
    assert!(warehouse.next_rows().is_empty(), "@wait");
    assert!(warehouse.next_rows().is_empty(), "@reload");
    let view = &warehouse.next_rows()[0];
    assert_eq!(as_u64(&view["n"]), 180, "{view}");
    assert_eq!(as_u64(&view["ids"]), 180, "{view}");
    assert_eq!(
        as_u64(&view["filled"]),
        first_tiers + second_tiers,
        "{view}"
    );
    assert_eq!(as_u64(&view["in_extra"]), 0, "{view}");
    assert_eq!(
        as_u64(&warehouse.next_rows()[0]["n"]),
        120 * 2 + 60,
        "the table keeps the older load beside the reload; the view picks the newer"
    );
    warehouse.finish();
    let report = chain.reconcile(true).await;
    assert!(report.ok(), "{}", report.render());
}
