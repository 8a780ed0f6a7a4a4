#!/usr/bin/env bash
# reconcile's peak memory and wall time at N records, before and after: one JSON-lines
# feed of N tiny records (`{}`), a curated table whose lineage columns match it (a few
# records left out and a few loaded twice, so the report has lines to list), and
# `feedpipe reconcile` over them under /usr/bin/time -v. Prints peak RSS, wall time,
# exit code and the spill folder's peak size of each binary, and whether the two
# printed the same report.
#
# usage: jobs/warehouse/bench/reconcile_memory.sh [N]        (default 100000000)
#   AFTER=path      the binary measured as "after" (default: this checkout's, built
#                   here in the dev profile: no release build of DataFusion)
#   BEFORE=path     a binary to measure as "before" (for example main's dev build)
#   BEFORE_REV=rev  or a revision to build in the dev profile for it (in a worktree
#                   under BENCH_DIR, removed afterwards), for example main
#   MEMORY_MIB=128  reconcile's --memory-mib for the "after" run
#   BENCH_DIR=dir   where the data and the spill folder go (default target/bench-reconcile)
#   KEEP=1          keep the data for another run with the same N
# Needs: cargo, python3 (DuckDB is installed into .tools/bench-venv from PyPI), GNU time.
#
# Measured on 2 shared cores, dev profile, --memory-mib 128 (before: main at 4375785):
#   N      before: peak RSS, wall   after: peak RSS, wall, spill peak (runs)
#   10M     1307 MiB,   20 s          369 MiB,   12 s,   290 MiB (4)
#   20M     2159 MiB,   26 s          390 MiB,   18 s,   647 MiB (9)
#   100M    8473 MiB, 3:33            391 MiB, 1:30,    3370 MiB (47)   (BENCH_DIR on tmpfs)
# and the same report and exit code before and after at each N.
# Disk: about 60 bytes a record (feed 3, Parquet about 20, spill about 36); it stops
# if that would leave less than 15 GB free.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
n="${1:-100000000}"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
venv="$tools/bench-venv"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="${BENCH_DIR:-$target/bench-reconcile}"
memory_mib="${MEMORY_MIB:-128}"
DUCKDB_VERSION="2.0.0"

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if [ "$("$venv/bin/python" -m pip show duckdb 2>/dev/null | sed -n 's/^Version: //p')" != "$DUCKDB_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi

mkdir -p "$work"
need=$(( n * 60 + 15 * 1000 * 1000 * 1000 ))
free=$(( $(df --output=avail -B1 "$work" | tail -1) ))
if [ ! -f "$work/data-$n" ] && [ "$free" -lt "$need" ]; then
  echo "not enough disk under $work: $free bytes free, $need needed (data + 15 GB kept free)" >&2
  exit 1
fi

# Each build's binary is hard-linked (else copied) out of the target dir before the
# next build replaces target/debug/feedpipe. Both builds share the target dir, so the
# dependencies build once; only the workspace crates build for each checkout.
mkdir -p "$work/bin"
keep_binary() { ln -f "$1" "$2" 2>/dev/null || cp "$1" "$2"; }
before="${BEFORE:-}"
if [ -z "$before" ] && [ -n "${BEFORE_REV:-}" ]; then
  src="$work/before-src"
  git -C "$repo" worktree remove --force "$src" 2>/dev/null || rm -rf "$src"
  git -C "$repo" worktree add --quiet --detach "$src" "$BEFORE_REV"
  trap 'git -C "$repo" worktree remove --force "$src" 2>/dev/null || true' EXIT
  (cd "$src" && CARGO_TARGET_DIR="$target" cargo build --workspace --bin feedpipe >&2)
  keep_binary "$target/debug/feedpipe" "$work/bin/before"
  before="$work/bin/before"
fi
after="${AFTER:-}"
if [ -z "$after" ]; then
  (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --workspace --bin feedpipe >&2)
  keep_binary "$target/debug/feedpipe" "$work/bin/after"
  after="$work/bin/after"
fi

# The data: the feed, then Parquet files of 10M rows each with the ids the pipeline
# would give its records (jobs/shared/src/lineage.rs: the first 128 bits of
# SHA-256(uri NUL version NUL line), as hex). Lines divisible by 1000003 are left
# out (missing), lines divisible by 999983 are loaded twice (duplicated).
if [ ! -f "$work/data-$n" ]; then
  rm -rf "$work/source" "$work/curated" "$work"/data-*
  mkdir -p "$work/source" "$work/curated/feed/dt=2026-11-23"
  start=$(date +%s)
  { yes '{}' || true; } | head -n "$n" > "$work/source/feed.jsonl"
  uri="file://$(realpath "$work/source/feed.jsonl")"
  version="sha256-$(sha256sum "$work/source/feed.jsonl" | cut -c1-32)"
  "$venv/bin/python" - "$work/curated/feed/dt=2026-11-23" "$uri" "$version" "$n" <<'PY'
import sys
import duckdb

out, uri, version, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
chunk = 10_000_000
quote = lambda text: "'" + text.replace("'", "''") + "'"
db = duckdb.connect()
db.execute("SET preserve_insertion_order = false")
for part, first in enumerate(range(1, n + 1, chunk)):
    last = min(first + chunk, n + 1)
    db.execute(f"""
        COPY (
          SELECT {quote(uri)} AS _source_uri, {quote(version)} AS _source_version,
                 line AS _source_line,
                 substr(sha256({quote(uri)} || chr(0) || {quote(version)} || chr(0)
                               || line::VARCHAR), 1, 32) AS _record_id
          FROM range({first}, {last}) t(line), range(2) copies(c)
          WHERE line % 1000003 <> 0 AND (c = 0 OR line % 999983 = 0)
        ) TO {quote(f"{out}/part-{part:04}.parquet")} (FORMAT PARQUET, COMPRESSION ZSTD)
    """)
PY
  touch "$work/data-$n"
  echo "data: $n records in $(( $(date +%s) - start )) s: $(du -sh "$work/source" | cut -f1) feed, $(du -sh "$work/curated" | cut -f1) curated" >&2
fi

# Runs one binary under GNU time, sampling the spill folder's size.
measure() {
  local label="$1" bin="$2"
  shift 2
  local spill="$work/spill-$label"
  rm -rf "$spill" && mkdir -p "$spill"
  ( peak=0; while sleep 1; do
      s=$(du -sb "$spill" 2>/dev/null | cut -f1); [ "${s:-0}" -gt "$peak" ] && peak=$s && echo "$peak" > "$work/$label.spill"
    done ) &
  local sampler=$!
  set +e
  /usr/bin/time -v "$bin" reconcile --source "$work/source" --curated "$work/curated" "$@" \
    > "$work/$label.out" 2> "$work/$label.err"
  echo $? > "$work/$label.rc"
  set -e
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  [ -f "$work/$label.spill" ] || echo 0 > "$work/$label.spill"
  rm -rf "$spill"
}

labels=()
if [ -n "$before" ]; then
  echo "== before: $before" >&2
  TMPDIR="$work/spill-before" measure before "$before"
  labels+=(before)
fi
echo "== after: $after (--memory-mib $memory_mib)" >&2
measure after "$after" --memory-mib "$memory_mib" --spill-dir "$work/spill-after"
labels+=(after)

echo "reconcile over $n records ($(nproc) cores)"
for label in "${labels[@]}"; do
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$label.err")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$label.err")
  printf '%-7s peak RSS %6d MiB  wall %9s  exit %s  spill peak %6d MiB  %s\n' "$label" \
    $(( rss / 1024 )) "$wall" "$(cat "$work/$label.rc")" $(( $(cat "$work/$label.spill") / 1048576 )) \
    "$(tail -1 "$work/$label.out")"
done
grep -h "sorted on disk" "$work/after.err" || true
if [ -n "$before" ]; then
  if cmp -s "$work/before.out" "$work/after.out" && cmp -s "$work/before.rc" "$work/after.rc"; then
    echo "same report and exit code before and after"
  else
    echo "REPORTS DIFFER:"; diff "$work/before.out" "$work/after.out" || true
  fi
fi
[ -n "${KEEP:-}" ] || rm -rf "$work/source" "$work/curated" "$work"/data-* "$work/bin"
