#!/usr/bin/env bash
# Does the arm64 (Graviton2) raw-to-parquet Lambda write the same Parquet as the x86_64
# one? Builds both Lambda zips as the deploy guide builds them (`cargo lambda build
# --release --arm64 --output-format zip -p ingest-lambda -p raw-to-parquet-lambda`, then
# the same with --x86-64), unzips each raw-to-parquet `bootstrap`, and runs each for one
# invocation as Lambda runs it: the arm64 one under qemu-aarch64 (user-mode emulation,
# with the aarch64 glibc of libc6-arm64-cross, since cargo-lambda links against glibc),
# the x86_64 one natively, each against a Runtime API stand-in (runtime_api.py, beside
# this script) and a local S3 server (moto, on 127.0.0.1, stopped on exit). Both get the
# same S3 event naming the same raw objects (`feedpipe gen --framed`, split into OBJECTS
# Firehose-sized objects) and write into their own curated prefix, twice: with the
# built-in sample contract (table `feed`: decimals, timestamps, nested structs and
# lists), and with that contract's decimal columns made float64 (table `feed_float64`,
# through FEEDPIPE_SCHEMA_URL), so that floating point parsing and statistics are
# covered too. Then every Parquet file is compared byte for byte (sha256); the manifests
# too, once each one's own curated prefix (the only place they name it) is replaced by
# a placeholder.
# Exit 0 only when both answered, wrote the same files, and every file is identical.
#
# CPU targets: .cargo/config.toml gives aarch64-unknown-linux-gnu `-C target-cpu=neoverse-n1`
# (Graviton2), which cargo-zigbuild also hands to zig cc as -mcpu for the C dependencies
# (zstd, aws-lc, ring); no other target's flags change. Without it cargo-lambda 1.9.2
# would still build the Rust code --release for neoverse-n1, through a
# `--config build.rustflags` that a target's rustflags override and cargo-zigbuild does
# not see (the C code then generic Armv8). x86_64 keeps cargo-lambda's choice: Rust code
# for haswell, C code generic x86-64. qemu says nothing about speed: no time is taken
# from the emulated run.
#
# Not run by CI: it builds both Lambdas for both architectures (about 5 minutes each from
# cold on two cores; the build times it prints include any wait for cargo's lock on the
# target directory). The downloaded outputs stay in $CARGO_TARGET_DIR/bench-arm64-lambda/out.
#
# usage: jobs/convert/bench/arm64_lambda.sh [ROWS] [OBJECTS]   (defaults 20000 2)
# Needs: cargo and rustup, python3, apt-get (as root, or sudo) when qemu-aarch64 or the
# aarch64 glibc is missing. cargo-lambda (with zig) and moto are installed from PyPI into
# ${FEEDPIPE_TOOLS:-<repo>/.tools}; cargo uses ${CARGO_TARGET_DIR:-<repo>/target}.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
rows="${1:-20000}"
objects="${2:-2}"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
target="${CARGO_TARGET_DIR:-$repo/target}"
work="$target/bench-arm64-lambda"
here="$repo/jobs/convert/bench"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1" # the zig that cargo-lambda 1.9.2 was checked with here
MOTO_VERSION="5.2.5"
sysroot="/usr/aarch64-linux-gnu"
cd "$repo"
mkdir -p "$tools"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pip_has() { [ "$("$1" -m pip show "$2" 2>/dev/null | sed -n 's/^Version: //p')" = "$3" ]; }

echo "== tools"
lambda_venv="$tools/lambda-venv"
if [ ! -x "$lambda_venv/bin/python" ]; then python3 -m venv "$lambda_venv"; fi
if ! pip_has "$lambda_venv/bin/python" cargo-lambda "$CARGO_LAMBDA_VERSION" \
  || ! pip_has "$lambda_venv/bin/python" ziglang "$ZIGLANG_VERSION"; then
  "$lambda_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
fi
# cargo-lambda finds zig as `python3 -m ziglang`: the venv's python3 comes first.
export PATH="$lambda_venv/bin:$PATH"
servers_venv="$tools/servers-venv" # the one tests/run.sh installs moto into
if [ ! -x "$servers_venv/bin/python" ]; then python3 -m venv "$servers_venv"; fi
if ! pip_has "$servers_venv/bin/python" moto "$MOTO_VERSION"; then
  "$servers_venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
apt_packages=()
command -v qemu-aarch64 >/dev/null || apt_packages+=(qemu-user)
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || apt_packages+=(libc6-arm64-cross)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
echo "$(cargo lambda --version) ($(python3 -m ziglang version 2>/dev/null | sed 's/^/zig /')), $(qemu-aarch64 --version | head -1), moto $MOTO_VERSION"

echo "== build: both Lambda zips, arm64 then x86_64"
# The deploy guide's command (both packages, so the features are the deployed ones);
# the x86_64 zips go to a folder of their own, so the arm64 ones stay where it says.
start=$SECONDS
cargo lambda build --release --arm64 --output-format zip -p ingest-lambda -p raw-to-parquet-lambda >&2
arm64_seconds=$((SECONDS - start))
start=$SECONDS
cargo lambda build --release --x86-64 --output-format zip --lambda-dir "$target/lambda-x86_64" \
  -p ingest-lambda -p raw-to-parquet-lambda >&2
x86_64_seconds=$((SECONDS - start))
echo "arm64 build ${arm64_seconds} s: $target/lambda/raw-to-parquet-lambda/bootstrap.zip"
echo "x86_64 build ${x86_64_seconds} s: $target/lambda-x86_64/raw-to-parquet-lambda/bootstrap.zip"
# The sample generator: the CLI already built (release or dev: its bytes do not depend
# on the profile), else the dev-profile one the tests build. Both Lambdas get the same
# input whichever makes it.
gen="$target/release/feedpipe"
[ -x "$gen" ] || gen="$target/debug/feedpipe"
if [ ! -x "$gen" ]; then cargo build --workspace --bin feedpipe >&2; fi

rm -rf "$work" && mkdir -p "$work/arm64" "$work/x86_64" "$work/raw"
for arch in arm64 x86_64; do
  zip="$target/lambda/raw-to-parquet-lambda/bootstrap.zip"
  [ "$arch" = arm64 ] || zip="$target/lambda-x86_64/raw-to-parquet-lambda/bootstrap.zip"
  python3 -m zipfile -e "$zip" "$work/$arch"
  chmod +x "$work/$arch/bootstrap"
done
python3 - "$work" <<'PY'
import pathlib, struct, sys
# e_machine of each bootstrap: the zips hold what their names say.
for arch, machine in (("arm64", 183), ("x86_64", 62)):
    head = (pathlib.Path(sys.argv[1]) / arch / "bootstrap").read_bytes()[:20]
    got = struct.unpack("<H", head[18:20])[0]
    if head[:4] != b"\x7fELF" or got != machine:
        sys.exit(f"error: {arch}/bootstrap is not an {arch} ELF executable (e_machine {got})")
    print(f"{arch}/bootstrap: ELF, e_machine {got}")
PY

echo "== local S3 (moto) and $rows sample rows in $objects raw object(s)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_pid=""
stop_server() { if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi; }
trap stop_server EXIT
port="$(free_port)"
"$servers_venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
up() { python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; }
for _ in $(seq 1 100); do up && break; sleep 0.2; done
up || { echo "error: moto did not start; see $work/moto.log" >&2; exit 1; }
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ALLOW_HTTP=true AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

"$gen" gen --rows "$rows" --framed --out "$work/all.jsonl" >&2
split -l $(((rows + objects - 1) / objects)) -d -a 3 "$work/all.jsonl" \
  "$work/raw/feedpipe-bench-1-2026-11-23-10-00-00-"
rm "$work/all.jsonl"
# Uploads the objects under Firehose's key layout and writes the S3 event naming them
# all (one record each, keys URL-encoded as S3 sends them); uploads the float64 variant
# of the sample contract.
cp "$repo/sql/contracts/feed.json" "$work/feed.json"
"$servers_venv/bin/python" - "$work" <<'PY'
import json, pathlib, sys, urllib.parse
import boto3
work = pathlib.Path(sys.argv[1])
s3 = boto3.client("s3")
for bucket in ("raw", "curated", "config"):
    s3.create_bucket(Bucket=bucket)
contract = json.loads((work / "feed.json").read_text())
contract["table"] = "feed_float64"
floats = json.dumps(contract).replace('"decimal(18,2)"', '"float64"')
s3.put_object(Bucket="config", Key="feed_float64.json", Body=floats.encode())
records = []
for path in sorted((work / "raw").iterdir()):
    key = f"raw/2026/11/23/10/{path.name}"
    body = path.read_bytes()
    etag = s3.put_object(Bucket="raw", Key=key, Body=body)["ETag"].strip('"')
    records.append({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:00:05.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "feedpipe",
               "bucket": {"name": "raw", "ownerIdentity": {"principalId": "EXAMPLE"},
                          "arn": "arn:aws:s3:::raw"},
               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": len(body),
                          "eTag": etag, "sequencer": "0055AED6DCD90281E5"}},
    })
    lines = body.count(b"\n")
    print(f"s3://raw/{key}: {len(body)} bytes, {lines} records")
(work / "event.json").write_text(json.dumps({"Records": records}))
PY

# The same event and configuration for both; each writes under its own prefix.
invoke() {
  local arch="$1" schema="$2"
  shift 2
  echo "== invoke: $arch, ${schema:-the sample contract} ($*)"
  env FEEDPIPE_CURATED_URL="s3://curated/$arch" FEEDPIPE_QUARANTINE_URL="s3://raw/quarantine/$arch" \
    ${schema:+FEEDPIPE_SCHEMA_URL="$schema"} \
    python3 "$here/runtime_api.py" --event "$work/event.json" --log "$work/$arch${schema:+-float64}.log" -- "$@" \
    | tee -a "$work/$arch.answers"
}
for schema in "" s3://config/feed_float64.json; do
  invoke arm64 "$schema" qemu-aarch64 -L "$sysroot" "$work/arm64/bootstrap"
  invoke x86_64 "$schema" "$work/x86_64/bootstrap"
done

echo "== compare"
"$servers_venv/bin/python" - "$work" "$rows" "$objects" <<'PY'
import hashlib, json, pathlib, sys
import boto3
work, rows, objects = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s3 = boto3.client("s3")
arches = ("arm64", "x86_64")
failed = []
want = {"converted": objects, "rows_written": rows}
for arch in arches:
    for answer in open(f"{work}/{arch}.answers").read().splitlines():
        kind, body = answer.split(" ", 1)
        if kind != "response" or json.loads(body) != want:
            failed.append(f"{arch} answered {kind} {body}, expected {json.dumps(want)}")

def listing(bucket, prefix, arch, label):
    """Every object under the prefix, by its key below it; also kept in $work/out/."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            key = o["Key"][len(prefix):]
            out[key] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            path = pathlib.Path(work, "out", arch, label, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(out[key])
    return out

def placeholder(data, arch):
    """An object with its own arch's prefixes (curated and quarantine) made one placeholder."""
    for root in (f"s3://curated/{arch}/", f"s3://raw/quarantine/{arch}/"):
        data = data.replace(root.encode(), root.replace(arch, "<arch>").encode())
    return data

stores = {"curated": ("curated", "{}/"), "quarantine": ("raw", "quarantine/{}/")}
table, parquet, other = [], 0, 0
for label, (bucket, prefix) in stores.items():
    got = {arch: listing(bucket, prefix.format(arch), arch, label) for arch in arches}
    for key in sorted(set(got["arm64"]) | set(got["x86_64"])):
        name = f"{label}/{key}"
        if key not in got["arm64"] or key not in got["x86_64"]:
            failed.append(f"{name}: written by {'arm64' if key in got['arm64'] else 'x86_64'} only")
            continue
        if key.endswith(".parquet"):
            a, x = got["arm64"][key], got["x86_64"][key]
            parquet += 1
        else:  # manifests, quarantine objects: each names its own prefix, made <arch> here
            a, x = placeholder(got["arm64"][key], "arm64"), placeholder(got["x86_64"][key], "x86_64")
            name += " *"
            other += 1
        ha, hx = hashlib.sha256(a).hexdigest(), hashlib.sha256(x).hexdigest()
        table.append((name, str(len(a)), ha, "same" if ha == hx else hx))
        if ha != hx:
            failed.append(f"{name}: the bytes differ ({len(a)} bytes arm64, {len(x)} x86_64)")
width = max([len(r[0]) for r in table] + [4])
print(f"{'file':{width}} {'bytes':>8}  {'sha256 arm64':64}  sha256 x86_64")
for name, size, ha, hx in table:
    print(f"{name:{width}} {size:>8}  {ha}  {hx}")
if other:
    print(f"* {other} manifest(s) and quarantine object(s), compared with their own prefix "
          "(s3://curated/<arch>/, s3://raw/quarantine/<arch>/) written as <arch>: "
          + ("identical" if not any(" *:" in f for f in failed) else "NOT identical"))
if parquet == 0:
    failed.append("no Parquet file written")
if failed:
    print("arm64 and x86_64 differ:", *failed, f"(both outputs are in {work}/out)", sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"arm64 and x86_64 Parquet: byte-identical ({parquet} files)")
PY
