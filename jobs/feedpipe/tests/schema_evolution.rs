//! Contract evolution with the `feedpipe` binary as a user runs it: `schema diff`
//! prints exactly the statements of a safe change and refuses each unsafe one with its
//! reason; `schema suggest` reports what `_extra` holds in curated Parquet written by
//! `feedpipe convert` (counts and types computed here from the records written), and
//! its contract passes `schema diff` and fills the columns when re-converted.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn feedpipe(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .args(args)
        .current_dir(cwd)
        .env("FEEDPIPE_LOG", "warn")
        .env_remove("FEEDPIPE_CURATED_URL")
        .output()
        .expect("run feedpipe")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const OLD: &str = r#"{
  "table": "orders",
  "event_time": "order_ts",
  "columns": [
    {"name": "order_id", "type": "string", "nullable": false, "description": "Order id"},
    {"name": "order_ts", "type": "timestamp", "nullable": false},
    {"name": "total", "type": "decimal(18,2)"},
    {"name": "customer", "type": {"struct": [{"name": "id", "type": "string", "nullable": false}, {"name": "email", "type": "string"}]}},
    {"name": "items", "type": {"list": {"struct": [{"name": "sku", "type": "string"}]}}}
  ]
}"#;

#[test]
fn diff_prints_the_exact_statements_of_a_safe_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.json"), OLD).unwrap();
    let new = OLD
        .replace(
            r#"{"name": "email", "type": "string"}"#,
            r#"{"name": "email", "type": "string"}, {"name": "tier", "type": "string"}"#,
        )
        .replace(
            r#"{"name": "items""#,
            r#"{"name": "coupon", "type": "string", "description": "Coupon code, when it's used"},
    {"name": "qty", "type": "int64"},
    {"name": "loyalty", "type": {"struct": [{"name": "points", "type": "int64"}]}},
    {"name": "items""#,
        )
        .replace(
            r#"{"name": "total", "type": "decimal(18,2)"}"#,
            r#"{"name": "total", "type": "decimal(18,2)", "description": "Order total"}"#,
        );
    std::fs::write(dir.path().join("new.json"), &new).unwrap();
    let out = feedpipe(&["schema", "diff", "old.json", "new.json"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let t = "ALTER TABLE {{ database }}.{{ schema }}.orders";
    assert_eq!(
        stdout(&out),
        format!(
            "-- feedpipe schema diff: table `orders`: 5 change(s).
-- Run it once on each deployment whose table exists, before the new contract is
-- deployed (the pipe loads by column name and ignores a Parquet field the table lacks).
-- A deployment created later gets these columns from the new contract's table DDL.
{t} ALTER COLUMN total COMMENT 'Order total';
-- `customer`: new field(s) `customer.tier`: no DDL needed, an OBJECT (or ARRAY) holds any field.
{t} ADD COLUMN coupon VARCHAR COMMENT 'Coupon code, when it''s used';
{t} ADD COLUMN qty NUMBER(19, 0);
{t} ADD COLUMN loyalty OBJECT;
-- The `orders_dedup` view selects *, and a Snowflake view does not follow a column added
-- to its table (querying it fails until it is created again): sql/R__dedup_view.sql.
CREATE OR REPLACE VIEW {{{{ database }}}}.{{{{ schema }}}}.orders_dedup
  COMMENT = 'feedpipe: orders with one row per _record_id (latest load wins)'
AS
SELECT *
FROM {{{{ database }}}}.{{{{ schema }}}}.orders
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY _record_id
  ORDER BY _loaded_at DESC NULLS LAST, _file_name DESC NULLS LAST
) = 1;
"
        )
    );
    // The types are the ones `schema sql` gives the same columns.
    let table = stdout(&feedpipe(&["schema", "sql", "new.json"], dir.path()));
    for (name, ty) in [
        ("coupon", "VARCHAR"),
        ("qty", "NUMBER(19, 0)"),
        ("loyalty", "OBJECT"),
    ] {
        assert!(
            table.lines().any(|l| {
                let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
                l.starts_with(&format!("{name} {ty}"))
            }),
            "{name} {ty} in {table}"
        );
    }
    // Names for the placeholders, to run it by hand.
    let out = feedpipe(
        &[
            "schema",
            "diff",
            "old.json",
            "new.json",
            "--database",
            "PROD",
            "--schema",
            "RAW",
        ],
        dir.path(),
    );
    let text = stdout(&out);
    assert!(text.contains("ALTER TABLE PROD.RAW.orders ADD COLUMN qty NUMBER(19, 0);\n"));
    assert!(text.contains("CREATE OR REPLACE VIEW PROD.RAW.orders_dedup"));
    assert!(!text.contains("{{"), "{text}");
    // No change at all.
    let out = feedpipe(&["schema", "diff", "old.json", "old.json"], dir.path());
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "-- feedpipe schema diff: table `orders`: no change between the two contracts; nothing to run.\n"
    );
}

#[test]
fn diff_refuses_each_unsafe_change_with_its_reason_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.json"), OLD).unwrap();
    let cases: [(&str, String, &str); 10] = [
        (
            "a column dropped",
            OLD.replace(r#"{"name": "total", "type": "decimal(18,2)"},"#, ""),
            "column `total` dropped",
        ),
        (
            "a type changed",
            OLD.replace(r#""decimal(18,2)""#, r#""float64""#),
            "column `total`: type decimal(18,2) → float64: Snowflake does not convert",
        ),
        (
            "a decimal widened",
            OLD.replace(r#""decimal(18,2)""#, r#""decimal(20,2)""#),
            "column `total`: type decimal(18,2) → decimal(20,2): a wider NUMBER, which Snowflake itself would follow",
        ),
        (
            "a decimal narrowed",
            OLD.replace(r#""decimal(18,2)""#, r#""decimal(10,2)""#),
            "column `total`: type decimal(18,2) → decimal(10,2): a narrower NUMBER or another scale",
        ),
        (
            "a column made required",
            OLD.replace(
                r#"{"name": "total", "type": "decimal(18,2)"}"#,
                r#"{"name": "total", "type": "decimal(18,2)", "nullable": false}"#,
            ),
            "column `total` made required",
        ),
        (
            "a new required column",
            OLD.replace(
                r#"{"name": "items""#,
                r#"{"name": "coupon", "type": "string", "nullable": false}, {"name": "items""#,
            ),
            "new column `coupon` is required",
        ),
        (
            "a nested field dropped",
            OLD.replace(r#", {"name": "email", "type": "string"}"#, ""),
            "column `customer.email` dropped",
        ),
        (
            "a nested field retyped",
            OLD.replace(
                r#"{"name": "sku", "type": "string"}"#,
                r#"{"name": "sku", "type": "int64"}"#,
            ),
            "column `items[].sku`: type string → int64",
        ),
        (
            "the table renamed",
            OLD.replace(r#""table": "orders""#, r#""table": "purchases""#),
            "table renamed from `orders` to `purchases`",
        ),
        (
            "event_time changed",
            OLD.replace(r#""event_time": "order_ts","#, ""),
            "event_time changed from `order_ts` to none (_ingested_at): it picks each record's dt= partition",
        ),
    ];
    for (what, new, reason) in &cases {
        std::fs::write(dir.path().join("new.json"), new).unwrap();
        let out = feedpipe(&["schema", "diff", "old.json", "new.json"], dir.path());
        assert_eq!(out.status.code(), Some(2), "{what}: {out:?}");
        assert_eq!(stdout(&out), "", "{what}: nothing to run");
        let err = stderr(&out);
        assert!(
            err.contains("refused: 1 change(s) of table `orders`") && err.contains(reason),
            "{what}: {reason:?} in {err}"
        );
    }
    // All at once: every reason, not only the first.
    let all = OLD
        .replace(r#""decimal(18,2)""#, r#""float64""#)
        .replace(r#", {"name": "email", "type": "string"}"#, "")
        .replace(r#""event_time": "order_ts","#, "");
    std::fs::write(dir.path().join("new.json"), all).unwrap();
    let out = feedpipe(&["schema", "diff", "old.json", "new.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("refused: 3 change(s)"), "{err}");
    for reason in [
        "event_time changed",
        "column `total`: type",
        "column `customer.email` dropped",
    ] {
        assert!(err.contains(reason), "{reason:?} in {err}");
    }
    // A contract that does not parse is an error, not a refusal.
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    let out = feedpipe(&["schema", "diff", "old.json", "bad.json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.json"), "{out:?}");
}

/// The contract of the suggest test: the fields below but those it lacks.
const KNOWN: &str = r#"{"table": "orders", "columns": [
  {"name": "order_id", "type": "string", "nullable": false},
  {"name": "total", "type": "decimal(18,2)"},
  {"name": "customer", "type": {"struct": [{"name": "id", "type": "string"}]}}
]}"#;

/// Record `i` of the feed, and the `_extra` keys the contract lacks (nested under
/// their dotted path), as written here.
fn record(i: usize) -> (String, Vec<&'static str>) {
    let mut customer = json!({"id": format!("c{i}")});
    let mut extra = Vec::new();
    if i.is_multiple_of(8) {
        customer["vip"] = json!(true);
        extra.push("customer.vip");
    }
    let mut fields = vec![
        format!(r#""order_id":"o{i}""#),
        format!(r#""total":{i}.25"#),
        format!(r#""customer":{customer}"#),
    ];
    let mut add = |on: bool, key: &'static str, value: String| {
        if on {
            fields.push(format!(r#""{key}":{value}"#));
            extra.push(key);
        }
    };
    add(i.is_multiple_of(3), "coupon", format!(r#""C{i}""#));
    add(i.is_multiple_of(4), "qty", i.to_string());
    add(i.is_multiple_of(5), "loyalty", r#"{"tier":"gold"}"#.into());
    add(
        i.is_multiple_of(7),
        "seen_at",
        format!(r#""2026-11-23T10:{:02}:00Z""#, i % 60),
    );
    add(i.is_multiple_of(6), "price", format!("{i}.5"));
    add(i == 13, "dt", r#""2026-11-01""#.into());
    add(i == 17, "note", "null".into());
    add(i == 18, "note", r#""leave at the door""#.into());
    (format!("{{{}}}\n", fields.join(",")), extra)
}

/// (rows, share) of each `_extra` key in the report's table on standard error.
fn report(err: &str) -> BTreeMap<String, (u64, String, String, String)> {
    let mut rows = BTreeMap::new();
    for line in err.lines().skip_while(|l| !l.starts_with("field ")).skip(1) {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(n), Some(share), Some(ty)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let proposed = parts.collect::<Vec<_>>().join(" ");
        rows.insert(
            name.to_owned(),
            (n, share.to_owned(), ty.to_owned(), proposed),
        );
    }
    rows
}

#[test]
fn suggest_reports_the_extra_fields_as_written_and_its_contract_passes_diff_and_fills_the_columns()
{
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.json"), KNOWN).unwrap();
    // Two raw objects (hours 10 and 11), as Firehose lays them out; records without
    // lineage (another producer), so the converter takes it from the object.
    let hours = [("10", 0..40), ("11", 40..50)];
    let mut count: BTreeMap<&str, u64> = BTreeMap::new();
    let mut with_extra = 0;
    let mut coupons = [0u64; 2];
    for (h, (hour, range)) in hours.iter().enumerate() {
        let folder = d.join(format!("raw/2026/11/23/{hour}"));
        std::fs::create_dir_all(&folder).unwrap();
        let mut text = String::new();
        for i in range.clone() {
            let (line, extra) = record(i);
            text.push_str(&line);
            with_extra += u64::from(!extra.is_empty());
            coupons[h] += u64::from(extra.contains(&"coupon"));
            for key in extra {
                *count.entry(key).or_default() += 1;
            }
        }
        std::fs::write(folder.join(format!("feed-{hour}")), text).unwrap();
    }
    let convert = |schema: &str, more: &[&str]| {
        let args = [
            &[
                "convert",
                "--input",
                "raw",
                "--output",
                "curated",
                "--quarantine",
                "q",
                "--target-file-size",
                "0",
                "--schema",
                schema,
            ][..],
            more,
        ]
        .concat();
        let out = feedpipe(&args, d);
        assert!(out.status.success(), "{out:?}");
    };
    convert("c.json", &[]);

    let out = feedpipe(
        &[
            "schema",
            "suggest",
            "--curated",
            "curated",
            "--table",
            "orders",
        ],
        d,
    );
    assert!(out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "50 row(s), {with_extra} with fields outside the contract in _extra ({:.1}%)",
            100.0 * with_extra as f64 / 50.0
        )),
        "{err}"
    );
    let want_type = |key: &str| match key {
        "coupon" | "note" => "string",
        "qty" => "int64",
        "loyalty" => r#"{"struct":[{"name":"tier","type":"string"}]}"#,
        "seen_at" => "timestamp",
        "price" => "decimal(18,1)",
        "dt" => "date",
        "customer.vip" => "bool",
        other => panic!("unexpected key {other}"),
    };
    let got = report(&err);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        count.keys().collect::<Vec<_>>(),
        "{err}"
    );
    for (key, n) in &count {
        let (rows, share, ty, proposed) = &got[*key];
        assert_eq!(rows, n, "{key}: {err}");
        assert_eq!(share, &format!("{:.1}%", 100.0 * *n as f64 / 50.0), "{key}");
        assert_eq!(ty, want_type(key), "{key}");
        let expected = match *key {
            "dt" => "no: a name feedpipe reserves (the field stays in _extra)",
            "customer.vip" => "no: a field inside `customer` (add it there by hand; no DDL needed)",
            _ => "yes",
        };
        assert_eq!(proposed, expected, "{key}");
    }
    // The proposed columns, nullable, in order of first appearance.
    let columns: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        columns,
        json!([
            {"name": "coupon", "type": "string"},
            {"name": "qty", "type": "int64"},
            {"name": "loyalty", "type": {"struct": [{"name": "tier", "type": "string"}]}},
            {"name": "seen_at", "type": "timestamp"},
            {"name": "price", "type": "decimal(18,1)"},
            {"name": "note", "type": "string"}
        ])
    );

    // The whole contract, which `schema diff` takes as it is.
    let out = feedpipe(
        &[
            "schema",
            "suggest",
            "--curated",
            "curated",
            "--table",
            "orders",
            "--contract",
            "c.json",
            "--out",
            "new.json",
        ],
        d,
    );
    assert!(out.status.success(), "{out:?}");
    let new: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("new.json")).unwrap()).unwrap();
    let known: Value = serde_json::from_str(KNOWN).unwrap();
    let names = |c: &Value| -> Vec<String> {
        c["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&new),
        [
            "order_id", "total", "customer", "coupon", "qty", "loyalty", "seen_at", "price", "note"
        ]
    );
    assert_eq!(
        new["columns"].as_array().unwrap()[..3],
        known["columns"].as_array().unwrap()[..3],
        "the contract's own columns stay"
    );
    let out = feedpipe(&["schema", "diff", "c.json", "new.json"], d);
    assert!(out.status.success(), "{out:?}");
    let t = "ALTER TABLE {{ database }}.{{ schema }}.orders ADD COLUMN";
    for line in [
        format!("{t} coupon VARCHAR;"),
        format!("{t} qty NUMBER(19, 0);"),
        format!("{t} loyalty OBJECT;"),
        format!("{t} seen_at TIMESTAMP_LTZ;"),
        format!("{t} price NUMBER(18, 1);"),
        format!("{t} note VARCHAR;"),
    ] {
        assert!(
            stdout(&out).lines().any(|l| l == line),
            "{line} in {}",
            stdout(&out)
        );
    }

    // Hour 11 re-converted with the new contract (same file names): its records fill
    // the columns; hour 10's keep the fields in _extra, which suggest now says are
    // columns already. The table mixes files of both contracts.
    convert("new.json", &["--force", "--since", "2026-11-23T11:00:00Z"]);
    let out = feedpipe(
        &[
            "query",
            "--data",
            "curated",
            "--format",
            "csv",
            "SELECT count(coupon) AS c, count(*) AS n FROM orders",
        ],
        d,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), format!("c,n\n{},50\n", coupons[1]));
    let out = feedpipe(
        &[
            "schema",
            "suggest",
            "--curated",
            "curated",
            "--table",
            "orders",
            "--contract",
            "new.json",
        ],
        d,
    );
    assert!(out.status.success(), "{out:?}");
    let got = report(&stderr(&out));
    let (rows, _, _, proposed) = &got["coupon"];
    assert_eq!(
        *rows, coupons[0],
        "only hour 10's coupons are left in _extra"
    );
    assert!(proposed.starts_with("no: a column already"), "{proposed}");
    assert!(
        got.values().all(|(_, _, _, p)| p.starts_with("no:")),
        "{got:?}"
    );
    let again: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(again, new, "nothing more to add");
}
