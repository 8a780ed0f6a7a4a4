use std::collections::BTreeMap;
use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use feedpipe_ingest::frame::RecordFramer;
use feedpipe_sample::{SampleOptions, write_feed};
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
