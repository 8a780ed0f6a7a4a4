#!/usr/bin/env python3
"""feedpipe convert and DuckDB side by side on the same raw objects, plain and gzip.

For each input size and each format it splits the records into Firehose-sized raw
objects (at most --object-mb each, cut at line ends; gzip: each object gzipped whole,
as Firehose's GZIP setting writes them), then runs `feedpipe convert` and DuckDB's
`COPY (SELECT * FROM read_json_auto(...)) TO ... (FORMAT PARQUET, COMPRESSION ZSTD)`
alternately, --runs times each, and prints per tool the median run's MB/s of JSON
(and of gzip), rows/s, peak RSS (median over the runs) and CPU use, then the ratios.
With `perf` on the PATH, one more feedpipe run per case is sampled (not timed) and
its CPU is split by stage: read/gunzip, parse+decode, Parquet encode, compression.

Input: the sample generator's orders at each of --rows, or --input FILE (any JSON
lines, framed by feedpipe's ingest or not; its contract from --schema, else inferred
with `feedpipe schema infer`).

usage: bench.py --feedpipe BIN --duckdb-python PY --work DIR [--rows 1000000,4000000]
                [--formats plain,gzip] [--runs 3] [--object-mb 128] [--input FILE]
                [--schema CONTRACT] [--no-profile] [--convert-args ARGS]
"""
import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Stages, by the first frame from the leaf up that names one (a leaf in libc or the
# kernel, memset or a page fault, belongs to the code that called it).
STAGES = [
    ("compression", re.compile(r"ZSTD_|HIST_|FSE_|HUF_|zstd|snap::|ZSTDCodec")),
    ("read/gunzip", re.compile(r"flate2|miniz_oxide|zlib_rs|inflate|crc32|feedpipe_shared::feed|"
                               r"object_store::local|std::fs::|FeedReader|chunk_object|read_into")),
    ("parse+decode", re.compile(r"serde_json|feedpipe_convert::decode|feedpipe_convert::columns|"
                                r"feedpipe_convert::job::chunk|feedpipe_convert::raw_json|arrow_select|"
                                r"from_utf8|chrono|simdutf8")),
    ("Parquet encode", re.compile(r"parquet::|arrow_writer|ArrowColumnWriter|feedpipe_convert::job::encode")),
]
STAGE_NAMES = [name for name, _ in STAGES] + ["other"]


def run_measured(command, stdout=subprocess.DEVNULL):
    """Runs `command`; returns wall seconds, peak RSS (MiB) and CPU seconds of it alone."""
    start = time.monotonic()
    child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(stderr.decode(errors="replace"))
        sys.exit(f"failed: {' '.join(map(str, command))}")
    return {"seconds": wall, "rss_mib": usage.ru_maxrss / 1024,
            "cpu": usage.ru_utime + usage.ru_stime}


def split_objects(source, folder, object_bytes):
    """Cuts `source` (JSON lines) into objects of at most `object_bytes` (whole lines)."""
    folder.mkdir(parents=True)
    stem = "feedpipe-bench-1-2026-11-23-10-00-00-"
    paths, out, size, rows, total = [], None, 0, 0, 0
    with open(source, "rb") as lines:
        for line in lines:
            if out is None or (size + len(line) > object_bytes and size > 0):
                if out:
                    out.close()
                paths.append(folder / f"{stem}{len(paths):03}")
                out, size = open(paths[-1], "wb"), 0
            out.write(line)
            size += len(line)
            total += len(line)
            rows += line.strip() != b""
    if out:
        out.close()
    return paths, rows, total


def gzip_objects(paths, folder):
    folder.mkdir(parents=True)

    def one(path):
        target = folder / (path.name + ".gz")
        with open(path, "rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
        return target.stat().st_size

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return sum(pool.map(one, paths))


def stage_shares(perf_script_output):
    """CPU samples per stage, from `perf script` with call chains."""
    counts = dict.fromkeys(STAGE_NAMES, 0)
    frames, in_sample = [], False
    for line in perf_script_output.splitlines():
        if not line.strip():
            if in_sample:
                counts[classify(frames)] += 1
            frames, in_sample = [], False
        elif line.startswith((" ", "\t")):
            frames.append(line.strip())
        else:
            in_sample = True
    if in_sample:
        counts[classify(frames)] += 1
    return counts


def classify(frames):
    for frame in frames:
        for name, pattern in STAGES:
            if pattern.search(frame):
                return name
    return "other"


def profile(command, work):
    data = work / "perf.data"
    done = subprocess.run(["perf", "record", "-q", "-F", "250", "--call-graph", "dwarf,16384",
                           "-o", str(data), "--", *command],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        return None, done.stderr.decode(errors="replace").strip().splitlines()[-1:]
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,sym", "--no-inline"],
                            capture_output=True, text=True, errors="replace")
    data.unlink(missing_ok=True)
    return stage_shares(script.stdout), None


def median_run(tries):
    tries = sorted(tries, key=lambda t: t["seconds"])
    middle = tries[len(tries) // 2]
    return {"seconds": middle["seconds"], "cpu": middle["cpu"], "all": [t["seconds"] for t in tries],
            "rss_mib": statistics.median(t["rss_mib"] for t in tries)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feedpipe", required=True)
    parser.add_argument("--duckdb-python", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--rows", default="1000000,4000000")
    parser.add_argument("--formats", default="plain,gzip")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--object-mb", type=int, default=128)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--schema", type=Path)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--convert-args", default="",
                        help="more arguments for feedpipe convert, e.g. '--parallel 1'")
    args = parser.parse_args()
    feedpipe, work = args.feedpipe, args.work
    formats = args.formats.split(",")
    perf = not args.no_profile and shutil.which("perf")
    cores = os.cpu_count()

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    schema = []
    if args.input:
        sizes = [None]
        contract = args.schema
        if contract is None:
            contract = work / "contract.json"
            subprocess.run([feedpipe, "schema", "infer", str(args.input), "--out", str(contract)],
                           check=True, stdout=subprocess.DEVNULL)
        schema = ["--schema", str(contract)]
    else:
        sizes = [int(r) for r in args.rows.split(",")]

    results = []
    for size in sizes:
        case = work / ("input" if size is None else f"rows-{size}")
        case.mkdir()
        if size is None:
            source = args.input
        else:
            source = case / "all.jsonl"
            subprocess.run([feedpipe, "gen", "--rows", str(size), "--framed", "--out", str(source)],
                           check=True, stdout=subprocess.DEVNULL)
        day = Path("2026/11/23/10")
        plain, rows, json_bytes = split_objects(source, case / "plain" / "raw" / day, args.object_mb << 20)
        if size is not None:
            source.unlink()
        gzip_bytes = gzip_objects(plain, case / "gzip" / "raw" / day) if "gzip" in formats else None
        for fmt in formats:
            raw = case / fmt / "raw"
            glob = str(raw / day / ("*.gz" if fmt == "gzip" else "*"))
            convert = [feedpipe, "convert", "--input", str(raw), "--output", str(case / fmt / "curated"),
                       "--quarantine", str(case / fmt / "quarantine"), "--force", *schema,
                       *args.convert_args.split()]
            duckdb = [args.duckdb_python, "-c",
                      "import duckdb\n"
                      f"duckdb.sql(\"\"\"COPY (SELECT * FROM read_json_auto('{glob}'))"
                      f" TO '{case / 'duckdb.parquet'}' (FORMAT PARQUET, COMPRESSION ZSTD)\"\"\")"]
            tries = {"feedpipe": [], "duckdb": []}
            for _ in range(args.runs):
                tries["feedpipe"].append(run_measured(convert))
                tries["duckdb"].append(run_measured(duckdb))
            shares, why = (profile(convert, case) if perf else
                           (None, ["--no-profile" if args.no_profile else "perf not on the PATH"]))
            parquet = {"feedpipe": sum(p.stat().st_size for p in (case / fmt / "curated").rglob("*.parquet")),
                       "duckdb": (case / "duckdb.parquet").stat().st_size}
            results.append({"case": f"{rows:,} rows {fmt}", "rows": rows, "json": json_bytes,
                            "gzip": gzip_bytes if fmt == "gzip" else None, "shares": shares, "why": why,
                            "parquet": parquet, "objects": len(plain),
                            **{tool: median_run(t) for tool, t in tries.items()}})
            report_case(results[-1], cores, args.runs)
        if size is not None:
            shutil.rmtree(case)
    summary(results)


def report_case(r, cores, runs):
    extra = f", {r['gzip'] / 1e6:.1f} MB of gzip" if r["gzip"] else ""
    print(f"\n== {r['case']}: {r['json'] / 1e6:.1f} MB of JSON{extra} in {r['objects']} objects, "
          f"{cores} cores, median of {runs} alternating runs")
    print(f"{'':10} {'seconds':>8} {'MB/s':>8} {'rows/s':>10} {'RSS MiB':>8} {'CPU %':>6} {'Parquet MB':>11}")
    for tool in ("feedpipe", "duckdb"):
        t = r[tool]
        gz = f" ({r['gzip'] / 1e6 / t['seconds']:.1f} MB/s of gzip)" if r["gzip"] else ""
        print(f"{tool:10} {t['seconds']:8.2f} {r['json'] / 1e6 / t['seconds']:8.1f} "
              f"{r['rows'] / t['seconds']:10.0f} {t['rss_mib']:8.0f} {100 * t['cpu'] / t['seconds']:6.0f} "
              f"{r['parquet'][tool] / 1e6:11.1f}   runs: {', '.join(f'{x:.2f}' for x in t['all'])} s{gz}")
    f, d = r["feedpipe"], r["duckdb"]
    print(f"feedpipe / duckdb: throughput x{d['seconds'] / f['seconds']:.2f}, "
          f"peak RSS x{f['rss_mib'] / d['rss_mib']:.2f}")
    if r["shares"]:
        total = sum(r["shares"].values()) or 1
        print("feedpipe CPU by stage (perf samples): " + ", ".join(
            f"{name} {100 * r['shares'][name] / total:.0f}%" for name in STAGE_NAMES))
    else:
        print(f"feedpipe CPU by stage: not measured ({'; '.join(r['why'] or [])})")
    sys.stdout.flush()


def summary(results):
    print("\n== summary (ratios are feedpipe / DuckDB, of medians)")
    print(f"{'case':24} {'feedpipe MB/s':>13} {'DuckDB MB/s':>12} {'throughput':>11} "
          f"{'feedpipe RSS':>13} {'DuckDB RSS':>11} {'RSS':>6}")
    for r in results:
        f, d = r["feedpipe"], r["duckdb"]
        print(f"{r['case']:24} {r['json'] / 1e6 / f['seconds']:13.1f} {r['json'] / 1e6 / d['seconds']:12.1f} "
              f"{'x%.2f' % (d['seconds'] / f['seconds']):>11} {f['rss_mib']:10.0f} MiB "
              f"{d['rss_mib']:7.0f} MiB {'x%.2f' % (f['rss_mib'] / d['rss_mib']):>6}")
    by_format = {}
    for r in results:
        by_format.setdefault(r["case"].split()[-1], []).append(r)
    for fmt, rs in by_format.items():
        if len(rs) > 1:
            first, last = rs[0], rs[-1]
            print(f"feedpipe peak RSS, {fmt}: {last['rows']:,} rows / {first['rows']:,} rows "
                  f"= x{last['feedpipe']['rss_mib'] / first['feedpipe']['rss_mib']:.2f}")


if __name__ == "__main__":
    main()
