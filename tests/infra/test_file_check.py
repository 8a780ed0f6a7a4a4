#!/usr/bin/env python3
"""The warehouse-side file check (sql/R__monitoring.sql, the last query) reports by
name every curated file the table does not hold whole, on the Snowflake stand-in
(fakesnow, tests/infra/standin.py).

fakesnow cannot query a stage (`SELECT $1, METADATA$... FROM @stage`) nor
INFORMATION_SCHEMA.COPY_HISTORY, so the query's two source CTEs, and only those,
are replaced by stand-in tables holding what they would return: `manifest_objects`
by the manifests this test writes (as the converter writes them; their field names
are checked against jobs/convert/src/job/manifest.rs), with their modification
times, and `copy_history` by rows for the loads the test made. Everything after
them (FLATTEN of the outputs, the name normalisation, the distinct records per file,
the joins, the window and the report) runs as written.

The case: a two-file group manifest written twice (once per input, as the
converter does) and a single-file manifest, all two hours old:
  * A (3 rows) loaded by the pipe, then loaded again by a reload: whole, not reported;
  * B (2 rows) never loaded (COPY_HISTORY: "Load failed"): reported NOT LOADED,
    with the copy status and error;
  * C (3 rows in its manifest) holds 2 rows in the table, from a load of an older
    version: reported ROWS DIFFER;
  * E (2 rows) loaded before its manifest was written again (rewritten by a
    backfill, same count, not reloaded): reported NOT RELOADED;
  * F (3 rows) loaded once, its rows with three different _loaded_at values
    (METADATA$START_SCAN_TIME is the "Start timestamp of operation for each record",
    https://docs.snowflake.com/en/user-guide/querying-metadata): whole, not reported
    (counting the rows with the greatest _loaded_at would say 1 of 3, ROWS DIFFER);
  * G (2 rows in its manifest) loaded in an older version of 3 records, rewritten,
    reloaded by backfill/refresh.sql step 5 but step 6 not run: the table still holds
    the record the corrected file dropped, reported ROWS DIFFER (3 records of 2);
  * H (3 rows, 2 distinct records: one record twice in the file, as a Firehose
    redelivery into one raw object gives) loaded once: whole, not reported (its
    manifest's `records` is 2; comparing with its `rows` would say ROWS DIFFER);
and a manifest written a minute ago for D, not loaded yet: inside the grace hour,
not reported. Then mutations of the query must each be caught.

Run (in the Snowflake stand-in's venv):
  .tools/snowflake-venv/bin/python tests/infra/test_file_check.py
"""

from __future__ import annotations

import datetime
import os
import pathlib
import re
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import standin as si  # noqa: E402
from verdict import mutation_verdict, mutations_missed, verdict  # noqa: E402

A = "dt=2026-11-01/orders-0001-aaaa.parquet"
B = "dt=2026-11-02/orders-0001-aaaa.parquet"
C = "dt=2026-11-01/orders-0002-cccc.parquet"
D = "dt=2026-11-03/orders-0003-dddd.parquet"
E = "dt=2026-11-02/orders-0004-eeee.parquet"
F = "dt=2026-11-02/orders-0005-ffff.parquet"
G = "dt=2026-11-02/orders-0006-gggg.parquet"
H = "dt=2026-11-03/orders-0007-hhhh.parquet"
SPREAD = datetime.timedelta(milliseconds=5)  # between the scan times of the records of one load

# The table_loads this test replaced: "the rows of the latest load" as the rows with the
# file's greatest _loaded_at, which takes one load's rows to share one scan time.
OLD_TABLE_LOADS = """table_loads AS (
  SELECT
    file,
    COUNT(*) AS table_rows,
    COUNT_IF(_loaded_at = latest_load) AS loaded_records,
    MAX(latest_load) AS last_loaded_at
  FROM (
    SELECT
      REGEXP_SUBSTR(_file_name, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') AS file,
      _loaded_at,
      MAX(_loaded_at) OVER (PARTITION BY _file_name) AS latest_load
    FROM {{ database }}.{{ schema }}.{{ table }}
    WHERE _file_name IS NOT NULL
  )
  GROUP BY file
),
"""

CHECK = r"^WITH\s+manifest_objects\s+AS\b"
SOURCES = re.compile(
    r"(manifest_objects AS \().*?(\n\),\ncopy_history AS \().*?(\n\),\nmanifest_files AS)", re.S
)


def records(n: int, first: int) -> list[dict]:
    return [{"order_id": f"o-{i}", "status": "new", "line": i} for i in range(first, first + n)]


def check(texts: dict[str, str]) -> list[str]:
    problems: list[str] = []
    utc = datetime.timezone.utc
    now = datetime.datetime.now(utc)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        s = si.StandIn(root, texts)
        table = si.VARS["table"]

        si.write_parquet(root / table / A, records(3, 1))
        si.write_parquet(root / table / C, records(2, 10))  # the older version of C
        si.write_parquet(root / table / E, records(2, 20))
        si.write_parquet(root / table / F, records(3, 30))
        si.write_parquet(root / table / G, records(3, 40))  # the older version of G
        si.write_parquet(root / table / H, records(2, 50) + records(1, 50))  # record 50 twice in the file
        for f, scan, spread in (
            (A, now - datetime.timedelta(minutes=90), None),
            (C, now - datetime.timedelta(minutes=90), None),
            (E, now - datetime.timedelta(minutes=150), None),  # before its manifest was rewritten
            (F, now - datetime.timedelta(minutes=90), SPREAD),
            (G, now - datetime.timedelta(minutes=180), SPREAD),
            (H, now - datetime.timedelta(minutes=90), None),
        ):
            status, _rows = s.pipe_load(f, scan, spread)
            if status != "LOADED":
                return [f"the pipe's load of {f}: {status}"]

        def reload(f: str, minutes: int) -> str | None:
            copy = si.statement(
                s.render(texts["backfill/refresh.sql"], dt="2026-11-01", modified_after="2026-11-01T00:00:00Z", files=f"'{f}'"),
                r"^COPY\s+INTO\b.*\bFILES\s*=",
            )
            if s.manual_copy(copy, f, now - datetime.timedelta(minutes=minutes), SPREAD)[0] != "LOADED":
                return f"the reload of {f} did not load"
            return None

        if err := reload(A, 80):
            return [err]
        si.write_parquet(root / table / G, records(2, 40))  # G rewritten: record 42 dropped
        if err := reload(G, 100):
            return [err]

        manifests = root / "_manifests" / table
        old = (now - datetime.timedelta(hours=2)).replace(tzinfo=None)
        young = (now - datetime.timedelta(minutes=1)).replace(tzinfo=None)
        group = [(f"{table}/{A}", 3), (f"{table}/{B}", 2)]
        written = [
            ("raw_a-1111.json", group, old),  # a group manifest, at each input's path
            ("raw_b-2222.json", group, old),
            ("raw_c-3333.json", [(f"{table}/{C}", 3)], old),
            ("raw_e-5555.json", [(f"{table}/{E}", 2)], old),
            ("raw_f-6666.json", [(f"{table}/{F}", 3)], old),
            ("raw_g-7777.json", [(f"{table}/{G}", 2)], old),  # written 2 h ago, before G's reload (100 min ago)
            ("raw_h-8888.json", [(f"{table}/{H}", 3, 2)], old),  # 3 rows, 2 distinct records
            ("raw_d-4444.json", [(f"{table}/{D}", 4)], young),
        ]
        s.run(f"CREATE TABLE {s.fq}_standin_manifests (manifest VARIANT, manifest_file VARCHAR, manifest_modified TIMESTAMP_NTZ)")
        for name, outputs, modified in written:
            si.write_manifest(manifests / name, outputs)
            s.run(
                f"INSERT INTO {s.fq}_standin_manifests SELECT PARSE_JSON(%s), %s, %s::TIMESTAMP_NTZ",
                [(manifests / name).read_text(), f"{name}", modified.isoformat(sep=" ")],
            )
        s.run(
            f"CREATE TABLE {s.fq}_standin_copy_history (file_name VARCHAR, status VARCHAR, row_count NUMBER, "
            f"first_error_message VARCHAR, last_load_time TIMESTAMP_LTZ)"
        )
        for f, status, n, err, minutes in (
            (A, "Loaded", 3, None, 90), (C, "Loaded", 2, None, 90), (A, "Loaded", 3, None, 80),
            (B, "Load failed", 0, "Numeric value '1e400' is out of range", 85), (E, "Loaded", 2, None, 150),
            (F, "Loaded", 3, None, 90), (G, "Loaded", 3, None, 180), (G, "Loaded", 2, None, 100),
            (H, "Loaded", 3, None, 90),
        ):
            s.run(
                f"INSERT INTO {s.fq}_standin_copy_history VALUES (%s, %s, %s, %s, %s::TIMESTAMP_LTZ)",
                [f"{table}/{f}", status, n, err, (now - datetime.timedelta(minutes=minutes)).isoformat()],
            )

        query = si.statement(s.render(texts["R__monitoring.sql"]), CHECK)
        query, n = SOURCES.subn(
            lambda m: m.group(1)
            + f"\n  SELECT manifest, manifest_file, manifest_modified FROM {s.fq}_standin_manifests"
            + m.group(2)
            + f"\n  SELECT file_name, status, row_count, first_error_message, last_load_time FROM {s.fq}_standin_copy_history"
            + m.group(3),
            query,
        )
        if n != 1:
            return ["the file check no longer starts with the CTEs manifest_objects and copy_history: update SOURCES"]
        got = s.query(query)
        s.close()

    by_file = {}
    for row in got:
        if row["file"] in by_file:
            problems.append(f"{row['file']} is reported twice")
        by_file[row["file"]] = row
    want = {
        B: {"problem": "NOT LOADED", "manifest_rows": 2, "loaded_records": 0, "copy_status": "Load failed",
            "copy_first_error": "Numeric value '1e400' is out of range"},
        C: {"problem": "ROWS DIFFER", "manifest_rows": 3, "loaded_records": 2, "copy_status": "Loaded"},
        E: {"problem": "NOT RELOADED", "manifest_rows": 2, "loaded_records": 2, "copy_status": "Loaded"},
        G: {"problem": "ROWS DIFFER", "manifest_rows": 2, "loaded_records": 3, "table_rows": 5,
            "copy_status": "Loaded", "copy_row_count": 2},
    }
    for f, fields in want.items():
        row = by_file.get(f)
        if row is None:
            problems.append(f"{f} ({fields['problem']}) is not reported")
            continue
        for key, value in fields.items():
            if row.get(key) != value:
                problems.append(f"{f}: {key} is {row.get(key)!r}, expected {value!r}")
    for f in set(by_file) - set(want):
        problems.append(f"{f} is reported ({by_file[f]['problem']}) but should not be")
    return problems


MUTATIONS = [
    # (description, file, pattern, replacement)
    ("rows counted, not distinct records (a file loaded twice looks twice as big)", "R__monitoring.sql",
     r"COUNT\(DISTINCT _record_id\) AS loaded_records", "COUNT(*) AS loaded_records"),
    ("the old count: the rows with the file's greatest _loaded_at (one scan time per load assumed)",
     "R__monitoring.sql", r"table_loads AS \(.*?\n\),\n", OLD_TABLE_LOADS),
    ("a group manifest's files counted once per manifest", "R__monitoring.sql",
     r"\n  QUALIFY ROW_NUMBER\(\) OVER \(PARTITION BY file ORDER BY m\.manifest_modified DESC, m\.manifest_file\) = 1", ""),
    ("only files with too many records reported", "R__monitoring.sql",
     r"COALESCE\(tl\.loaded_records, 0\) <> mf\.manifest_records", "COALESCE(tl.loaded_records, 0) > mf.manifest_records"),
    ("distinct records compared with the manifest's rows (a file holding a record twice looks partly loaded)",
     "R__monitoring.sql", r"COALESCE\(NULLIF\(o\.value:records::NUMBER, 0\), o\.value:rows::NUMBER\)", "o.value:rows::NUMBER"),
    ("no grace for files the pipe has not had time to load", "R__monitoring.sql",
     r"WHERE mf\.converted_at < DATEADD\(HOUR, -1, SYSDATE\(\)\)\n  AND ", "WHERE "),
    ("the table's file names not normalised", "R__monitoring.sql",
     r"REGEXP_SUBSTR\(_file_name, '[^']*'\) AS file", "_file_name AS file"),
    ("a file rewritten after its load, with the same count, not reported", "R__monitoring.sql",
     r"\n    OR mf\.converted_at > [^\n]*", ""),
    ("COPY_HISTORY joined on the raw file name", "R__monitoring.sql",
     r"REGEXP_SUBSTR\(file_name, '[^']*'\) AS file", "file_name AS file"),
]


def main() -> int:
    texts = {p.relative_to(si.SQL).as_posix(): p.read_text() for p in sorted(si.SQL.rglob("*.sql"))}
    print("fakesnow: the file check of sql/R__monitoring.sql against manifests and the table:")
    problems = check(texts)
    failed = verdict("files never loaded, with other records or rewritten are reported by name; whole files are not, "
                     "also when one load's rows have different _loaded_at", problems)
    print("mutations (each must be caught):")
    missed = mutations_missed(check, texts, set(problems), MUTATIONS, flags=re.S)
    failed += mutation_verdict(missed, len(MUTATIONS))
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # see test_dedup_reload.py: fakesnow's threads and DuckDB are still alive
