#!/usr/bin/env python3
"""A corrected re-conversion becomes visible in the warehouse (issue 15, defect 6),
on the Snowflake stand-in (fakesnow, tests/infra/standin.py):

1. The pipe loads a curated file `feed/dt=2026-11-01/<name>.parquet` with three
   records (rec-1, rec-2, rec-3, status "new"), and another file OTHER with one
   (rec-10). Each load gives its rows different _loaded_at values, 5 ms apart:
   METADATA$START_SCAN_TIME is the "Start timestamp of operation for each record
   in the staged data file" (https://docs.snowflake.com/en/user-guide/querying-metadata),
   so the rows of one load need not share one.
2. A corrected re-conversion overwrites the same name (deterministic names): rec-1
   is now "paid", rec-2 unchanged, rec-3 gone (quarantined by the fixed converter).
   The pipe's COPY of that name again is LOAD_SKIPPED (Snowpipe and REFRESH
   skip a name the pipe processed; the stand-in's load history does the same).
3. backfill/refresh.sql step 5 (SET reload_started, then COPY ... FILES = (...)
   FORCE = TRUE, rendered as written) reloads it: 2 rows, with later (and again
   different) _loaded_at values.
4. The view <table>_dedup (latest load wins) shows rec-1 "paid", also with a
   stale hand-loaded copy of rec-1 that has no _loaded_at (NULL must not win).
   rec-3 is still visible (no newer row replaces it) ...
5. ... until step 6 (the DELETE of superseded loads), rendered for both files as if
   step 5 had skipped OTHER, runs: then the file's rows are exactly the corrected
   file's (both of them, although their _loaded_at differ), rec-3 is gone, and
   OTHER, which step 5 did not reload, keeps its row.

Then it proves the check can fail: the old view (first load wins), the view
without NULLS LAST, step 5 without FORCE (on the stand-in, whose load history is
shared by pipe and manual COPY), step 6 deleting nothing, the old step 6 (delete
the rows older than each file's greatest _loaded_at, which takes one load's rows
to share one scan time and so deletes part of the reload), and step 6 without
its reloaded-files condition (which deletes a skipped file's only rows) must each
be caught.

Run (in the Snowflake stand-in's venv):
  .tools/snowflake-venv/bin/python tests/infra/test_dedup_reload.py
"""

from __future__ import annotations

import datetime
import os
import pathlib
import re
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import standin as si  # noqa: E402
from verdict import mutation_verdict, mutations_missed, verdict  # noqa: E402

FILE = "dt=2026-11-01/orders-0001-3f2a.parquet"
OTHER = "dt=2026-11-01/orders-0002-7b1c.parquet"
SPREAD = datetime.timedelta(milliseconds=5)  # between the scan times of the records of one load

# The step 6 this test replaced: it kept, per file, only the rows with the file's greatest
# _loaded_at, i.e. it took all rows of one load to share one METADATA$START_SCAN_TIME.
OLD_STEP_6 = """DELETE FROM {{ database }}.{{ schema }}.{{ table }} t
USING (
  SELECT _file_name, MAX(_loaded_at) AS latest
  FROM {{ database }}.{{ schema }}.{{ table }}
  WHERE REGEXP_SUBSTR(_file_name, 'dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[^/]+$') IN ({{ files }})
  GROUP BY _file_name
) l
WHERE t._file_name = l._file_name
  AND t._loaded_at < l.latest;
"""


def now() -> datetime.datetime:
    time.sleep(0.01)  # two scans never share a microsecond
    return datetime.datetime.now(datetime.timezone.utc)


def check(texts: dict[str, str]) -> list[str]:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        path = root / "feed" / FILE
        s = si.StandIn(root, texts)

        def view() -> dict[str, str]:
            rows = s.query(f"SELECT _record_id, status FROM {s.fq}_dedup ORDER BY _record_id")
            return {r["_record_id"]: r["status"] for r in rows}

        si.write_parquet(path, [
            {"order_id": "o-1", "status": "new", "line": 1},
            {"order_id": "o-2", "status": "new", "line": 2},
            {"order_id": "o-3", "status": "new", "line": 3},
        ])
        status, rows = s.pipe_load(FILE, now(), SPREAD)
        if (status, rows) != ("LOADED", 3):
            return [f"the pipe's first load of {FILE}: {status}, {rows} row(s); expected LOADED, 3"]
        si.write_parquet(root / "feed" / OTHER, [{"order_id": "o-10", "status": "new", "line": 10}])
        if s.pipe_load(OTHER, now(), SPREAD) != ("LOADED", 1):
            return [f"the pipe's load of {OTHER} did not load 1 row"]
        scans = s.query(f"SELECT COUNT(DISTINCT _loaded_at) AS n FROM {s.fq} WHERE _file_name = 'feed/{FILE}'")
        if scans[0]["n"] != 3:
            problems.append(f"the pipe's load of {FILE} has {scans[0]['n']} distinct _loaded_at, not 3: the case is not made")

        si.write_parquet(path, [
            {"order_id": "o-1", "status": "paid", "line": 1},
            {"order_id": "o-2", "status": "new", "line": 2},
        ])
        status, rows = s.pipe_load(FILE, now())
        if status != "LOAD_SKIPPED":
            problems.append(f"the pipe's COPY of the rewritten {FILE} was {status}, not LOAD_SKIPPED: the stand-in no longer shows the problem")

        refresh = s.render(texts["backfill/refresh.sql"], dt="2026-11-01", modified_after="2026-11-01T00:00:00Z",
                           files=f"'{FILE}'")
        s.set_variable(si.statement(refresh, r"^SET\s+reload_started\b"))
        reload = si.statement(refresh, r"^COPY\s+INTO\b.*\bFILES\s*=")
        status, rows = s.manual_copy(reload, FILE, now(), SPREAD)
        if (status, rows) != ("LOADED", 2):
            problems.append(f"backfill/refresh.sql step 5 on the corrected {FILE}: {status}, {rows} row(s); expected LOADED, 2")

        # A stale copy of rec-1 loaded by hand without INCLUDE_METADATA: no _file_name, no _loaded_at.
        s.run(
            f"INSERT INTO {s.fq} (order_id, customer_id, order_ts, status, _source_uri, _source_version, "
            f"_source_line, _record_id, _ingested_at) VALUES ('o-1', 'c-1', '2026-11-01 10:00:00+00:00', "
            f"'stale-by-hand', 's3://feedpipe-test-source/incoming/orders.jsonl', 'v1', 1, 'rec-1', "
            f"'2026-11-01 10:00:00+00:00')"
        )
        got = view()
        if got.get("rec-1") != "paid":
            problems.append(f"after the corrected reload, {s.fq}_dedup shows rec-1 as {got.get('rec-1')!r}, not 'paid'")
        if got.get("rec-2") != "new":
            problems.append(f"after the corrected reload, {s.fq}_dedup shows rec-2 as {got.get('rec-2')!r}, not 'new'")
        if "rec-3" not in got:
            problems.append("rec-3 left the view before step 6 ran (the README says it stays until then)")

        # Step 6 for both files, as if step 5 had been run for both and had skipped OTHER.
        both = s.render(texts["backfill/refresh.sql"], dt="2026-11-01", modified_after="2026-11-01T00:00:00Z",
                        files=f"'{FILE}', '{OTHER}'")
        s.run(si.statement(both, r"^DELETE\s+FROM\b"))
        got = view()
        if "rec-3" in got:
            problems.append("after backfill/refresh.sql step 6, rec-3 (no longer in the corrected file) is still in the view")
        if got.get("rec-1") != "paid":
            problems.append(f"after step 6, {s.fq}_dedup shows rec-1 as {got.get('rec-1')!r}, not 'paid'")
        left = s.query(
            f"SELECT _record_id, status FROM {s.fq} WHERE _file_name = 'feed/{FILE}' ORDER BY _record_id"
        )
        if [(r["_record_id"], r["status"]) for r in left] != [("rec-1", "paid"), ("rec-2", "new")]:
            problems.append(f"after step 6 the table holds for feed/{FILE}: {left}; expected exactly the corrected file's rows")
        other = s.query(f"SELECT _record_id FROM {s.fq} WHERE _file_name = 'feed/{OTHER}'")
        if [r["_record_id"] for r in other] != ["rec-10"]:
            problems.append(f"after step 6 the table holds for feed/{OTHER}, which step 5 did not reload: {other}; expected its one row")
        s.close()
    return problems


MUTATIONS = [
    # (description, file, pattern, replacement)
    ("the old rule: the first load wins", "R__dedup_view.sql",
     r"ORDER BY _loaded_at DESC NULLS LAST, _file_name DESC NULLS LAST", "ORDER BY _loaded_at, _file_name"),
    ("latest first, but a row without _loaded_at sorts first (no NULLS LAST)", "R__dedup_view.sql",
     r"ORDER BY _loaded_at DESC NULLS LAST, _file_name DESC NULLS LAST", "ORDER BY _loaded_at DESC, _file_name DESC"),
    ("the reload without FORCE", "backfill/refresh.sql", r"\n  FORCE = TRUE;", ";"),
    ("the cleanup keeps the superseded loads", "backfill/refresh.sql",
     r"AND t\._loaded_at < \$reload_started", "AND t._loaded_at > $reload_started"),
    ("the old cleanup: rows older than the file's greatest _loaded_at (one scan time per load assumed)",
     "backfill/refresh.sql", r"DELETE FROM .*\Z", OLD_STEP_6.replace("\\", "\\\\")),
    ("the cleanup also of files step 5 did not reload", "backfill/refresh.sql",
     r"\n    AND _loaded_at >= \$reload_started", ""),
]


def main() -> int:
    texts = {p.relative_to(si.SQL).as_posix(): p.read_text() for p in sorted(si.SQL.rglob("*.sql"))}
    print("fakesnow: a corrected re-conversion of the same file name, reloaded by backfill/refresh.sql:")
    problems = check(texts)
    failed = verdict("the corrected values replace the old ones in the dedup view; step 6 leaves only them", problems)
    print("mutations (each must be caught):")
    missed = mutations_missed(check, texts, set(problems), MUTATIONS, flags=re.S)
    failed += mutation_verdict(missed, len(MUTATIONS))
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # fakesnow's server thread and DuckDB are still alive: skip the interpreter's teardown
    # (DuckDB's bindings print pages of "leaked instance" warnings otherwise).
    os._exit(code)
