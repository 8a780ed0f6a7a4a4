use super::*;
use crate::columns::ColumnBuf;

fn contract() -> SchemaContract {
    SchemaContract::from_json(
        r#"{"table": "t", "event_time": "at", "columns": [
            {"name": "id", "type": "string", "nullable": false},
            {"name": "n", "type": "int64"},
            {"name": "f", "type": "float64"},
            {"name": "ok", "type": "bool"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "day", "type": "date"},
            {"name": "at", "type": "timestamp"},
            {"name": "ms", "type": "timestamp(epoch_millis)"},
            {"name": "s", "type": "timestamp(epoch_seconds)"},
            {"name": "any", "type": "json"},
            {"name": "c", "type": {"struct": [{"name": "x", "type": "int64", "nullable": false}, {"name": "y", "type": "string"}]}},
            {"name": "l", "type": {"list": "int64"}}
        ]}"#,
    )
    .unwrap()
}

fn origin() -> RawOrigin {
    RawOrigin {
        source: SourceObject {
            uri: "s3://raw/raw/2026/11/23/10/f-1".into(),
            version: "e1".into(),
        },
        written_at_micros: 1_795_000_000_000_000,
    }
}

fn decode(text: &str) -> Result<Vec<Cell<'_>>, String> {
    let d = RecordDecoder::new(&contract());
    checked(&d, text, 3).map(|r| r.cells).map_err(|e| e.reason)
}

/// `d.decode`, after checking that the single-pass path (`append`) agrees with it:
/// it takes the same records, with the same values and `dt`, and when it refuses
/// one it leaves the buffers as they were (they already hold a record, so that
/// undoing is checked too).
fn checked<'a>(
    d: &RecordDecoder,
    text: &'a str,
    line: u64,
) -> Result<DecodedRecord<'a>, DecodeError> {
    let before =
        format!(r#"{{{LINEAGE},"id":"before","c":{{"x":1}},"l":[1,2],"day":"2026-11-02"}}"#);
    checked_after(d, &before, text, line)
}

/// [`checked`] with the buffers holding the record `before` first.
fn checked_after<'a>(
    d: &RecordDecoder,
    before: &str,
    text: &'a str,
    line: u64,
) -> Result<DecodedRecord<'a>, DecodeError> {
    let exact = d.decode(text, line, &origin());
    let mut expected = ColumnBuf::for_columns(d.columns());
    let mut appended = ColumnBuf::for_columns(d.columns());
    let records = [d.decode(before, 1, &origin())]
        .into_iter()
        .chain([d.decode(text, line, &origin())])
        .filter_map(Result::ok);
    for record in records {
        for (buf, cell) in expected.iter_mut().zip(record.cells) {
            buf.push(cell);
        }
    }
    assert!(d.append(before, 1, &origin(), &mut appended).is_some());
    let dt = d.append(text, line, &origin(), &mut appended);
    assert_eq!(
        dt,
        exact.as_ref().ok().map(|r| r.dt),
        "{text}: append and decode disagree ({:?})",
        exact.as_ref().err()
    );
    let finish = |bufs: &mut Vec<ColumnBuf>| -> Vec<arrow_array::ArrayRef> {
        bufs.iter_mut().map(|b| b.finish().unwrap()).collect()
    };
    assert_eq!(finish(&mut appended), finish(&mut expected), "{text}");
    exact
}

const LINEAGE: &str = r#""_source_uri":"s3://src/f.jsonl","_source_version":"v9","_source_line":7,"_record_id":"abc","_ingested_at":"2026-11-23T10:00:00.000000Z""#;

#[test]
fn every_type_decodes_exactly() {
    let text = format!(
        r#"{{{LINEAGE},"id":"a\"b","n":-42,"f":1.5e3,"ok":true,"amount":-12.50,"day":"2026-11-01","at":"2026-11-01T01:30:00.123456+02:00","ms":1700000000123,"s":1700000000.5,"any":{{"k":[1,2]}},"c":{{"x":1}},"l":[1,null,3]}}"#
    );
    let cells = decode(&text).unwrap();
    assert_eq!(cells[0], Cell::Str("a\"b".into()));
    assert_eq!(cells[1], Cell::I64(-42));
    assert_eq!(cells[2], Cell::F64(1500.0));
    assert_eq!(cells[3], Cell::Bool(true));
    assert_eq!(cells[4], Cell::Dec(-1250));
    assert_eq!(cells[5], Cell::Date(20758)); // python: (date(2026,11,1)-date(1970,1,1)).days
    // 2026-10-31T23:30:00.123456Z: python datetime(2026,10,31,23,30,0,123456,tzinfo=utc).timestamp()
    assert_eq!(cells[6], Cell::Ts(1_793_489_400_123_456));
    assert_eq!(cells[7], Cell::Ts(1_700_000_000_123_000));
    assert_eq!(cells[8], Cell::Ts(1_700_000_000_500_000));
    assert_eq!(cells[9], Cell::Str(r#"{"k":[1,2]}"#.into()));
    assert_eq!(cells[10], Cell::Struct(vec![Cell::I64(1), Cell::Null]));
    assert_eq!(
        cells[11],
        Cell::List(vec![Cell::I64(1), Cell::Null, Cell::I64(3)])
    );
    assert_eq!(cells[12], Cell::Str("s3://src/f.jsonl".into()));
    assert_eq!(cells[14], Cell::I64(7));
    assert_eq!(cells[16], Cell::Ts(1_795_428_000_000_000));
    assert_eq!(cells[17], Cell::Null, "no unknown fields: _extra is null");
}

#[test]
fn the_partition_is_the_event_time_in_utc_else_ingested_at() {
    let d = RecordDecoder::new(&contract());
    let text = format!(r#"{{{LINEAGE},"id":"a","at":"2026-11-01T01:30:00+02:00"}}"#);
    let r = checked(&d, &text, 1).unwrap();
    assert_eq!(r.dt, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
    let text = format!(r#"{{{LINEAGE},"id":"a"}}"#);
    let r = checked(&d, &text, 1).unwrap();
    assert_eq!(r.dt, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
}

#[test]
fn unknown_fields_go_to_extra_with_their_raw_json() {
    let text = format!(
        r#"{{{LINEAGE},"id":"a","coupon":"X1","c":{{"x":1,"loyalty":{{"tier":"gold"}}}},"price":1.50}}"#
    );
    let cells = decode(&text).unwrap();
    assert_eq!(
        cells[17],
        Cell::Str(r#"{"coupon":"X1","c.loyalty":{"tier":"gold"},"price":1.50}"#.into())
    );
}

#[test]
fn type_mismatches_are_refused_with_the_field_path() {
    let cases = [
        (
            r#""n":"42""#,
            "field `n`: expected an integer, found a string `\"42\"`",
        ),
        (
            r#""n":1.5"#,
            "field `n`: expected an integer, found a number `1.5`",
        ),
        (
            r#""n":99999999999999999999"#,
            "field `n`: 99999999999999999999 does not fit in int64",
        ),
        (
            r#""id":42"#,
            "field `id`: expected a string, found a number `42`",
        ),
        (
            r#""ok":"yes""#,
            "field `ok`: expected a boolean, found a string `\"yes\"`",
        ),
        (
            r#""amount":1.234"#,
            "field `amount`: 1.234 has 3 decimal places; decimal(10,2) allows 2",
        ),
        (
            r#""amount":123456789.1"#,
            "field `amount`: 123456789.1 has too many digits for decimal(10,2)",
        ),
        (
            r#""amount":"1.00""#,
            "field `amount`: expected a number, found a string `\"1.00\"`",
        ),
        (
            r#""day":"2026-13-01""#,
            "field `day`: `2026-13-01` is not a date (YYYY-MM-DD)",
        ),
        (
            r#""at":"2026-11-01T10:00:00+25:00""#,
            "field `at`: `2026-11-01T10:00:00+25:00` is not an ISO-8601 timestamp with offset",
        ),
        (
            r#""at":"2026-11-01T10:00:00""#,
            "field `at`: `2026-11-01T10:00:00` is not an ISO-8601 timestamp with offset",
        ),
        (r#""c":{"y":"s"}"#, "field `c.x`: is required but missing"),
        (r#""c":{"x":"1"}"#, "field `c.x`: expected an integer"),
        (r#""l":[1,"2"]"#, "field `l[1]`: expected an integer"),
        (
            r#""l":{"a":1}"#,
            "field `l`: expected an array, found an object",
        ),
        (r#""n":1,"n":2"#, "field `n`: appears twice in the record"),
    ];
    for (field, expected) in cases {
        let id = if field.starts_with("\"id\"") {
            ""
        } else {
            r#""id":"a","#
        };
        let err = decode(&format!(r#"{{{LINEAGE},{id}{field}}}"#)).unwrap_err();
        assert!(err.starts_with(expected), "{field}: got {err}");
    }
    let err = decode(&format!(r#"{{{LINEAGE},"n":1}}"#)).unwrap_err();
    assert_eq!(err, "field `id`: is required but missing");
    let err = decode(&format!(r#"{{{LINEAGE},"id":null}}"#)).unwrap_err();
    assert_eq!(err, "field `id`: is required but null");
    assert!(
        decode(r#"{"id":"a","_record_id":"x"}"#)
            .unwrap_err()
            .starts_with("incomplete lineage: missing _source_uri")
    );
    assert!(
        decode("{\"id\":")
            .unwrap_err()
            .starts_with("malformed JSON")
    );
}

#[test]
fn records_without_lineage_get_it_from_the_raw_object() {
    let cells = decode(r#"{"id":"a"}"#).unwrap();
    assert_eq!(
        cells[12],
        Cell::Str("s3://raw/raw/2026/11/23/10/f-1".into())
    );
    assert_eq!(cells[13], Cell::Str("e1".into()));
    assert_eq!(cells[14], Cell::I64(3));
    assert_eq!(cells[15], Cell::Str(origin().source.record_id(3).into()));
    assert_eq!(cells[16], Cell::Ts(origin().written_at_micros));
}

#[test]
fn decimals_are_exact() {
    assert_eq!(decimal("0.1", 18, 2), Ok(10));
    assert_eq!(decimal("-0.10", 18, 2), Ok(-10));
    assert_eq!(decimal("12", 4, 2), Ok(1200));
    assert_eq!(
        decimal("123", 4, 2),
        Err("123 has too many digits for decimal(4,2)".into())
    );
    assert_eq!(
        decimal("99999999999999999999999999999999999.999", 38, 3),
        Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
    );
    assert_eq!(
        decimal("1.2300", 4, 2),
        Ok(123),
        "trailing zeros beyond the scale are not lost digits"
    );
}

/// Sample records with random changes (values of every JSON kind put anywhere,
/// fields removed, unknown and duplicate fields added, at any depth) go through
/// [`checked_after`]: the single-pass path agrees with the exact one on each.
#[test]
fn append_agrees_with_decode_on_mutated_sample_records() {
    use serde_json::{Value, json};
    let d =
        RecordDecoder::new(&SchemaContract::from_json(crate::contract::SAMPLE_CONTRACT).unwrap());
    let mut feed = Vec::new();
    feedpipe_sample::write_feed(
        &mut feed,
        &feedpipe_sample::SampleOptions {
            rows: 200,
            ..Default::default()
        },
    )
    .unwrap();
    let records: Vec<Value> = feed
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let before = serde_json::to_string(&records[0]).unwrap();
    let values = [
        json!(null),
        json!("x"),
        json!(""),
        json!("é \" \\ \n ☃"),
        json!(42),
        json!(-1.5),
        json!(12.345),
        json!(9_223_372_036_854_775_808_u64),
        json!(true),
        json!({}),
        json!([]),
        json!({"x": 1, "city": null}),
        json!([1, "a", null, {"sku": "S"}]),
        json!([{"sku": "S", "qty": 1, "unit_price": 1.5}, null]),
        json!("2026-11-01"),
        json!("2026-11-01T10:00:00+02:00"),
        json!("2026-11-01T10:00:00"),
    ];
    let names = ["coupon", "_record_id", "_extra", "order_ts", "qty", "city"];
    fn mutate(v: &mut Value, rng: &mut feedpipe_sample::Rng, values: &[Value], names: &[&str]) {
        match v {
            Value::Object(map) if !map.is_empty() && rng.below(3) > 0 => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = rng.pick(&keys).clone();
                match rng.below(4) {
                    0 => {
                        map.remove(&key);
                    }
                    1 => {
                        map.insert((*rng.pick(names)).to_string(), rng.pick(values).clone());
                    }
                    2 => {
                        map.insert(key, rng.pick(values).clone());
                    }
                    _ => mutate(map.get_mut(&key).unwrap(), rng, values, names),
                }
            }
            Value::Array(items) if !items.is_empty() && rng.below(3) > 0 => {
                let i = rng.below(items.len() as u64) as usize;
                mutate(&mut items[i], rng, values, names);
            }
            other => *other = rng.pick(values).clone(),
        }
    }
    let mut rng = feedpipe_sample::Rng::new(7);
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..4000 {
        let mut record = rng.pick(&records).clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut record, &mut rng, &values, &names);
        }
        let mut text = serde_json::to_string(&record).unwrap();
        if rng.below(10) == 0 {
            // A field written twice (serde_json's maps cannot hold that).
            text.insert_str(1, r#""status":"dup","#);
        }
        match checked_after(&d, &before, &text, 1) {
            Ok(_) => taken += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        taken > 500 && refused > 500,
        "{taken} taken, {refused} refused"
    );
}

#[test]
fn timestamps_outside_the_years_1_to_9999_and_leap_seconds_are_refused() {
    let with = |field: &str, value: &str| format!(r#"{{{LINEAGE},"id":"a","{field}":{value}}}"#);
    for (field, value) in [
        ("s", "9e12"),
        ("s", "253402300800"),
        ("s", "-62135596801"),
        ("ms", "253402300800000"),
        ("s", "1e300"),
    ] {
        let err = decode(&with(field, value)).unwrap_err();
        assert!(
            err.starts_with(&format!("field `{field}`: ")) && err.contains("out of range"),
            "{field} {value}: {err}"
        );
    }
    // The edges themselves fit.
    assert!(decode(&with("s", "253402300799")).is_ok());
    assert!(decode(&with("s", "-62135596800")).is_ok());
    assert!(decode(&with("at", r#""9999-12-31T23:59:59.999999Z""#)).is_ok());
    let err = decode(&with("at", r#""2026-06-30T23:59:60Z""#)).unwrap_err();
    assert!(err.contains("leap second"), "{err}");
}

#[test]
fn extra_has_unique_keys_and_keeps_every_value() {
    let text = format!(
        r#"{{{LINEAGE},"id":"a","coupon":"X1","coupon":"X2","c":{{"x":1,"loyalty":7}},"c.loyalty":8,"coupon#2":"X3"}}"#
    );
    let cells = decode(&text).unwrap();
    let Cell::Str(extra) = &cells[17] else {
        panic!("no _extra: {:?}", cells[17]);
    };
    assert_eq!(
        extra,
        r#"{"coupon":"X1","coupon#2":"X2","c.loyalty":7,"c.loyalty#2":8,"coupon#2#2":"X3"}"#
    );
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(extra).unwrap();
    assert_eq!(parsed.len(), 5, "one key per value");
}

#[test]
fn values_snowflake_would_refuse_are_refused_with_the_reason() {
    use super::snowflake::VARCHAR_BYTES;
    let x = |n: usize| format!("\"{}\"", "x".repeat(n));
    // A string of exactly a VARCHAR's bytes fits; one byte more does not, nested too.
    assert!(decode(&format!(r#"{{{LINEAGE},"id":{}}}"#, x(VARCHAR_BYTES))).is_ok());
    let err = decode(&format!(r#"{{{LINEAGE},"id":{}}}"#, x(VARCHAR_BYTES + 1))).unwrap_err();
    assert_eq!(
        err,
        "field `id`: is a string of 16777217 bytes, over the 16777216 bytes any Snowflake VARCHAR without a length holds (16,777,216 characters; bytes in tables from before bundle 2026_03)"
    );
    let nested = format!(
        r#"{{{LINEAGE},"id":"a","c":{{"x":1,"y":{}}}}}"#,
        x(VARCHAR_BYTES + 1)
    );
    assert!(
        decode(&nested)
            .unwrap_err()
            .starts_with("field `c.y`: is a string of")
    );

    // JSON text, in a json column and in `_extra`: a key twice at any depth, a lone
    // surrogate, and more than a VARIANT string holds here.
    let with = |field: &str, value: &str| format!(r#"{{{LINEAGE},"id":"a","{field}":{value}}}"#);
    for (field, value, want) in [
        (
            "any",
            r#"{"k":[{"j":1,"j":2}]}"#,
            r#"field `any`: has the key "j" twice in one object"#,
        ),
        (
            "any",
            r#"{"k":"\ud800"}"#,
            r"field `any`: holds the escape \ud800",
        ),
        (
            "unknown",
            r#"{"k":1,"k":2}"#,
            r#"field `_extra`: has the key "k" twice"#,
        ),
        (
            "unknown",
            r#"["\udc00"]"#,
            r"field `_extra`: holds the escape \udc00",
        ),
    ] {
        let err = decode(&with(field, value)).unwrap_err();
        assert!(err.starts_with(want), "{field} {value}: {err}");
    }
    let err = decode(&with("unknown", &x(VARCHAR_BYTES))).unwrap_err();
    assert!(
        err.starts_with("field `_extra`: is JSON text of 16777230 bytes"),
        "{err}"
    );
    // What Snowflake takes passes as written: pairs, escaped quotes, keys of one name in
    // different objects.
    let fine = r#"{"e":"\ud83d\ude00 \"q\"","a":{"a":1},"l":[{"a":1},{"a":2}]}"#;
    let record = with("any", fine);
    let cells = decode(&record).unwrap();
    assert_eq!(cells[9], Cell::Str(fine.into()));

    // Dates: the years 1 to 9999, as timestamps.
    assert!(decode(&with("day", r#""0001-01-01""#)).is_ok());
    assert!(decode(&with("day", r#""9999-12-31""#)).is_ok());
    for day in [r#""0000-12-31""#, r#""-0001-01-01""#, r#""10000-01-01""#] {
        let err = decode(&with("day", day)).unwrap_err();
        assert!(err.starts_with("field `day`: "), "{day}: {err}");
        assert!(
            err.contains("out of range") || err.contains("is not a date"),
            "{day}: {err}"
        );
    }
}

#[test]
fn a_decimal_scale_snowflake_cannot_hold_is_refused_with_the_contract() {
    let contract = |ty: &str| {
        SchemaContract::from_json(&format!(
            r#"{{"table": "t", "columns": [{{"name": "d", "type": "{ty}"}}]}}"#
        ))
    };
    assert!(contract("decimal(38,37)").is_ok());
    let err = contract("decimal(38,38)").unwrap_err().to_string();
    assert!(err.contains("s ≤ 37 (Snowflake's NUMBER)"), "{err}");
}
