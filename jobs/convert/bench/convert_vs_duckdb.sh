#!/usr/bin/env bash
# `feedpipe convert` and DuckDB side by side, in one run, on the same raw objects:
# at each size, plain and gzip, the records are split into Firehose-sized raw objects
# (128 MiB; gzip: each object gzipped whole) and converted to zstd Parquet by both
# tools alternately, RUNS times each. Prints, per case and tool, MB/s of JSON (and of
# gzip), rows/s, peak RSS and CPU use, the ratios of the medians, and feedpipe's CPU
# per stage (read/gunzip, parse+decode, Parquet encode, compression) from one more
# run sampled with `perf` (not timed). Ends with a summary table and how feedpipe's
# peak RSS grows from the smallest size to the largest.
#
# usage: jobs/convert/bench/convert_vs_duckdb.sh [--rows 1000000,4000000] [--formats plain,gzip]
#            [--runs 3] [--object-mb 128] [--input FILE.jsonl [--schema CONTRACT]] [--no-profile]
#   --input: your own JSON-lines feed (framed by feedpipe's ingest or not) instead of the
#   sample generator's orders; its contract is --schema, else `feedpipe schema infer`'s.
# Needs: cargo, python3 (DuckDB is installed into .tools/bench-venv from PyPI); `perf`
# (Debian: linux-perf) for the stage split, which is skipped without it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
venv="$tools/bench-venv"
target="${CARGO_TARGET_DIR:-$repo/target}"
DUCKDB_VERSION="2.0.0"

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if [ "$("$venv/bin/python" -m pip show duckdb 2>/dev/null | sed -n 's/^Version: //p')" != "$DUCKDB_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi
# The same build as the README's main command (`cargo run --release -p feedpipe`), so the two share it.
(cd "$repo" && cargo build --release -p feedpipe >&2)
exec python3 "$repo/jobs/convert/bench/bench.py" --feedpipe "$target/release/feedpipe" \
  --duckdb-python "$venv/bin/python" --work "$target/bench-convert" "$@"
