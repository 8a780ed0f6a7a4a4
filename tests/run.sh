#!/usr/bin/env bash
# The whole test suite, from a fresh clone, with nothing installed by hand:
#   1. installs the local AWS stand-in (moto's server, from PyPI) and DuckDB (an
#      independent Parquet reader) into .tools/, and the Snowflake stand-in
#      (fakesnow) into a venv of its own there
#   2. starts it on 127.0.0.1 on a free port, and stops it on exit (even on failure)
#   3. checks infra/ offline (terraform fmt, checkov, HCL wiring test)
#   4. runs every Rust test (unit, integration, end-to-end) in the dev profile
#
# Tools go under ${FEEDPIPE_TOOLS:-<repo>/.tools}; cargo uses ${CARGO_TARGET_DIR:-<repo>/target}.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
venv="$tools/servers-venv"
MOTO_VERSION="5.2.5"
DUCKDB_VERSION="2.0.0" # an independent Parquet reader for the conversion's read-back test
cd "$repo"
mkdir -p "$tools"

echo "== local servers: moto $MOTO_VERSION in $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$("$venv/bin/python" -m pip show moto 2>/dev/null | sed -n 's/^Version: //p')" != "$MOTO_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
if [ "$("$venv/bin/python" -m pip show duckdb 2>/dev/null | sed -n 's/^Version: //p')" != "$DUCKDB_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi
export FEEDPIPE_TEST_PYTHON="$venv/bin/python"

# The Snowflake + Snowpipe stand-in (fakesnow, driven by tests/py/snowflake_load.py) in a venv of
# its own, so its pins cannot move the servers venv's. Versions tested together; fakesnow 0.12.1
# fails to import with snowflake-connector-python 5.
snowflake_venv="$tools/snowflake-venv"
FAKESNOW_VERSION="0.12.1"
SNOWFLAKE_PINS=(
  "fakesnow==$FAKESNOW_VERSION" "snowflake-connector-python==4.8.1" "pyarrow==26.0.1"
  "s3fs==2026.9.0" "jinja2==3.1.6" "duckdb==2.0.0" "sqlglot==30.22.0"
  "schemachange==4.4.0"
)
echo "== Snowflake stand-in: fakesnow $FAKESNOW_VERSION in $snowflake_venv"
if [ ! -x "$snowflake_venv/bin/python" ]; then
  python3 -m venv "$snowflake_venv"
fi
snowflake_installed="$("$snowflake_venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-')"
for pin in "${SNOWFLAKE_PINS[@]}"; do
  if ! grep -qxF "$pin" <<<"$snowflake_installed"; then
    "$snowflake_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "fakesnow[server]==$FAKESNOW_VERSION" "${SNOWFLAKE_PINS[@]:1}"
    break
  fi
done
export FEEDPIPE_TEST_SNOWFLAKE_PYTHON="$snowflake_venv/bin/python"

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT

moto_port="$(free_port)"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$tools/moto.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
"$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$moto_port/moto-api/', timeout=2)" \
  || { echo "error: moto did not start; see $tools/moto.log" >&2; exit 1; }
echo "moto listening on 127.0.0.1:$moto_port"

# Every AWS client (SDK and object_store) goes to the local server with dummy keys.
export FEEDPIPE_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
export AWS_ENDPOINT_URL="$FEEDPIPE_TEST_AWS_ENDPOINT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ALLOW_HTTP=true AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

echo "== infra/ offline checks"
bash "$repo/tests/infra/check.sh"

echo "== cargo test"
# The tests that run behind the fault proxy are left to the second run below.
cargo test --workspace --locked "$@" -- --skip under_faults_

echo "== cargo test: the chain behind the fault-injecting proxy (tests/py/fault_proxy.py)"
# S3 500/503/SlowDown on 20% of object calls; Kinesis PutRecords throttled on 20% of
# calls and 15% of records rejected. object_store reads AWS_ENDPOINT_URL, so this run
# gets its own process with that pointed at the proxy. Same selection as above (only
# the name filter differs), so nothing is built again.
proxy_out="$tools/fault-proxy.out"
"$venv/bin/python" "$repo/tests/py/fault_proxy.py" --target "http://127.0.0.1:$moto_port" --port 0 \
  --s3-error-rate 0.2 --kinesis-throttle-rate 0.2 --kinesis-reject-rate 0.15 --seed 5 \
  >"$proxy_out" 2>"$tools/fault-proxy.log" &
pids+=("$!")
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$proxy_out" 2>/dev/null && break
  sleep 0.1
done
proxy_port="$(sed -n 's/^listening on 127.0.0.1://p' "$proxy_out")"
[ -n "$proxy_port" ] || { echo "error: the fault proxy did not start; see $tools/fault-proxy.log" >&2; exit 1; }
echo "fault proxy listening on 127.0.0.1:$proxy_port"
FEEDPIPE_TEST_FAULT_PROXY="http://127.0.0.1:$proxy_port" AWS_ENDPOINT_URL="http://127.0.0.1:$proxy_port" \
  cargo test --workspace --locked "$@" -- under_faults_
