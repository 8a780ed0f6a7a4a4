#!/usr/bin/env python3
"""Lint of the deploy commands a user pastes (issue 15, defect 8).

The guide cannot run here (no AWS account, no Snowflake), so its commands are
checked as text, in README.md's "Deploy to AWS and Snowflake" section,
infra/README.md, sql/README.md and the comments of sql/**/*.sql:

  * Terraform is always run from the repository root as
    `terraform -chdir=infra <command>`: no `cd infra`, and no `terraform
    <command>` without `-chdir=infra` (only `terraform fmt … infra`, which takes
    the folder as an argument, is exempt). One form everywhere, so a user who
    follows the steps in order never runs Terraform in the wrong folder.
  * Every `schemachange deploy` is written out in full, in a code block or an
    inline code span, with `--root-folder sql`, `--change-history-table
    <database>.<schema>.<table>` and `--create-change-history-table` (without
    them schemachange looks for scripts in the current folder and for a change
    history table that does not exist yet).

Then it mutates the texts (a `cd infra`, a bare `terraform apply`, a
schemachange command without one of the flags, a prose mention) and expects a
failure for each.

Run: python3 tests/infra/test_deploy_docs.py
"""

from __future__ import annotations

import pathlib
import re
import sys

from verdict import mutation_verdict, mutations_missed, verdict

REPO = pathlib.Path(__file__).resolve().parents[2]
DEPLOY_HEADING = "## Deploy to AWS and Snowflake"

TF_COMMANDS = (
    "init|apply|plan|destroy|output|validate|import|state|console|refresh|"
    "workspace|providers|show|taint|untaint|graph|test|get|force-unlock|login|logout|version"
)
BARE_TERRAFORM = re.compile(r"\bterraform\s+(?!-chdir=infra\b)(?P<cmd>" + TF_COMMANDS + r")\b")
CHDIR_OTHER = re.compile(r"\bterraform\s+-chdir=(?!infra\b)(?P<dir>\S+)")
CD_INFRA = re.compile(r"(?:^|[\s;&|(`])cd\s+(?:\./)?infra/?(?=$|[\s;&|)`])", re.M)
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`", re.S)


def documents() -> dict[str, str]:
    out = {}
    readme = (REPO / "README.md").read_text()
    start = readme.find(DEPLOY_HEADING)
    if start < 0:
        out["README.md"] = ""  # reported below
    else:
        end = readme.find("\n## ", start + len(DEPLOY_HEADING))
        out["README.md (deploy section)"] = readme[start : end if end > 0 else len(readme)]
    for rel in ("infra/README.md", "sql/README.md"):
        out[rel] = (REPO / rel).read_text()
    for p in sorted((REPO / "sql").rglob("*.sql")):
        comments = "\n".join(line for line in p.read_text().splitlines() if line.lstrip().startswith("--"))
        out[p.relative_to(REPO).as_posix()] = comments
    return out


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def schemachange_commands(text: str) -> tuple[list[tuple[int, str]], list[int]]:
    """(commands in code, with their line; lines of mentions in prose)."""
    commands, covered = [], []
    for block in FENCE.finditer(text):
        body = block.group(1)
        joined = re.sub(r"\\\n", " ", body)  # shell continuations
        offset = block.start(1)
        for m in re.finditer(r"[^\n]*\bschemachange\s+deploy\b[^\n]*", joined):
            commands.append((line_of(text, offset), m.group(0)))
        covered.append((block.start(), block.end()))
    rest = text
    for s, e in covered:
        rest = rest[:s] + re.sub(r"[^\n]", " ", rest[s:e]) + rest[e:]
    for span in INLINE.finditer(rest):
        if re.search(r"\bschemachange\s+deploy\b", span.group(1)):
            commands.append((line_of(text, span.start()), span.group(1)))
            rest = rest[: span.start()] + re.sub(r"[^\n]", " ", span.group(0)) + rest[span.end() :]
    prose = [line_of(rest, m.start()) for m in re.finditer(r"\bschemachange\s+deploy\b", rest)]
    return commands, prose


def check(docs: dict[str, str]) -> list[str]:
    fails = []
    if "README.md" in docs:
        fails.append(f"README.md: no {DEPLOY_HEADING!r} section")
    for rel, text in docs.items():
        for m in CD_INFRA.finditer(text):
            fails.append(f"{rel}:{line_of(text, m.start())}: `cd infra`: run Terraform from the root as `terraform -chdir=infra …`")
        for m in BARE_TERRAFORM.finditer(text):
            fails.append(f"{rel}:{line_of(text, m.start())}: `terraform {m.group('cmd')}` without -chdir=infra")
        for m in CHDIR_OTHER.finditer(text):
            fails.append(f"{rel}:{line_of(text, m.start())}: `terraform -chdir={m.group('dir')}`: the root module is infra")
        commands, prose = schemachange_commands(text)
        for line in prose:
            fails.append(f"{rel}:{line}: `schemachange deploy` named in prose: write the whole command in a code span or block")
        for line, cmd in commands:
            flat = " ".join(cmd.split())
            if not re.search(r"(?:--root-folder|-f)[ =]sql/?(?:\s|$)", flat):
                fails.append(f"{rel}:{line}: schemachange deploy without --root-folder sql: {flat}")
            if not re.search(r"(?:--change-history-table|-c)[ =][A-Za-z_][\w$]*\.[A-Za-z_][\w$]*\.[A-Za-z_][\w$]*(?:\s|$)", flat):
                fails.append(f"{rel}:{line}: schemachange deploy without --change-history-table <db>.<schema>.<table>: {flat}")
            if "--create-change-history-table" not in flat:
                fails.append(f"{rel}:{line}: schemachange deploy without --create-change-history-table: {flat}")
    total = sum(len(schemachange_commands(t)[0]) for t in docs.values())
    if total == 0:
        fails.append("no `schemachange deploy` command found in the deploy docs")
    return fails


MUTATIONS = [
    # (description, document, pattern, replacement)
    ("a `cd infra` step", "infra/README.md", r"terraform -chdir=infra init", "cd infra && terraform init"),
    ("a bare `terraform apply` in prose", "README.md (deploy section)", r"`terraform -chdir=infra\s+apply`", "`terraform apply`"),
    ("terraform output from another folder", "sql/README.md", r"terraform -chdir=infra output", "terraform -chdir=. output"),
    ("schemachange without --create-change-history-table", "infra/README.md", r"\s*\\\n\s*--create-change-history-table", ""),
    ("schemachange without --root-folder", "README.md (deploy section)", r"--root-folder sql ", ""),
    ("schemachange without --change-history-table", "sql/README.md", r"--change-history-table FEEDPIPE\.SCHEMACHANGE\.CHANGE_HISTORY", ""),
    ("schemachange deploy named in prose", "infra/README.md", r"\(see `sql/README.md`\)\. Then", "(or schemachange deploy). Then"),
]


def main() -> int:
    docs = documents()
    problems = check(docs)
    n = sum(len(schemachange_commands(t)[0]) for t in docs.values())
    tf = sum(len(re.findall(r"\bterraform\s+-chdir=infra\b", t)) for t in docs.values())
    print(f"{len(docs)} documents: {tf} `terraform -chdir=infra` commands, {n} `schemachange deploy` commands")
    failed = verdict("the deploy commands work as written", problems)
    print("mutations (each must be caught, with a failure the unmutated docs do not have):")
    missed = mutations_missed(check, docs, set(problems), MUTATIONS)
    failed += mutation_verdict(missed, len(MUTATIONS))
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
