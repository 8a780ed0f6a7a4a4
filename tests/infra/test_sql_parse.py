#!/usr/bin/env python3
"""Parse every statement in sql/ with sqlglot's Snowflake dialect (issue 15).

fakesnow cannot run several of the statements (sql/README.md), so a syntax
error there would only show on a real account. This script renders every
sql/**/*.sql as schemachange does (Jinja, StrictUndefined) with values shaped
like `terraform -chdir=infra output -json sql_vars` (plus `dt` and
`modified_after`, which backfill/refresh.sql takes from the user), splits it
with the Snowflake connector's own splitter, and parses each statement with
`sqlglot.parse(..., dialect="snowflake")`, raising on errors.

sqlglot does not fail on syntax it does not model: it warns and returns an
opaque `Command`. Such a statement counts as NOT parsed, and fails, unless it
is on ALLOWED_UNPARSED below with the reason (the same list is in
sql/README.md, "What sqlglot cannot parse"); where the statement embeds one
sqlglot does model (the COPY of CREATE PIPE ... AS COPY), that part must parse.
An allow-list entry that matches nothing fails too, so the list cannot go stale.

Then it proves it can fail: it breaks copies of the scripts (a missing
parenthesis in the table, a broken COPY inside the pipe, a statement sqlglot
turns into a Command that is not on the list) and expects a failure for each.

Run with the Snowflake stand-in's venv (sqlglot 30.22.0, jinja2 and
snowflake-connector-python are pinned there by tests/run.sh):
  .tools/snowflake-venv/bin/python tests/infra/test_sql_parse.py
"""

from __future__ import annotations

import io
import logging
import pathlib
import re
import sys

import jinja2
import sqlglot
from sqlglot import exp

from verdict import mutation_verdict, mutations_missed, verdict
from snowflake.connector.util_text import split_statements

REPO = pathlib.Path(__file__).resolve().parents[2]
SQL = REPO / "sql"
SQLGLOT_VERSION = "30.22.0"

# The shape of `terraform -chdir=infra output -json sql_vars`, plus the three
# values backfill/refresh.sql asks the user for.
VARS = {
    "database": "FEEDPIPE",
    "schema": "RAW",
    "table": "feed",
    "storage_integration": "FEEDPIPE_CURATED_S3",
    "curated_bucket": "feedpipe-dev-curated-123456789012-eu-west-1",
    "snowflake_role_arn": "arn:aws:iam::123456789012:role/feedpipe-dev-snowflake-storage",
    "dt": "2025-01-15",
    "modified_after": "2025-01-15T00:00:00Z",
    "files": "'dt=2025-01-15/feed-0001-abc.parquet', 'dt=2025-01-16/feed-0001-abc.parquet'",
}

# Valid Snowflake that sqlglot 30.22.0 turns into an opaque Command:
# (file, pattern the statement matches, reason, pattern of an embedded
# statement that must parse, or None).
ALLOWED_UNPARSED = [
    ("V6__pipe.sql", r"^CREATE\s+PIPE\b",
     "sqlglot has no CREATE PIPE; the COPY INTO after AS is parsed on its own",
     r"\bAS\s+(COPY\s+INTO\b.*)$"),
    ("V6__pipe.sql", r"^SHOW\s+PIPES\b",
     "sqlglot's Snowflake SHOW covers tables, schemas, views and a few more, not PIPES",
     None),
    ("backfill/refresh.sql", r"^ALTER\s+PIPE\b.*\bREFRESH\b",
     "sqlglot has no ALTER PIPE (REFRESH PREFIX / MODIFIED_AFTER)",
     None),
    ("V8__file_format_options.sql", r"^ALTER\s+FILE\s+FORMAT\b.*\bSET\b",
     "sqlglot has no ALTER FILE FORMAT; the same options are parsed in V3's CREATE FILE FORMAT",
     None),
]


class Quiet(logging.Handler):
    """Collects sqlglot's warnings (the Command fallback is one) instead of printing them."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def render(rel: str, text: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    return env.from_string(text).render(**VARS)


def statements(text: str) -> list[str]:
    out = []
    for sql, _is_put_get in split_statements(io.StringIO(text), remove_comments=True):
        sql = sql.strip().rstrip(";").strip()
        if sql:
            out.append(sql)
    return out


def parse(sql: str) -> list:
    return sqlglot.parse(sql, dialect="snowflake", error_level=sqlglot.ErrorLevel.RAISE)


def check(texts: dict[str, str], verbose: bool = False) -> list[str]:
    fails = []
    used = set()
    count = 0
    for rel in sorted(texts):
        try:
            rendered = render(rel, texts[rel])
        except jinja2.TemplateError as e:
            fails.append(f"{rel}: cannot render: {e}")
            continue
        for i, sql in enumerate(statements(rendered), start=1):
            count += 1
            head = " ".join(sql.split())[:70]
            where = f"{rel}, statement {i} ({head}...)"
            try:
                trees = parse(sql)
            except sqlglot.errors.SqlglotError as e:
                fails.append(f"{where}: parse error: {str(e).splitlines()[0]}")
                continue
            trees = [t for t in trees if t is not None]
            if len(trees) != 1:
                fails.append(f"{where}: parsed into {len(trees)} statements, expected 1")
                continue
            if not isinstance(trees[0], exp.Command):
                if verbose:
                    print(f"  ok {rel} #{i}: {type(trees[0]).__name__}")
                continue
            entry = next(
                (k for k, (f, pat, _r, _inner) in enumerate(ALLOWED_UNPARSED)
                 if f == rel and re.search(pat, sql, re.S | re.I)),
                None,
            )
            if entry is None:
                fails.append(
                    f"{where}: sqlglot could not parse it (fell back to a Command); "
                    "fix it, or add it to ALLOWED_UNPARSED and sql/README.md with the reason"
                )
                continue
            used.add(entry)
            _f, _pat, reason, inner = ALLOWED_UNPARSED[entry]
            if inner:
                m = re.search(inner, sql, re.S | re.I)
                if not m:
                    fails.append(f"{where}: the embedded statement ({inner}) is missing")
                    continue
                try:
                    embedded = [t for t in parse(m.group(1)) if t is not None]
                except sqlglot.errors.SqlglotError as e:
                    fails.append(f"{where}: embedded statement: parse error: {str(e).splitlines()[0]}")
                    continue
                if len(embedded) != 1 or isinstance(embedded[0], exp.Command):
                    fails.append(f"{where}: embedded statement not parsed ({[type(t).__name__ for t in embedded]})")
                    continue
            if verbose:
                print(f"  allowed {rel} #{i}: {reason}" + (" (embedded statement parsed)" if inner else ""))
    if count == 0:
        fails.append("no statements found under sql/")
    for k in set(range(len(ALLOWED_UNPARSED))) - used:
        f, pat, _r, _i = ALLOWED_UNPARSED[k]
        fails.append(f"ALLOWED_UNPARSED entry ({f}, {pat!r}) matches no unparsed statement: remove it")
    return fails


MUTATIONS = [
    # (description, file, pattern, replacement)
    ("a column list missing its closing parenthesis", "V5__table.sql", r"\n\)\s*\nCOMMENT =", "\nCOMMENT ="),
    ("a broken COPY inside the pipe", "V6__pipe.sql", r"MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE", "MATCH_BY_COLUMN_NAME = ("),
    ("a statement sqlglot cannot parse, not on the list", "V3__file_format.sql", r"\Z",
     "\nALTER PIPE {{ database }}.{{ schema }}.{{ table }}_pipe SET PIPE_EXECUTION_PAUSED = TRUE;\n"),
    ("a window without its closing parenthesis", "R__dedup_view.sql", r"NULLS LAST\n\) = 1", "NULLS LAST\n = 1"),
]


def main() -> int:
    if sqlglot.__version__ != SQLGLOT_VERSION:
        print(f"warning: sqlglot {sqlglot.__version__}, the allow-list was written for {SQLGLOT_VERSION}")
    logger = logging.getLogger("sqlglot")
    quiet = Quiet()
    logger.addHandler(quiet)
    logger.propagate = False

    texts = {p.relative_to(SQL).as_posix(): p.read_text() for p in sorted(SQL.rglob("*.sql"))}
    print(f"sqlglot {sqlglot.__version__}, dialect snowflake, {len(texts)} files under sql/:")
    problems = check(texts, verbose=True)
    failed = verdict("every sql/ statement parses (or is allow-listed with a reason)", problems)

    print("mutations (each must be caught, with a failure the unmutated scripts do not have):")
    missed = mutations_missed(check, texts, set(problems), MUTATIONS, flags=re.S)
    failed += mutation_verdict(missed, len(MUTATIONS))
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
