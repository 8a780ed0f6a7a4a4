//! The `RecordSink` conformance suite: one set of checks that every backend runs, so
//! that the in-process stream and Kinesis give the same answer for every record.
//!
//! Each function sends to the sink under test and asserts the answer per record:
//! accepted (with the shard its key routes to and a sequence number), or the whole
//! call refused, and with which `SinkError` variant. The cases are the `PutRecords`
//! limits, each at exactly the limit and one over: 500 records per call, 5 MiB per call,
//! 1 MiB per record (data plus partition key, in bytes, as Kinesis counts them), and
//! partition keys of 1 to 256 characters (characters, not bytes). The functions panic
//! on a wrong answer, like `assert!`, and are meant to be called from tests: this
//! crate's own against [`InProcessStream`](crate::InProcessStream), and the tests
//! crate's against `KinesisSink` on the local AWS server. A backend that differs from
//! Kinesis on some case leaves that function out and says so where it does.
//!
//! The sink must send to a stream created for the test, with `shards` shards and no
//! shard split or merged since (the routing check assumes Kinesis's even hash-key
//! ranges of a new stream).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use feedpipe_standins::{InProcessStream, conformance};
//!
//! let stream = InProcessStream::new("conformance", 4);
//! conformance::accepted_records_name_their_shard_and_sequence_number(&stream, 4).await;
//! conformance::records_per_call(&stream).await;
//! # }
//! ```

use std::collections::HashSet;

use bytes::Bytes;
use feedpipe_ingest::frame::Record;
use feedpipe_ingest::sink::{RecordResult, RecordSink, SinkError};
use md5::{Digest, Md5};

use crate::sequence::SequenceNumber;

const MIB: usize = 1024 * 1024;

/// Records in one call: each record's answer names the shard its partition key
/// routes to (the MD5 of the key in the even hash-key ranges of a new stream of
/// `shards` shards) and a sequence number, unique within the shard; answers come in
/// the order of the records.
pub async fn accepted_records_name_their_shard_and_sequence_number(
    sink: &dyn RecordSink,
    shards: usize,
) {
    let records: Vec<Record> = (0..200)
        .map(|i| record(&format!("customer-{i}"), 20 + i % 7))
        .collect();
    let answers = accepted("200 records with 200 keys", &records, sink).await;
    let mut seen = HashSet::new();
    for (record, (shard, sequence)) in records.iter().zip(&answers) {
        assert_eq!(
            *shard,
            shard_of(&record.partition_key, shards),
            "the shard of key {}",
            record.partition_key
        );
        assert!(
            seen.insert((shard.clone(), sequence.clone())),
            "sequence number {sequence} given twice in {shard}"
        );
    }
    let used: HashSet<&String> = answers.iter().map(|(shard, _)| shard).collect();
    assert_eq!(used.len(), shards.min(200), "200 keys reach every shard");
}

/// 500 records in one call are all accepted; 501 are refused as a whole, permanently.
pub async fn records_per_call(sink: &dyn RecordSink) {
    let records: Vec<Record> = (0..501).map(|i| record(&format!("k{i}"), 10)).collect();
    accepted("500 records", &records[..500], sink).await;
    refused("501 records", &records, sink).await;
}

/// Records of exactly 5 MiB in all (data plus keys) are accepted in one call; one
/// byte more is refused as a whole, permanently, though no record is over 1 MiB.
pub async fn bytes_per_call(sink: &dyn RecordSink) {
    let full: Vec<Record> = (0..5).map(|_| record("k", MIB - 1)).collect();
    assert_eq!(size(&full), 5 * MIB);
    accepted("5 records of 1 MiB, 5 MiB in all", &full, sink).await;
    let mut over = full;
    over[4] = record("k", MIB - 2);
    over.push(record("k", 1));
    assert_eq!(size(&over), 5 * MIB + 1);
    refused("6 records, 5 MiB and 1 byte in all", &over, sink).await;
}

/// A record of exactly 1 MiB (data plus partition key) is accepted; one byte more is
/// refused, whether the byte is in the data or in the key.
pub async fn bytes_per_record(sink: &dyn RecordSink) {
    let key = "k".repeat(256);
    accepted("a record of 1 MiB", &[record("k", MIB - 1)], sink).await;
    accepted(
        "a record of 1 MiB with a key of 256 bytes",
        &[record(&key, MIB - 256)],
        sink,
    )
    .await;
    refused("a record of 1 MiB and 1 byte", &[record("k", MIB)], sink).await;
    refused(
        "a record of 1 MiB - 255 bytes of data and a 256-byte key",
        &[record(&key, MIB - 255)],
        sink,
    )
    .await;
}

/// Partition keys of 1 and of 256 characters are accepted (256 two-byte characters
/// too: the limit counts characters); 257 characters are refused as a whole call,
/// permanently.
pub async fn partition_key_characters(sink: &dyn RecordSink) {
    accepted("a 1-character key", &[record("k", 10)], sink).await;
    accepted("a 256-character key", &[record(&"k".repeat(256), 10)], sink).await;
    accepted(
        "a key of 256 two-byte characters",
        &[record(&"é".repeat(256), 10)],
        sink,
    )
    .await;
    refused(
        "a 257-character key",
        &[record("k", 10), record(&"k".repeat(257), 10)],
        sink,
    )
    .await;
}

/// An empty partition key is refused as a whole call, permanently.
pub async fn empty_partition_key(sink: &dyn RecordSink) {
    refused("an empty key", &[record("k", 10), record("", 10)], sink).await;
}

/// The shard id Kinesis gives the shard that `key` routes to in a new stream of
/// `shards` shards, computed here from the definition: the MD5 of the key as a
/// 128-bit big-endian number, in `shards` even hash-key ranges.
pub fn shard_of(key: &str, shards: usize) -> String {
    let shards = shards.max(1) as u128;
    let hash = u128::from_be_bytes(Md5::digest(key.as_bytes()).into());
    let index = (hash / (u128::MAX / shards)).min(shards - 1);
    format!("shardId-{index:012}")
}

/// A record of `data_len` bytes of data with partition key `key`.
fn record(key: &str, data_len: usize) -> Record {
    Record::single(Bytes::from(vec![b'x'; data_len]), key.to_owned(), 0)
}

fn size(records: &[Record]) -> usize {
    records.iter().map(Record::size).sum()
}

/// Sends `records` and asserts that every one was accepted; returns each record's
/// shard and sequence number, in order.
async fn accepted(
    case: &str,
    records: &[Record],
    sink: &dyn RecordSink,
) -> Vec<(String, SequenceNumber)> {
    let answers = match sink.put_records(records).await {
        Ok(answers) => answers,
        Err(e) => panic!("{case}: the call was refused ({e:?}); every record should be accepted"),
    };
    assert_eq!(
        answers.len(),
        records.len(),
        "{case}: one answer per record"
    );
    answers
        .into_iter()
        .enumerate()
        .map(|(i, answer)| match answer {
            RecordResult::Accepted {
                shard_id,
                sequence_number,
            } => {
                assert!(!shard_id.is_empty(), "{case}: record {i} has no shard");
                let sequence = sequence_number
                    .parse()
                    .unwrap_or_else(|e| panic!("{case}: record {i}: {e}"));
                (shard_id, sequence)
            }
            RecordResult::Rejected { code, message } => {
                panic!("{case}: record {i} rejected ({code}: {message}); it should be accepted")
            }
        })
        .collect()
}

/// Sends `records` and asserts that the whole call was refused, permanently.
async fn refused(case: &str, records: &[Record], sink: &dyn RecordSink) {
    match sink.put_records(records).await {
        Err(SinkError::Permanent(_)) => {}
        Err(e @ SinkError::Retryable(_)) => {
            panic!("{case}: refused as retryable ({e}); a retry cannot fix it")
        }
        Ok(answers) => panic!("{case}: answered {answers:?}; the call should be refused"),
    }
}
