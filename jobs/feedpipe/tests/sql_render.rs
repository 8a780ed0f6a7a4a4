//! `feedpipe sql render` as a user runs it: one table, stage, pipe, manifest stage and
//! dedup view per feed, on the feed's own stage path, from its contract; the same
//! bytes on every render; a feed added later changes only the locations and adds its
//! own scripts; and the folder deploys with schemachange on the Snowflake stand-in,
//! a feed added later and a column added by `schema diff` included.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn feedpipe(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .args(args)
        .current_dir(cwd)
        .env("FEEDPIPE_LOG", "warn")
        .output()
        .expect("run feedpipe")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const ORDERS: &str = r#"{"table": "orders", "event_time": "order_ts", "columns": [
  {"name": "order_id", "type": "string", "nullable": false, "description": "Order id"},
  {"name": "order_ts", "type": "timestamp", "nullable": false},
  {"name": "total", "type": "decimal(18,2)"},
  {"name": "items", "type": {"list": {"struct": [{"name": "sku", "type": "string"}]}}}
]}"#;

const CUSTOMERS: &str = r#"{"table": "customers", "columns": [
  {"name": "customer_id", "type": "string", "nullable": false},
  {"name": "profile", "type": {"struct": [{"name": "region", "type": "string"}]}},
  {"name": "signed_up", "type": "date"}
]}"#;

const POINTS: &str = r#"{"table": "points", "columns": [
  {"name": "points_id", "type": "string"},
  {"name": "earned_at", "type": "timestamp"},
  {"name": "points", "type": "int64"}
]}"#;

const TWO: &str = r#"[[feeds]]
table = "orders"
prefix = "orders/"
contract = "contracts/orders.json"
event_time = "order_ts"

[[feeds]]
table = "customers"
prefix = "customers/"
contract = "contracts/customers.json"
"#;

const THIRD: &str = r#"
[[feeds]]
table = "points"
prefix = "loyalty/points/"
contract = "contracts/points.json"
"#;

/// A deployment folder: the feeds file (two feeds, or three) and its contracts.
fn deployment(dir: &Path, feeds: &str) {
    std::fs::create_dir_all(dir.join("deploy/contracts")).unwrap();
    for (name, text) in [
        ("orders", ORDERS),
        ("customers", CUSTOMERS),
        ("points", POINTS),
    ] {
        std::fs::write(dir.join(format!("deploy/contracts/{name}.json")), text).unwrap();
    }
    std::fs::write(dir.join("deploy/feeds.toml"), feeds).unwrap();
}

/// Renders into `out` (relative to `cwd`); the scripts by name.
fn render(cwd: &Path, feeds: &str, out: &str) -> BTreeMap<String, String> {
    let o = feedpipe(&["sql", "render", "--feeds", feeds, "--out", out], cwd);
    assert!(o.status.success(), "{o:?}");
    read(&cwd.join(out))
}

fn read(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// The statements of a script, comments and blank lines left out.
fn code(script: &str) -> String {
    script
        .lines()
        .filter(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_feed_gets_its_table_stage_pipe_and_view_on_its_own_path_and_renders_are_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deployment(d, TWO);
    let scripts = render(d, "deploy/feeds.toml", "out");
    assert_eq!(
        scripts.keys().collect::<Vec<_>>(),
        [
            "R__1_storage_locations.sql",
            "R__2_customers__objects.sql",
            "R__2_orders__objects.sql",
            "R__3_customers__monitoring.sql",
            "R__3_orders__monitoring.sql",
            "V1__database_and_schema.sql",
            "V2__storage_integration.sql",
            "V3__file_format.sql",
            "V8__file_format_options.sql",
        ]
    );
    // The shared scripts are sql/'s, byte for byte.
    for name in [
        "V1__database_and_schema.sql",
        "V3__file_format.sql",
        "V8__file_format_options.sql",
    ] {
        let single = std::fs::read_to_string(repo().join("sql").join(name)).unwrap();
        assert_eq!(scripts[name], single, "{name}");
    }
    let p = "{{ database }}.{{ schema }}";
    for (table, other, columns) in [
        (
            "orders",
            "customers",
            &[
                "order_id VARCHAR NOT NULL",
                "order_ts TIMESTAMP_LTZ NOT NULL",
                "total NUMBER(18, 2)",
                "items ARRAY",
            ][..],
        ),
        (
            "customers",
            "orders",
            &[
                "customer_id VARCHAR NOT NULL",
                "profile OBJECT",
                "signed_up DATE",
            ][..],
        ),
    ] {
        let objects = code(&scripts[&format!("R__2_{table}__objects.sql")]);
        for want in [
            format!(
                "CREATE STAGE IF NOT EXISTS {p}.{table}_stage\n  URL = 's3://{{{{ curated_bucket }}}}/{table}/'"
            ),
            format!("CREATE TABLE IF NOT EXISTS {p}.{table} ("),
            format!("CREATE PIPE IF NOT EXISTS {p}.{table}_pipe\n  AUTO_INGEST = TRUE"),
            format!("COPY INTO {p}.{table}\n  FROM @{p}.{table}_stage\n"),
            format!("SHOW PIPES LIKE '{table}_pipe' IN SCHEMA {p};"),
            format!(
                "CREATE STAGE IF NOT EXISTS {p}.{table}_manifest_stage\n  URL = 's3://{{{{ curated_bucket }}}}/_manifests/{table}/'"
            ),
            format!("CREATE OR REPLACE VIEW {p}.{table}_dedup"),
            format!("FROM {p}.{table}\nQUALIFY ROW_NUMBER()"),
        ] {
            assert!(
                objects.contains(&want),
                "{want}\nnot in {table}'s objects:\n{objects}"
            );
        }
        // The table: the contract's columns, then lineage, _extra and the load columns.
        let table_sql = objects
            .split(&format!("CREATE TABLE IF NOT EXISTS {p}.{table} ("))
            .nth(1)
            .and_then(|rest| rest.split("\n)").next())
            .unwrap();
        let defined: Vec<String> = table_sql
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let l = l
                    .split(" COMMENT ")
                    .next()
                    .unwrap()
                    .trim()
                    .trim_end_matches(',');
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        assert_eq!(defined[..columns.len()], *columns, "{table}");
        assert_eq!(
            defined[columns.len()..]
                .iter()
                .map(|c| c.split(' ').next().unwrap())
                .collect::<Vec<_>>(),
            [
                "_source_uri",
                "_source_version",
                "_source_line",
                "_record_id",
                "_ingested_at",
                "_extra",
                "_file_name",
                "_loaded_at"
            ]
        );
        // Nothing of the other feed, and nothing that replaces data or history.
        assert!(!objects.contains(other), "{other} in {table}'s objects");
        let replaced: Vec<&str> = objects
            .lines()
            .filter(|l| l.contains("OR REPLACE"))
            .collect();
        assert_eq!(
            replaced,
            [format!("CREATE OR REPLACE VIEW {p}.{table}_dedup")]
        );
        let monitoring = code(&scripts[&format!("R__3_{table}__monitoring.sql")]);
        assert!(monitoring.contains(&format!("SYSTEM$PIPE_STATUS('{p}.{table}_pipe')")));
        assert!(monitoring.contains(&format!("@{p}.{table}_manifest_stage")));
        assert!(!monitoring.contains(other));
    }
    let locations = "'s3://{{ curated_bucket }}/orders/', 's3://{{ curated_bucket }}/_manifests/orders/',\n    's3://{{ curated_bucket }}/customers/', 's3://{{ curated_bucket }}/_manifests/customers/'\n  )";
    assert!(
        code(&scripts["V2__storage_integration.sql"])
            .contains("CREATE STORAGE INTEGRATION IF NOT EXISTS {{ storage_integration }}")
    );
    assert!(scripts["V2__storage_integration.sql"].contains(locations));
    assert!(code(&scripts["R__1_storage_locations.sql"]).contains(&format!(
        "ALTER STORAGE INTEGRATION {{{{ storage_integration }}}} SET\n  STORAGE_ALLOWED_LOCATIONS = (\n    {locations};"
    )));
    // Placeholders: schemachange's, from Terraform's sql_vars; never {{ table }}.
    let mut used = std::collections::BTreeSet::new();
    for (name, text) in &scripts {
        for piece in text.split("{{").skip(1) {
            used.insert(piece.split("}}").next().unwrap().trim().to_owned());
        }
        assert!(!text.contains("{%") && !text.contains("{#"), "{name}");
    }
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        [
            "curated_bucket",
            "database",
            "schema",
            "snowflake_role_arn",
            "storage_integration"
        ]
    );

    // Rendered again, from elsewhere and under another spelling of the path: the same
    // bytes; and without --out, the same scripts on standard output.
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let again = render(&d.join("elsewhere"), "../deploy/./feeds.toml", "out");
    assert_eq!(again, scripts);
    let o = feedpipe(&["sql", "render", "--feeds", "deploy/feeds.toml"], d);
    assert!(o.status.success(), "{o:?}");
    let printed = String::from_utf8(o.stdout).unwrap();
    let mut from_stdout = BTreeMap::new();
    for part in printed.split("-- file: ").skip(1) {
        let (name, text) = part.split_once('\n').unwrap();
        from_stdout.insert(name.to_owned(), text.to_owned());
    }
    assert_eq!(from_stdout, scripts);
}

#[test]
fn a_feed_added_later_changes_only_the_locations_and_adds_its_own_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deployment(d, TWO);
    let before = render(d, "deploy/feeds.toml", "out");
    deployment(d, &format!("{TWO}{THIRD}"));
    let after = render(d, "deploy/feeds.toml", "out");
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    // schemachange runs an R__ script again only when its text changes: the existing
    // feeds' scripts do not, so their objects are not touched; V2 ran once already.
    assert_eq!(
        changed,
        ["R__1_storage_locations.sql", "V2__storage_integration.sql"]
    );
    assert_eq!(
        added,
        ["R__2_points__objects.sql", "R__3_points__monitoring.sql"]
    );
    assert!(after["R__1_storage_locations.sql"].contains(
        "'s3://{{ curated_bucket }}/points/', 's3://{{ curated_bucket }}/_manifests/points/'"
    ));
    // The stage follows the table, not the source prefix.
    assert!(
        after["R__2_points__objects.sql"].contains("URL = 's3://{{ curated_bucket }}/points/'")
    );

    // A script left from a feed that is gone is named, and left alone.
    deployment(d, TWO);
    let o = feedpipe(
        &[
            "sql",
            "render",
            "--feeds",
            "deploy/feeds.toml",
            "--out",
            "out",
        ],
        d,
    );
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("R__2_points__objects.sql was not rendered from feeds.toml"),
        "{err}"
    );
    assert!(d.join("out/R__2_points__objects.sql").exists());
}

#[test]
fn a_feed_without_a_contract_is_an_error_naming_the_file_and_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deployment(
        d,
        &format!("{TWO}\n[[feeds]]\ntable = \"loose\"\nprefix = \"loose/\"\n"),
    );
    let o = feedpipe(
        &[
            "sql",
            "render",
            "--feeds",
            "deploy/feeds.toml",
            "--out",
            "out",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("feeds file deploy/feeds.toml: entry 3 (table `loose`): no `contract`"),
        "{err}"
    );
    assert!(!d.join("out").exists(), "nothing written");
    // A contract that does not parse, likewise.
    deployment(d, TWO);
    std::fs::write(d.join("deploy/contracts/customers.json"), "{}").unwrap();
    let o = feedpipe(&["sql", "render", "--feeds", "deploy/feeds.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("entry 2 (table `customers`)") && err.contains("customers.json"),
        "{err}"
    );
}

/// Runs on the Snowflake stand-in (fakesnow) with schemachange 4.4.0, both as
/// `tests/run.sh` installs them: a fresh deploy of two feeds, a deploy that has
/// nothing to do, a third feed added (only its scripts and the locations run; the
/// rows of the others stay), then `schema diff`'s statements run by hand and the new
/// contract rendered and deployed (only that feed's objects run; its view shows the
/// new column). Prints one JSON line per step.
const DEPLOY: &str = r#"
import contextlib, io, json, logging, os, pathlib, re, subprocess, sys
repo, feedpipe, work = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
sys.path.insert(0, str(repo / "tests" / "py"))
from snowflake_load import UNSUPPORTED
import fakesnow, snowflake.connector
from snowflake.connector.util_text import split_statements

VARS = {"database": "FEEDPIPE", "schema": "RAW", "table": "", "storage_integration": "FEEDPIPE_CURATED_S3",
        "curated_bucket": "feedpipe-curated", "snowflake_role_arn": "arn:aws:iam::123456789012:role/feedpipe"}
lead = r"(?is)^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
# What fakesnow cannot run (sql/README.md), and ALTER STORAGE INTEGRATION (no integrations there).
nops = [lead + p.pattern[1:] if p.pattern.startswith("^") else r"(?is)^.*?" + p.pattern for p, _ in UNSUPPORTED]
nops += [r"(?is)^ALTER\s+SESSION\s+(?:UN)?SET\s+QUERY_TAG\b", lead + r"ALTER\s+STORAGE\s+INTEGRATION\b"]
stack = contextlib.ExitStack()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    kw = stack.enter_context(fakesnow.server())
for n in ("uvicorn", "uvicorn.access", "uvicorn.error", "fakesnow", "sqlglot"):
    logging.getLogger(n).setLevel(logging.CRITICAL)
home = work / "home"
(home / ".snowflake").mkdir(parents=True)
toml = home / ".snowflake" / "connections.toml"
toml.write_text('[feedpipe]\naccount = "fakesnow"\nuser = "fake"\npassword = "snow"\n')
toml.chmod(0o600)
env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "SCHEMACHANGE_"))}
env.update(PATH=f"{pathlib.Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}", HOME=str(home),
           SNOWFLAKE_HOME=str(home), SNOWFLAKE_DEFAULT_CONNECTION_NAME="feedpipe", NO_COLOR="1",
           SNOWFLAKE_HOST="127.0.0.1", SNOWFLAKE_PORT=str(kw["port"]), SNOWFLAKE_PROTOCOL="http",
           SNOWFLAKE_SESSION_PARAMETERS=json.dumps({"nop_regexes": nops}))
con = snowflake.connector.connect(**{**kw, "session_parameters": {**kw["session_parameters"], "nop_regexes": nops}})
cur = con.cursor()
cur.execute("CREATE DATABASE IF NOT EXISTS FEEDPIPE")  # the change history's database (V1, by hand in the guide)

def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{args}: exit {p.returncode}: {p.stdout[-3000:]} {p.stderr[-3000:]}")
    return re.sub(r"\x1b\[[0-9;]*m", "", p.stdout + p.stderr)

def deploy():
    out = run("schemachange", "deploy", "--root-folder", str(work / "out"), "--vars", json.dumps(VARS),
              "--change-history-table", "FEEDPIPE.SCHEMACHANGE.CHANGE_HISTORY", "--create-change-history-table")
    return sorted(set(re.findall(r"Applying \w+(?: \([^)]*\))? SQL change script\s+a_script_name=(\S+)", out)))

def rows(sql):
    cur.execute(sql)
    return [list(r) for r in cur.fetchall()]

def render():
    run(feedpipe, "sql", "render", "--feeds", str(work / "deploy" / "feeds.toml"), "--out", str(work / "out"))

def step(name, **what):
    print(json.dumps({"step": name, **what}, default=str), flush=True)

render()
step("fresh", applied=deploy())
cur.execute("INSERT INTO FEEDPIPE.RAW.orders (order_id, order_ts, _source_uri, _source_version, _source_line, _record_id, _ingested_at) "
            "VALUES ('o1', CURRENT_TIMESTAMP(), 'u', 'v', 1, 'r1', CURRENT_TIMESTAMP())")
step("again", applied=deploy())
(work / "deploy" / "feeds.toml").write_text((work / "feeds3.toml").read_text())
render()
step("feed added", applied=deploy(), orders=rows("SELECT order_id FROM FEEDPIPE.RAW.orders_dedup"),
     points=rows("SELECT count(*) FROM FEEDPIPE.RAW.points_dedup"))
diff = run(feedpipe, "schema", "diff", str(work / "deploy/contracts/orders.json"), str(work / "orders-v2.json"),
           "--database", "FEEDPIPE", "--schema", "RAW")
ran = []
for sql, _ in split_statements(io.StringIO(diff), remove_comments=True):
    sql = sql.strip().rstrip(";").strip()
    if sql:
        cur.execute(sql)
        ran.append(" ".join(sql.split()[:6]))
(work / "deploy/contracts/orders.json").write_text((work / "orders-v2.json").read_text())
render()
step("column added", ran=ran, applied=deploy(),
     orders=rows("SELECT order_id, coupon FROM FEEDPIPE.RAW.orders_dedup"))
con.close()
stack.close()
"#;

#[test]
fn the_rendered_folder_deploys_with_schemachange_and_a_feed_and_a_column_added_later_replace_nothing()
 {
    let python = feedpipe_e2e::snowflake_python();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    deployment(d, TWO);
    std::fs::write(d.join("feeds3.toml"), format!("{TWO}{THIRD}")).unwrap();
    std::fs::write(
        d.join("orders-v2.json"),
        ORDERS.replace(
            r#"{"name": "items""#,
            r#"{"name": "coupon", "type": "string", "description": "Coupon code"}, {"name": "items""#,
        ),
    )
    .unwrap();
    std::fs::write(d.join("deploy.py"), DEPLOY).unwrap();
    let o = Command::new(python)
        .arg(d.join("deploy.py"))
        .arg(repo())
        .arg(env!("CARGO_BIN_EXE_feedpipe"))
        .arg(d)
        .output()
        .expect("run the deploy on the Snowflake stand-in");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let steps: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap().clone();
    assert_eq!(
        at("fresh")["applied"],
        serde_json::json!([
            "R__1_storage_locations.sql",
            "R__2_customers__objects.sql",
            "R__2_orders__objects.sql",
            "R__3_customers__monitoring.sql",
            "R__3_orders__monitoring.sql",
            "V1__database_and_schema.sql",
            "V2__storage_integration.sql",
            "V3__file_format.sql",
            "V8__file_format_options.sql"
        ])
    );
    assert_eq!(at("again")["applied"], serde_json::json!([]));
    let added = at("feed added");
    assert_eq!(
        added["applied"],
        serde_json::json!([
            "R__1_storage_locations.sql",
            "R__2_points__objects.sql",
            "R__3_points__monitoring.sql"
        ])
    );
    assert_eq!(
        added["orders"],
        serde_json::json!([["o1"]]),
        "the row stays"
    );
    assert_eq!(added["points"], serde_json::json!([[0]]));
    let column = at("column added");
    assert_eq!(
        column["ran"],
        serde_json::json!([
            "ALTER TABLE FEEDPIPE.RAW.orders ADD COLUMN coupon",
            "CREATE OR REPLACE VIEW FEEDPIPE.RAW.orders_dedup COMMENT"
        ])
    );
    assert_eq!(
        column["applied"],
        serde_json::json!(["R__2_orders__objects.sql"])
    );
    assert_eq!(column["orders"], serde_json::json!([["o1", null]]));
}
