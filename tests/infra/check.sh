#!/usr/bin/env bash
# Offline checks of the Terraform in infra/ (no AWS account, no provider
# downloads needed):
#   1. terraform fmt -check -recursive infra
#   2. checkov (static security/best-practice scan): must report 0 failed;
#      every skip is a `#checkov:skip=CKV_...:reason` comment on its resource
#   3. tests/infra/test_wiring.py: parses the HCL and checks the wiring
#      (Firehose source/destination, raw notification -> raw-to-parquet queue,
#      Lambda environment variable names, the ingest's continuation queue:
#      its URL in the environment, event source mapping, redrive, IAM, alarms;
#      the manifests statement and ListBucket on every bucket a Lambda reads,
#      IAM wildcards; many feeds, rendered with and without feeds_dir: the
#      upload, FEEDPIPE_FEEDS_URL, its grant, every table, the preconditions),
#      then proves each check can fail by mutating the source.
#   4. tests/infra/test_handler_values.py: every Terraform variable that reaches
#      a handler allows exactly the values the handler's config.rs accepts.
#   5. tests/infra/test_deploy_docs.py: the deploy commands of README.md,
#      infra/README.md and sql/ (terraform -chdir=infra only; schemachange
#      deploy with --root-folder, --change-history-table and
#      --create-change-history-table).
#   6. tests/infra/test_sql_parse.py: every sql/ statement through sqlglot's
#      Snowflake dialect, with the Snowflake stand-in's venv that tests/run.sh
#      installs (FEEDPIPE_TEST_SNOWFLAKE_PYTHON, else
#      <tools>/snowflake-venv/bin/python).
#   7. tests/infra/test_dedup_reload.py: on the Snowflake stand-in (fakesnow,
#      same venv), a corrected re-conversion of the same file name reloaded by
#      sql/backfill/refresh.sql becomes visible in the dedup view.
#   8. tests/infra/test_file_check.py: on the same stand-in, the file check of
#      sql/R__monitoring.sql names a curated file that was never loaded (and
#      one whose rows differ from its manifest), not a whole one.
#   9. tests/infra/test_iam_check.py: the IAM check of recorded runs
#      (tests/infra/iam_check.py, policies rendered from infra/ by
#      tests/infra/policies.py, evaluated with @cloud-copilot/iam-simulate under
#      node): every request of tests/infra/iam_fixture/ is allowed, dropping
#      any used statement gives DENIED naming its action and resource, an
#      unused statement gives UNUSED, a trust policy that keeps a role from
#      its assumer (or lets another principal into Snowflake's) gives TRUST,
#      and the ingest's continuation SendMessage is allowed on its
#      continuation queue only (DENIED on any other queue); and, over
#      tests/infra/iam_fixture_feeds/ (a deployment with many feeds), the
#      feeds file's reads and both tables' writes and reads are allowed and
#      need each grant feeds.tf adds.
#      The simulator (exact versions in iam_check.py's NPM_PACKAGES) is
#      installed with npm into ${FEEDPIPE_TOOLS:-<repo>/.tools}/node on first
#      use only.
#  10. tests/infra/test_deploy_run.py: the deploy guide's Snowflake commands
#      (VARS=, schemachange render and deploy, taken from README.md,
#      infra/README.md, sql/README.md and sql/ comments) run as written by bash
#      with schemachange 4.4.0 (Snowflake venv) against fakesnow: VARS as
#      `terraform output -json sql_vars` gives it for terraform.tfvars.example,
#      every script rendered with every placeholder set, dry runs, a deploy.
# Each of 3-10 also mutates its inputs to prove that its checks can fail.
#
# Tools go to a venv at ${FEEDPIPE_TOOLS:-<repo>/.tools}/venv. checkov and
# python-hcl2 both install a Python package called `hcl2` (checkov depends on
# the bridgecrew fork), so python-hcl2 lives in its own folder inside the venv
# (venv/hcl2-lib) and is put on PYTHONPATH only for the wiring test.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${FEEDPIPE_TOOLS:-$repo/.tools}"
venv="$tools/venv"
hcl2_lib="$venv/hcl2-lib"

CHECKOV_VERSION="3.3.30"
PYTHON_HCL2_VERSION="8.1.4"

cd "$repo"

echo "== terraform fmt -check -recursive infra"
if ! command -v terraform >/dev/null 2>&1; then
  echo "error: terraform is not on PATH; install Terraform >= 1.6 (only 'terraform fmt' is used, no providers)" >&2
  exit 1
fi
if ! terraform fmt -check -recursive infra; then
  echo "error: infra/ is not terraform-fmt clean; run: terraform fmt -recursive infra" >&2
  exit 1
fi
echo "fmt: clean"

echo "== tools in $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
installed_version() { # package name -> version, or nothing
  "$venv/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}
if [ "$(installed_version checkov)" != "$CHECKOV_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi
if [ ! -d "$hcl2_lib/python_hcl2-$PYTHON_HCL2_VERSION.dist-info" ]; then
  rm -rf "$hcl2_lib"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --target "$hcl2_lib" "python-hcl2==$PYTHON_HCL2_VERSION"
fi
echo "checkov $("$venv/bin/checkov" --version), python-hcl2 $PYTHON_HCL2_VERSION"

echo "== checkov -d infra --framework terraform"
checkov_out="$(mktemp)"
trap 'rm -f "$checkov_out"' EXIT
set +e
"$venv/bin/checkov" -d infra --framework terraform --skip-download --quiet --compact >"$checkov_out" 2>&1
checkov_rc=$?
set -e
cat "$checkov_out"
summary="$(grep -E '^terraform scan results:|Passed checks: [0-9]+, Failed checks: [0-9]+' "$checkov_out" | tail -n 1 || true)"
if [ "$checkov_rc" -ne 0 ] || ! grep -Eq 'Failed checks: 0,' "$checkov_out"; then
  echo "error: checkov reported failed checks (exit $checkov_rc)" >&2
  exit 1
fi
echo "checkov: $summary"

echo "== tests/infra/test_wiring.py"
PYTHONPATH="$hcl2_lib${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" tests/infra/test_wiring.py

echo "== tests/infra/test_handler_values.py"
PYTHONPATH="$hcl2_lib${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" tests/infra/test_handler_values.py

echo "== tests/infra/test_deploy_docs.py"
"$venv/bin/python" tests/infra/test_deploy_docs.py

echo "== tests/infra/test_sql_parse.py"
snowflake_python="${FEEDPIPE_TEST_SNOWFLAKE_PYTHON:-$tools/snowflake-venv/bin/python}"
if [ ! -x "$snowflake_python" ]; then
  echo "error: $snowflake_python not found: the sqlglot parse runs in the Snowflake stand-in's venv," \
    "which tests/run.sh installs (or set FEEDPIPE_TEST_SNOWFLAKE_PYTHON)" >&2
  exit 1
fi
"$snowflake_python" tests/infra/test_sql_parse.py

echo "== tests/infra/test_dedup_reload.py"
"$snowflake_python" tests/infra/test_dedup_reload.py

echo "== tests/infra/test_file_check.py"
"$snowflake_python" tests/infra/test_file_check.py

echo "== tests/infra/test_iam_check.py"
if ! command -v node >/dev/null 2>&1; then
  echo "error: node is not on PATH: the IAM check runs @cloud-copilot/iam-simulate under node (>= 18)" >&2
  exit 1
fi
PYTHONPATH="$hcl2_lib${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" -c \
  'import sys; sys.path.insert(0, "tests/infra"); import iam_check; print("iam-simulate in", iam_check.ensure_simulator())'
PYTHONPATH="$hcl2_lib${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" tests/infra/test_iam_check.py

echo "== tests/infra/test_deploy_run.py"
"$snowflake_python" tests/infra/test_deploy_run.py  # python-hcl2 from $hcl2_lib, after the venv's own packages
