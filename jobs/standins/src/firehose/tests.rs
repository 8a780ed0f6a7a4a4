use std::io::Read;
use std::sync::Arc;

use futures::TryStreamExt;

use feedpipe_ingest::frame::Record;
use feedpipe_ingest::sink::RecordSink;

use super::*;
use crate::stream::InProcessStream;

fn record(key: &str, n: usize) -> Record {
    Record::single(
        Bytes::from(format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(80))),
        key.into(),
        n as u64,
    )
}

async fn put(stream: &InProcessStream, from: usize, count: usize) {
    let records: Vec<Record> = (from..from + count)
        .map(|n| record(&format!("customer-{}", n % 17), n))
        .collect();
    for chunk in records.chunks(500) {
        stream.put_records(chunk).await.unwrap();
    }
}

/// Every object under the raw root: key and (decompressed) body.
async fn objects(raw: &StorageLocation) -> Vec<(String, Vec<u8>)> {
    let metas: Vec<_> = raw.store.list(None).try_collect().await.unwrap();
    let mut out = Vec::new();
    for meta in metas {
        let bytes = raw
            .store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let key = meta.location.to_string();
        let body = if key.ends_with(".gz") {
            let mut s = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut s)
                .unwrap();
            s
        } else {
            bytes.to_vec()
        };
        out.push((key, body));
    }
    out
}

/// The `n` of every record in the bodies, sorted.
fn numbers(objects: &[(String, Vec<u8>)]) -> Vec<u64> {
    let mut ns: Vec<u64> = objects
        .iter()
        .flat_map(|(_, body)| body.split(|b| *b == b'\n').filter(|l| !l.is_empty()))
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ns.sort_unstable();
    ns
}

fn memory() -> StorageLocation {
    StorageLocation::s3(
        Arc::new(object_store::memory::InMemory::new()),
        "raw-bucket",
        object_store::path::Path::default(),
    )
}

#[tokio::test]
async fn size_hint_splits_objects_and_every_record_lands_once() {
    let stream = Arc::new(InProcessStream::new("orders", 3));
    put(&stream, 0, 2_000).await;
    let raw = memory();
    let config = FirehoseConfig {
        buffer_bytes: 20_000,
        buffer_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    let mut firehose = Firehose::new(stream.clone(), raw.clone(), config)
        .await
        .unwrap();
    let (written, any) = firehose.poll().await.unwrap();
    assert!(any);
    // ~100-byte records, 20 kB hint: objects of just over 20 kB, the rest buffered.
    assert!(written.len() >= 9, "{} objects", written.len());
    assert!(
        written
            .iter()
            .all(|o| o.bytes >= 20_000 && o.bytes < 20_000 + 101)
    );
    assert!(firehose.buffered_records() > 0);
    // Checkpoints cover what was written, not what is buffered.
    let checkpoints = firehose.checkpoints();
    let positions = stream.positions();
    assert!(
        positions.iter().all(Option::is_some),
        "every shard has records"
    );
    let behind = checkpoints
        .borrow()
        .iter()
        .zip(&positions)
        .any(|(c, p)| c < p);
    assert!(behind, "some buffered record is not checkpointed yet");
    // The stream keeps what is buffered, and only that: the rest is delivered.
    let kept: usize = stream.lengths().iter().sum();
    assert_eq!(kept as u64, firehose.buffered_records());
    let last = firehose.flush().await.unwrap().unwrap();
    assert_eq!(
        *checkpoints.borrow(),
        positions,
        "everything is checkpointed"
    );
    assert_eq!(
        stream.lengths(),
        vec![0; 3],
        "delivered records are trimmed"
    );
    assert_eq!(stream.held_bytes(), 0);
    assert_eq!(stream.positions(), positions, "positions stay");
    assert_eq!(last.records, firehose.buffered_records() + last.records);
    assert_eq!(firehose.summary().records, 2_000);

    let objects = objects(&raw).await;
    assert_eq!(objects.len() as u64, firehose.summary().objects);
    assert_eq!(numbers(&objects), (0..2_000).collect::<Vec<_>>());
    let key = regex_like_firehose_key();
    for (k, body) in &objects {
        assert!(key(k), "{k} is not in Firehose's layout");
        assert_eq!(body.last(), Some(&b'\n'), "records are newline-terminated");
    }
    // Nothing more to read: a poll writes nothing and reads nothing.
    let (written, any) = firehose.poll().await.unwrap();
    assert!(written.is_empty() && !any);
}

/// `raw/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>` with the hour folders
/// equal to the hour in the name.
fn regex_like_firehose_key() -> impl Fn(&str) -> bool {
    |k: &str| {
        let parts: Vec<&str> = k.split('/').collect();
        let [raw, y, m, d, h, name] = parts[..] else {
            return false;
        };
        let Some(rest) = name.strip_prefix("feedpipe-raw-1-") else {
            return false;
        };
        let stamp = &rest[..19.min(rest.len())];
        let uuid = rest.get(20..).unwrap_or("");
        let uuid = uuid.strip_suffix(".gz").unwrap_or(uuid);
        raw == "raw"
            && stamp.starts_with(&format!("{y}-{m}-{d}-{h}-"))
            && chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d-%H-%M-%S").is_ok()
            && uuid.len() == 36
            && uuid.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && uuid.as_bytes()[14] == b'4'
    }
}

#[tokio::test]
async fn interval_writes_a_small_buffer_and_gzip_round_trips() {
    let stream = Arc::new(InProcessStream::new("orders", 2));
    put(&stream, 0, 10).await;
    let raw = memory();
    let config = FirehoseConfig {
        buffer_bytes: 1 << 30,
        buffer_interval: Duration::from_millis(50),
        gzip: true,
        ..Default::default()
    };
    let mut firehose = Firehose::new(stream.clone(), raw.clone(), config)
        .await
        .unwrap();
    let (written, _) = firehose.poll().await.unwrap();
    assert!(written.is_empty(), "neither hint reached yet");
    tokio::time::sleep(Duration::from_millis(60)).await;
    let (written, any) = firehose.poll().await.unwrap();
    assert!(!any);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].records, 10);
    assert!(written[0].location.path.as_ref().ends_with(".gz"));
    let objects = objects(&raw).await;
    assert_eq!(numbers(&objects), (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn run_delivers_records_that_arrive_while_it_runs_and_flushes_on_stop() {
    let stream = Arc::new(InProcessStream::new("orders", 4));
    let raw = memory();
    let config = FirehoseConfig {
        buffer_bytes: 50_000,
        buffer_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let firehose = Firehose::new(stream.clone(), raw.clone(), config)
        .await
        .unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(firehose.run(stop_rx, tx));
    put(&stream, 0, 1_000).await;
    // The interval writes what arrived without a stop.
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.records > 0);
    put(&stream, 1_000, 7).await;
    stop_tx.send(true).unwrap();
    let summary = task.await.unwrap().unwrap();
    assert_eq!(summary.records, 1_007);
    let mut seen = first.records;
    while let Ok(o) = rx.try_recv() {
        seen += o.records;
    }
    assert_eq!(seen, 1_007);
    assert_eq!(
        numbers(&objects(&raw).await),
        (0..1_007).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_failed_write_keeps_the_buffer() {
    let stream = Arc::new(InProcessStream::new("orders", 1));
    put(&stream, 0, 5).await;
    // A local folder that is a file: every write fails.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("raw");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let raw = StorageLocation::parse(blocker.to_str().unwrap()).unwrap();
    let config = FirehoseConfig {
        buffer_bytes: 1,
        max_attempts: 2,
        ..Default::default()
    };
    let mut firehose = Firehose::new(stream, raw, config).await.unwrap();
    let err = firehose.poll().await.unwrap_err();
    assert!(
        matches!(err, FirehoseError::Write { attempts: 2, .. }),
        "{err}"
    );
    assert_eq!(
        firehose.buffered_records(),
        1,
        "the record stays buffered for a retry"
    );
}

#[tokio::test]
async fn a_bounded_stream_flows_through_a_running_firehose() {
    // Retention of ~20 records' bytes, buffers of ~5: the producer keeps waiting for
    // the delivery loop, and every record still lands once.
    let stream = Arc::new(InProcessStream::new("orders", 2).with_retention_limit(4_000));
    let raw = memory();
    let config = FirehoseConfig {
        buffer_bytes: 500,
        buffer_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let firehose = Firehose::new(stream.clone(), raw.clone(), config)
        .await
        .unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel(1_000);
    let task = tokio::spawn(firehose.run(stop_rx, tx));
    let mut most = 0;
    for from in (0..2_000).step_by(10) {
        put(&stream, from, 10).await;
        most = most.max(stream.held_bytes());
    }
    stop_tx.send(true).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(summary.records, 2_000);
    assert!(most < 4_000 + 10 * 200, "held at most {most} bytes");
    let mut seen = 0;
    while let Ok(o) = rx.try_recv() {
        seen += o.records;
    }
    assert_eq!(seen, 2_000);
    assert_eq!(
        numbers(&objects(&raw).await),
        (0..2_000).collect::<Vec<_>>()
    );
    assert_eq!(stream.held_bytes(), 0);
}
