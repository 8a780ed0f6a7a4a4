use std::collections::BTreeMap;
use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use feedpipe_ingest::frame::RecordFramer;
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::feeds::FeedsFile;
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::object_version;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use super::*;

const CONTRACT: &str = include_str!("../../../../sql/contracts/feed.json");

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
    fn converter(&self, contract: &str) -> Converter {
        self.converter_with(contract, ConvertConfig::default())
    }
    fn converter_with(&self, contract: &str, config: ConvertConfig) -> Converter {
        let contract = SchemaContract::from_json(contract).unwrap();
        let curated = StorageLocation::parse(self.path("curated").to_str().unwrap()).unwrap();
        let quarantine = StorageLocation::parse(self.path("quarantine").to_str().unwrap()).unwrap();
        Converter::new(
            contract,
            curated,
            Arc::new(ObjectStoreQuarantine::new(quarantine)),
            config,
        )
    }
    fn write_raw(&self, name: &str, bytes: &[u8]) -> StorageLocation {
        let path = self.path(&format!("raw/2026/11/23/10/{name}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        StorageLocation::parse(path.to_str().unwrap()).unwrap()
    }
}

/// Raw JSON lines as Firehose lands them: each feed line framed by the ingest core.
fn raw_from_feed(feed: &[u8]) -> (Vec<u8>, Vec<Value>) {
    let source = SourceObject {
        uri: "s3://source/orders.jsonl".into(),
        version: "v1".into(),
    };
    let framer = RecordFramer::new(source, None, "2026-11-23T09:00:00.000000Z", 1 << 20);
    let mut raw = Vec::new();
    let mut good = Vec::new();
    for (i, line) in feed
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        if let Ok(record) = framer.frame(i as u64 + 1, line, &mut Vec::new()) {
            raw.extend_from_slice(&record.data);
            good.push(serde_json::from_slice::<Value>(&record.data).unwrap());
        }
    }
    (raw, good)
}

/// `location` as a listing names it: with the version the listing saw.
async fn listed(location: StorageLocation) -> RawInput {
    let meta = location.store.head(&location.path).await.unwrap();
    RawInput {
        location,
        version_id: None,
        listed_version: Some(object_version(&meta, None)),
        e_tag: None,
    }
}

fn read_parquet(path: &std::path::Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn local(uri: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(uri.trim_start_matches("file://"))
}

fn cents(v: &Value) -> i128 {
    let s = v.to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    int.parse::<i128>().unwrap() * 100 + format!("{frac:0<2}").parse::<i128>().unwrap()
}

#[tokio::test]
async fn sample_orders_become_parquet_per_day_with_exact_values() {
    let s = Setup::new();
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 3000,
            ..Default::default()
        },
    )
    .unwrap();
    let (mut raw, good) = raw_from_feed(&feed);
    // Two records that do not fit the contract, in the middle.
    raw.extend_from_slice(
        b"{\"order_id\":\"X1\",\"customer_id\":\"C\",\"order_ts\":\"yesterday\"}\n",
    );
    raw.extend_from_slice(b"{\"order_id\":\"X2\",\"customer_id\":\"C\",\"order_ts\":\"2026-11-02T00:00:00Z\",\"total\":\"12.00\"}\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let object = s.write_raw("feed-1-2026-11-23-10-00-00-abc.gz", &gz.finish().unwrap());

    let manifest = s
        .converter(CONTRACT)
        .convert_object(&object, None)
        .await
        .unwrap();
    assert_eq!(manifest.records_read, 3002);
    assert_eq!(manifest.rows_written, 3000);
    assert_eq!(manifest.records_quarantined, 2);

    // Independently: total cents and rows per UTC day of order_ts, from the JSON.
    let mut expected: BTreeMap<NaiveDate, (u64, i128)> = BTreeMap::new();
    for v in &good {
        let ts = chrono::DateTime::parse_from_rfc3339(v["order_ts"].as_str().unwrap()).unwrap();
        let e = expected
            .entry(ts.with_timezone(&chrono::Utc).date_naive())
            .or_default();
        e.0 += 1;
        e.1 += cents(&v["total"]);
    }
    let mut seen: BTreeMap<NaiveDate, (u64, i128)> = BTreeMap::new();
    for output in &manifest.outputs {
        assert!(
            output
                .uri
                .contains(&format!("/curated/feed/dt={}/", output.dt))
        );
        let batches = read_parquet(&local(&output.uri));
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, output.rows);
        let e = seen.entry(output.dt).or_default();
        for b in &batches {
            e.0 += b.num_rows() as u64;
            let total = b
                .column_by_name("total")
                .unwrap()
                .as_primitive::<Decimal128Type>();
            e.1 += total.iter().flatten().sum::<i128>();
            // Every row's order_ts is on its file's day, in UTC.
            let ts = b
                .column_by_name("order_ts")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            assert!(ts.iter().flatten().all(|t| {
                chrono::DateTime::from_timestamp_micros(t)
                    .unwrap()
                    .date_naive()
                    == output.dt
            }));
        }
    }
    assert_eq!(seen, expected);

    // A few exact records, field by field.
    let first = &manifest.outputs[0];
    let batch = &read_parquet(&local(&first.uri))[0];
    let ids: &StringArray = batch.column_by_name("order_id").unwrap().as_string();
    let wanted = good.iter().find(|v| v["order_id"] == ids.value(0)).unwrap();
    let record_ids: &StringArray = batch.column_by_name("_record_id").unwrap().as_string();
    assert_eq!(record_ids.value(0), wanted["_record_id"].as_str().unwrap());
    let line = batch
        .column_by_name("_source_line")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(line.value(0), wanted["_source_line"].as_i64().unwrap());
    let customer = batch.column_by_name("customer").unwrap().as_struct();
    let name: &StringArray = customer.column_by_name("name").unwrap().as_string();
    assert_eq!(name.value(0), wanted["customer"]["name"].as_str().unwrap());
    let items = batch.column_by_name("items").unwrap().as_list::<i32>();
    assert_eq!(
        items.value(0).len(),
        wanted["items"].as_array().unwrap().len()
    );

    // The quarantine names the line and the reason.
    let q: Vec<Value> = manifest
        .quarantine_objects
        .iter()
        .flat_map(|u| {
            std::fs::read_to_string(local(u))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0]["line"], 3001);
    assert_eq!(q[0]["stage"], "convert");
    assert!(
        q[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("field `order_ts`: `yesterday` is not an ISO-8601 timestamp")
    );
    assert!(
        q[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("field `total`: expected a number, found a string")
    );
}

#[tokio::test]
async fn timestamps_are_utc_adjusted_micros_and_the_schema_matches_the_contract() {
    let s = Setup::new();
    let (raw, _) = raw_from_feed(
        b"{\"order_id\":\"A\",\"customer_id\":\"C\",\"order_ts\":\"2026-11-01T10:00:00+02:00\"}\n",
    );
    let manifest = s
        .converter(CONTRACT)
        .convert_object(&s.write_raw("r1", &raw), None)
        .await
        .unwrap();
    let file = std::fs::File::open(local(&manifest.outputs[0].uri)).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let parquet_schema = builder.parquet_schema();
    let order_ts = parquet_schema
        .columns()
        .iter()
        .find(|c| c.name() == "order_ts")
        .unwrap();
    let text = format!("{:?}", order_ts.logical_type_ref());
    assert!(
        text.contains("is_adjusted_to_u_t_c: true") && text.contains("MICROS"),
        "{text}"
    );
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let expected: Vec<String> = SchemaContract::from_json(CONTRACT)
        .unwrap()
        .full_columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, expected);
    let batch = builder.build().unwrap().next().unwrap().unwrap();
    let ts = batch
        .column_by_name("order_ts")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 1_793_520_000_000_000); // python: datetime(2026,11,1,8,tzinfo=utc).timestamp()
}

#[tokio::test]
async fn converting_twice_gives_the_same_bytes() {
    let s = Setup::new();
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 2000,
            ..Default::default()
        },
    )
    .unwrap();
    let (raw, _) = raw_from_feed(&feed);
    let object = s.write_raw("r2", &raw);
    let converter = s.converter(CONTRACT);
    let first = converter.convert_object(&object, None).await.unwrap();
    let bytes: Vec<Vec<u8>> = first
        .outputs
        .iter()
        .map(|o| std::fs::read(local(&o.uri)).unwrap())
        .collect();
    let manifest_path = s.path("curated/_manifests/feed");
    let manifest_bytes = std::fs::read(
        std::fs::read_dir(&manifest_path)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    let second = converter.convert_object(&object, None).await.unwrap();
    assert_eq!(first, second);
    for (o, b) in second.outputs.iter().zip(bytes) {
        assert_eq!(
            std::fs::read(local(&o.uri)).unwrap(),
            b,
            "{} changed",
            o.uri
        );
    }
    let again = std::fs::read(
        std::fs::read_dir(&manifest_path)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert_eq!(again, manifest_bytes);
    let source = SourceObject {
        uri: object.uri(),
        version: first.inputs[0].version.clone(),
    };
    assert_eq!(converter.manifest(&source).await, Some(first));
}

#[tokio::test]
async fn drift_goes_to_extra_and_odd_raw_layouts_are_read() {
    let s = Setup::new();
    let contract = r#"{"table":"t","columns":[{"name":"id","type":"int64","nullable":false}]}"#;
    // No lineage (another producer), blank lines, two objects on one line, CRLF.
    let raw = b"{\"id\":1,\"new\":{\"a\":[1,2]}}\n\n{\"id\":2}{\"id\":3,\"z\":\"\xc3\xa9\"}\r\n{\"id\":4} {bad\n";
    let object = s.write_raw("r3", raw);
    let manifest = s
        .converter(contract)
        .convert_object(&object, None)
        .await
        .unwrap();
    assert_eq!(
        (
            manifest.records_read,
            manifest.rows_written,
            manifest.records_quarantined
        ),
        (5, 4, 1)
    );
    let batch = &read_parquet(&local(&manifest.outputs[0].uri))[0];
    let extra: &StringArray = batch.column_by_name("_extra").unwrap().as_string();
    assert_eq!(extra.value(0), r#"{"new":{"a":[1,2]}}"#);
    assert!(extra.is_null(1));
    assert_eq!(extra.value(2), "{\"z\":\"é\"}");
    let lines = batch
        .column_by_name("_source_line")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(lines.values().to_vec(), vec![1, 3, 3, 4]);
    let uri: &StringArray = batch.column_by_name("_source_uri").unwrap().as_string();
    assert_eq!(uri.value(0), object.uri());
}

#[tokio::test]
async fn an_empty_raw_object_converts_to_nothing_and_a_missing_one_is_an_error() {
    let s = Setup::new();
    let manifest = s
        .converter(CONTRACT)
        .convert_object(&s.write_raw("empty", b""), None)
        .await
        .unwrap();
    assert_eq!((manifest.records_read, manifest.outputs.len()), (0, 0));
    let missing = StorageLocation::parse(s.path("raw/none").to_str().unwrap()).unwrap();
    let err = s
        .converter(CONTRACT)
        .convert_object(&missing, None)
        .await
        .unwrap_err();
    assert!(!err.is_retryable() && err.to_string().contains("raw/none"));
}

#[tokio::test]
async fn a_group_of_raw_objects_compacts_into_one_file_per_day() {
    let s = Setup::new();
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 3000,
            ..Default::default()
        },
    )
    .unwrap();
    let (raw, good) = raw_from_feed(&feed);
    // Three Firehose-sized pieces, split at record boundaries.
    let lines: Vec<&[u8]> = raw.split_inclusive(|b| *b == b'\n').collect();
    let pieces: Vec<Vec<u8>> = lines.chunks(1000).map(|c| c.concat()).collect();
    assert_eq!(pieces.len(), 3);
    let converter = s.converter(CONTRACT);
    let mut inputs = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        inputs.push(listed(s.write_raw(&format!("part-{i}"), piece)).await);
    }
    let manifest = converter.convert_group(&inputs).await.unwrap();
    assert_eq!(manifest.inputs.len(), 3);
    assert_eq!(manifest.records_read, good.len() as u64);
    assert_eq!(manifest.rows_written, good.len() as u64);
    // One file per day for the whole group (7 days in the sample), named after it.
    assert_eq!(manifest.outputs.len(), 7);
    let mut days: Vec<NaiveDate> = manifest.outputs.iter().map(|o| o.dt).collect();
    days.dedup();
    assert_eq!(days.len(), 7);
    for o in &manifest.outputs {
        assert!(o.uri.ends_with("-x3.parquet"), "{}", o.uri);
        assert!(o.uri.contains("/part-0-"), "{}", o.uri);
        let rows: usize = read_parquet(&local(&o.uri))
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows as u64, o.rows);
    }
    // Each input counts as done, with the group's manifest.
    for input in &inputs {
        let source = SourceObject {
            uri: input.location.uri(),
            version: input.listed_version.clone().unwrap(),
        };
        assert_eq!(converter.manifest(&source).await.as_ref(), Some(&manifest));
    }
    // Every record once, and the same bytes when the group is converted again.
    let ids: std::collections::BTreeSet<String> = manifest
        .outputs
        .iter()
        .flat_map(|o| read_parquet(&local(&o.uri)))
        .flat_map(|b| {
            let col = b
                .column_by_name("_record_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            (0..col.len()).map(move |i| col.value(i).to_owned())
        })
        .collect();
    assert_eq!(ids.len(), good.len());
    let before: Vec<Vec<u8>> = manifest
        .outputs
        .iter()
        .map(|o| std::fs::read(local(&o.uri)).unwrap())
        .collect();
    let again = converter.convert_group(&inputs).await.unwrap();
    assert_eq!(again, manifest);
    for (o, b) in again.outputs.iter().zip(before) {
        assert_eq!(std::fs::read(local(&o.uri)).unwrap(), b);
    }

    // An object that changed since it was listed is an error, and no file appears.
    std::fs::write(local(&inputs[1].location.uri()), &pieces[0]).unwrap();
    let err = converter.convert_group(&inputs).await.unwrap_err();
    assert!(
        err.to_string().contains("changed since it was listed"),
        "{err}"
    );
    // Without listed versions a group cannot be named.
    let unlisted: Vec<RawInput> = inputs
        .iter()
        .map(|i| RawInput {
            listed_version: None,
            ..i.clone()
        })
        .collect();
    assert!(converter.convert_group(&unlisted).await.is_err());
}

/// A contract of two columns: `id` and the event time `ts`.
const DAYS_CONTRACT: &str = r#"{"table": "days", "event_time": "ts", "columns": [
    {"name": "id", "type": "int64", "nullable": false},
    {"name": "ts", "type": "timestamp", "nullable": false}]}"#;

/// Raw records (framed by the ingest core) of `rows` records, record `i` on day
/// `day(i)` after 1990-01-01.
fn raw_over_days(rows: u64, day: impl Fn(u64) -> u64) -> Vec<u8> {
    let first = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let mut feed = Vec::new();
    for i in 0..rows {
        let day = first + chrono::Days::new(day(i));
        writeln!(feed, r#"{{"id":{i},"ts":"{day}T12:00:00Z"}}"#).unwrap();
    }
    raw_from_feed(&feed).0
}

/// Every output file's name (under the curated folder), rows and bytes.
fn written(s: &Setup, manifest: &Manifest) -> Vec<(String, u64, Vec<u8>)> {
    let root = format!("{}/", s.path("curated").display());
    manifest
        .outputs
        .iter()
        .map(|o| {
            let path = local(&o.uri);
            let bytes = std::fs::read(&path).unwrap();
            let name = path.display().to_string();
            (name.trim_start_matches(&root).to_owned(), o.rows, bytes)
        })
        .collect()
}

#[tokio::test]
async fn a_raw_object_over_300_days_with_16_open_files_writes_every_row_once() {
    let s = Setup::new();
    // Record i on day i % 300: every day comes back after all the others.
    let object = s.write_raw("days-1", &raw_over_days(2_400, |i| i % 300));
    let converter = s.converter_with(
        DAYS_CONTRACT,
        ConvertConfig {
            max_open_files: 16,
            // Chunks of 600 records: each holds all 300 days, so each day is met 4 times.
            batch_rows: 600,
            decode_threads: 2,
            ..ConvertConfig::default()
        },
    );
    let manifest = converter.convert_object(&object, None).await.unwrap();
    assert_eq!(manifest.records_read, 2_400);
    assert_eq!(manifest.rows_written, 2_400);
    // A file for each day each time it is met again: 4 per day, numbered.
    assert_eq!(manifest.outputs.len(), 1_200);
    let mut per_day: BTreeMap<NaiveDate, Vec<&str>> = BTreeMap::new();
    for o in &manifest.outputs {
        per_day.entry(o.dt).or_default().push(&o.uri);
    }
    assert_eq!(per_day.len(), 300);
    for (dt, uris) in &per_day {
        let stem = uris[0].strip_suffix(".parquet").unwrap();
        assert!(
            uris[0].contains(&format!("/days/dt={dt}/days-1-")),
            "{}",
            uris[0]
        );
        let expected: Vec<String> = std::iter::once(format!("{stem}.parquet"))
            .chain((2..=4).map(|n| format!("{stem}-{n}.parquet")))
            .collect();
        assert_eq!(uris, &expected);
    }
    // Every record once, on its day, and each file holds the rows the manifest says.
    let mut ids = Vec::new();
    for o in &manifest.outputs {
        let batches = read_parquet(&local(&o.uri));
        assert_eq!(
            batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
            o.rows
        );
        for batch in batches {
            let id = batch
                .column_by_name("id")
                .unwrap()
                .as_primitive::<Int64Type>();
            let ts = batch
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                let at = chrono::DateTime::from_timestamp_micros(ts.value(i)).unwrap();
                assert_eq!(at.date_naive(), o.dt);
                ids.push(id.value(i));
            }
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..2_400).collect::<Vec<i64>>());
    // The manifest on disk says the same, and a second run gives the same bytes.
    let source = SourceObject {
        uri: object.uri(),
        version: manifest.inputs[0].version.clone(),
    };
    assert_eq!(converter.manifest(&source).await.as_ref(), Some(&manifest));
    let first = written(&s, &manifest);
    std::fs::remove_dir_all(s.path("curated")).unwrap();
    let again = converter.convert_object(&object, None).await.unwrap();
    assert_eq!(again, manifest);
    assert!(first == written(&s, &again), "the same names and bytes");
}

#[tokio::test]
async fn days_that_come_in_runs_keep_one_file_each_under_the_bound() {
    // 300 days in order, as a backfill of history: each day closes for good when the
    // 17th after it opens, so the files are those of a conversion with every day open.
    let s = Setup::new();
    let object = s.write_raw("days-1", &raw_over_days(1_500, |i| i / 5));
    let mut files = Vec::new();
    for max_open_files in [16, usize::MAX] {
        let config = ConvertConfig {
            max_open_files,
            ..ConvertConfig::default()
        };
        let manifest = s
            .converter_with(DAYS_CONTRACT, config)
            .convert_object(&object, None)
            .await
            .unwrap();
        assert_eq!(manifest.outputs.len(), 300);
        assert!(manifest.outputs.iter().all(|o| o.rows == 5));
        files.push(written(&s, &manifest));
        std::fs::remove_dir_all(s.path("curated")).unwrap();
    }
    assert!(files[0] == files[1], "the same names and bytes");
}

#[tokio::test]
async fn the_manifest_counts_the_distinct_records_of_each_file_beside_its_rows() {
    let s = Setup::new();
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 200,
            days: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let (raw, good) = raw_from_feed(&feed);
    let lines: Vec<&[u8]> = raw.split_inclusive(|b| *b == b'\n').collect();
    // A record redelivered in the same raw object (Firehose after a retried put), and
    // one in two objects converted as one group.
    let once = s.write_raw("once", &raw);
    let twice = s.write_raw("twice", &[raw.as_slice(), lines[7]].concat());
    let converter = s.converter(CONTRACT);
    let m = converter.convert_object(&once, None).await.unwrap();
    assert_eq!((m.outputs[0].rows, m.outputs[0].records), (200, 200));
    let m = converter.convert_object(&twice, None).await.unwrap();
    assert_eq!(m.outputs.len(), 1);
    assert_eq!((m.outputs[0].rows, m.outputs[0].records), (201, 200));
    assert_eq!(good.len(), 200);

    let a = s.write_raw("a", &lines[..120].concat());
    let b = s.write_raw("b", &lines[100..].concat());
    let inputs = vec![listed(a).await, listed(b).await];
    let m = converter.convert_group(&inputs).await.unwrap();
    let rows: u64 = m.outputs.iter().map(|o| o.rows).sum();
    let records: u64 = m.outputs.iter().map(|o| o.records).sum();
    assert_eq!((rows, records), (220, 200));
    // Written as `records` in the manifest's JSON, and read back.
    let text = serde_json::to_value(&m).unwrap();
    assert_eq!(text["outputs"][0]["records"], records);
    let old = r#"{"uri":"s3://c/t/dt=2026-11-01/x.parquet","dt":"2026-11-01","rows":3}"#;
    assert_eq!(
        serde_json::from_str::<super::manifest::OutputFile>(old)
            .unwrap()
            .records,
        0
    );
}

/// Lines of `feed` framed as ingest frames them, for the source file at `uri`.
fn framed(uri: &str, lines: &[&str]) -> Vec<Vec<u8>> {
    let source = SourceObject {
        uri: uri.into(),
        version: "v1".into(),
    };
    let framer = RecordFramer::new(source, None, "2026-11-23T09:00:00.000000Z", 1 << 20);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            framer
                .frame(i as u64 + 1, line.as_bytes(), &mut Vec::new())
                .unwrap()
                .data
                .to_vec()
        })
        .collect()
}

const CUSTOMERS: &str = r#"{"table": "customers", "columns": [
    {"name": "id", "type": "string", "nullable": false},
    {"name": "name", "type": "string"}
]}"#;
const EVENTS: &str = r#"{"table": "events", "columns": [
    {"name": "kind", "type": "string"},
    {"name": "n", "type": "int64"}
]}"#;
const FEEDS: &str = r#"
[[feeds]]
table = "orders"
prefix = "orders/"

[[feeds]]
table = "customers"
prefix = "customers/"

[[feeds]]
table = "events"
prefix = "events/"
"#;

/// The rows of every Parquet file a manifest lists, in file order.
fn rows_of(manifest: &Manifest) -> Vec<RecordBatch> {
    manifest
        .outputs
        .iter()
        .flat_map(|o| read_parquet(&local(&o.uri)))
        .collect()
}

#[tokio::test]
async fn a_raw_object_of_several_feeds_gives_each_table_what_its_records_alone_give() {
    let mut sample = Vec::new();
    write_feed(
        &mut sample,
        &SampleOptions {
            rows: 300,
            bad_rate: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let sample = String::from_utf8(sample).unwrap();
    let order_lines: Vec<&str> = sample.lines().collect();
    let orders = framed("s3://src/orders/2026-11-23.jsonl", &order_lines);
    let customers = framed(
        "s3://src/customers/all.jsonl",
        &[
            r#"{"id": "c1", "name": "Ada"}"#,
            r#"{"name": "no id"}"#,
            r#"{"id": "c3", "name": "Élodie", "vip": true}"#,
        ],
    );
    let events = framed(
        "s3://src/events/e.jsonl",
        &(1..=50)
            .map(|n| format!(r#"{{"kind": "k{}", "n": {n}}}"#, n % 3))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let stray = framed("s3://src/stray/x.jsonl", &[r#"{"a": 1}"#]);
    // Interleaved as one stream interleaves files, with a record of no feed and
    // one without lineage (not written by ingest) among them.
    let mut raw = Vec::new();
    let mut alone: [Vec<u8>; 3] = Default::default();
    let (mut o, mut c, mut e) = (orders.iter(), customers.iter(), events.iter());
    loop {
        let mut any = false;
        for (table, next) in [(0, o.next()), (0, o.next()), (1, c.next()), (2, e.next())] {
            if let Some(line) = next {
                raw.extend_from_slice(line);
                alone[table].extend_from_slice(line);
                any = true;
            }
        }
        if !any {
            break;
        }
        if raw.len() < 4096 {
            raw.extend_from_slice(&stray[0]);
            raw.extend_from_slice(b"{\"kind\": \"unframed\", \"n\": 7}\n");
        }
    }

    let s = Setup::new();
    let feeds = FeedsFile::parse("feeds.toml", FEEDS).unwrap();
    let contracts = [
        CONTRACT.replace("\"table\": \"feed\"", "\"table\": \"orders\""),
        CUSTOMERS.to_owned(),
        EVENTS.to_owned(),
    ];
    assert!(contracts[0].contains("\"orders\""));
    let routed = |s: &Setup, only: Option<&str>| {
        FeedConverter::routed(
            &feeds,
            contracts.iter().map(|c| s.converter(c)).collect(),
            None,
            only,
        )
        .unwrap()
    };
    let object = s.write_raw("mixed", &raw);
    let manifests = routed(&s, None)
        .convert_group(&[listed(object.clone()).await])
        .await
        .unwrap();
    let tables: Vec<&str> = manifests.iter().map(|m| m.table.as_str()).collect();
    assert_eq!(tables, ["orders", "customers", "events"]);
    let strays = raw
        .split(|b| *b == b'\n')
        .filter(|l| {
            l.starts_with(b"{\"_source_uri\":\"s3://src/stray/") || l.starts_with(b"{\"kind\"")
        })
        .count() as u64;
    assert_eq!(
        manifests.iter().map(|m| m.records_read).collect::<Vec<_>>(),
        [300 + strays, 3, 50],
        "each table reads its records; the first feed's run takes those of no feed"
    );
    assert_eq!(
        manifests
            .iter()
            .map(|m| (m.rows_written, m.records_quarantined))
            .collect::<Vec<_>>(),
        [(300, strays), (2, 1), (50, 0)]
    );
    let events_sum: i64 = rows_of(&manifests[2])
        .iter()
        .map(|b| {
            b.column_by_name("n")
                .unwrap()
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.unwrap())
                .sum::<i64>()
        })
        .sum();
    assert_eq!(events_sum, (1..=50).sum::<i64>());
    for m in &manifests {
        assert!(
            m.outputs
                .iter()
                .all(|o| o.uri.contains(&format!("/curated/{}/dt=", m.table))),
            "{:?}",
            m.outputs
        );
    }

    // The unrouted records are in the first feed's quarantine, with the reason; each
    // table's quarantine objects are named apart.
    let quarantined: Vec<Value> = manifests
        .iter()
        .flat_map(|m| m.quarantine_objects.iter())
        .flat_map(|uri| {
            std::fs::read_to_string(local(uri))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let unrouted: Vec<&Value> = quarantined
        .iter()
        .filter(|q| q["kind"] == "unrouted")
        .collect();
    assert_eq!(unrouted.len() as u64, strays);
    assert!(unrouted.iter().any(|q| {
        q["error"]
            .as_str()
            .unwrap()
            .contains("no feed for key of `s3://src/stray/x.jsonl`")
    }));
    assert!(unrouted.iter().any(|q| {
        q["error"]
            .as_str()
            .unwrap()
            .contains("has no `_source_uri`")
    }));
    assert!(
        manifests[0].quarantine_objects[0].contains("-orders-00000"),
        "{:?}",
        manifests[0].quarantine_objects
    );
    assert!(manifests[1].quarantine_objects[0].contains("-customers-00000"));

    // Each table's rows are those of its records converted alone.
    for (table, (contract, alone)) in contracts.iter().zip(&alone).enumerate() {
        let s1 = Setup::new();
        let m = s1
            .converter(contract)
            .convert_object(&s1.write_raw("mixed", alone), None)
            .await
            .unwrap();
        assert_eq!(m.rows_written, manifests[table].rows_written);
        assert_eq!(rows_of(&m), rows_of(&manifests[table]), "table {table}");
    }

    // Again: the same bytes under the same names.
    let bytes = |ms: &[Manifest]| -> Vec<(String, Vec<u8>)> {
        ms.iter()
            .flat_map(|m| {
                m.outputs
                    .iter()
                    .map(|o| o.uri.clone())
                    .chain(m.quarantine_objects.iter().cloned())
            })
            .map(|uri| (uri.clone(), std::fs::read(local(&uri)).unwrap()))
            .collect()
    };
    let first = bytes(&manifests);
    let again = routed(&s, None)
        .convert_group(&[listed(object.clone()).await])
        .await
        .unwrap();
    assert_eq!(bytes(&again), first);

    // One table (a backfill of it): only its files and manifest; the records of no
    // feed are the first feed's, so not quarantined by this run.
    let s2 = Setup::new();
    let only = routed(&s2, Some("Customers"));
    assert_eq!(only.tables().collect::<Vec<_>>(), ["customers"]);
    let object = s2.write_raw("mixed", &raw);
    let manifests = only
        .convert_group(&[listed(object.clone()).await])
        .await
        .unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        (
            manifests[0].records_read,
            manifests[0].rows_written,
            manifests[0].records_quarantined
        ),
        (3, 2, 1)
    );
    assert!(!s2.path("curated/orders").exists() && !s2.path("curated/events").exists());
    let source = SourceObject {
        uri: object.uri(),
        version: listed(object).await.listed_version.unwrap(),
    };
    assert!(only.manifest(&source).await.is_some());
    assert!(
        routed(&s2, None).manifest(&source).await.is_none(),
        "not done for every table"
    );
    assert!(
        FeedConverter::routed(
            &feeds,
            contracts.iter().map(|c| s2.converter(c)).collect(),
            None,
            Some("loyalty")
        )
        .err()
        .unwrap()
        .contains("no feed has table `loyalty`")
    );
}
