"""Runs one SQL statement in DuckDB and prints each row as a JSON object.

The end-to-end tests use it as a Parquet reader independent of arrow-rs: values
are printed as DuckDB reads them (decimals and timestamps as strings).
"""
import datetime
import decimal
import json
import sys

import duckdb


def plain(value):
    if isinstance(value, (decimal.Decimal, datetime.datetime, datetime.date)):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main():
    con = duckdb.connect()
    cur = con.execute(sys.argv[1])
    names = [d[0] for d in cur.description]
    for row in cur.fetchall():
        print(json.dumps({n: plain(v) for n, v in zip(names, row)}))


if __name__ == "__main__":
    main()
