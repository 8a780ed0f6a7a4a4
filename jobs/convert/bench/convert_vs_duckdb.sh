#!/usr/bin/env bash
# Converts the same raw JSON (framed sample orders: nested customer, line items,
# timestamps with offsets, decimals, nulls, unicode, ~1% extra fields), split into
# Firehose-sized objects, to Parquet with `feedpipe convert` and with DuckDB
# (COPY (SELECT * FROM read_json_auto(...)) TO ... (FORMAT PARQUET)), one after the
# other on this machine, and prints MB/s, rows/s and peak RSS of each, and the ratios.
# Each tool runs RUNS times, alternating (the machine's noise hits both alike); the
# figures are the median run's time and the largest peak RSS.
#
# usage: jobs/convert/bench/convert_vs_duckdb.sh [ROWS] [OBJECTS] [RUNS]   (defaults 1000000, 8 and 3)
# Needs: cargo, python3 (DuckDB is installed into .tools/bench-venv from PyPI).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
rows="${1:-1000000}"
objects="${2:-8}"
runs="${3:-3}"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
venv="$tools/bench-venv"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$target/bench-convert"
DUCKDB_VERSION="2.0.0"
here="$(dirname "${BASH_SOURCE[0]}")"

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if [ "$("$venv/bin/python" -m pip show duckdb 2>/dev/null | sed -n 's/^Version: //p')" != "$DUCKDB_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi
(cd "$repo" && cargo build --release -p feedpipe >&2)
feedpipe="$target/release/feedpipe"

rm -rf "$work" && mkdir -p "$work/raw/2026/11/23/10"
"$feedpipe" gen --rows "$rows" --framed --out "$work/all.jsonl" >&2
lines=$(( (rows + objects - 1) / objects ))
split -l "$lines" -d -a 3 "$work/all.jsonl" "$work/raw/2026/11/23/10/feedpipe-bench-1-2026-11-23-10-00-00-"
rm "$work/all.jsonl"
bytes=$(cat "$work"/raw/2026/11/23/10/* | wc -c)
cores=$(nproc)

rm -f "$work/feedpipe.json" "$work/duckdb.json"
for _ in $(seq 1 "$runs"); do
  "$here/measure.py" feedpipe -- "$feedpipe" convert --input "$work/raw" --output "$work/curated" \
    --quarantine "$work/quarantine" --parallel "$cores" --force >> "$work/feedpipe.json"
  "$here/measure.py" duckdb -- "$venv/bin/python" -c "
import duckdb
duckdb.sql(\"\"\"COPY (SELECT * FROM read_json_auto('$work/raw/2026/11/23/10/*'))
              TO '$work/duckdb.parquet' (FORMAT PARQUET, COMPRESSION ZSTD)\"\"\")
" >> "$work/duckdb.json"
done

python3 - "$work" "$bytes" "$rows" "$cores" <<'PY'
import json, pathlib, sys
work, size, rows, cores = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def median(label):
    tries = [json.loads(l) for l in (work / f"{label}.json").read_text().splitlines()]
    seconds = sorted(t["seconds"] for t in tries)
    return {"label": label, "seconds": seconds[len(seconds) // 2], "all": seconds,
            "peak_rss_mib": max(t["peak_rss_mib"] for t in tries)}
runs = [median(n) for n in ("feedpipe", "duckdb")]
parquet = {"feedpipe": sum(p.stat().st_size for p in (work / "curated").rglob("*.parquet")),
           "duckdb": (work / "duckdb.parquet").stat().st_size}
print(f"raw JSON: {size / 1e6:.1f} MB, {rows} rows, {cores} cores, median of {len(runs[0]['all'])} runs each")
print(f"{'':10} {'seconds':>8} {'MB/s':>8} {'rows/s':>10} {'peak RSS MiB':>13} {'Parquet MB':>11}")
for r in runs:
    print(f"{r['label']:10} {r['seconds']:8.2f} {size / 1e6 / r['seconds']:8.1f} {rows / r['seconds']:10.0f} "
          f"{r['peak_rss_mib']:13.0f} {parquet[r['label']] / 1e6:11.1f}   runs: {', '.join(f'{x:.2f}' for x in r['all'])} s")
f, d = runs
print(f"feedpipe / duckdb: throughput x{d['seconds'] / f['seconds']:.2f}, peak RSS x{f['peak_rss_mib'] / d['peak_rss_mib']:.2f}")
PY
