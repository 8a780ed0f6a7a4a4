#!/usr/bin/env bash
# Peak memory of the pipeline where it used to grow with the input (issue 14, cases
# 13 and 15), at an earlier revision and at this checkout, on the same inputs:
#
#   (a) `feedpipe local` on one JSON array of ROWS tiny records, `{"a":1}` (10M:
#       80 MB). The in-process stream used to keep every record it was sent. The
#       run ends with `reconcile`, so the peak is also given as it was when the
#       stage table was printed (before that reconcile), and for `reconcile` alone
#       on the same workdir, to tell the two apart.
#   (b) `feedpipe convert` of one raw object spanning DAYS days, each day coming
#       back after all the others (record i on day i % DAYS, DAYS_ROWS records):
#       the converter used to hold one open Parquet writer per day.
#   (c) the same records with the days in order (a backfill of history): one file
#       per day either way.
#
# Each prints wall time and peak RSS from /usr/bin/time -v, and for (b) and (c) the
# Parquet files written; last, whether (b) and (c) wrote the same files (names and
# sha256) before and after. Builds `feedpipe` at REV (in a temporary worktree) and here,
# in the dev profile by default (PROFILE=release for release builds; both share the
# target dir, so the dependencies build once).
#
# usage: jobs/feedpipe/bench/memory.sh REV [ROWS] [DAYS] [DAYS_ROWS]   (defaults 10000000 20000 40000)
# Needs: git, cargo, python3, /usr/bin/time (Debian/Ubuntu package `time`); about
# 3 GB of disk for (a) at 10M records (the raw objects), freed after each run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
rev="${1:?usage: memory.sh REV [ROWS] [DAYS] [DAYS_ROWS]}"
rows="${2:-10000000}"
days="${3:-20000}"
days_rows="${4:-40000}"
profile="${PROFILE:-dev}"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$target/bench-memory"

[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/bin"
before="$work/before-src"
git -C "$repo" worktree add --quiet --detach "$before" "$rev"
trap 'git -C "$repo" worktree remove --force "$before" 2>/dev/null || true' EXIT
# Both trees' crates get the same unit names in the shared target dir, so a build
# may find the other tree's artifacts fresh: the workspace's own crates are cleaned
# before each build (the dependencies stay built).
build_in() {
  (cd "$1" && CARGO_TARGET_DIR="$target" cargo clean --profile "$profile" \
    -p feedpipe-shared -p feedpipe-sample -p feedpipe-ingest -p feedpipe-standins \
    -p feedpipe-convert -p feedpipe-warehouse -p feedpipe >&2 &&
    CARGO_TARGET_DIR="$target" cargo build --profile "$profile" --workspace --bin feedpipe >&2)
  echo "$target/$([ "$profile" = dev ] && echo debug || echo "$profile")/feedpipe"
}
cp "$(build_in "$before")" "$work/bin/before"
cp "$(build_in "$repo")" "$work/bin/after"
cmp -s "$work/bin/before" "$work/bin/after" && { echo "REV and this checkout built the same binary" >&2; exit 1; }

# The inputs.
python3 - "$work" "$rows" "$days" "$days_rows" <<'PY'
import datetime, pathlib, sys
work, rows, days, days_rows = pathlib.Path(sys.argv[1]), *map(int, sys.argv[2:])
with open(work / "tiny.json", "w") as f:
    f.write("[")
    step = 1_000_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        f.write(("," if start else "") + ",".join(['{"a":1}'] * n))
    f.write("]\n")
first = datetime.date(1970, 1, 1)
for order, day in (("interleaved", lambda i: i % days), ("in-order", lambda i: i * days // days_rows)):
    raw = work / f"raw-{order}/2026/11/23/10"
    raw.mkdir(parents=True)
    with open(raw / "feedpipe-bench-1-2026-11-23-10-00-00-days", "w") as f:
        for i in range(days_rows):
            f.write(f'{{"n":{i},"at":"{first + datetime.timedelta(days=day(i))}T08:00:00Z"}}\n')
(work / "days.schema.json").write_text(
    '{"table": "days", "event_time": "at", "columns": ['
    '{"name": "n", "type": "int64", "nullable": false},'
    '{"name": "at", "type": "timestamp", "nullable": false}]}')
PY

# `/usr/bin/time -v` of a command: "<seconds> <peak MiB>"; the command's output goes to $log.
measure() {
  local log="$1"; shift
  /usr/bin/time -v "$@" > "$log" 2> "$log.time" || { cat "$log" "$log.time" >&2; exit 1; }
  python3 - "$log.time" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{secs:.1f} {rss / 1024:.0f}")
PY
}

# `measure`, and the command's peak RSS (VmHWM) when its output shows `feedpipe
# local`'s stage table, that is before the run's closing reconcile: "<seconds> <peak
# MiB> <peak MiB before reconcile>".
measure_local() {
  local log="$1"; shift
  python3 - "$log" "$@" <<'PY'
import re, subprocess, sys, time
log, command = sys.argv[1], sys.argv[2:]
timed = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE,
                         stderr=open(log + ".time", "w"), text=True)
def hwm_kib():
    # /usr/bin/time's child is the command.
    try:
        child = open(f"/proc/{timed.pid}/task/{timed.pid}/children").read().split()[0]
        status = open(f"/proc/{child}/status").read()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    except (OSError, IndexError, AttributeError):
        return 0
before_reconcile = 0
with open(log, "w") as out:
    for line in timed.stdout:
        out.write(line)
        if re.match(r"convert\s+\d+", line) and not before_reconcile:
            before_reconcile = hwm_kib()
if timed.wait() != 0:
    sys.exit(f"{command[0]} failed: see {log}")
t = open(log + ".time").read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{secs:.1f} {rss / 1024:.0f} {before_reconcile / 1024:.0f}")
PY
}

printf '%-7s %-34s %9s %10s  %s\n' build case seconds "peak MiB" note
for build in before after; do
  bin="$work/bin/$build"
  wd="$work/local-$build"
  res=$(measure_local "$work/local-$build.log" "$bin" local --workdir "$wd" "$work/tiny.json")
  read -r secs mib pipeline_mib <<< "$res"
  verdict=$(grep -o 'reconcile: [A-Z]*' "$work/local-$build.log" || echo "reconcile: ?")
  printf '%-7s %-34s %9s %10s  %s\n' "$build" "(a) local, $rows tiny records" "$secs" "$mib" "$verdict; $pipeline_mib MiB before its reconcile"
  res=$(measure "$work/reconcile-$build.log" "$bin" reconcile \
    --source "$wd/source" --curated "$wd/curated" --quarantine "$wd/quarantine")
  read -r secs mib <<< "$res"
  printf '%-7s %-34s %9s %10s  %s\n' "$build" "    of which reconcile alone" "$secs" "$mib" "the same workdir, run again"
  rm -rf "$wd"
  for order in interleaved in-order; do
    out="$work/curated-$order-$build"
    res=$(measure "$work/convert-$order-$build.log" "$bin" convert \
      --input "$work/raw-$order" --output "$out" --quarantine "$work/quarantine-$build" \
      --schema "$work/days.schema.json" --target-file-size 0)
    read -r secs mib <<< "$res"
    files=$(find "$out/days" -name '*.parquet' | wc -l)
    printf '%-7s %-34s %9s %10s  %s\n' "$build" "$([ $order = interleaved ] && echo "(b)" || echo "(c)") convert, $days days $order" "$secs" "$mib" "$files Parquet files, $days_rows rows"
    (cd "$out" && find days -name '*.parquet' | sort | xargs sha256sum) > "$work/sha-$order-$build"
    rm -rf "$out"
  done
done
for order in interleaved in-order; do
  if cmp -s "$work/sha-$order-before" "$work/sha-$order-after"; then
    echo "$order: the same Parquet files (names and sha256) before and after"
  else
    echo "$order: Parquet files differ before and after (names or bytes)"
  fi
done
