//! The curated Parquet read back by an independent reader (DuckDB, from the venv
//! `tests/run.sh` installs) and compared value by value with the feed it came from:
//! timestamps with offsets as UTC microseconds, decimals exactly, nested structs and
//! lists, nulls, unicode, lineage, the `dt` partition; and the Parquet types
//! Snowflake depends on (TIMESTAMP micros adjusted to UTC, no INT96; DECIMAL(18,2)).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;

use feedpipe_convert::contract::{SAMPLE_CONTRACT, SchemaContract};
use feedpipe_convert::{ConvertConfig, Converter};
use feedpipe_e2e::duckdb;
use feedpipe_ingest::frame::RecordFramer;
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::lineage::{SourceObject, record_id};
use feedpipe_shared::quarantine::ObjectStoreQuarantine;
use feedpipe_shared::storage::StorageLocation;
use serde_json::Value;

fn cents_of_number(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

fn cents_of_text(s: &str) -> i64 {
    let (units, frac) = s.split_once('.').unwrap_or((s, "0"));
    let sign = if units.starts_with('-') { -1 } else { 1 };
    units.parse::<i64>().unwrap() * 100 + sign * format!("{frac:0<2}").parse::<i64>().unwrap()
}

#[tokio::test]
async fn duckdb_reads_the_curated_parquet_with_the_values_of_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut feed = Vec::new();
    write_feed(
        &mut feed,
        &SampleOptions {
            rows: 2000,
            bad_rate: 0.01,
            seed: 21,
            ..Default::default()
        },
    )
    .unwrap();

    // Framed as the ingest core frames them, as Firehose lands them.
    let source = SourceObject {
        uri: "s3://feedpipe-source/orders é.jsonl".into(),
        version: "v7".into(),
    };
    let framer = RecordFramer::new(source.clone(), None, "2026-11-23T09:00:00.000000Z", 1 << 20);
    let mut raw = Vec::new();
    let mut expected: BTreeMap<String, (u64, Value)> = BTreeMap::new();
    for (i, line) in feed.split(|b| *b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        if let Ok(Value::Object(record)) = serde_json::from_slice::<Value>(line) {
            let framed = framer.frame(line_no, line, &mut Vec::new()).unwrap();
            raw.extend_from_slice(&framed.data);
            expected.insert(
                record["order_id"].as_str().unwrap().to_owned(),
                (line_no, Value::Object(record)),
            );
        }
    }
    let raw_path = dir
        .path()
        .join("raw/2026/11/23/09/feedpipe-raw-1-2026-11-23-09-00-00-x");
    std::fs::create_dir_all(raw_path.parent().unwrap()).unwrap();
    std::fs::write(&raw_path, &raw).unwrap();

    let curated = dir.path().join("curated");
    let converter = Converter::new(
        SchemaContract::from_json(SAMPLE_CONTRACT).unwrap(),
        StorageLocation::parse(curated.to_str().unwrap()).unwrap(),
        Arc::new(ObjectStoreQuarantine::new(
            StorageLocation::parse(dir.path().join("q").to_str().unwrap()).unwrap(),
        )),
        ConvertConfig::default(),
    );
    let manifest = converter
        .convert_object(
            &StorageLocation::parse(raw_path.to_str().unwrap()).unwrap(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(manifest.rows_written, expected.len() as u64);

    let glob = format!("{}/feed/*/*.parquet", curated.display());
    let rows = duckdb(&format!(
        "SELECT order_id, epoch_us(order_ts) AS ts_us, CAST(total AS VARCHAR) AS total, \
         customer.name AS name, customer.email AS email, customer.address.city AS city, \
         len(items) AS n_items, CAST(items[1].unit_price AS VARCHAR) AS price1, \
         items[1].qty AS qty1, items[1].discount_pct AS disc1, notes, coupon_code, \
         _record_id, _source_uri, _source_line, CAST(dt AS VARCHAR) AS dt \
         FROM read_parquet('{glob}', hive_partitioning = true)"
    ));
    assert_eq!(rows.len(), expected.len(), "every good record is one row");
    let mut seen = 0;
    for row in &rows {
        let order_id = row["order_id"].as_str().unwrap();
        let (line, want) = &expected[order_id];
        let at = chrono::DateTime::parse_from_rfc3339(want["order_ts"].as_str().unwrap()).unwrap();
        assert_eq!(
            row["ts_us"].as_i64().unwrap(),
            at.timestamp_micros(),
            "{order_id}"
        );
        assert_eq!(
            row["dt"].as_str().unwrap(),
            at.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d")
                .to_string()
        );
        assert_eq!(
            cents_of_text(row["total"].as_str().unwrap()),
            cents_of_number(&want["total"])
        );
        assert_eq!(row["name"], want["customer"]["name"], "unicode names");
        assert_eq!(row["email"], want["customer"]["email"], "nulls stay null");
        assert_eq!(row["city"], want["customer"]["address"]["city"]);
        let items = want["items"].as_array().unwrap();
        assert_eq!(row["n_items"].as_u64().unwrap(), items.len() as u64);
        assert_eq!(
            cents_of_text(row["price1"].as_str().unwrap()),
            cents_of_number(&items[0]["unit_price"])
        );
        assert_eq!(row["qty1"], items[0]["qty"]);
        assert_eq!(row["disc1"], items[0]["discount_pct"]);
        assert_eq!(row["notes"], want["notes"]);
        assert_eq!(
            row["coupon_code"],
            want.get("coupon_code").cloned().unwrap_or(Value::Null)
        );
        assert_eq!(row["_source_uri"].as_str().unwrap(), source.uri);
        assert_eq!(row["_source_line"].as_u64().unwrap(), *line);
        assert_eq!(
            row["_record_id"].as_str().unwrap(),
            record_id(&source.uri, &source.version, *line)
        );
        seen += 1;
    }
    assert_eq!(seen, expected.len());

    // The physical types Snowflake reads correctly.
    let file = &manifest.outputs[0].uri;
    let path = file.trim_start_matches("file://");
    let schema = duckdb(&format!(
        "SELECT name, type, logical_type, scale, precision FROM parquet_schema('{path}')"
    ));
    let column = |name: &str| schema.iter().find(|c| c["name"] == name).unwrap().clone();
    let ts = column("order_ts");
    assert_eq!(ts["type"], "INT64", "{ts}");
    let logical = ts["logical_type"].as_str().unwrap();
    assert!(
        logical.contains("isAdjustedToUTC=1") && logical.contains("MICROS=MicroSeconds()"),
        "{ts}"
    );
    let total = column("total");
    assert_eq!(
        (total["precision"].as_i64(), total["scale"].as_i64()),
        (Some(18), Some(2)),
        "{total}"
    );
    assert!(schema.iter().all(|c| c["type"] != "INT96"));
}
