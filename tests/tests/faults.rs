//! The chain of e2e_snowflake.rs under S3 and Kinesis errors: nothing lost, nothing
//! duplicated in the table.
//!
//! tests/run.sh starts tests/py/fault_proxy.py in front of moto and runs this test
//! binary on its own, with `AWS_ENDPOINT_URL` (which object_store reads: the ingest
//! handler's reads of the source, every quarantine write, the Firehose stand-in's
//! raw objects, the conversion's reads and Parquet uploads, reconcile) pointed at the
//! proxy, and `FEEDPIPE_TEST_FAULT_PROXY` naming it. The proxy answers a share of
//! object GETs, PUTs and POSTs with S3's 500 InternalError, 503 ServiceUnavailable
//! and 503 SlowDown; throttles whole PutRecords calls; and rejects single records
//! within PutRecords (partial failure: the rejected records are not stored). The
//! ingest handler's Kinesis client goes through the proxy with the SDK's retries
//! off, so the ingest core's own retry of rejected records is what is tested. The
//! harness's own calls (uploading the feed, the queues) go to moto directly.
//!
//! The main test run skips these tests (`--skip under_faults_`): they need the
//! proxy, and fail without it.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{Read, Write};

use feedpipe_e2e::chain::{COUNTS, Chain, PER_DAY, as_u64, expected, feed, per_day};
use feedpipe_e2e::kinesis_client_at;
use serde_json::Value;

/// The proxy's fault counters (`GET /__faults`).
fn faults(proxy: &str) -> Value {
    let address = proxy.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /__faults HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_every_record_reaches_the_table_once() {
    let proxy = std::env::var("FEEDPIPE_TEST_FAULT_PROXY").expect(
        "FEEDPIPE_TEST_FAULT_PROXY is not set: tests/run.sh runs this test behind tests/py/fault_proxy.py",
    );
    let mut chain = Chain::new().await;
    chain.sink_kinesis = kinesis_client_at(&proxy).await;
    // At a ~32% chance per attempt that a record is refused (a throttled call, 20%,
    // or a rejected entry, 15%), 12 attempts leave ~1e-6 per Kinesis record undelivered.
    chain.ingest_config.retry.max_attempts = 12;
    // Packed as by default, but into small packs and small calls, so that the feed
    // takes some 20 PutRecords calls and each kind of fault meets some of them.
    chain.ingest_config.pack_bytes = 4096;
    chain.ingest_config.limits.max_records_per_call = 20;
    let before = faults(&proxy);

    let feed = feed(1500, 23);
    let want = expected(&feed);
    let (_, summary) = chain
        .upload_and_ingest("incoming/orders under faults.jsonl", feed, 1)
        .await;
    assert!(
        summary.retry_calls > 0,
        "the stream refused records: {summary:?}"
    );
    let raw_objects = chain.firehose().await;
    assert_eq!(chain.raw_to_parquet(1).await, raw_objects);

    let after = faults(&proxy);
    for counter in [
        "s3_errors",
        "kinesis_throttled_calls",
        "kinesis_rejected_records",
    ] {
        assert!(
            as_u64(&after[counter]) > as_u64(&before[counter]),
            "no {counter} injected: {before} → {after}"
        );
    }

    let results = chain.snowflake(&[PER_DAY, COUNTS]);
    let counts = &results[1][0];
    assert_eq!(
        as_u64(&counts["table_rows"]),
        want.rows,
        "each record once in the table"
    );
    assert_eq!(as_u64(&counts["ids"]), want.rows);
    assert_eq!(per_day(&results[0]), want.days);
    let report = chain.reconcile(false).await;
    assert!(report.ok(), "{}", report.render());
    assert!(report.files[0].undelivered == 0, "{}", report.render());
}
