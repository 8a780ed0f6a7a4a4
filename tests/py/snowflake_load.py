"""Runs the project's sql/ scripts against fakesnow, then loads the curated
Parquet the way the pipe would, then prints the results of queries.

A stand-in for Snowflake + Snowpipe in the end-to-end tests (tests/README.md,
sql/README.md "Run against the Snowflake stand-in").

Usage:

    python tests/py/snowflake_load.py --sql-dir sql \
        --vars '{"database":"FEEDPIPE","schema":"RAW","table":"feed",
                 "storage_integration":"FEEDPIPE_CURATED_S3","curated_bucket":"BUCKET",
                 "snowflake_role_arn":"arn:aws:iam::123456789012:role/x"}' \
        --s3-endpoint http://127.0.0.1:PORT \
        [--passes N] [--query SQL]...

The S3 credentials and region come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION); --s3-endpoint is the S3-compatible server
(moto) that holds the curated bucket.

What it does, in one process (nothing is kept after it exits):

1. Starts fakesnow's server (the Snowflake connector protocol, backed by an
   in-memory DuckDB) on a free 127.0.0.1 port, in a thread, and registers an
   s3fs filesystem pointed at --s3-endpoint on fakesnow's DuckDB connection, so
   that stages with URL s3://... read from that server.
2. Renders sql/V<version>__*.sql in version order, then sql/R__*.sql in name
   order, with jinja2 (StrictUndefined, as schemachange does) from --vars;
   splits each into statements with the Snowflake connector's own splitter and
   runs each statement through the real snowflake-connector-python. Statements
   of the kinds in UNSUPPORTED (below) are skipped, without being sent; any
   other statement that fails stops the run (exit 1). One line per statement on
   stderr: `file: first words: ran` or `... : skipped (reason)`.
3. Snowpipe stand-in: takes the COPY INTO statement out of the rendered
   CREATE PIPE (the text after AS), lists every object under the stage's URL
   (recursively, with s3fs) and runs that COPY once per object, with
   FILES = ('<path relative to the stage>') added, as Snowpipe loads the files
   its notifications name. fakesnow cannot run two of the pipe's options, so
   the helper changes exactly these in the statement:
     * INCLUDE_METADATA = (col = METADATA$FILENAME, col = METADATA$START_SCAN_TIME)
       is removed (fakesnow: "Unknown copy parameter: INCLUDE_METADATA"); after
       each file that loaded, the helper fills those columns of the rows just
       loaded (the rows where they are still NULL) with an UPDATE: the file's
       object key in the bucket (e.g. feed/dt=2026-11-01/x.parquet), and the
       time (UTC) taken just before that file's COPY started. The UPDATE must
       touch exactly the number of rows the COPY reported, else exit 1.
     * ON_ERROR = SKIP_FILE becomes ON_ERROR = ABORT_STATEMENT (fakesnow
       implements only ABORT_STATEMENT); with one file per COPY, aborting the
       statement leaves that file unloaded, as SKIP_FILE would. The helper goes
       on with the other files and exits 1 at the end, after the queries, if
       any file failed to load.
   The pipe's COPY reads FROM @<stage> with no path, which fakesnow cannot do
   over s3fs (its listing is one level deep: it lists the dt=... folders and
   then fails to read them as files); FILES = (...) names each file instead.
   The COPY runs with the pipe's schema as the session's current schema.
   fakesnow keeps a load history per table: a file loaded once is reported
   LOAD_SKIPPED by a later COPY. With --passes N (default 1) the whole load
   runs N times; every pass after the first must load no row (exit 1 if one
   does), which checks that the load history holds.
4. Runs each --query, in order, and prints its rows on stdout as JSON lines:
   one object per row, keys the lower-cased column names, then one empty line
   that ends that query's rows (a query with no rows prints just the empty
   line: the rows of the i-th query are the lines after the (i-1)-th empty
   line, up to the i-th). Nothing else goes to stdout. Decimals,
   timestamps, dates and times are strings (str() of the Python value;
   timezone-aware timestamps converted to UTC first, e.g.
   "2026-11-01 02:31:31.858000+00:00"); VARIANT, OBJECT and ARRAY values are
   parsed from the JSON text the connector returns; binary values are hex.
   Three --query values are steps, not SQL (each prints an empty result): for
   a test that changes the bucket while the warehouse lives on.
     * `@wait PATH` waits (600 s at most) until PATH exists;
     * `@pipe` runs the Snowpipe stand-in again, once: files loaded before are
       skipped by the load history, new ones load;
     * `@reload PREFIX` loads again, with FORCE = TRUE and INCLUDE_METADATA
       emulated as in the pipe, every file whose path relative to a pipe's
       stage starts with PREFIX (sql/backfill/refresh.sql's reload of rewritten
       files, step 5).

Exit status: 0 when everything ran; 1 on a failed statement, a failed query,
a file that did not load or a second pass that loaded rows; 2 on bad usage.
"""
from __future__ import annotations

import argparse
import datetime
import decimal
import io
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

# The statement kinds fakesnow 0.12.1 cannot run, each checked against it (the
# answer it gives is in the reason). Matched against the statement without its
# comments; only these are skipped, and only in the sql/ scripts (never in a --query).
UNSUPPORTED = [
    (
        re.compile(r"^CREATE\s+(OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\b", re.I),
        "fakesnow: parse error; its stages do not check their integration",
    ),
    (
        re.compile(r"^ALTER\s+STORAGE\s+INTEGRATION\b", re.I),
        "fakesnow: parse error; its stages do not check their integration (feedpipe sql render's R__1)",
    ),
    (
        re.compile(r"^DESC(RIBE)?\s+INTEGRATION\b", re.I),
        "fakesnow: HTTP 500 (AssertionError: Unexpected parent kind: INTEGRATION); no IAM handshake locally",
    ),
    (
        re.compile(r"^ALTER\s+FILE\s+FORMAT\b", re.I),
        "fakesnow: parse error; V3 already creates the format with the options V8 sets, and fakesnow does not use them",
    ),
    (
        re.compile(r"^CREATE\s+(OR\s+REPLACE\s+)?PIPE\b", re.I),
        "fakesnow: parse error; its COPY runs as the Snowpipe stand-in instead",
    ),
    (
        re.compile(r"^SHOW\s+PIPES\b", re.I),
        "fakesnow: parse error; there is no pipe, so no notification channel",
    ),
    (
        re.compile(r"\bSYSTEM\$PIPE_STATUS\s*\(", re.I),
        "fakesnow: function system$pipe_status does not exist",
    ),
    (
        re.compile(r"\bINFORMATION_SCHEMA\.COPY_HISTORY\s*\(", re.I),
        "fakesnow: parse error at TABLE(...COPY_HISTORY(...)); not implemented",
    ),
    (
        re.compile(r"\bINFORMATION_SCHEMA\.VALIDATE_PIPE_LOAD\s*\(", re.I),
        "fakesnow: parse error at TABLE(...VALIDATE_PIPE_LOAD(...)); not implemented",
    ),
]

CREATE_PIPE = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?PIPE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\S+)\s.*?\bAS\s+(?P<copy>COPY\s+INTO\b.*)\Z",
    re.I | re.S,
)
COPY_TARGET = re.compile(r"^COPY\s+INTO\s+(?P<table>[^\s(]+)", re.I)
COPY_FROM = re.compile(r"\bFROM\s+@(?P<stage>[^\s/;]+)(?P<path>/\S*)?", re.I)
INCLUDE_METADATA = re.compile(r"\s*\bINCLUDE_METADATA\s*=\s*\((?P<pairs>[^()]*)\)", re.I)
METADATA_PAIR = re.compile(r"^\s*(?P<col>\w+|\"[^\"]+\")\s*=\s*(?P<meta>METADATA\$\w+)\s*$", re.I)
ON_ERROR = re.compile(r"\bON_ERROR\s*=\s*'?(?P<value>\w+)'?", re.I)

VERSIONED = re.compile(r"^V(?P<version>[0-9][0-9._]*)__.+\.sql$", re.I)
REPEATABLE = re.compile(r"^R__.+\.sql$", re.I)


class Failure(Exception):
    """A failure that stops the run; its message is printed, exit 1."""


class LastServerError(logging.Handler):
    """Keeps the reason of the last statement fakesnow's server failed on (the client only sees HTTP 500)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.reason: str | None = None

    def emit(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        text = f"{type(exc).__name__}: {exc}" if exc is not None else record.getMessage()
        text = " ".join(text.split())
        # an error raised inside DuckDB's Python filesystem (s3fs) carries a whole traceback: keep its end
        self.reason = text if len(text) <= 600 else f"{text[:100]} ... {text[-500:]}"


SERVER_ERRORS = LastServerError()


def execute(cur, sql, params=None):
    SERVER_ERRORS.reason = None
    return cur.execute(sql, params)


def describe(e: Exception) -> str:
    """The error as one line; for an HTTP 500, with the reason fakesnow logged. (The connector retries an
    HTTP 500 once, so a statement fakesnow fails on is sent twice; both fail the same way.)"""
    msg = " ".join(str(e).split())
    if "HTTP 500" in msg and SERVER_ERRORS.reason:
        msg += f" (fakesnow: {SERVER_ERRORS.reason})"
    return msg


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def first_words(sql: str, n: int = 4) -> str:
    return " ".join(sql.split()[:n])


# ---------------------------------------------------------------- rendering


def scripts(sql_dir: Path) -> list[Path]:
    versioned = []
    repeatable = []
    for path in sql_dir.iterdir():
        if not path.is_file():
            continue
        if m := VERSIONED.match(path.name):
            key = tuple(int(p) for p in re.split(r"[._]", m["version"].strip("._")) if p)
            versioned.append((key, path))
        elif REPEATABLE.match(path.name):
            repeatable.append(path)
    versions = [k for k, _ in versioned]
    if len(set(versions)) != len(versions):
        raise Failure(f"two V scripts with the same version in {sql_dir}")
    return [p for _, p in sorted(versioned)] + sorted(repeatable, key=lambda p: p.name)


def render(path: Path, variables: dict) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    try:
        return env.get_template(path.name).render(**variables)
    except jinja2.TemplateError as e:
        raise Failure(f"{path.name}: cannot render: {e}") from None


def statements(text: str) -> list[str]:
    from snowflake.connector.util_text import split_statements

    out = []
    for sql, _is_put_get in split_statements(io.StringIO(text), remove_comments=True):
        sql = sql.strip().rstrip(";").strip()
        if sql:
            out.append(sql)
    return out


def unsupported(sql: str) -> str | None:
    for pattern, reason in UNSUPPORTED:
        if pattern.search(sql):
            return reason
    return None


# ---------------------------------------------------------------- fakesnow


def start_fakesnow():
    """fakesnow's server in a thread of this process; returns (connect kwargs, DuckDB connection)."""
    import uvicorn

    import fakesnow.server as fs_server

    # fakesnow answers a statement it cannot run with HTTP 500 and logs the reason (with a traceback)
    # on its own logger; keep only the reason, for the helper's own error line.
    fs_server.logger.handlers = [SERVER_ERRORS]
    fs_server.logger.propagate = False
    # bound here and handed over, so no other process can take the port in between
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fs_server.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fakesnow", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.is_alive() and not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise Failure("fakesnow's server did not start")
    kwargs = dict(
        user="fake",
        password="snow",
        account="fakesnow",
        host="127.0.0.1",
        port=port,
        protocol="http",
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        # as fakesnow.server() sets it: a short retry window, so an HTTP 500 is retried only once ...
        network_timeout=1,
        # ... while a statement may take up to 10 minutes (the connector's read timeout is 60 s by default).
        socket_timeout=600,
    )
    return kwargs, fs_server.shared_fs.duck_conn


def s3_filesystem(endpoint: str):
    import s3fs

    return s3fs.S3FileSystem(
        endpoint_url=endpoint,
        client_kwargs={"region_name": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


# ---------------------------------------------------------------- output


def plain(value, type_name: str):
    if value is None:
        return None
    if type_name in ("VARIANT", "OBJECT", "ARRAY") and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc)
        return str(value)
    if isinstance(value, (decimal.Decimal, datetime.date, datetime.time)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def json_rows(cur):
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    names = [d.name.lower() for d in cur.description]
    types = [FIELD_ID_TO_NAME.get(d.type_code, "") for d in cur.description]
    for row in cur.fetchall():
        yield json.dumps({n: plain(v, t) for n, v, t in zip(names, row, types)}, ensure_ascii=False)


# ---------------------------------------------------------------- Snowpipe stand-in


class Pipe:
    """The pipe's COPY statement, as fakesnow can run it for one file."""

    def __init__(self, name: str, copy: str):
        self.name = name
        self.copy = copy
        if not (m := COPY_TARGET.match(copy)):
            raise Failure(f"pipe {name}: no COPY INTO <table> in {first_words(copy, 6)!r}")
        self.table = m["table"]
        if not (m := COPY_FROM.search(copy)):
            raise Failure(f"pipe {name}: its COPY does not read FROM @<stage>")
        self.stage = m["stage"]
        self.stage_path = (m["path"] or "").strip("/")

        self.metadata: dict[str, str] = {}
        text = copy
        if m := INCLUDE_METADATA.search(text):
            for pair in m["pairs"].split(","):
                if not (p := METADATA_PAIR.match(pair)):
                    raise Failure(f"pipe {name}: cannot read INCLUDE_METADATA pair {pair.strip()!r}")
                meta = p["meta"].upper()
                if meta not in ("METADATA$FILENAME", "METADATA$START_SCAN_TIME"):
                    raise Failure(f"pipe {name}: INCLUDE_METADATA {meta} is not emulated")
                self.metadata[p["col"]] = meta
            text = text[: m.start()] + text[m.end() :]
        on_errors = list(ON_ERROR.finditer(text))
        if len(on_errors) > 1:
            raise Failure(f"pipe {name}: ON_ERROR given twice")
        if on_errors:
            m = on_errors[0]
            if m["value"].upper() not in ("SKIP_FILE", "ABORT_STATEMENT"):
                raise Failure(f"pipe {name}: ON_ERROR = {m['value']} is not emulated")
            text = text[: m.start()] + "ON_ERROR = ABORT_STATEMENT" + text[m.end() :]
        self.template = text

    def for_file(self, relative: str) -> str:
        """The COPY for one file, relative to the FROM location: FILES = ('...') added after FROM @stage."""
        m = COPY_FROM.search(self.template)
        quoted = relative.replace("'", "''")
        return f"{self.template[: m.end()]}\n  FILES = ('{quoted}'){self.template[m.end():]}"


def stage_url(cur, stage: str) -> str:
    parts = stage.split(".")
    if len(parts) != 3:
        raise Failure(f"stage {stage}: the pipe's stage must be named <database>.<schema>.<name>")
    database, schema, name = parts
    execute(cur, f"SHOW STAGES LIKE '{name}' IN SCHEMA {database}.{schema}")
    names = [d.name.lower() for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    rows = [r for r in rows if r["name"].upper() == name.upper()]
    if len(rows) != 1 or not rows[0].get("url"):
        raise Failure(f"stage {stage}: not found, or has no URL (SHOW STAGES gave {rows})")
    return rows[0]["url"]


def staged_files(fs, url: str) -> list[str]:
    """Every object under the URL, as bucket/key paths, sorted (what Snowpipe may load)."""
    if not url.lower().startswith("s3://"):
        raise Failure(f"stage URL {url}: only s3:// stages are emulated")
    prefix = url[len("s3://") :]
    if not prefix.endswith("/"):
        prefix += "/"
    found = fs.find(prefix, withdirs=False)
    return sorted(p for p in found if not p.endswith("/"))


def run_pipe(cur, fs, pipe: Pipe, passes: int, force: bool = False, only: str | None = None) -> tuple[int, list[str]]:
    """Loads every staged file through the pipe's COPY; returns (rows loaded by the first pass, failed files).

    With force, the COPY gets FORCE = TRUE (a reload, as sql/backfill/refresh.sql does it by hand, but
    with INCLUDE_METADATA emulated as the pipe's); with only, just the files whose path relative to the
    stage starts with it."""
    url = stage_url(cur, pipe.stage)
    if pipe.stage_path:
        url = url.rstrip("/") + "/" + pipe.stage_path + "/"
    bucket_prefix = url[len("s3://") :].rstrip("/") + "/"
    database, schema, _ = pipe.name.split(".") if pipe.name.count(".") == 2 else (None, None, None)
    if database:
        execute(cur, f"USE SCHEMA {database}.{schema}")

    failed: list[str] = []
    first_pass_rows = 0
    for n in range(1, passes + 1):
        files = staged_files(fs, url)
        log(f"snowpipe: pass {n}: {len(files)} object(s) under {url}")
        loaded_rows = 0
        for path in files:
            relative = path[len(bucket_prefix) :]
            if only is not None and not relative.startswith(only):
                continue
            key = path.split("/", 1)[1]
            scan_start = datetime.datetime.now(datetime.timezone.utc)
            try:
                execute(cur, pipe.for_file(relative) + (" FORCE = TRUE" if force else ""))
                result = cur.fetchall()
            except Exception as e:  # the file is not loaded, as SKIP_FILE would leave it
                log(f"snowpipe: {relative}: LOAD_FAILED ({describe(e)})")
                failed.append(relative)
                continue
            if len(result) != 1:
                raise Failure(f"snowpipe: {relative}: COPY answered {result!r}, expected one row for one file")
            _file, status, _parsed, rows = result[0][:4]
            if status == "LOADED":
                if pipe.metadata:
                    values = {
                        "METADATA$FILENAME": key,
                        "METADATA$START_SCAN_TIME": scan_start.isoformat(),
                    }
                    cols = list(pipe.metadata)
                    sets = ", ".join(
                        f"{c} = %s" if pipe.metadata[c] == "METADATA$FILENAME" else f"{c} = %s::TIMESTAMP_LTZ"
                        for c in cols
                    )
                    where = " AND ".join(f"{c} IS NULL" for c in cols)
                    execute(
                        cur,
                        f"UPDATE {pipe.table} SET {sets} WHERE {where}",
                        [values[pipe.metadata[c]] for c in cols],
                    )
                    updated = cur.rowcount
                    if updated != rows:
                        raise Failure(
                            f"snowpipe: {relative}: COPY loaded {rows} row(s) but INCLUDE_METADATA's UPDATE set {updated}"
                        )
                loaded_rows += rows
                log(f"snowpipe: {relative}: LOADED {rows} row(s)")
            elif status == "LOAD_SKIPPED":
                log(f"snowpipe: {relative}: LOAD_SKIPPED (in the load history)")
            else:
                raise Failure(f"snowpipe: {relative}: COPY answered status {status!r}")
        log(f"snowpipe: pass {n}: {loaded_rows} row(s) loaded")
        if n == 1:
            first_pass_rows = loaded_rows
        elif loaded_rows:
            raise Failure(f"snowpipe: pass {n} loaded {loaded_rows} row(s) again: the load history did not hold")
    return first_pass_rows, sorted(set(failed))


# ---------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sql-dir", required=True, type=Path, help="the folder of V__/R__ scripts (sql)")
    p.add_argument("--vars", required=True, help="JSON object of the Jinja placeholders (terraform output sql_vars)")
    p.add_argument("--s3-endpoint", required=True, help="URL of the S3-compatible server holding the curated bucket")
    p.add_argument("--passes", type=int, default=1, help="run the Snowpipe stand-in this many times (default 1)")
    p.add_argument("--query", action="append", default=[], help="SQL whose rows are printed as JSON lines; repeatable")
    args = p.parse_args(argv)
    try:
        args.variables = json.loads(args.vars)
    except json.JSONDecodeError as e:
        p.error(f"--vars is not JSON: {e}")
    if not isinstance(args.variables, dict):
        p.error("--vars must be a JSON object")
    if args.passes < 1:
        p.error("--passes must be at least 1")
    if not args.sql_dir.is_dir():
        p.error(f"--sql-dir {args.sql_dir} is not a folder")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    # fakesnow's noise: sqlglot warns about each column COMMENT it drops, DuckDB about an Arrow copy.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")

    import snowflake.connector

    paths = scripts(args.sql_dir)
    rendered = [(p, render(p, args.variables)) for p in paths]  # fails on an unset placeholder before anything runs

    kwargs, duck = start_fakesnow()
    fs = s3_filesystem(args.s3_endpoint)
    duck.register_filesystem(s3_filesystem(args.s3_endpoint))
    conn = snowflake.connector.connect(**kwargs)
    cur = conn.cursor()

    pipes: list[Pipe] = []
    for path, text in rendered:
        for sql in statements(text):
            words = first_words(sql)
            if reason := unsupported(sql):
                if m := CREATE_PIPE.match(sql):
                    pipes.append(Pipe(m["name"], m["copy"]))
                log(f"{path.name}: {words}: skipped ({reason})")
                continue
            try:
                execute(cur, sql)
                cur.fetchall()
            except Exception as e:
                raise Failure(f"{path.name}: {words}: failed: {describe(e)}\n{sql}") from None
            log(f"{path.name}: {words}: ran")

    if not pipes:
        raise Failure(f"no CREATE PIPE ... AS COPY INTO ... in {args.sql_dir}")
    failed: list[str] = []
    for pipe in pipes:
        log(f"snowpipe: pipe {pipe.name}: {' '.join(pipe.template.split())}")
        rows, pipe_failed = run_pipe(cur, fs, pipe, args.passes)
        failed += pipe_failed
        log(f"snowpipe: pipe {pipe.name}: {rows} row(s) loaded, {len(pipe_failed)} file(s) failed")

    for q in args.query:
        # Steps between queries, for a test that changes the bucket meanwhile; each prints
        # an empty result, so that results still line up with --query arguments.
        if q.startswith("@wait "):
            flag = Path(q[len("@wait ") :].strip())
            deadline = time.monotonic() + 600
            while not flag.exists():
                if time.monotonic() > deadline:
                    raise Failure(f"@wait: {flag} did not appear within 600 s")
                time.sleep(0.05)
            log(f"@wait: {flag} is there")
            print()
            sys.stdout.flush()
            continue
        if q == "@pipe" or q.startswith("@reload "):
            force, only = q != "@pipe", (q[len("@reload ") :].strip() if q != "@pipe" else None)
            for pipe in pipes:
                rows, pipe_failed = run_pipe(cur, fs, pipe, 1, force=force, only=only)
                failed += pipe_failed
                log(f"{q}: pipe {pipe.name}: {rows} row(s) loaded, {len(pipe_failed)} file(s) failed")
            print()
            sys.stdout.flush()
            continue
        try:
            execute(cur, q)
            lines = list(json_rows(cur))
        except Exception as e:
            raise Failure(f"query failed: {describe(e)}\n{q}") from None
        for line in lines:
            print(line)
        print()  # the end of this query's rows
        sys.stdout.flush()

    conn.close()
    if failed:
        raise Failure(f"{len(failed)} file(s) did not load (Snowpipe's ON_ERROR = SKIP_FILE would skip them): {failed}")
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except Failure as e:
        log(f"error: {e}")
        code = 1
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else 2
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # fakesnow's server thread and its module-level DuckDB connection are still alive: a normal
    # interpreter exit makes DuckDB's bindings print pages of "leaked instance" warnings.
    os._exit(code)
