#!/usr/bin/env bash
# The conversion core at an earlier revision, at this checkout, and DuckDB, side by side
# in one run, on the same raw objects: did a change keep the output bytes, and did it
# keep the speed? Builds the `convert_dir` example (the conversion core without the
# CLI's DataFusion) at both, in release, then runs the three alternating, RUNS times,
# and prints each one's median time, MB/s, rows/s and peak RSS, the ratios, and
# whether the two builds wrote Parquet files with the same sha256.
#
# usage: jobs/convert/bench/before_after.sh REV [ROWS] [OBJECTS] [RUNS]   (defaults 1000000 8 5)
# Needs: git, cargo, python3 (DuckDB is installed into .tools/bench-venv from PyPI).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
rev="${1:?usage: before_after.sh REV [ROWS] [OBJECTS] [RUNS]}"
rows="${2:-1000000}"
objects="${3:-8}"
runs="${4:-5}"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
venv="$tools/bench-venv"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$target/bench-before-after"
here="$repo/jobs/convert/bench"
DUCKDB_VERSION="2.0.0"

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if [ "$("$venv/bin/python" -m pip show duckdb 2>/dev/null | sed -n 's/^Version: //p')" != "$DUCKDB_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi

rm -rf "$work" && mkdir -p "$work/bin"
# Both builds share one release target dir, so the dependencies build once.
before="$work/before-src"
git -C "$repo" worktree add --quiet --detach "$before" "$rev"
trap 'git -C "$repo" worktree remove --force "$before" 2>/dev/null || true' EXIT
(cd "$before" && CARGO_TARGET_DIR="$target" cargo build --release --workspace --example convert_dir >&2)
cp "$target/release/examples/convert_dir" "$work/bin/before"
(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release --workspace --example convert_dir >&2)
cp "$target/release/examples/convert_dir" "$work/bin/after"
# The sample generator from the dev-profile CLI the tests build (its bytes do not
# depend on the profile): no release build of DataFusion for a benchmark of the core.
(cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --workspace --bin feedpipe >&2)

mkdir -p "$work/raw/2026/11/23/10"
"$target/debug/feedpipe" gen --rows "$rows" --framed --out "$work/all.jsonl" >&2
split -l $(( (rows + objects - 1) / objects )) -d -a 3 "$work/all.jsonl" \
  "$work/raw/2026/11/23/10/feedpipe-bench-1-2026-11-23-10-00-00-"
rm "$work/all.jsonl"

for _ in $(seq 1 "$runs"); do
  for build in before after; do
    rm -rf "$work/out-$build"
    "$here/measure.py" "$build" -- "$work/bin/$build" "$work/raw" "$work/out-$build" >> "$work/$build.json"
  done
  "$here/measure.py" duckdb -- "$venv/bin/python" -c "
import duckdb
duckdb.sql(\"\"\"COPY (SELECT * FROM read_json_auto('$work/raw/2026/11/23/10/*'))
              TO '$work/duckdb.parquet' (FORMAT PARQUET, COMPRESSION ZSTD)\"\"\")
" >> "$work/duckdb.json"
done

python3 - "$work" "$rows" "$rev" <<'PY'
import hashlib, json, pathlib, sys
work, rows, rev = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
size = sum(p.stat().st_size for p in (work / "raw").rglob("*") if p.is_file())
print(f"raw JSON: {size / 1e6:.1f} MB, {rows} rows; before = {rev}, after = this checkout")
res = {}
for label in ("before", "after", "duckdb"):
    tries = [json.loads(l) for l in (work / f"{label}.json").read_text().splitlines()]
    secs = sorted(t["seconds"] for t in tries)
    res[label] = (secs[len(secs) // 2], max(t["peak_rss_mib"] for t in tries))
    print(f"{label:8} median {res[label][0]:6.2f} s {size / 1e6 / res[label][0]:8.1f} MB/s "
          f"{rows / res[label][0]:10.0f} rows/s  peak RSS {res[label][1]:5.0f} MiB  "
          f"runs {', '.join(f'{x:.2f}' for x in secs)}")
for label in ("before", "after"):
    print(f"{label} / duckdb: throughput x{res['duckdb'][0] / res[label][0]:.2f}, "
          f"peak RSS x{res[label][1] / res['duckdb'][1]:.2f}")
def digests(build):
    root = work / f"out-{build}"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}
same = digests("before") == digests("after")
print(f"Parquet: {len(digests('after'))} file(s), {'the same sha256 before and after' if same else 'DIFFERENT bytes before and after'}")
PY
