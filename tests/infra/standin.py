"""The Snowflake stand-in for tests/infra's warehouse tests (test_dedup_reload.py,
test_file_check.py): fakesnow 0.12.1 with the project's sql/ scripts, driven the
way tests/py/snowflake_load.py drives it (whose rendering, statement splitting,
allow-list of statements fakesnow cannot run, and Snowpipe stand-in are reused
from there, not copied), but with the curated bucket in a local folder:

* every rendered `s3://<curated bucket>/` becomes `file://<folder>/`, so the
  stages (V4's Parquet stage, V7's manifest stage) read local files (fakesnow
  reads `file://` stage URLs with FILES = (...) directly; no S3 server);
* a pipe load of one file is the pipe's COPY (from V6) with FILES = ('<file>'),
  as snowflake_load.py's Snowpipe stand-in runs it, and INCLUDE_METADATA
  emulated the same way (an UPDATE of the rows just loaded: `_file_name` =
  `<table>/<path relative to the stage>`, the object key; `_loaded_at` = the
  scan time given, the same for every row, or spread over the rows of the load,
  as METADATA$START_SCAN_TIME may be: it is per record);
* a manual COPY (backfill/refresh.sql) runs as written except for the same two
  emulated options (INCLUDE_METADATA, ON_ERROR = SKIP_FILE);
* a `SET <name> = <expression>` (backfill/refresh.sql step 5) is evaluated once, as
  in Snowflake, and the variable set to its value (fakesnow would evaluate the
  expression again at each use of `$<name>`).

Runs in the Snowflake stand-in's venv (FEEDPIPE_TEST_SNOWFLAKE_PYTHON, else
.tools/snowflake-venv/bin/python), which has fakesnow, the connector, jinja2 and
pyarrow.
"""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import json
import logging
import pathlib
import re
import warnings

REPO = pathlib.Path(__file__).resolve().parents[2]
SQL = REPO / "sql"

_spec = importlib.util.spec_from_file_location("snowflake_load", REPO / "tests" / "py" / "snowflake_load.py")
sl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sl)

VARS = {
    "database": "FEEDPIPE",
    "schema": "RAW",
    "table": "feed",
    "storage_integration": "FEEDPIPE_CURATED_S3",
    "curated_bucket": "feedpipe-test-curated",
    "snowflake_role_arn": "arn:aws:iam::123456789012:role/feedpipe-test-snowflake-storage",
}


class StandInError(Exception):
    pass


def plain(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc) if value.tzinfo else value
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


class StandIn:
    """fakesnow with sql/ applied, over a local curated folder `root`."""

    _server = None  # (connect kwargs, DuckDB connection): one fakesnow server per process
    _count = 0  # fakesnow cannot DROP DATABASE: each stand-in gets its own database

    def __init__(self, root: pathlib.Path, texts: dict[str, str] | None = None):
        """`texts`: sql/ file name -> text, to run instead of the files (mutations)."""
        import snowflake.connector

        logging.getLogger("sqlglot").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        self.root = root
        if StandIn._server is None:
            StandIn._server = sl.start_fakesnow()
        kwargs, self.duck = StandIn._server
        self.conn = snowflake.connector.connect(**kwargs)
        self.cur = self.conn.cursor()
        StandIn._count += 1
        self.vars = {**VARS, "database": f"{VARS['database']}_{StandIn._count}"}
        self.fq = f"{self.vars['database']}.{self.vars['schema']}.{self.vars['table']}"
        self.pipe = None
        for path in sl.scripts(SQL):
            text = texts.get(path.name, path.read_text()) if texts else path.read_text()
            for sql in sl.statements(self.render(text)):
                if sl.unsupported(sql):
                    if m := sl.CREATE_PIPE.match(sql):
                        self.pipe = sl.Pipe(m["name"], m["copy"])
                    continue
                self.run(sql)
        if self.pipe is None:
            raise StandInError("no CREATE PIPE in sql/")

    def render(self, text: str, **extra) -> str:
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
        out = env.from_string(text).render(**self.vars, **extra)
        return out.replace(f"s3://{VARS['curated_bucket']}/", f"file://{self.root}/")

    def run(self, sql: str, params=None) -> list[tuple]:
        try:
            sl.execute(self.cur, sql, params)
            return self.cur.fetchall() if self.cur.description else []
        except Exception as e:
            raise StandInError(f"{sl.describe(e)}\n{sql}") from None

    def query(self, sql: str) -> list[dict]:
        try:
            sl.execute(self.cur, sql)
            names = [d.name.lower() for d in self.cur.description]
            return [{n: plain(v) for n, v in zip(names, r)} for r in self.cur.fetchall()]
        except Exception as e:
            raise StandInError(f"{sl.describe(e)}\n{sql}") from None

    def set_variable(self, sql: str) -> None:
        """Runs a rendered `SET <name> = <expression>` as Snowflake does: the expression is
        evaluated once, by the SET ("The data type of the variable is derived from the data
        type of the result of the evaluated expression", SQL variables,
        https://docs.snowflake.com/en/sql-reference/session-variables). fakesnow 0.12.1 keeps
        the expression's text instead and evaluates it again wherever `$<name>` is used, so
        `SET v = (SELECT CURRENT_TIMESTAMP())` would be "now" at each use: the stand-in
        evaluates the expression here and sets the variable to the resulting timestamp."""
        m = re.match(r"^SET\s+(?P<name>\w+)\s*=\s*(?P<expr>.+)$", sql.strip().rstrip(";"), re.I | re.S)
        if not m:
            raise StandInError(f"not a SET <name> = <expression>: {sql}")
        (value,) = self.run(f"SELECT {m['expr']}")[0]
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            raise StandInError(f"SET {m['name']}: only a TIMESTAMP_LTZ value is emulated, got {value!r}")
        self.run(f"SET {m['name']} = '{value.isoformat()}'::TIMESTAMP_LTZ")

    def _metadata(
        self, relative: str, scan: datetime.datetime, loaded: int, metadata: dict[str, str],
        spread: datetime.timedelta | None = None,
    ) -> None:
        """INCLUDE_METADATA emulated on the rows just loaded (those whose metadata columns are
        still NULL). METADATA$START_SCAN_TIME is the "Start timestamp of operation for each
        record" (Query metadata for staged files): with `spread`, the rows of this one load
        get different scan times, `scan`, `scan + spread`, `scan + 2 * spread`, ... in
        _record_id order (both copies of a record the file holds twice get the same one);
        without it, all get `scan`."""
        if not metadata:
            return
        cols = list(metadata)
        where = " AND ".join(f"{c} IS NULL" for c in cols)
        sets = ", ".join(
            f"{c} = %s" if metadata[c] == "METADATA$FILENAME" else f"{c} = %s::TIMESTAMP_LTZ" for c in cols
        )
        if spread is None:
            groups = [(scan, "", [])]
        else:
            sl.execute(self.cur, f"SELECT DISTINCT _record_id FROM {self.fq} WHERE {where} ORDER BY _record_id")
            ids = [r[0] for r in self.cur.fetchall()]
            groups = [(scan + i * spread, " AND _record_id = %s", [rid]) for i, rid in enumerate(ids)]
        updated = 0
        for when, extra, params in groups:
            values = {"METADATA$FILENAME": f"{VARS['table']}/{relative}", "METADATA$START_SCAN_TIME": when.isoformat()}
            sl.execute(
                self.cur, f"UPDATE {self.fq} SET {sets} WHERE {where}{extra}", [values[metadata[c]] for c in cols] + params
            )
            updated += self.cur.rowcount
        if updated != loaded:
            raise StandInError(f"{relative}: COPY loaded {loaded} row(s) but INCLUDE_METADATA's UPDATE set {updated}")

    def pipe_load(
        self, relative: str, scan: datetime.datetime, spread: datetime.timedelta | None = None
    ) -> tuple[str, int]:
        """The pipe's COPY for one file (relative to the stage): (status, rows loaded); `spread`:
        see _metadata."""
        self.run(f"USE SCHEMA {self.vars['database']}.{self.vars['schema']}")
        result = self.run(self.pipe.for_file(relative))
        if len(result) != 1:
            raise StandInError(f"{relative}: COPY answered {result!r}")
        status, rows = result[0][1], result[0][3]
        if status == "LOADED":
            self._metadata(relative, scan, rows, self.pipe.metadata, spread)
        return status, rows

    def manual_copy(
        self, sql: str, relative: str, scan: datetime.datetime, spread: datetime.timedelta | None = None
    ) -> tuple[str, int]:
        """A rendered COPY INTO of one file, INCLUDE_METADATA and ON_ERROR emulated as for the pipe."""
        emulated = sl.Pipe("manual", sql)
        result = self.run(emulated.template)
        if len(result) != 1:
            raise StandInError(f"manual COPY answered {result!r}, expected one file")
        status, rows = result[0][1], result[0][3]
        if status == "LOADED":
            self._metadata(relative, scan, rows, emulated.metadata, spread)
        return status, rows

    def close(self):
        self.conn.close()


def statement(text: str, pattern: str) -> str:
    """The one statement of `text` (rendered) that matches `pattern`."""
    found = [s for s in sl.statements(text) if re.search(pattern, s, re.I | re.S)]
    if len(found) != 1:
        raise StandInError(f"{len(found)} statements match {pattern!r}")
    return found[0]


def write_parquet(path: pathlib.Path, records: list[dict]) -> None:
    """A curated Parquet file with the feed table's required columns (and status, total)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ts = pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [
            ("order_id", pa.string()),
            ("customer_id", pa.string()),
            ("order_ts", ts),
            ("status", pa.string()),
            ("total", pa.decimal128(18, 2)),
            ("_source_uri", pa.string()),
            ("_source_version", pa.string()),
            ("_source_line", pa.int64()),
            ("_record_id", pa.string()),
            ("_ingested_at", ts),
        ]
    )
    when = datetime.datetime(2026, 11, 1, 10, 0, tzinfo=datetime.timezone.utc)
    rows = [
        {
            "order_id": r["order_id"],
            "customer_id": "c-1",
            "order_ts": when,
            "status": r["status"],
            "total": decimal.Decimal(r.get("total", "1.00")),
            "_source_uri": "s3://feedpipe-test-source/incoming/orders.jsonl",
            "_source_version": "v1",
            "_source_line": r["line"],
            "_record_id": f"rec-{r['line']}",
            "_ingested_at": when,
        }
        for r in records
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def manifest_fields() -> tuple[set[str], set[str]]:
    """The field names of the converter's Manifest and OutputFile structs, read from
    jobs/convert/src/job/manifest.rs (so that a renamed field fails the tests)."""
    text = (REPO / "jobs" / "convert" / "src" / "job" / "manifest.rs").read_text()

    def fields(struct: str) -> set[str]:
        m = re.search(rf"pub struct {struct} \{{(.*?)\n\}}", text, re.S)
        if not m:
            raise StandInError(f"manifest.rs: no struct {struct}")
        return set(re.findall(r"pub (\w+):", m.group(1)))

    return fields("Manifest"), fields("OutputFile")


def write_manifest(path: pathlib.Path, outputs: list[tuple]) -> None:
    """A manifest as the converter writes it (pretty JSON, serde field names):
    outputs = [(object key under the curated root, rows[, distinct records])], the
    records as many as the rows unless given."""
    outputs = [(o[0], o[1], o[2] if len(o) > 2 else o[1]) for o in outputs]
    manifest_keys, output_keys = manifest_fields()
    body = {
        "table": VARS["table"],
        "inputs": [{"uri": "s3://feedpipe-test-raw/raw/2026/11/01/10/x.gz", "version": "v1", "bytes": 100}],
        "records_read": sum(n for _, n, _ in outputs),
        "rows_written": sum(n for _, n, _ in outputs),
        "records_quarantined": 0,
        "outputs": [
            {"uri": f"s3://{VARS['curated_bucket']}/{key}", "dt": key.split("dt=")[1][:10], "rows": n, "records": r}
            for key, n, r in outputs
        ],
        "quarantine_objects": [],
    }
    if set(body) != manifest_keys or set(body["outputs"][0] if outputs else output_keys) != output_keys:
        raise StandInError(
            f"the test's manifest ({sorted(body)}, outputs {sorted(body['outputs'][0]) if outputs else '-'}) no longer "
            f"matches manifest.rs ({sorted(manifest_keys)}, outputs {sorted(output_keys)}): update write_manifest"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2))
