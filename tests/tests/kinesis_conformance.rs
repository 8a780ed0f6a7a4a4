//! The `RecordSink` conformance suite of `feedpipe_standins::conformance` against
//! `KinesisSink` on the local AWS server (moto, started by tests/run.sh): the answers
//! per record that the in-process stream gives (jobs/standins/tests/conformance.rs
//! runs the same functions against it) are the ones Kinesis gives.
//!
//! Where moto answers differently from Kinesis, the case is not run as if it
//! conformed: the tests named `moto_…` below assert what moto does instead, so the
//! difference stays written down (tests/README.md, "Stand-ins") and a moto that
//! changes shows up here.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use feedpipe_e2e::{create_stream, kinesis_client, unique};
use feedpipe_ingest::frame::Record;
use feedpipe_ingest::kinesis::KinesisSink;
use feedpipe_ingest::sink::{RecordResult, RecordSink, SinkError};
use feedpipe_standins::{KinesisSource, StreamSource, conformance};

const SHARDS: usize = 4;

/// A new provisioned stream of `SHARDS` shards on the local server, and a sink for it.
async fn stream() -> (KinesisSink, KinesisSource) {
    let kinesis = kinesis_client().await;
    let name = unique("conformance");
    create_stream(&kinesis, &name, SHARDS as i32).await;
    (
        KinesisSink::new(kinesis.clone(), &name),
        KinesisSource::new(kinesis, name),
    )
}

fn record(key: &str) -> Record {
    Record::single(bytes::Bytes::from_static(b"{}\n"), key.to_owned(), 0)
}

/// Every record stored in the stream, over all shards.
async fn stored(source: &KinesisSource) -> usize {
    let mut n = 0;
    for shard in source.shards().await.unwrap() {
        n += source
            .get_records(&shard, None, 10_000)
            .await
            .unwrap()
            .len();
    }
    n
}

#[tokio::test]
async fn kinesis_accepted_records_name_their_shard_and_sequence_number() {
    let (sink, _) = stream().await;
    conformance::accepted_records_name_their_shard_and_sequence_number(&sink, SHARDS).await;
}

#[tokio::test]
async fn kinesis_records_per_call() {
    let (sink, _) = stream().await;
    conformance::records_per_call(&sink).await;
}

#[tokio::test]
async fn kinesis_bytes_per_call() {
    let (sink, _) = stream().await;
    conformance::bytes_per_call(&sink).await;
}

#[tokio::test]
async fn kinesis_bytes_per_record() {
    let (sink, _) = stream().await;
    conformance::bytes_per_record(&sink).await;
}

#[tokio::test]
async fn kinesis_partition_key_characters() {
    let (sink, _) = stream().await;
    conformance::partition_key_characters(&sink).await;
}

// Where moto answers otherwise than Kinesis.

/// Kinesis refuses an empty partition key (its minimum length is 1) and the suite's
/// `empty_partition_key` asserts that; moto 5.2.5 accepts and stores the record. The
/// framer never sends an empty key (it falls back to the record id), so nothing in
/// the chain depends on the difference; the suite's case runs against the in-process
/// stream only.
#[tokio::test]
async fn moto_accepts_an_empty_partition_key_where_kinesis_refuses_the_call() {
    let (sink, source) = stream().await;
    let answer = sink.put_records(&[record("")]).await;
    assert!(
        matches!(answer.as_deref(), Ok([RecordResult::Accepted { .. }])),
        "{answer:?}"
    );
    assert_eq!(stored(&source).await, 1);
}

/// A partition key over 256 characters: moto refuses the call as Kinesis does (the
/// answer the suite checks, `partition_key_characters`), but only after storing the
/// records before it in the call, where Kinesis validates the whole request and
/// stores nothing (so does the in-process stream). The framer never sends such a key.
#[tokio::test]
async fn moto_keeps_the_records_before_a_key_over_256_characters_in_a_refused_call() {
    let (sink, source) = stream().await;
    let answer = sink
        .put_records(&[record("k"), record(&"k".repeat(257))])
        .await;
    assert!(matches!(answer, Err(SinkError::Permanent(_))), "{answer:?}");
    assert_eq!(stored(&source).await, 1, "moto kept the first record");
}
