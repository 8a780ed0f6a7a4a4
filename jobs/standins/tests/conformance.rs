//! The `RecordSink` conformance suite (`feedpipe_standins::conformance`) against the
//! in-process stream. The tests crate runs the same functions against `KinesisSink`
//! on the local AWS server (tests/tests/kinesis_conformance.rs).

use feedpipe_standins::{InProcessStream, conformance};

const SHARDS: usize = 4;

fn stream() -> InProcessStream {
    InProcessStream::new("conformance", SHARDS)
}

#[tokio::test]
async fn in_process_accepted_records_name_their_shard_and_sequence_number() {
    conformance::accepted_records_name_their_shard_and_sequence_number(&stream(), SHARDS).await;
    let one = InProcessStream::new("conformance", 1);
    conformance::accepted_records_name_their_shard_and_sequence_number(&one, 1).await;
}

#[tokio::test]
async fn in_process_records_per_call() {
    conformance::records_per_call(&stream()).await;
}

#[tokio::test]
async fn in_process_bytes_per_call() {
    conformance::bytes_per_call(&stream()).await;
}

#[tokio::test]
async fn in_process_bytes_per_record() {
    conformance::bytes_per_record(&stream()).await;
}

#[tokio::test]
async fn in_process_partition_key_characters() {
    let stream = stream();
    conformance::partition_key_characters(&stream).await;
    // Three calls of one record accepted; the refused call stored nothing (moto keeps
    // the records before the bad key: tests/tests/kinesis_conformance.rs).
    assert_eq!(stream.lengths().iter().sum::<usize>(), 3);
}

#[tokio::test]
async fn in_process_empty_partition_key() {
    let stream = stream();
    conformance::empty_partition_key(&stream).await;
    assert_eq!(stream.lengths().iter().sum::<usize>(), 0);
}
