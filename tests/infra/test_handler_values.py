#!/usr/bin/env python3
"""Every Terraform variable that reaches a Lambda handler accepts exactly the
values the handler accepts (issue 15, defect 2).

Two sources, read independently:

  * Terraform: for each FEEDPIPE_* variable in a Lambda module call's
    `environment` (infra/main.tf) whose value is `var.X` or `tostring(var.X)`
    (or `local.feeds_enabled ? "" : var.X`: left out with feeds_dir, which only
    an optional variable may be),
    the root variable X: its default and what its validation blocks allow
    (`contains([...], var.X)` lists; `var.X >= a`, `var.X <= b` and
    `floor(var.X) == var.X` bounds).
  * Rust: each handler's `lambdas/<crate>/src/config.rs`, the call that reads
    the variable (`env.required`, `env.optional`, `env.number_or(NAME, d, lo..=hi)`,
    `env.parsed_or(NAME, Type::Variant)`); for `parsed_or`, the `impl FromStr for
    Type` found under jobs/ or lambdas/, whose string match arms are the accepted
    values (case-insensitive when it matches on `to_ascii_lowercase()`).

Rules, per variable:
  * parsed_or over an enum: the Terraform list equals the handler's arms (after
    the handler's case folding), and the default is one of them;
  * number_or: Terraform bounds a whole number to exactly lo..=hi, and the
    default is inside;
  * required / optional: any non-empty string is accepted; "" means unset,
    which a required variable must not be (so its variable must refuse "");
  * any other reader in config.rs fails the test until this file learns it.
Variables Terraform builds itself (module outputs, locals such as the
quarantine URL) are listed, not compared: the user does not choose them.

Then it proves that it can fail: it re-runs the comparison on mutated copies
of the sources (gzip back in parquet_compression, a Rust range narrowed, an arm
added to the codec parser, floor() dropped, the deadline margin widened or made
fractional, an unknown reader) and expects a mismatch from each.

Run: python tests/infra/test_handler_values.py   (needs python-hcl2, as test_wiring.py)
"""

from __future__ import annotations

import pathlib
import re
import sys

import hcl2

from test_wiring import norm  # python-hcl2 output -> plain data, as the wiring test reads it
from verdict import mutation_verdict, verdict

REPO = pathlib.Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
CRATES = {"ingest": "ingest", "raw_to_parquet": "raw-to-parquet"}  # module call -> lambdas/<crate>


# ---------------------------------------------------------------------------
# Terraform side
# ---------------------------------------------------------------------------


def terraform_root(texts: dict[str, str]) -> tuple[dict, dict]:
    """(root variables, root module calls) from the root module's .tf texts."""
    variables, calls = {}, {}
    for rel, text in texts.items():
        if "/" in rel:
            continue
        doc = norm(hcl2.loads(text))
        for entry in doc.get("variable", []):
            variables.update(entry)
        for entry in doc.get("module", []):
            calls.update(entry)
    return variables, calls


# `var.X`, `tostring(var.X)`, and the single-feed form `local.feeds_enabled ? "" : var.X`
# (infra/feeds.tf: left out beside FEEDPIPE_FEEDS_URL, else var.X).
VAR_DIRECT = re.compile(r'^\$\{(?P<single>local\.feeds_enabled \? "" : )?(?:tostring\()?var\.([a-z0-9_]+)\)?\}$')


def terraform_allows(name: str, body: dict) -> dict:
    """What variable `name` accepts: {"kind": "enum", "values": [...]} or
    {"kind": "number", "lo": a, "hi": b, "whole": bool} or {"kind": "string"}."""
    conditions = [str(v.get("condition", "")) for v in body.get("validation", [])]
    text = " && ".join(conditions)
    v = re.escape(f"var.{name}")
    enum = re.search(r"contains\(\[([^\]]*)\],\s*" + v + r"\)", text)
    if enum:
        return {"kind": "enum", "values": re.findall(r'"([^"]*)"', enum.group(1)), "default": body.get("default")}
    if str(body.get("type")) in ("number", "${number}"):
        lo = re.search(v + r"\s*>=\s*(-?\d+)", text)
        hi = re.search(v + r"\s*<=\s*(-?\d+)", text)
        whole = re.search(r"floor\(" + v + r"\)\s*==\s*" + v, text) is not None
        return {
            "kind": "number",
            "lo": int(lo.group(1)) if lo else None,
            "hi": int(hi.group(1)) if hi else None,
            "whole": whole,
            "default": body.get("default"),
        }
    regexes = re.findall(r'regex\("((?:[^"\\]|\\.)*)",\s*' + v + r"\)", text)
    empty_ok = f'var.{name} == ""' in text or not regexes
    return {"kind": "string", "regexes": regexes, "empty_allowed": empty_ok, "default": body.get("default")}


# ---------------------------------------------------------------------------
# Rust side
# ---------------------------------------------------------------------------

READER = re.compile(r'env\.(?P<fn>[a-z_]+)\(\s*"(?P<name>FEEDPIPE_[A-Z_]+)"(?P<rest>[^;]*?)\)\s*[?,;]', re.S)


def rust_sources(overrides: dict[str, str] | None = None) -> dict[str, str]:
    out = {}
    for root in ("jobs", "lambdas"):
        for p in sorted((REPO / root).rglob("*.rs")):
            if "/target/" in p.as_posix():
                continue
            rel = p.relative_to(REPO).as_posix()
            out[rel] = p.read_text()
    out.update(overrides or {})
    return out


def from_str_arms(type_name: str, sources: dict[str, str]) -> tuple[set[str], bool, str]:
    """The string literals `impl FromStr for <type_name>` matches, whether it folds
    case first, and the file it is in."""
    impl = re.compile(r"impl\s+(?:std::str::)?FromStr\s+for\s+" + re.escape(type_name) + r"\b")
    for rel, text in sources.items():
        m = impl.search(text)
        if not m:
            continue
        # The impl block: from its opening brace to the matching closing one.
        start = text.index("{", m.end())
        depth, i = 0, start
        while i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        body = text[start : i + 1]
        arms = set()
        for pattern in re.findall(r"^\s*((?:\"[^\"]*\"\s*\|?\s*)+)=>", body, re.M):
            arms.update(re.findall(r'"([^"]*)"', pattern))
        folds = "to_ascii_lowercase()" in body or "to_lowercase()" in body
        return arms, folds, rel
    raise LookupError(f"no `impl FromStr for {type_name}` under jobs/ or lambdas/")


def rust_accepts(crate: str, sources: dict[str, str]) -> dict[str, dict]:
    rel = f"lambdas/{crate}/src/config.rs"
    text = sources[rel]
    text = text.split("#[cfg(test)]")[0]  # the parser, not its tests
    found = {}
    for m in READER.finditer(text):
        fn, name, rest = m.group("fn"), m.group("name"), m.group("rest")
        if fn == "required":
            found[name] = {"kind": "string", "required": True}
        elif fn == "optional":
            found[name] = {"kind": "string", "required": False}
        elif fn == "number_or":
            r = re.search(r",\s*(-?\d+)\s*,\s*(-?\d+)\s*\.\.=\s*(-?\d+)", rest)
            if not r:
                found[name] = {"kind": "unknown", "why": f"number_or without a literal lo..=hi range: {rest.strip()!r}"}
            else:
                found[name] = {"kind": "number", "default": int(r.group(1)), "lo": int(r.group(2)), "hi": int(r.group(3))}
        elif fn == "parsed_or":
            t = re.search(r",\s*([A-Z][A-Za-z0-9_]*)::([A-Za-z0-9_]+)", rest)
            if not t:
                found[name] = {"kind": "unknown", "why": f"parsed_or with a default that is not Type::Variant: {rest.strip()!r}"}
                continue
            try:
                arms, folds, where = from_str_arms(t.group(1), sources)
            except LookupError as e:
                found[name] = {"kind": "unknown", "why": str(e)}
                continue
            found[name] = {"kind": "enum", "values": arms, "folds_case": folds, "parser": f"{t.group(1)}::from_str ({where})"}
        else:
            found[name] = {"kind": "unknown", "why": f"env.{fn} is not a reader this test knows; teach it"}
    # Every FEEDPIPE_ name the file mentions must have been read by one of the above.
    for name in set(re.findall(r'"(FEEDPIPE_[A-Z_]+)"', text)) - set(found):
        found[name] = {"kind": "unknown", "why": "read in a way this test does not recognise"}
    return found


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------


def compare(texts: dict[str, str], sources: dict[str, str], verbose: bool = False) -> list[str]:
    variables, calls = terraform_root(texts)
    fails = []
    for call, crate in CRATES.items():
        if call not in calls:
            fails.append(f"module.{call} is not in infra/")
            continue
        env = dict(calls[call].get("environment") or {})
        # The lambda module sets this one itself, to its continuation queue's URL.
        continuation = calls[call].get("continuation_queue")
        if isinstance(continuation, dict) and continuation.get("environment_variable"):
            env[continuation["environment_variable"]] = "${module." + call + ".continuation_queue_url}"
        handler = rust_accepts(crate, sources)
        for name in sorted(env):
            where = f"module.{call}.environment.{name}"
            h = handler.get(name)
            if h is None:
                fails.append(f"{where}: lambdas/{crate}/src/config.rs does not read it")
                continue
            if h["kind"] == "unknown":
                fails.append(f"{where}: lambdas/{crate}/src/config.rs: {h['why']}")
                continue
            m = VAR_DIRECT.match(str(env[name]))
            if not m:
                if verbose:
                    print(f"  built by Terraform, not compared: {name} = {env[name]}")
                continue
            var = m.group(2)
            if m.group("single") and h.get("required"):
                fails.append(f"{where}: Terraform leaves it out with feeds_dir, but the handler requires it")
                continue
            if var not in variables:
                fails.append(f"{where}: var.{var} is not declared")
                continue
            t = terraform_allows(var, variables[var])
            got = compare_one(f"{where} (var.{var})", t, h)
            fails += got
            if verbose and not got:
                print(f"  ok {name} <- var.{var}: {describe(t)} | handler: {describe(h)}")
    return fails


def describe(a: dict) -> str:
    if a["kind"] == "enum":
        return "one of " + ", ".join(sorted(a["values"])) + (" (any case)" if a.get("folds_case") else "")
    if a["kind"] == "number":
        return f"whole number {a['lo']}..={a['hi']}" if a.get("whole", True) else f"number {a['lo']}..{a['hi']}"
    if a.get("required"):
        return "any non-empty string (required)"
    return "any string" + ("" if "required" in a else f", \"\" {'allowed' if a['empty_allowed'] else 'refused'}")


def compare_one(where: str, t: dict, h: dict) -> list[str]:
    fails = []
    if h["kind"] == "enum":
        if t["kind"] != "enum":
            return [f"{where}: the handler accepts only {sorted(h['values'])} ({h['parser']}), but Terraform accepts {describe(t)}"]
        fold = (lambda s: s.lower()) if h["folds_case"] else (lambda s: s)
        tf = {fold(v) for v in t["values"]}
        rust = {fold(v) for v in h["values"]}
        if tf - rust:
            fails.append(f"{where}: Terraform allows {sorted(tf - rust)}, which the handler rejects ({h['parser']} accepts {sorted(rust)})")
        if rust - tf:
            fails.append(f"{where}: the handler accepts {sorted(rust - tf)}, which Terraform refuses (it allows {sorted(tf)})")
        if t.get("default") is not None and fold(str(t["default"])) not in rust:
            fails.append(f"{where}: default {t['default']!r} is not accepted by the handler")
    elif h["kind"] == "number":
        if t["kind"] != "number":
            return [f"{where}: the handler accepts a whole number {h['lo']}..={h['hi']}, but Terraform's variable is {describe(t)}"]
        if (t["lo"], t["hi"]) != (h["lo"], h["hi"]):
            fails.append(f"{where}: Terraform allows {t['lo']}..={t['hi']}, the handler {h['lo']}..={h['hi']}")
        if not t["whole"]:
            fails.append(f"{where}: Terraform allows fractions (no floor(var) == var check); the handler parses a whole number")
        d = t.get("default")
        if d is not None and not (h["lo"] <= d <= h["hi"] and float(d).is_integer()):
            fails.append(f"{where}: default {d!r} is outside the handler's {h['lo']}..={h['hi']}")
    else:  # any string
        if t["kind"] == "number":
            pass  # tostring(number) is a string: any string is accepted
        elif h["required"] and t["kind"] == "string" and t["empty_allowed"]:
            fails.append(f"{where}: Terraform allows \"\", which leaves the required variable unset")
        elif h["required"] and t.get("default") == "":
            fails.append(f"{where}: its default \"\" leaves the required variable unset")
    return fails


# ---------------------------------------------------------------------------
# Mutations: each must produce a mismatch
# ---------------------------------------------------------------------------

MUTATIONS = [
    # (description, "tf" or "rust", file, pattern, replacement)
    ("Terraform allows gzip again", "tf", "variables.tf",
     r'contains\(\["zstd", "snappy"\], var\.parquet_compression\)',
     'contains(["zstd", "snappy", "gzip"], var.parquet_compression)'),
    ("the codec parser learns lz4", "rust", "jobs/convert/src/job/writers.rs",
     r'(\n(\s*)"snappy" => Ok\(Codec::Snappy\),)', r'\1\n\2"lz4" => Ok(Codec::Snappy),'),
    ("the handler narrows FEEDPIPE_MAX_ATTEMPTS", "rust", "lambdas/ingest/src/config.rs",
     r'"FEEDPIPE_MAX_ATTEMPTS", 8, 1\.\.=20', '"FEEDPIPE_MAX_ATTEMPTS", 8, 1..=10'),
    ("Terraform widens ingest_max_in_flight", "tf", "variables.tf",
     r"var\.ingest_max_in_flight <= 64", "var.ingest_max_in_flight <= 128"),
    ("Terraform allows fractional attempts", "tf", "variables.tf",
     r" && floor\(var\.ingest_max_attempts\) == var\.ingest_max_attempts", ""),
    ("Terraform lets the deadline margin reach 900 s", "tf", "variables.tf",
     r"var\.ingest_deadline_margin_seconds <= 600", "var.ingest_deadline_margin_seconds <= 900"),
    ("Terraform allows a fractional deadline margin", "tf", "variables.tf",
     r" && floor\(var\.ingest_deadline_margin_seconds\) == var\.ingest_deadline_margin_seconds", ""),
    ("the handler requires a variable Terraform leaves out with feeds_dir", "rust", "lambdas/raw-to-parquet/src/config.rs",
     r'env\.optional\("FEEDPIPE_TABLE"\)', 'env.required("FEEDPIPE_TABLE")?'),
    ("a reader this test does not know", "rust", "lambdas/raw-to-parquet/src/config.rs",
     r'env\.optional\("FEEDPIPE_TABLE"\)', 'env.flag("FEEDPIPE_TABLE")'),
]


def run_mutations(texts: dict[str, str], baseline: set[str]) -> list[str]:
    """Each mutation must add a failure the unmutated sources do not have."""
    fails = []
    for description, side, rel, pattern, replacement in MUTATIONS:
        if side == "tf":
            mutated, n = re.subn(pattern, replacement, texts.get(rel, ""), count=1)
            args = ({**texts, rel: mutated}, rust_sources())
        else:
            path = REPO / rel
            mutated, n = re.subn(pattern, replacement, path.read_text() if path.exists() else "", count=1)
            args = (texts, rust_sources({rel: mutated}))
        if n != 1:
            fails.append(f"mutation {description!r}: pattern no longer matches {rel}; update the mutation")
            continue
        try:
            result = [r for r in compare(*args) if r not in baseline]
        except Exception as exc:
            result = [f"{type(exc).__name__}: {exc}"]
        if not result:
            fails.append(f"mutation {description!r} was NOT detected")
        else:
            print(f"  detected: {description} -> {result[0]}")
    return fails


def main() -> int:
    texts = {p.relative_to(INFRA).as_posix(): p.read_text() for p in sorted(INFRA.rglob("*.tf"))}
    print("Terraform variables that reach a handler vs. the handler's parser:")
    problems = compare(texts, rust_sources(), verbose=True)
    failed = verdict("Terraform accepts exactly the values the handlers accept", problems)
    print("mutations (each must be caught):")
    failed += mutation_verdict(run_mutations(texts, set(problems)), len(MUTATIONS))
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
