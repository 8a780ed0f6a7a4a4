use super::*;

const SAMPLE: &str = r#"{
  "table": "feed",
  "event_time": "order_ts",
  "columns": [
    {"name": "order_id", "type": "string", "nullable": false, "description": "Order id"},
    {"name": "order_ts", "type": "timestamp"},
    {"name": "created", "type": "timestamp(epoch_millis)"},
    {"name": "day", "type": "date"},
    {"name": "total", "type": "decimal(18,2)"},
    {"name": "ratio", "type": "float64"},
    {"name": "qty", "type": "int64"},
    {"name": "paid", "type": "bool"},
    {"name": "payload", "type": "json"},
    {"name": "customer", "type": {"struct": [{"name": "id", "type": "string"}, {"name": "address", "type": {"struct": [{"name": "city", "type": "string"}]}}]}},
    {"name": "items", "type": {"list": {"struct": [{"name": "qty", "type": "int64", "nullable": false}]}}},
    {"name": "tags", "type": {"list": "string"}},
    {"name": "Order Note", "type": "string"}
  ]
}"#;

#[test]
fn every_type_parses_and_round_trips() {
    let contract = SchemaContract::from_json(SAMPLE).unwrap();
    assert_eq!(contract.columns.len(), 13);
    assert_eq!(
        contract.columns[2].ty,
        ColumnType::Timestamp(TimestampFormat::EpochMillis)
    );
    assert_eq!(
        contract.columns[4].ty,
        ColumnType::Decimal {
            precision: 18,
            scale: 2
        }
    );
    assert!(!contract.columns[0].nullable && contract.columns[1].nullable);
    let ColumnType::List(inner) = &contract.columns[10].ty else {
        panic!("items is a list")
    };
    assert!(matches!(inner.as_ref(), ColumnType::Struct(f) if !f[0].nullable));
    let again = SchemaContract::from_json(&contract.to_json()).unwrap();
    assert_eq!(again, contract);
}

#[test]
fn lineage_and_extra_are_always_added() {
    let contract = SchemaContract::from_json(SAMPLE).unwrap();
    let names: Vec<String> = contract
        .full_columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names[13..],
        [
            "_source_uri",
            "_source_version",
            "_source_line",
            "_record_id",
            "_ingested_at",
            "_extra"
        ]
        .map(String::from)
    );
}

#[test]
fn bad_contracts_say_what_is_wrong() {
    let err = |text: &str| SchemaContract::from_json(text).unwrap_err().to_string();
    assert!(
        err(r#"{"table":"t","columns":[{"name":"a","type":"int32"}]}"#)
            .contains("unknown type `int32`")
    );
    assert!(
        err(r#"{"table":"t","columns":[{"name":"a","type":"decimal(40,2)"}]}"#)
            .contains("decimal(40,2) needs")
    );
    assert!(
        err(r#"{"table":"t","columns":[{"name":"a","type":"decimal(4,5)"}]}"#).contains("s ≤ p")
    );
    assert!(
        err(
            r#"{"table":"t","columns":[{"name":"a","type":"string"},{"name":"A","type":"int64"}]}"#
        )
        .contains("`A` appears twice")
    );
    assert!(
        err(r#"{"table":"t","columns":[{"name":"_record_id","type":"string"}]}"#)
            .contains("added by feedpipe")
    );
    assert!(
        err(r#"{"table":"t","event_time":"a","columns":[{"name":"a","type":"string"}]}"#)
            .contains("must be a timestamp or date")
    );
    assert!(
        err(r#"{"table":"t","event_time":"b","columns":[{"name":"a","type":"date"}]}"#)
            .contains("not a top-level column")
    );
    assert!(
        err(r#"{"table":"my-table","columns":[{"name":"a","type":"date"}]}"#)
            .contains("table name")
    );
    assert!(
        err(r#"{"table":"t","columns":[{"name":"a","type":{"map":"string"}}]}"#)
            .contains("a type is a name")
    );
    assert!(err(r#"{"table":"t","columns":[{"name":"c","type":{"struct":[{"name":"x","type":"string"},{"name":"x","type":"string"}]}}]}"#).contains("`c.x` appears twice"));
    assert!(err(r#"{"table":"t","colums":[]}"#).contains("unknown field `colums`"));
    for name in ["dt", "DT"] {
        let text = format!(r#"{{"table":"t","columns":[{{"name":"{name}","type":"date"}}]}}"#);
        assert!(err(&text).contains("`dt` partition"), "{name}");
    }
}

#[test]
fn snowflake_table_matches_the_contract() {
    let sql = SchemaContract::from_json(SAMPLE)
        .unwrap()
        .snowflake_table_sql();
    assert!(
        sql.contains("CREATE TABLE IF NOT EXISTS {{ database }}.{{ schema }}.{{ table }} ("),
        "{sql}"
    );
    assert!(sql.contains("{{ table }} must be `feed`"));
    assert!(!sql.contains("CREATE OR REPLACE"));
    for line in [
        "order_id        VARCHAR NOT NULL",
        "order_ts        TIMESTAMP_LTZ",
        "created         TIMESTAMP_LTZ",
        "day             DATE",
        "total           NUMBER(18, 2)",
        "ratio           FLOAT",
        "qty             NUMBER(19, 0)",
        "paid            BOOLEAN",
        "payload         VARIANT",
        "customer        OBJECT",
        "items           ARRAY",
        "\"Order Note\"    VARCHAR",
        "_source_line    NUMBER(19, 0) NOT NULL",
        "_extra          VARIANT",
        "_loaded_at      TIMESTAMP_LTZ",
    ] {
        assert!(sql.contains(line), "missing `{line}` in\n{sql}");
    }
    assert!(sql.contains("COMMENT 'Order id'"));
}

#[test]
fn inference_reads_types_from_the_json_text() {
    let records: Vec<&[u8]> = vec![
        br#"{"id": 1, "price": 1.50, "at": "2026-11-01T10:00:00+02:00", "day": "2026-11-01", "ok": true, "tags": ["a"], "c": {"x": 1}}"#,
        br#"{"id": 2, "price": 2, "at": "2026-11-01T08:00:00Z", "day": "2026-11-02", "ok": null, "tags": [], "c": {"y": "s"}, "late": "x"}"#,
        br#"{"id": 99999999999999999999, "price": 0.125, "mixed": 1}"#,
        br#"{"id": 3, "mixed": "one", "_record_id": "from a raw file", "f": 1e3}"#,
        b"not json",
        b"[1, 2]",
    ];
    let inferred = infer("orders", records).unwrap();
    assert_eq!((inferred.used, inferred.skipped), (4, 2));
    let contract = inferred.contract;
    let types: Vec<(String, String)> = contract
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty.to_string()))
        .collect();
    let expected = [
        ("id", "decimal(20,0)"),
        ("price", "decimal(22,3)"),
        ("at", "timestamp"),
        ("day", "date"),
        ("ok", "bool"),
        ("tags", "list<string>"),
        ("c", "struct"),
        ("late", "string"),
        ("mixed", "json"),
        ("f", "float64"),
    ];
    assert_eq!(
        types,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
    assert!(contract.columns.iter().all(|c| c.nullable));
    assert_eq!(contract.event_time.as_deref(), Some("at"));
    let ColumnType::Struct(fields) = &contract.columns[6].ty else {
        panic!()
    };
    assert_eq!(
        fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["x", "y"]
    );
    contract.validate().unwrap();
}

#[test]
fn inference_of_the_sample_feed_gives_its_documented_contract() {
    let mut feed = Vec::new();
    feedpipe_sample::write_feed(
        &mut feed,
        &feedpipe_sample::SampleOptions {
            rows: 2000,
            bad_rate: 0.01,
            ..Default::default()
        },
    )
    .unwrap();
    let contract = infer(
        "feed",
        feed.split(|b| *b == b'\n').filter(|l| !l.is_empty()),
    )
    .unwrap()
    .contract;
    let checked_in =
        SchemaContract::from_json(include_str!("../../../../sql/contracts/feed.json")).unwrap();
    let strip = |c: &SchemaContract| {
        let mut c = c.clone();
        fn clear(cols: &mut [Column]) {
            for col in cols {
                col.description = None;
                col.nullable = true;
                match &mut col.ty {
                    ColumnType::Struct(f) => clear(f),
                    ColumnType::List(inner) => {
                        if let ColumnType::Struct(f) = inner.as_mut() {
                            clear(f)
                        }
                    }
                    _ => {}
                }
            }
        }
        clear(&mut c.columns);
        c
    };
    assert_eq!(
        strip(&contract),
        strip(&checked_in),
        "sql/contracts/feed.json drifted from the sample feed:\n{}",
        contract.to_json()
    );
}

#[test]
fn fields_named_like_the_partition_are_set_aside_by_inference() {
    let records = [br#"{"a":1,"DT":"x","dt":"y"}"#.as_slice()];
    let inferred = infer("t", records).unwrap();
    let names: Vec<&str> = inferred
        .contract
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a"]);
    assert_eq!(inferred.set_aside, ["DT", "dt"]);
    assert!(inferred.contract.validate().is_ok());
}

#[test]
fn deep_nesting_is_inferred_as_json_past_a_limit() {
    // 10,000 levels (80 KB): inference used to recurse once per level and overflow the
    // stack; past the limit a value is one `json` column.
    let deep = format!(
        "{{\"a\":{}1{}}}",
        "{\"b\":[".repeat(5_000),
        "]}".repeat(5_000)
    );
    let inferred = infer("t", [deep.as_bytes()]).unwrap();
    let json = inferred.contract.to_json();
    assert!(json.len() < 20_000, "{} bytes of contract", json.len());
    assert!(json.contains("\"json\""), "{json}");
    assert!(inferred.contract.validate().is_ok());
}

#[test]
fn no_objects_no_contract() {
    assert_eq!(
        infer("t", [&b"[1]"[..], b"x"]),
        Err(InferError::NoRecords { skipped: 2 })
    );
}
