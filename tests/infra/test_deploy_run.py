#!/usr/bin/env python3
"""The deploy guide's Snowflake commands, run as written against the Snowflake stand-in (issue 15).

The schemachange commands of README.md's "Deploy to AWS and Snowflake" section,
infra/README.md, sql/README.md and the comments of sql/**/*.sql are taken from
the text (code blocks and inline code spans, shell continuations joined) and
run by bash, unchanged, from the repository root, with schemachange 4.4.0 (the
version tests/run.sh pins in the Snowflake stand-in's venv) against fakesnow's
server, started in this process.

What stands in for what the user has:

  * `terraform -chdir=infra output -json sql_vars`: a `terraform` on PATH that
    answers exactly that command (and fails on any other) with the value of
    infra/outputs.tf's `sql_vars`, evaluated by tests/infra/hcl_eval.py over
    the module tree (tests/infra/policies.py's name resolution: bucket and role
    names as Terraform computes them) for the values of
    infra/terraform.tfvars.example, account 123456789012 (the one value only
    the user's credentials know), printed as Terraform prints one output with
    -json (compact JSON, keys sorted). So `VARS="$(terraform …)"` and
    `--vars "$(terraform …)"` run as written.
  * the `{...}` of a command in an sql/ comment (`--vars '{...}'`): the same
    values, plus the placeholders sql/README.md says the user fills
    (`{{ dt }}`, `{{ modified_after }}`, `{{ files }}`).
  * the Snowflake connection: ~/.snowflake/connections.toml (HOME and
    SNOWFLAKE_HOME point at a temporary folder) with a connection `feedpipe`,
    named by SNOWFLAKE_DEFAULT_CONNECTION_NAME as the guide says; schemachange
    4.4.0 reads that file only when a connection is named (checked below). It
    drops `host`, `port` and `protocol` from connections.toml ("Unknown
    configuration keys found and will be ignored"), so the stand-in's address
    comes from SNOWFLAKE_HOST, SNOWFLAKE_PORT and SNOWFLAKE_PROTOCOL, which it
    passes through to the connector.
  * the manual steps between the commands (run rendered V1 and V2 in
    Snowflake): the test runs what `schemachange render` rendered (the same
    checksum) through the connector.

Then, in order:

  1. render: every script of sql/ (V*, R__*, backfill/*) with `schemachange
     render --root-folder sql --vars "$VARS"`: it must succeed (schemachange
     renders with Jinja's StrictUndefined, so an undefined placeholder fails
     it: "'<name>' is undefined"), and, checked here because an empty value
     renders as nothing, every placeholder a script uses must be a non-empty
     value of VARS (or a user-filled one, for backfill/).
  2. the guide's render commands, as written, and the rendered V1 and V2 run
     by hand (V2's CREATE STORAGE INTEGRATION and DESC INTEGRATION are no-ops
     on fakesnow: sql/README.md's list).
  3. every `schemachange deploy` of the guide, as written, with
     SCHEMACHANGE_DRY_RUN=true: all 10 V/R scripts would be applied, none is.
  4. the sql/README.md deploy command for real: every script is applied and
     recorded in the change history table, and the objects exist. fakesnow
     cannot run some statements (sql/README.md, "What the local Snowflake
     stand-in (fakesnow) cannot run"): those, and only those, are made no-ops
     with fakesnow's `nop_regexes` session parameter (the kinds of
     tests/py/snowflake_load.py's UNSUPPORTED), plus schemachange's own
     `ALTER SESSION SET QUERY_TAG` (fakesnow: not implemented). Then the other
     deploy commands of the guide, for real: nothing left to apply.

Also: every `pip install schemachange` of the guide pins this version, and
without SNOWFLAKE_DEFAULT_CONNECTION_NAME the deploy cannot connect (the file
is not read), which is why the guide names the connection.

Mutations (each must fail): VARS without `curated_bucket` (names the scripts
and the variable, schemachange's "'curated_bucket' is undefined" too), VARS
with an empty `table`, a guide deploy command with a flag schemachange 4.4.0
rejects, README.md's `pip install schemachange` unpinned.

Run: <snowflake venv>/bin/python tests/infra/test_deploy_run.py (python-hcl2
from PYTHONPATH or <tools>/venv/hcl2-lib, where tests/infra/check.sh installs it).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import warnings

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "py"))

import policies  # noqa: E402  (finds python-hcl2 itself)
import hcl2  # noqa: E402
from hcl_eval import evaluate  # noqa: E402
from test_deploy_docs import FENCE, INLINE, documents  # noqa: E402
from test_wiring import norm  # noqa: E402
from verdict import verdict  # noqa: E402

SCHEMACHANGE_VERSION = "4.4.0"
BIN = pathlib.Path(sys.executable).parent
SQL = REPO / "sql"
ACCOUNT_ID = "123456789012"
CONNECTION = "feedpipe"
# what sql/README.md's placeholder table says the user fills in for backfill/ (values of its examples)
USER_FILLED = {"dt": "2025-01-15", "modified_after": "2025-01-15T00:00:00Z", "files": "'dt=2025-01-15/a.parquet'"}
SCHEMACHANGE_STATEMENTS = [r"(?is)^ALTER\s+SESSION\s+(?:UN)?SET\s+QUERY_TAG\b"]  # its own, not the scripts'
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ---------------------------------------------------------------- VARS, as Terraform gives it


def sql_vars() -> dict:
    """infra/outputs.tf's sql_vars for the values of infra/terraform.tfvars.example."""
    tfvars = norm(hcl2.loads((REPO / "infra" / "terraform.tfvars.example").read_text()))
    names = {k: v for k, v in tfvars.items() if k != "aws_region"}
    names.update(region=tfvars["aws_region"], account_id=ACCOUNT_ID)
    tree = policies.Tree(names)
    return evaluate(tree.modules["."].outputs["sql_vars"]["value"], tree.scope(()))


def terraform_output_json(value) -> str:
    """`terraform output -json NAME`: cty's JSON (compact, attributes sorted, Go's HTML escapes)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ---------------------------------------------------------------- the guide's commands


def guide_commands(docs: dict[str, str]) -> list[tuple[str, int, str]]:
    """(document, line, command) for every `VARS=` and `schemachange` command, in document order."""
    out = []
    readme = (REPO / "README.md").read_text()
    offset = {"README.md (deploy section)": readme.count("\n", 0, max(readme.find("## Deploy to AWS and Snowflake"), 0))}
    for rel, text in docs.items():
        if rel.endswith(".sql"):  # comment lines only: take the text after `--`
            text = "\n".join(re.sub(r"^\s*--\s?", "", line) for line in text.splitlines())
        found = []
        covered = []
        for block in FENCE.finditer(text):
            covered.append((block.start(), block.end()))
            body = block.group(1)
            pos = block.start(1)
            for raw in re.split(r"(?<!\\)\n", body):
                line = raw.replace("\\\n", " ").strip()
                if re.match(r"(?:VARS=|schemachange\s)", line):
                    found.append((pos, " ".join(line.split()) if "\n" in raw else line))
                pos += len(raw) + 1
        rest = text
        for s, e in covered:
            rest = rest[:s] + re.sub(r"[^\n]", " ", rest[s:e]) + rest[e:]
        for span in INLINE.finditer(rest):
            cmd = " ".join(span.group(1).split())
            if re.match(r"VARS=[\"'$]|schemachange\s+(?:deploy|render)\s+-", cmd):  # whole commands, not a mention
                found.append((span.start(), cmd))
        for pos, cmd in sorted(found):
            out.append((rel, text.count("\n", 0, pos) + 1 + offset.get(rel, 0), cmd))
    return out


def script_for(commands, rel: str, cmd: str, vars_json: str) -> str:
    """The bash text that runs `cmd` as the user would: after its document's `VARS=` line when it uses $VARS."""
    lines = ["set -euo pipefail"]
    if "$VARS" in cmd:
        assignments = [c for r, _, c in commands if r == rel and c.startswith("VARS=")]
        lines.append(assignments[0] if assignments else f"VARS={shell_quote(vars_json)}")
    if "'{...}'" in cmd:  # the user writes the values in: sql_vars and, for backfill/, the ones they fill
        filled = {**json.loads(vars_json), **(USER_FILLED if "sql/backfill/" in cmd else {})}
        cmd = cmd.replace("'{...}'", shell_quote(terraform_output_json(filled)))
    lines.append(cmd)
    return "\n".join(lines) + "\n"


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------- running


class Env:
    """A HOME with connections.toml, a `terraform` stand-in, and the environment every command gets."""

    def __init__(self, root: pathlib.Path, vars_json: str, port: int | None):
        self.root = root
        home = root / "home"
        (home / ".snowflake").mkdir(parents=True)
        toml = home / ".snowflake" / "connections.toml"
        toml.write_text(f'[{CONNECTION}]\naccount = "fakesnow"\nuser = "fake"\npassword = "snow"\n')
        toml.chmod(0o600)
        shim = root / "bin"
        shim.mkdir()
        (root / "sql_vars.json").write_text(vars_json + "\n")
        (shim / "terraform").write_text(
            "#!/usr/bin/env bash\n"
            'if [ "$*" = "-chdir=infra output -json sql_vars" ]; then cat "$(dirname "$0")/../sql_vars.json"; exit 0; fi\n'
            'echo "terraform stand-in: only \\`terraform -chdir=infra output -json sql_vars\\` is answered, not: $*" >&2\n'
            "exit 2\n"
        )
        (shim / "terraform").chmod(0o755)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "SCHEMACHANGE_"))}
        self.env = {
            **base,
            "PATH": f"{shim}:{BIN}:{base.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "SNOWFLAKE_HOME": str(home),
            "SNOWFLAKE_DEFAULT_CONNECTION_NAME": CONNECTION,
            "NO_COLOR": "1",
        }
        if port is not None:
            self.env.update(SNOWFLAKE_HOST="127.0.0.1", SNOWFLAKE_PORT=str(port), SNOWFLAKE_PROTOCOL="http",
                            SNOWFLAKE_NETWORK_TIMEOUT="1", SNOWFLAKE_LOGIN_TIMEOUT="20")

    def run(self, script: str, **extra) -> tuple[int, str]:
        env = {k: v for k, v in {**self.env, **extra}.items() if v is not None}
        p = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        return p.returncode, ANSI.sub("", p.stdout + p.stderr)


def last_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if re.search(r"\berror\b|unrecognized|usage:", ln, re.I)]
    return " | ".join(" ".join(ln.split()) for ln in lines[:3])[:600] or output.strip().splitlines()[-1:][0][:300]


# ---------------------------------------------------------------- 1. render


def placeholders(path: pathlib.Path) -> set[str]:
    import jinja2
    import jinja2.meta

    return jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(path.read_text()))


def all_scripts() -> list[pathlib.Path]:
    return sorted(p for p in SQL.rglob("*.sql"))


def check_render(env: Env, variables: dict) -> list[str]:
    fails = []
    vars_json = terraform_output_json(variables)
    for path in all_scripts():
        rel = path.relative_to(REPO).as_posix()
        given = dict(variables)
        if path.parent != SQL:
            given.update(USER_FILLED)
        for name in sorted(placeholders(path)):
            if name not in given:
                fails.append(f"{rel}: placeholder {{{{ {name} }}}} is not in VARS")
            elif not isinstance(given[name], str) or not given[name].strip():
                fails.append(f"{rel}: placeholder {{{{ {name} }}}} is empty in VARS ({given[name]!r}): it would render as nothing")
        rc, out = env.run(f"schemachange render --root-folder sql --vars {shell_quote(terraform_output_json(given))} {rel}\n")
        if rc != 0 or "Success" not in out:
            fails.append(f"{rel}: schemachange render failed (exit {rc}): {last_error(out)}")
    return fails


# ---------------------------------------------------------------- 2-4 against fakesnow


def nop_regexes() -> list[str]:
    """fakesnow's nop_regexes (re.match on the statement) for the statement kinds sql/README.md lists."""
    from snowflake_load import UNSUPPORTED

    lead = r"(?is)^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
    out = []
    for pattern, _reason in UNSUPPORTED:
        p = pattern.pattern
        out.append(lead + p[1:] if p.startswith("^") else r"(?is)^.*?" + p)
    return out + SCHEMACHANGE_STATEMENTS


def rendered(path: pathlib.Path, variables: dict) -> str:
    from schemachange.JinjaTemplateProcessor import JinjaTemplateProcessor

    processor = JinjaTemplateProcessor(project_root=SQL)
    return processor.render(processor.relpath(path), variables)


def versioned_and_repeatable() -> list[pathlib.Path]:
    return sorted(p for p in SQL.glob("*.sql") if re.match(r"^(V\d+__|R__)", p.name))


def start_server():
    import fakesnow

    stack = contextlib.ExitStack()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        kwargs = stack.enter_context(fakesnow.server())
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "fakesnow", "fakesnow.server", "sqlglot"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return stack, kwargs


def run_by_hand(con, path: pathlib.Path, variables: dict, nops: list[str]) -> list[str]:
    """A rendered script pasted into a worksheet: each statement, the listed kinds skipped."""
    from snowflake.connector.util_text import split_statements

    done = []
    cur = con.cursor()
    for sql, _ in split_statements(io.StringIO(rendered(path, variables)), remove_comments=True):
        sql = sql.strip().rstrip(";").strip()
        if not sql:
            continue
        if any(re.match(p, sql) for p in nops):
            done.append(f"{' '.join(sql.split()[:4])}: no-op on fakesnow")
            continue
        cur.execute(sql)
        done.append(f"{' '.join(sql.split()[:4])}: ran")
    return done


def exists(con, sql: str) -> bool:
    try:
        con.cursor().execute(sql)
        return True
    except Exception:  # noqa: BLE001
        return False


def check_against_standin(commands, variables: dict, root: pathlib.Path) -> tuple[list[str], list[str]]:
    """(failures, notes)."""
    import snowflake.connector

    fails, notes = [], []
    vars_json = terraform_output_json(variables)
    stack, kwargs = start_server()
    with stack:
        env = Env(root, vars_json, kwargs["port"])
        con = snowflake.connector.connect(**{**kwargs, "session_parameters": {
            **kwargs["session_parameters"], "nop_regexes": nop_regexes()}})
        db, schema, table = variables["database"], variables["schema"], variables["table"]
        nop_env = json.dumps({"nop_regexes": nop_regexes()})
        deploys = [(r, ln, c) for r, ln, c in commands if c.startswith("schemachange deploy")]
        renders = [(r, ln, c) for r, ln, c in commands if c.startswith("schemachange render")]

        # 2. the guide's render commands as written; the V1 and V2 they render, run by hand
        for rel, line, cmd in renders:
            rc, out = env.run(script_for(commands, rel, cmd, vars_json))
            m = re.search(r"(sql/\S+\.sql)", cmd)
            if rc != 0 or "Success" not in out or not m:
                fails.append(f"{rel}:{line}: `{cmd}` failed (exit {rc}): {last_error(out)}")
                continue
            path = REPO / m.group(1)
            given = {**variables, **(USER_FILLED if path.parent != SQL else {})}
            checksum = hashlib.sha224(rendered(path, given).encode()).hexdigest()
            if f"checksum={checksum}" not in out:
                fails.append(f"{rel}:{line}: `{cmd}` rendered something else than {m.group(1)} with VARS")
            notes.append(f"{rel}:{line}: {cmd.split('#')[0].strip()}: rendered")
        for name in ("V1__database_and_schema.sql", "V2__storage_integration.sql"):
            try:
                for step in run_by_hand(con, SQL / name, variables, nop_regexes()):
                    notes.append(f"by hand, {name}: {step}")
            except Exception as e:  # noqa: BLE001
                fails.append(f"{name}, run by hand as rendered: {' '.join(str(e).split())[:300]}")

        expected = len(versioned_and_repeatable())
        # 3. every deploy of the guide, as written, dry run
        for rel, line, cmd in deploys:
            rc, out = env.run(script_for(commands, rel, cmd, vars_json), SCHEMACHANGE_DRY_RUN="true")
            m = completed(out)
            if rc != 0 or not m or int(m.group(1)) != expected:
                fails.append(f"{rel}:{line}: dry run of `{cmd}` failed (exit {rc}, "
                             f"{m.group(0) if m else 'not completed'}; expected {expected} scripts): {last_error(out)}")
            else:
                notes.append(f"{rel}:{line}: dry run: {m.group(0)}")
        if exists(con, f"SELECT 1 FROM {db}.{schema}.{table} LIMIT 0"):
            fails.append(f"a dry run created {db}.{schema}.{table}")

        # 4. deploy for real: sql/README.md's command first, then the others have nothing left
        ordered = sorted(deploys, key=lambda d: d[0] != "sql/README.md")
        for i, (rel, line, cmd) in enumerate(ordered):
            rc, out = env.run(script_for(commands, rel, cmd, vars_json), SNOWFLAKE_SESSION_PARAMETERS=nop_env)
            m = completed(out)
            want = expected if i == 0 else 0
            if rc != 0 or not m or int(m.group(1)) != want:
                fails.append(f"{rel}:{line}: deploy of `{cmd}` on fakesnow failed (exit {rc}, "
                             f"{m.group(0) if m else 'not completed'}; expected scripts_applied={want}): {last_error(out)}")
            else:
                notes.append(f"{rel}:{line}: deploy on fakesnow: {m.group(0)}")
        history_table = None
        for _, _, cmd in deploys:
            h = re.search(r"--change-history-table[ =](\S+)", cmd)
            history_table = h.group(1) if h else history_table
        try:
            cur = con.cursor()
            cur.execute(f"SELECT script, status FROM {history_table} ORDER BY installed_on")
            history = {s: st for s, st in cur.fetchall()}
        except Exception as e:  # noqa: BLE001
            history = {}
            fails.append(f"change history {history_table}: {' '.join(str(e).split())[:200]}")
        for path in versioned_and_repeatable():
            if history.get(path.name) != "Success":
                fails.append(f"change history {history_table}: {path.name} is {history.get(path.name, 'missing')}")
        for what, sql in [
            ("table", f"SELECT * FROM {db}.{schema}.{table} LIMIT 0"),
            ("view", f"SELECT * FROM {db}.{schema}.{table}_dedup LIMIT 0"),
        ]:
            if not exists(con, sql):
                fails.append(f"after the deploy, the {what} of `{sql}` does not exist")
        for path in versioned_and_repeatable():
            for stmt in split_script(path, variables):
                if any(re.match(p, stmt) for p in nop_regexes()):
                    code = " ".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--"))
                    notes.append(f"deploy on fakesnow, {path.name}: no-op: {' '.join(code.split())[:70]}")

        # the connection: connections.toml without a name is not read by schemachange 4.4.0
        rel, line, cmd = deploys[0]
        rc, out = env.run(script_for(commands, rel, cmd, vars_json), SCHEMACHANGE_DRY_RUN="true",
                          SNOWFLAKE_DEFAULT_CONNECTION_NAME=None)
        if rc == 0:
            fails.append("schemachange deployed with ~/.snowflake/connections.toml and no connection named: "
                         "the guide's advice to name it (SNOWFLAKE_DEFAULT_CONNECTION_NAME) may be out of date")
        else:
            notes.append(f"without SNOWFLAKE_DEFAULT_CONNECTION_NAME, connections.toml is not read: {last_error(out)[:160]}")
        con.close()
    return fails, notes


def completed(out: str):
    m = re.search(r"Completed successfully\s+scripts_applied=(\d+)\s+scripts_skipped=(\d+)", out)
    return _Done(m) if m else None


class _Done:
    def __init__(self, m):
        self._m = m

    def group(self, i):
        return f"scripts_applied={self._m.group(1)} scripts_skipped={self._m.group(2)}" if i == 0 else self._m.group(i)


def split_script(path: pathlib.Path, variables: dict) -> list[str]:
    from schemachange.sql_splitter import split_sql_statements

    return [s.strip() for s in split_sql_statements(rendered(path, variables)) if s.strip()]


# ---------------------------------------------------------------- checks and mutations


def check_commands(commands, docs: dict[str, str]) -> list[str]:
    fails = []
    for rel, text in docs.items():
        for m in re.finditer(r"pip install\s+(schemachange\S*)", text):
            if m.group(1).strip("`'\",.;)") != f"schemachange=={SCHEMACHANGE_VERSION}":
                fails.append(f"{rel}: `pip install {m.group(1)}`: the guide pins schemachange=={SCHEMACHANGE_VERSION}, "
                             "the version this test runs it with")
    deploys = [c for c in commands if c[2].startswith("schemachange deploy")]
    for doc in ("README.md (deploy section)", "infra/README.md", "sql/README.md"):
        if not any(r == doc for r, _, _ in deploys):
            fails.append(f"{doc}: no `schemachange deploy` command found")
    return fails


def argv(env: Env, commands, rel: str, cmd: str, vars_json: str) -> list[str]:
    """The arguments bash hands schemachange for `cmd` (quotes, $VARS and $(terraform …) expanded)."""
    printed = "printf '%s\\0' " + cmd[len("schemachange "):]
    rc, out = env.run(script_for(commands, rel, printed, vars_json))
    if rc != 0:
        raise RuntimeError(f"bash could not expand `{cmd}`: {out.strip()[:300]}")
    return out.split("\0")[:-1]


def check_flags(env: Env, commands, vars_json: str) -> list[str]:
    """Every schemachange command of the guide through schemachange's own argument parser."""
    from schemachange.config.parse_cli_args import parse_cli_args

    fails = []
    for rel, line, cmd in commands:
        if not cmd.startswith("schemachange "):
            continue
        try:
            args = argv(env, commands, rel, cmd, vars_json)
        except RuntimeError as e:
            fails.append(f"{rel}:{line}: {e}")
            continue
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                parsed = parse_cli_args(args)
        except SystemExit as e:
            fails.append(f"{rel}:{line}: schemachange {SCHEMACHANGE_VERSION} rejects `{cmd}` (exit {e.code}): "
                         f"{' '.join(err.getvalue().split()[-12:])}")
            continue
        if parsed.get("subcommand") != args[0]:
            fails.append(f"{rel}:{line}: `{cmd}` parsed as {parsed.get('subcommand')!r}")
    return fails


def check_vars_assignments(env: Env, commands, vars_json: str) -> list[str]:
    fails = []
    for rel, line, cmd in commands:
        if cmd.startswith("VARS="):
            rc, out = env.run(cmd + '\nprintf "%s" "$VARS"\n')
            if rc != 0 or out != vars_json:
                fails.append(f"{rel}:{line}: `{cmd}` gave {out[:200]!r} (exit {rc}), not sql_vars")
    return fails


def deprecated_aliases(env: Env, commands) -> list[str]:
    rc, out = env.run("schemachange deploy -h\n")
    # option lines `--schemachange-x [METAVAR], --x [METAVAR]`: the short form is the "(Deprecated alias: --x)"
    aliases = {f"--{a}" for a in re.findall(r"--schemachange-([\w-]+)(?:\s+[A-Z_]+)?,\s+--\1(?![\w-])", out)}
    used = sorted({f for _, _, c in commands for f in re.findall(r"(?<!\S)(--[\w-]+)", c) if f in aliases})
    return used


def main() -> int:
    warnings.filterwarnings("ignore", module=r"fakesnow\..*")
    failed = 0
    version = importlib.metadata.version("schemachange")
    pins = re.search(r"SNOWFLAKE_PINS=\((.*?)\)", (REPO / "tests" / "run.sh").read_text(), re.S).group(1)
    failed += verdict(f"schemachange {version} is the one tests/run.sh pins and this test expects",
                      [] if version == SCHEMACHANGE_VERSION and f'"schemachange=={version}"' in pins
                      else [f"installed {version}, expected {SCHEMACHANGE_VERSION}, pinned: {pins.split()}"])
    variables = sql_vars()
    vars_json = terraform_output_json(variables)
    print(f"VARS (terraform -chdir=infra output -json sql_vars, for infra/terraform.tfvars.example): {vars_json}")
    docs = documents()
    commands = guide_commands(docs)
    for rel, line, cmd in commands:
        print(f"  guide {rel}:{line}: {cmd}")
    failed += verdict(f"the guide has its schemachange deploy commands and pins schemachange {SCHEMACHANGE_VERSION}",
                      check_commands(commands, docs))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        env = Env(tmp / "offline", vars_json, None)
        failed += verdict("the guide's VARS= gives sql_vars as terraform output -json prints it",
                          check_vars_assignments(env, commands, vars_json))
        failed += verdict("every schemachange command of the guide parses with schemachange " + SCHEMACHANGE_VERSION,
                          check_flags(env, commands, vars_json))
        aliases = deprecated_aliases(env, commands)
        if aliases:
            print(f"note the guide uses {', '.join(aliases)}: deprecated aliases in schemachange {SCHEMACHANGE_VERSION} "
                  "(of the --schemachange-… forms), accepted without a warning")
        failed += verdict("every sql/ script renders with VARS, every placeholder defined and not empty",
                          check_render(env, variables))
        fails, notes = check_against_standin(commands, variables, tmp / "standin")
        for n in notes:
            print(f"  {n}")
        failed += verdict("the guide's schemachange commands run as written against fakesnow (render, by hand, "
                          "dry run, deploy)", fails)

        print("mutations (each must fail):")
        missed = []
        broken = dict(variables)
        del broken["curated_bucket"]
        result = check_render(Env(tmp / "m1", terraform_output_json(broken), None), broken)
        named = [r for r in result if "curated_bucket" in r and re.match(r"sql/\S+\.sql", r)]
        by_schemachange = [r for r in result if "'curated_bucket' is undefined" in r]
        print(f"  VARS without curated_bucket -> {named[0] if named else result[:1]}")
        if by_schemachange:
            print(f"    and {by_schemachange[0].split(' | ')[0]}")
        if not named or not any("schemachange render failed" in r and "'curated_bucket' is undefined" in r for r in result):
            missed.append("VARS without curated_bucket: the scripts and the variable were not named")
        broken = {**variables, "table": ""}
        result = check_render(Env(tmp / "m2", terraform_output_json(broken), None), broken)
        print(f"  VARS with table = \"\" -> {result[0] if result else 'nothing'}")
        if not any("{{ table }} is empty" in r for r in result):
            missed.append("VARS with an empty table was not caught")
        bad = [(r, ln, c.replace("--create-change-history-table", "--create-change-history-table --change-history-tabel X", 1)
                if c.startswith("schemachange deploy") else c) for r, ln, c in commands]
        result = check_flags(env, bad, vars_json)
        print(f"  a deploy command with --change-history-tabel -> {result[0] if result else 'nothing'}")
        if not result:
            missed.append("a flag schemachange rejects was not caught")
        key = "README.md (deploy section)"
        unpinned = {**docs, key: docs[key].replace(f"schemachange=={SCHEMACHANGE_VERSION}", "schemachange", 1)}
        result = [r for r in check_commands(guide_commands(unpinned), unpinned) if r not in check_commands(commands, docs)]
        print(f"  README.md with `pip install schemachange` unpinned -> {result[0] if result else 'nothing'}")
        if not result:
            missed.append("an unpinned `pip install schemachange` was not caught")
        failed += verdict(f"{len(missed)} of 4 mutations not caught" if missed else "all 4 mutations caught", missed)
    print(f"{'FAIL' if failed else 'ok'}: {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
