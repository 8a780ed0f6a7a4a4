#!/usr/bin/env python3
"""Offline wiring checks for the Terraform in infra/.

`terraform validate` and `plan` need providers, which cannot be downloaded
here, so this script parses every .tf file with python-hcl2 and checks the
wiring by following references through module calls, variables, locals and
outputs to the resources they end at:

  * Firehose reads the Kinesis stream resource and writes to the raw bucket,
    with Firehose's time prefixes and no AppendDelimiterToRecord processor.
  * The raw bucket's notification targets the SQS queue that the
    raw-to-parquet event source mapping reads (with partial batch failures),
    filtered on the raw prefix; the queue has a redrive DLQ and a visibility
    timeout of six times the function timeout.
  * Each Lambda's environment variable names are exactly the ones its Rust
    handler reads, and the values point at the right resources.
  * The ingest's continuation queue (issue 16): the lambda module sets
    FEEDPIPE_CONTINUATION_QUEUE_URL to its continuation queue's URL; that queue
    redrives to its own DLQ after var.ingest_continuation_max_receive_count
    receives, has a visibility timeout of six times the function timeout and
    the project key; an event source mapping reads it into the same function
    one message at a time without partial batch responses; Lambda's recursive
    loop detection allows that loop (else a file's 17th part is dropped); the
    function may
    sqs:SendMessage to it and nothing else (not its DLQ) and the mapping may
    receive and delete from it; the DLQ keeps messages as long as the other
    DLQs and is alarmed on any visible message, the queue on the age of its
    oldest message; and the deadline margin must be below the timeout (a
    precondition).
  * raw-to-parquet may write (and read) its manifests, <curated>/_manifests/<table>/*,
    and every bucket a Lambda reads objects from also gets s3:ListBucket (a
    missing key is then a 404, which the handlers do not retry, not a 403).
  * The key policy statement that lets S3 use the key for notifications to
    encrypted queues is AWS's documented one (no condition), and the queue
    policy keeps aws:SourceArn and aws:SourceAccount.
  * The backfill Task's timeout and retries follow the raw-to-parquet timeout,
    and EXPRESS children that cannot fit one attempt fail plan.
  * No IAM policy document statement allows "*" or "<service>:*" actions, and
    none has "*" resources except the documented allowlist below.
  * The Snowflake storage role's trust policy, rendered before the handshake
    (and with only one of its two variables set), is one unconditional Deny of
    sts:AssumeRole to every principal; after it, one Allow to exactly
    Snowflake's IAM user with its external id.
  * Many feeds (issue 17, infra/feeds.tf), rendered with tests/infra/policies.py
    for the IAM fixture's names: without feeds_dir nothing of it exists and the
    single-feed variables reach raw-to-parquet and the ingest as before; with
    feeds_dir = infra/feeds.example every file of it (but hidden ones) is an
    object at _feedpipe/feeds/<digest>/ of the curated bucket (the digest
    computed here from the files), both Lambdas get FEEDPIPE_FEEDS_URL = its
    feeds.toml, taken from the object (so they wait for the upload), and none of
    FEEDPIPE_TABLE, FEEDPIPE_SCHEMA_URL, FEEDPIPE_EVENT_TIME_COLUMN,
    FEEDPIPE_PARTITION_KEY_FIELD; both may s3:GetObject on exactly
    _feedpipe/feeds/*, nobody may write there or read it otherwise; raw-to-parquet
    writes, Snowflake reads and Snowpipe hears (one non-overlapping <table>/
    *.parquet configuration each, no manifest, no upload) every table; sql_vars
    lists them; and the preconditions and validations refuse feeds_tables that
    differ from feeds.toml, single-feed variables beside feeds_dir, contracts
    outside feeds_dir, table names starting with "_", a feeds_dir without
    feeds.toml.
  * Every variable has a description and a type, every output a description,
    and every module call gets name_prefix and tags.

Then it proves that the checks can fail: it applies small mutations to the
source text (point Firehose elsewhere, drop an environment variable, add
"kinesis:*", ...) and expects the matching check to report a failure on each.

Run: python tests/infra/test_wiring.py   (prints "N passed, N failed")
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import pathlib
import posixpath
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

import hcl2
from hcl_eval import HclError, Namespace, Scope, evaluate

REPO = pathlib.Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

# The environment variables each Rust handler reads, by root module call name,
# taken from the handlers' own config.rs (the names in string literals), so that
# a variable added to or dropped from the Rust side fails this test until the
# Terraform follows.
def _rust_env(crate):
    text = (REPO / "lambdas" / crate / "src" / "config.rs").read_text()
    return set(re.findall(r'"(FEEDPIPE_[A-Z_]+)"', text))


EXPECTED_ENV = {
    "ingest": _rust_env("ingest"),
    "raw_to_parquet": _rust_env("raw-to-parquet"),
}
assert EXPECTED_ENV["ingest"] and EXPECTED_ENV["raw_to_parquet"], EXPECTED_ENV

# Statements that may have Resource "*": (module dir, policy document name,
# sid) -> (pattern every action must match, why "*" is unavoidable).
RESOURCE_STAR_ALLOWLIST = {
    ("modules/buckets", "kms_key", "EnableIamPoliciesForThisAccount"): (
        r"^kms:",
        "key policy: Resource in a key policy is always the key itself",
    ),
    ("modules/buckets", "kms_key", "AllowCloudWatchLogsForThisAccountsLogGroups"): (
        r"^kms:",
        "key policy: Resource in a key policy is always the key itself",
    ),
    ("modules/buckets", "kms_key", "AllowS3EventNotificationsToEncryptedQueues"): (
        r"^kms:",
        "key policy: Resource in a key policy is always the key itself",
    ),
    ("modules/lambda", "this", "WriteXRayTraces"): (
        r"^xray:(PutTraceSegments|PutTelemetryRecords)$",
        "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions",
    ),
    ("modules/backfill", "this", "WriteXRayTraces"): (
        r"^xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)$",
        "X-Ray trace and sampling actions have no resource-level permissions",
    ),
    ("modules/backfill", "this", "DeliverExecutionLogs"): (
        r"^logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|"
        r"ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$",
        "CloudWatch Logs vended-log delivery actions (Step Functions logging) have no resource-level permissions",
    ),
}

# Statements that may use a "<service>:*" action: only denies, where the broad
# action list is what makes the deny complete.
ACTION_WILDCARD_ALLOWLIST = {
    ("modules/buckets", "bucket", "DenyInsecureTransport"): "deny every S3 action without TLS",
}

SERVICE_WILDCARD = re.compile(r"^[A-Za-z0-9-]+:\*$")


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def norm(node):
    """python-hcl2 output -> plain data: quotes off strings and keys, markers gone."""
    if isinstance(node, dict):
        return {unquote(k): norm(v) for k, v in node.items() if not str(k).startswith("__")}
    if isinstance(node, list):
        return [norm(v) for v in node]
    return unquote(node)


@dataclass
class Module:
    path: str  # relative to infra/, "." for the root
    resources: dict = field(default_factory=dict)  # (type, name) -> body
    data: dict = field(default_factory=dict)  # (type, name) -> body
    calls: dict = field(default_factory=dict)  # name -> body
    outputs: dict = field(default_factory=dict)  # name -> body
    variables: dict = field(default_factory=dict)  # name -> body
    locals: dict = field(default_factory=dict)  # name -> expression

    def add(self, doc: dict) -> None:
        for kind, target in (("resource", self.resources), ("data", self.data)):
            for entry in doc.get(kind, []):
                for rtype, by_name in entry.items():
                    for name, body in by_name.items():
                        target[(rtype, name)] = body
        for kind, target in (("module", self.calls), ("output", self.outputs), ("variable", self.variables)):
            for entry in doc.get(kind, []):
                target.update(entry)
        for entry in doc.get("locals", []):
            self.locals.update(entry)


_PARSED: dict[tuple[str, str], dict] = {}  # (file, text) -> parsed: python-hcl2 is slow, texts repeat


def parse_tree(texts: dict[str, str]) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for rel, text in texts.items():
        directory = posixpath.dirname(rel) or "."
        if (rel, text) not in _PARSED:
            _PARSED[(rel, text)] = norm(hcl2.loads(text))
        modules.setdefault(directory, Module(directory)).add(_PARSED[(rel, text)])
    return modules


def read_texts() -> dict[str, str]:
    return {p.relative_to(INFRA).as_posix(): p.read_text() for p in sorted(INFRA.rglob("*.tf"))}


# ---------------------------------------------------------------------------
# Following references
# ---------------------------------------------------------------------------

REF = re.compile(
    r"\b(?:(?P<data>data)\.)?(?P<rtype>aws_[a-z0-9_]+)\.(?P<rname>[a-z0-9_]+)"
    r"(?P<index>(?:\[[^\]]*\])*)(?:\.(?P<attr>[a-z0-9_]+))?"
    r"|\bmodule\.(?P<call>[a-z0-9_]+)\.(?P<output>[a-z0-9_]+)"
    r"|\bvar\.(?P<var>[a-z0-9_]+)"
    r"|\blocal\.(?P<local>[a-z0-9_]+)"
)


@dataclass(frozen=True)
class Instance:
    """A module as instantiated: its folder and the chain of call names to it."""

    path: str
    calls: tuple = ()


@dataclass(frozen=True)
class Target:
    """A resource (or data source) attribute that a reference ends at."""

    instance: Instance
    kind: str  # "resource" or "data"
    rtype: str
    rname: str
    index: str  # "" for count singletons ([0], [*]) and no index; else the key
    attr: str | None

    def __str__(self) -> str:
        where = "module." + ".module.".join(self.instance.calls) if self.instance.calls else "root"
        prefix = "data." if self.kind == "data" else ""
        index = f'["{self.index}"]' if self.index else ""
        return f"{where}: {prefix}{self.rtype}.{self.rname}{index}.{self.attr}"


class Resolver:
    def __init__(self, modules: dict[str, Module], texts: dict[str, str] | None = None):
        self.modules = modules
        self.texts = texts  # the .tf texts parsed, for the checks that render values (check_feeds)
        self.root = Instance(".")

    def module(self, inst: Instance) -> Module:
        return self.modules[inst.path]

    def child(self, inst: Instance, call: str) -> Instance:
        body = self.module(inst).calls[call]
        path = posixpath.normpath(posixpath.join(inst.path, body["source"]))
        if path not in self.modules:
            raise KeyError(f"module {call} in {inst.path}: source {body['source']} not found")
        return Instance(path, inst.calls + (call,))

    def parent(self, inst: Instance) -> Instance:
        for candidate in self.instances():
            if candidate.calls == inst.calls[:-1]:
                return candidate
        raise KeyError(f"no parent for {inst}")

    def instances(self):
        todo, seen = [self.root], []
        while todo:
            inst = todo.pop()
            seen.append(inst)
            for call in self.module(inst).calls:
                todo.append(self.child(inst, call))
        return seen

    def resolve(self, inst: Instance, expr, depth: int = 0) -> set[Target]:
        """Every resource attribute that `expr` (in `inst`) can end at."""
        if depth > 25:
            raise RecursionError(f"reference chain too deep at {expr!r}")
        if isinstance(expr, list):
            return set().union(*[self.resolve(inst, e, depth + 1) for e in expr]) if expr else set()
        if isinstance(expr, dict):
            return set().union(*[self.resolve(inst, e, depth + 1) for e in expr.values()]) if expr else set()
        if not isinstance(expr, str):
            return set()
        found: set[Target] = set()
        mod = self.module(inst)
        for m in REF.finditer(expr):
            if m.group("rtype"):
                index = m.group("index") or ""
                key = re.findall(r'\["([^"]+)"\]', index)
                found.add(
                    Target(
                        inst,
                        "data" if m.group("data") else "resource",
                        m.group("rtype"),
                        m.group("rname"),
                        key[0] if key else "",
                        m.group("attr"),
                    )
                )
            elif m.group("call"):
                call, output = m.group("call"), m.group("output")
                child = self.child(inst, call)
                outputs = self.module(child).outputs
                if output not in outputs:
                    raise KeyError(f"{inst.path}: module.{call}.{output}: no such output in {child.path}")
                found |= self.resolve(child, outputs[output]["value"], depth + 1)
            elif m.group("var"):
                name = m.group("var")
                if name not in mod.variables:
                    raise KeyError(f"{inst.path}: var.{name} is not declared")
                if inst.calls:
                    parent = self.parent(inst)
                    args = self.module(parent).calls[inst.calls[-1]]
                    if name in args:
                        found |= self.resolve(parent, args[name], depth + 1)
            elif m.group("local"):
                name = m.group("local")
                if name not in mod.locals:
                    raise KeyError(f"{inst.path}: local.{name} is not defined")
                found |= self.resolve(inst, mod.locals[name], depth + 1)
        return found

    def exists(self, t: Target) -> bool:
        table = self.module(t.instance).resources if t.kind == "resource" else self.module(t.instance).data
        return (t.rtype, t.rname) in table


def block(body: dict, name: str) -> dict:
    """The single nested block `name` of `body` (python-hcl2 gives a list)."""
    value = body.get(name)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    raise AssertionError(f"expected exactly one {name} block, found {value!r}")


def dynamic_contents(body: dict, name: str) -> list[dict]:
    out = []
    for entry in body.get("dynamic", []):
        if name in entry:
            out.extend(entry[name].get("content", []))
    return out


def lambda_calls(r: Resolver) -> dict[str, dict]:
    root = r.module(r.root)
    return {
        name: body
        for name, body in root.calls.items()
        if posixpath.normpath(posixpath.join(".", body["source"])) == "modules/lambda"
    }


# ---------------------------------------------------------------------------
# Checks: each returns a list of failure messages (empty = passed)
# ---------------------------------------------------------------------------


def check_firehose(r: Resolver) -> list[str]:
    fails = []
    found = 0
    for inst in r.instances():
        for (rtype, rname), body in r.module(inst).resources.items():
            if rtype != "aws_kinesis_firehose_delivery_stream":
                continue
            found += 1
            where = f"{inst.path}:{rtype}.{rname}"
            if body.get("destination") != "extended_s3":
                fails.append(f"{where}: destination is {body.get('destination')!r}, not extended_s3")
            src = r.resolve(inst, block(body, "kinesis_source_configuration").get("kinesis_stream_arn"))
            if not src or any(t.rtype != "aws_kinesis_stream" or t.attr != "arn" or not r.exists(t) for t in src):
                fails.append(f"{where}: source is not a Kinesis stream resource's arn: {sorted(map(str, src))}")
            s3 = block(body, "extended_s3_configuration")
            dest = r.resolve(inst, s3.get("bucket_arn"))
            if not dest or any(
                t.rtype != "aws_s3_bucket" or t.index != "raw" or t.attr != "arn" or not r.exists(t) for t in dest
            ):
                fails.append(f"{where}: bucket_arn is not the raw bucket's arn: {sorted(map(str, dest))}")
            if "!{timestamp:yyyy/MM/dd/HH}/" not in str(s3.get("prefix")):
                fails.append(f"{where}: prefix {s3.get('prefix')!r} lacks !{{timestamp:yyyy/MM/dd/HH}}/")
            if "!{firehose:error-output-type}" not in str(s3.get("error_output_prefix")):
                fails.append(f"{where}: error_output_prefix lacks !{{firehose:error-output-type}}")
            # Records already end in "\n": no processor may add a delimiter.
            text = repr(s3.get("processing_configuration", [])) + repr(s3.get("dynamic", []))
            if "AppendDelimiterToRecord" in text:
                fails.append(f"{where}: an AppendDelimiterToRecord processor would add a second newline")
            if not s3.get("cloudwatch_logging_options"):
                fails.append(f"{where}: no cloudwatch_logging_options")
    if found != 1:
        fails.append(f"expected exactly one Firehose delivery stream, found {found}")
    return fails


def check_raw_notification(r: Resolver) -> list[str]:
    fails = []
    root = r.module(r.root)
    notifications = []
    for (rtype, rname), body in root.resources.items():
        if rtype != "aws_s3_bucket_notification":
            continue
        buckets = r.resolve(r.root, body.get("bucket"))
        if any(t.rtype == "aws_s3_bucket" and t.index == "raw" for t in buckets):
            notifications.append((rname, body))
    if len(notifications) != 1:
        return [f"expected one notification on the raw bucket, found {[n for n, _ in notifications]}"]
    rname, body = notifications[0]
    queues = body.get("queue", [])
    if len(queues) != 1:
        return [f"aws_s3_bucket_notification.{rname}: expected one queue block, found {len(queues)}"]
    queue = queues[0]
    if queue.get("events") != ["s3:ObjectCreated:*"]:
        fails.append(f"raw notification events are {queue.get('events')!r}")
    prefix = str(queue.get("filter_prefix"))
    if "var.raw_prefix" not in prefix or not prefix.endswith("/"):
        fails.append(f"raw notification filter_prefix {prefix!r} is not \"<raw_prefix>/\"")
    targets = r.resolve(r.root, queue.get("queue_arn"))
    if len(targets) != 1:
        return fails + [f"raw notification queue_arn resolves to {sorted(map(str, targets))}"]
    (target,) = targets
    if target.rtype != "aws_sqs_queue" or target.attr != "arn" or not r.exists(target):
        fails.append(f"raw notification targets {target}, not an SQS queue's arn")

    # The event source mapping that reads that very queue.
    readers = []
    for inst in r.instances():
        for (rtype, name), esm in r.module(inst).resources.items():
            if rtype == "aws_lambda_event_source_mapping" and target in {
                t for t in r.resolve(inst, esm.get("event_source_arn")) if t.attr == "arn"
            }:
                readers.append((inst, name, esm))
    if len(readers) != 1:
        return fails + [f"expected one event source mapping reading {target}, found {len(readers)}"]
    inst, name, esm = readers[0]
    if inst.calls != ("raw_to_parquet",):
        fails.append(f"the raw queue is read by module.{'.'.join(inst.calls)}, not module.raw_to_parquet")
    if "ReportBatchItemFailures" not in (esm.get("function_response_types") or []):
        fails.append("the raw-to-parquet event source mapping does not report batch item failures")
    fn = r.resolve(inst, esm.get("function_name"))
    if not fn or any(t.rtype != "aws_lambda_function" or not r.exists(t) for t in fn):
        fails.append(f"event source mapping function_name resolves to {sorted(map(str, fn))}")

    # The queue: redrive to a DLQ, visibility timeout six times the function timeout.
    qbody = r.module(target.instance).resources[(target.rtype, target.rname)]
    redrive = r.resolve(target.instance, qbody.get("redrive_policy"))
    if not any(t.rtype == "aws_sqs_queue" and t.rname != target.rname for t in redrive):
        fails.append("the raw queue has no redrive policy to another queue")
    if "maxReceiveCount" not in str(qbody.get("redrive_policy")):
        fails.append("the raw queue's redrive policy has no maxReceiveCount")
    if not re.search(r"var\.timeout_seconds\s*\*\s*6\b", str(qbody.get("visibility_timeout_seconds"))):
        fails.append("the raw queue's visibility timeout is not var.timeout_seconds * 6 (+ window)")
    return fails


def check_lambda_environment(r: Resolver) -> list[str]:
    fails = []
    calls = lambda_calls(r)
    if set(calls) != set(EXPECTED_ENV):
        fails.append(f"lambda module calls are {sorted(calls)}, expected {sorted(EXPECTED_ENV)}")
    for name, body in calls.items():
        env = body.get("environment")
        if not isinstance(env, dict):
            fails.append(f"module.{name}: environment is not a literal map: {env!r}")
            continue
        # The module adds the continuation queue's URL itself, under this name.
        names = set(env)
        continuation = body.get("continuation_queue")
        if isinstance(continuation, dict) and continuation.get("environment_variable"):
            names.add(continuation["environment_variable"])
        want = EXPECTED_ENV.get(name, set())
        missing, extra = want - names, names - want
        if missing:
            fails.append(f"module.{name}: missing environment variables {sorted(missing)}")
        if extra:
            fails.append(f"module.{name}: unexpected environment variables {sorted(extra)}")

    def points_at(call, var, rtype, index, attr):
        env = calls.get(call, {}).get("environment", {})
        if var not in env:
            return  # already reported above
        got = r.resolve(r.root, env[var])
        if not any(t.rtype == rtype and t.index == index and t.attr == attr and r.exists(t) for t in got):
            fails.append(f"module.{call}: {var} does not come from {rtype}[{index!r}].{attr}: {sorted(map(str, got))}")

    points_at("ingest", "FEEDPIPE_STREAM_NAME", "aws_kinesis_stream", "", "name")
    points_at("ingest", "FEEDPIPE_QUARANTINE_URL", "aws_s3_bucket", "raw", "id")
    points_at("raw_to_parquet", "FEEDPIPE_CURATED_URL", "aws_s3_bucket", "curated", "id")
    points_at("raw_to_parquet", "FEEDPIPE_QUARANTINE_URL", "aws_s3_bucket", "raw", "id")

    # The module hands var.environment (minus "") to the function, and the
    # function is the cargo lambda shape.
    lam = r.modules.get("modules/lambda")
    if lam is None:
        return fails + ["modules/lambda is missing"]
    fn = lam.resources.get(("aws_lambda_function", "this"))
    if fn is None:
        return fails + ["modules/lambda has no aws_lambda_function.this"]
    envs = dynamic_contents(fn, "environment") or fn.get("environment", [])
    env_expr = " ".join(str(e.get("variables")) for e in envs) + " " + " ".join(
        str(d.get("environment", {}).get("for_each")) for d in fn.get("dynamic", [])
    )
    if "local.environment" not in env_expr and "environment.value" not in env_expr:
        fails.append("modules/lambda: the function's environment does not come from local.environment")
    if "var.environment" not in str(lam.locals.get("environment")):
        fails.append("modules/lambda: local.environment is not built from var.environment")
    for key, want in (("runtime", "provided.al2023"), ("handler", "bootstrap"), ("architectures", ["arm64"])):
        if fn.get(key) != want:
            fails.append(f"modules/lambda: {key} is {fn.get(key)!r}, expected {want!r}")
    if block(fn, "logging_config").get("log_format") != "JSON":
        fails.append("modules/lambda: logging_config.log_format is not JSON (AWS_LAMBDA_LOG_FORMAT)")
    return fails


def check_continuation_queue(r: Resolver) -> list[str]:
    """The ingest's continuation path (issue 16), from module.ingest's
    continuation_queue through modules/lambda to the alarms."""
    fails = []
    root = r.module(r.root)
    call = root.calls.get("ingest", {})
    cq = call.get("continuation_queue")
    if not isinstance(cq, dict):
        return ["module.ingest: no continuation_queue (the queue a stopped run hands the rest of its file to)"]
    if cq.get("environment_variable") != "FEEDPIPE_CONTINUATION_QUEUE_URL":
        fails.append(f"module.ingest: continuation_queue.environment_variable is {cq.get('environment_variable')!r}, "
                     "not FEEDPIPE_CONTINUATION_QUEUE_URL (lambdas/ingest/src/config.rs)")
    if "FEEDPIPE_CONTINUATION_QUEUE_URL" not in EXPECTED_ENV["ingest"]:
        fails.append("lambdas/ingest/src/config.rs does not read FEEDPIPE_CONTINUATION_QUEUE_URL")
    if cq.get("max_receive_count") != "${var.ingest_continuation_max_receive_count}":
        fails.append(f"module.ingest: continuation_queue.max_receive_count is {cq.get('max_receive_count')!r}, "
                     "not var.ingest_continuation_max_receive_count")
    inst = r.child(r.root, "ingest")
    lam = r.module(inst)
    queue = ("aws_sqs_queue", "continuation")
    dlq = ("aws_sqs_queue", "continuation_dlq")
    for key in (queue, dlq):
        if key not in lam.resources:
            return fails + [f"modules/lambda: no {key[0]}.{key[1]}"]

    def queues(targets, attrs=("arn",)):
        return {t.rname for t in targets if t.rtype == "aws_sqs_queue" and t.attr in attrs and r.exists(t)}

    # The function's environment: the queue's URL, under the caller's name.
    env = lam.locals.get("continuation_environment")
    got = r.resolve(inst, env)
    if queues(got, ("url", "id")) != {"continuation"} or queues(got, ("url", "id", "arn", "name")) != {"continuation"}:
        fails.append(f"modules/lambda: local.continuation_environment is not the continuation queue's URL: {sorted(map(str, got))}")
    if "var.continuation_queue.environment_variable" not in str(env):
        fails.append("modules/lambda: local.continuation_environment is not keyed by var.continuation_queue.environment_variable")
    if "local.continuation_environment" not in str(lam.locals.get("environment")):
        fails.append("modules/lambda: local.environment does not include local.continuation_environment")

    # The event source mapping: reads the queue (not the DLQ) into this function, one at a time.
    readers = [(name, esm) for (rtype, name), esm in lam.resources.items()
               if rtype == "aws_lambda_event_source_mapping" and "continuation" in queues(r.resolve(inst, esm.get("event_source_arn")))]
    for (rtype, name), esm in lam.resources.items():
        if rtype == "aws_lambda_event_source_mapping" and "continuation_dlq" in queues(r.resolve(inst, esm.get("event_source_arn"))):
            fails.append(f"modules/lambda: aws_lambda_event_source_mapping.{name} reads the continuation DLQ")
    if len(readers) != 1:
        fails.append(f"modules/lambda: expected one event source mapping reading the continuation queue, found {[n for n, _ in readers]}")
    for name, esm in readers:
        if esm.get("batch_size") != 1:
            fails.append(f"modules/lambda: the continuation mapping's batch_size is {esm.get('batch_size')!r}, not 1")
        if esm.get("function_response_types"):
            fails.append(f"modules/lambda: the continuation mapping has function_response_types {esm['function_response_types']!r}; "
                         "the handler returns no batchItemFailures (a failure must fail the invocation)")
        fn = r.resolve(inst, esm.get("function_name"))
        if not fn or any((t.rtype, t.rname) != ("aws_lambda_function", "this") for t in fn):
            fails.append(f"modules/lambda: the continuation mapping invokes {sorted(map(str, fn))}, not the function itself")

    # Lambda's recursive loop detection would stop a file's 17th part: Allow.
    loops = [b for (rtype, _), b in lam.resources.items() if rtype == "aws_lambda_function_recursion_config"]
    if not any(b.get("recursive_loop") == "Allow" and "local.continuation_enabled" in str(b.get("count"))
               and any((t.rtype, t.rname) == ("aws_lambda_function", "this") for t in r.resolve(inst, b.get("function_name")))
               for b in loops):
        fails.append("modules/lambda: no aws_lambda_function_recursion_config allowing the function's continuation loop "
                     "(by default Lambda stops a chain after 16 invocations: a longer file would end in the DLQ)")

    # The queue: redrive to its DLQ after max_receive_count, 6x the timeout, the project key.
    qbody, dbody = lam.resources[queue], lam.resources[dlq]
    redrive = r.resolve(inst, qbody.get("redrive_policy"))
    if queues(redrive) != {"continuation_dlq"}:
        fails.append(f"the continuation queue does not redrive to the continuation DLQ: {sorted(map(str, redrive))}")
    if not re.search(r"maxReceiveCount\s*=\s*var\.continuation_queue\.max_receive_count", str(qbody.get("redrive_policy"))):
        fails.append("the continuation queue's maxReceiveCount is not var.continuation_queue.max_receive_count")
    if not re.fullmatch(r"\$\{var\.timeout_seconds\s*\*\s*6\}", str(qbody.get("visibility_timeout_seconds"))):
        fails.append(f"the continuation queue's visibility timeout is {qbody.get('visibility_timeout_seconds')!r}, "
                     "not var.timeout_seconds * 6 (AWS's rule for an SQS event source)")
    for what, body in (("queue", qbody), ("DLQ", dbody)):
        if body.get("kms_master_key_id") != "${var.kms_key_arn}":
            fails.append(f"the continuation {what} is not encrypted with the project key (var.kms_key_arn)")
    others = {lam.resources[("aws_sqs_queue", n)].get("message_retention_seconds") for n in ("async_failure", "source_dlq")}
    if others != {dbody.get("message_retention_seconds")}:
        fails.append(f"the continuation DLQ keeps messages {dbody.get('message_retention_seconds')!r}, the other DLQs {sorted(map(str, others))}")

    # IAM: SendMessage to the queue only; the mapping's three actions on it.
    doc = lam.data.get(("aws_iam_policy_document", "this"), {})

    def covered(st, for_each):
        res = as_list(st.get("resources"))
        if "*" in res:
            return {"*"}
        return queues(r.resolve(inst, for_each if "${statement.value}" in res else res))

    sends, consumes = [], []
    for st in doc.get("statement", []):
        acts = set(as_list(st.get("actions")))
        if "sqs:SendMessage" in acts or "sqs:ReceiveMessage" in acts:
            (sends if "sqs:SendMessage" in acts else consumes).append((st, covered(st, None), acts))
    for entry in doc.get("dynamic", []):
        dyn = entry.get("statement")
        if not isinstance(dyn, dict):
            continue
        for st in dyn.get("content", []):
            acts = set(as_list(st.get("actions")))
            if "sqs:SendMessage" in acts:
                sends.append((st, covered(st, dyn.get("for_each")), acts))
            elif "sqs:ReceiveMessage" in acts:
                consumes.append((st, covered(st, dyn.get("for_each")), acts))
    to_queue = [(st, cov, acts) for st, cov, acts in sends if "continuation" in cov or "*" in cov]
    if len(to_queue) != 1:
        fails.append(f"modules/lambda: expected one statement allowing sqs:SendMessage on the continuation queue, "
                     f"found {[st.get('sid') for st, _, _ in to_queue]}")
    for st, cov, acts in to_queue:
        if cov != {"continuation"} or acts != {"sqs:SendMessage"}:
            fails.append(f"modules/lambda: statement {st.get('sid')!r} allows {sorted(acts)} on {sorted(cov)}; "
                         "expected sqs:SendMessage on the continuation queue only")
    for st, cov, acts in sends:
        if "continuation_dlq" in cov:
            fails.append(f"modules/lambda: statement {st.get('sid')!r} lets the function send to the continuation DLQ")
    need = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    if not any("continuation" in cov and need <= acts for _, cov, acts in consumes):
        fails.append(f"modules/lambda: no statement allows {sorted(need)} on the continuation queue (its event source mapping)")

    # Alarms: any message in the DLQ; the queue's oldest message too old.
    alarms = root.calls.get("alarms", {})
    dlq_alarmed = any(t.instance == inst and (t.rtype, t.rname, t.attr) == ("aws_sqs_queue", "continuation_dlq", "name")
                      for v in (alarms.get("dead_letter_queue_names") or {}).values() for t in r.resolve(r.root, v))
    if not dlq_alarmed:
        fails.append("module.alarms: the continuation DLQ is not in dead_letter_queue_names (a lost continuation would be silent)")
    aged = [a for a in (alarms.get("queue_age_alarms") or {}).values()
            if isinstance(a, dict) and any(t.instance == inst and (t.rtype, t.rname, t.attr) == ("aws_sqs_queue", "continuation", "name")
                                           for t in r.resolve(r.root, a.get("queue_name")))]
    if len(aged) != 1:
        fails.append("module.alarms: no queue_age_alarms entry for the continuation queue")
    elif "var.ingest_continuation_age_alarm_seconds" not in str(aged[0].get("threshold_seconds")):
        fails.append(f"module.alarms: the continuation age threshold is {aged[0].get('threshold_seconds')!r}, "
                     "not from var.ingest_continuation_age_alarm_seconds")
    al = r.modules.get("modules/alarms")
    for name, loop, metric in (("dead_letter_queue", "var.dead_letter_queue_names", "ApproximateNumberOfMessagesVisible"),
                               ("queue_age", "var.queue_age_alarms", "ApproximateAgeOfOldestMessage")):
        body = al.resources.get(("aws_cloudwatch_metric_alarm", name)) if al else None
        if not body:
            fails.append(f"modules/alarms: no aws_cloudwatch_metric_alarm.{name}")
            continue
        if body.get("for_each") != "${" + loop + "}" or body.get("metric_name") != metric or body.get("namespace") != "AWS/SQS":
            fails.append(f"modules/alarms: aws_cloudwatch_metric_alarm.{name} is not {metric} of each of {loop}")
        if body.get("alarm_actions") != "${local.actions}" or body.get("comparison_operator") != "GreaterThanThreshold":
            fails.append(f"modules/alarms: aws_cloudwatch_metric_alarm.{name} does not alarm to local.actions above its threshold")
    if al and al.resources.get(("aws_cloudwatch_metric_alarm", "dead_letter_queue"), {}).get("threshold") != 0:
        fails.append("modules/alarms: the dead-letter queue alarm's threshold is not 0 (any message)")

    # The deadline margin below the timeout: a precondition somewhere in the root.
    bodies = list(root.resources.values()) + list(root.data.values())
    if not any(re.search(r"var\.ingest_deadline_margin_seconds\s*<\s*var\.ingest_timeout_seconds", str(b.get("lifecycle")))
               for b in bodies):
        fails.append("root: no precondition var.ingest_deadline_margin_seconds < var.ingest_timeout_seconds "
                     "(a margin at or above the timeout stops every run at once: one line per invocation)")
    return fails


def statements(doc: dict) -> list[dict]:
    return list(doc.get("statement", [])) + dynamic_contents(doc, "statement")


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def check_iam(r: Resolver) -> list[str]:
    fails = []
    used_star, used_wild = set(), set()
    count = 0
    for path, mod in r.modules.items():
        for (rtype, name), doc in mod.data.items():
            if rtype != "aws_iam_policy_document":
                continue
            for st in statements(doc):
                count += 1
                sid = st.get("sid")
                key = (path, name, sid)
                where = f"{path}: data.aws_iam_policy_document.{name} statement {sid!r}"
                if not sid:
                    fails.append(f"{where}: statement without sid")
                for forbidden in ("not_actions", "not_resources"):
                    if forbidden in st:
                        fails.append(f"{where}: uses {forbidden}")
                actions = as_list(st.get("actions"))
                for action in actions:
                    if action == "*":
                        fails.append(f"{where}: action \"*\"")
                    elif SERVICE_WILDCARD.match(str(action)):
                        if key in ACTION_WILDCARD_ALLOWLIST and st.get("effect") == "Deny":
                            used_wild.add(key)
                        else:
                            fails.append(f"{where}: service-wide action {action!r}")
                if "*" in as_list(st.get("resources")):
                    allowed = RESOURCE_STAR_ALLOWLIST.get(key)
                    if allowed is None:
                        fails.append(f"{where}: resources \"*\" (name the resource, or allowlist with a reason)")
                    else:
                        used_star.add(key)
                        bad = [a for a in actions if not re.match(allowed[0], str(a))]
                        if bad or not actions:
                            fails.append(f"{where}: resources \"*\" allowed only for {allowed[0]}, not {bad}")
    if count == 0:
        fails.append("no IAM policy document statements found")
    for key in set(RESOURCE_STAR_ALLOWLIST) - used_star:
        fails.append(f"allowlist entry {key} matches no statement with resources \"*\": remove it")
    for key in set(ACTION_WILDCARD_ALLOWLIST) - used_wild:
        fails.append(f"action allowlist entry {key} matches no deny statement: remove it")

    # Every attached policy is such a document, never an inline string.
    for path, mod in r.modules.items():
        for (rtype, name), body in mod.resources.items():
            if rtype in ("aws_iam_role_policy", "aws_iam_policy"):
                if not re.fullmatch(r"\$\{data\.aws_iam_policy_document\.[a-z0-9_]+(\[[^\]]+\])?\.json\}", str(body.get("policy"))):
                    fails.append(f"{path}: {rtype}.{name} policy is not an aws_iam_policy_document")
            if rtype == "aws_iam_role" and "inline_policy" in body:
                fails.append(f"{path}: aws_iam_role.{name} has an inline_policy")
    return fails


# GetObject statements that need no s3:ListBucket on their bucket, with the reason.
LIST_BUCKET_EXEMPT = {
    ("ingest", "ReadFeedsFile"):
        "the feeds file and its contracts (feeds.tf) are read once at cold start from objects this stack made "
        "before the function points at them; a missing one fails every cold start, 403 or 404 alike, and "
        "ListBucket would show the ingest every key of the curated bucket",
}


def check_lambda_s3_access(r: Resolver) -> list[str]:
    """The Lambdas may do the S3 calls their cores make (issue 15, defects 1 and 3):
    raw-to-parquet writes and reads `_manifests/<table>/*` in the curated bucket
    (jobs/convert/src/job/manifest.rs) for every table, and every bucket a Lambda
    reads objects from also gets s3:ListBucket, so that a missing key is a 404, not
    a 403 (bar LIST_BUCKET_EXEMPT)."""
    fails = []
    root = r.module(r.root)

    def expand(expr) -> str:
        # Locals inlined (one level is enough here), as text.
        text = " ".join(map(str, as_list(expr)))
        for name in re.findall(r"local\.([a-z0-9_]+)", text):
            text += " " + str(root.locals.get(name, ""))
        return text

    for doc_name in ("ingest", "raw_to_parquet"):
        doc = root.data.get(("aws_iam_policy_document", doc_name))
        if doc is None:
            fails.append(f"root: data.aws_iam_policy_document.{doc_name} is missing")
            continue
        # (statement, the text of what its resources are: a dynamic one's for_each)
        sts = [(st, expand(st.get("resources"))) for st in doc.get("statement", [])]
        for entry in doc.get("dynamic", []):
            dyn = entry.get("statement") if isinstance(entry, dict) else None
            for st in (dyn or {}).get("content", []):
                res = expand(st.get("resources"))
                sts.append((st, expand(dyn.get("for_each")) if "statement.value" in res else res))
        listed = " ".join(res for st, res in sts if "s3:ListBucket" in as_list(st.get("actions")))
        for st, res in sts:
            if "s3:GetObject" not in as_list(st.get("actions")):
                continue
            if (doc_name, st.get("sid")) in LIST_BUCKET_EXEMPT:
                continue
            for bucket in sorted(set(re.findall(r"(module\.buckets\.[a-z_]+_bucket_arn)\}/", res))):
                if bucket not in listed:
                    fails.append(
                        f"{doc_name}: statement {st.get('sid')!r} reads {bucket} objects but no statement "
                        f"grants s3:ListBucket on that bucket (a missing key would answer 403, retried)"
                    )
        if doc_name == "raw_to_parquet":
            manifests = [
                st for st, _ in sts
                if "s3:PutObject" in as_list(st.get("actions"))
                and any(re.search(r"for t in local\.curated_tables : \"\$\{module\.buckets\.curated_bucket_arn\}/_manifests/\$\{t\}/\*\"", str(x))
                        for x in as_list(st.get("resources")))
            ]
            if not manifests:
                fails.append("raw_to_parquet: no statement allows s3:PutObject on <curated>/_manifests/<table>/* "
                             "for every table of local.curated_tables (the converter's manifests)")
    return fails


def check_kms_for_s3_notifications(r: Resolver) -> list[str]:
    """The key policy lets S3 use the key for notifications to encrypted queues
    exactly as AWS documents it: no aws:SourceAccount / aws:SourceArn condition,
    which no AWS page says S3's KMS request carries (issue 15, defect 10; the
    sources are in modules/buckets/main.tf). The queue policy keeps both."""
    fails = []
    doc = r.modules["modules/buckets"].data.get(("aws_iam_policy_document", "kms_key"), {})
    found = [st for st in statements(doc) if st.get("sid") == "AllowS3EventNotificationsToEncryptedQueues"]
    if len(found) != 1:
        return ["modules/buckets: no key policy statement AllowS3EventNotificationsToEncryptedQueues"]
    st = found[0]
    if sorted(as_list(st.get("actions"))) != ["kms:Decrypt", "kms:GenerateDataKey"]:
        fails.append(f"modules/buckets: S3's key statement allows {as_list(st.get('actions'))}, AWS documents kms:GenerateDataKey and kms:Decrypt")
    for cond in as_list(st.get("condition")):
        fails.append(f"modules/buckets: S3's key statement has a condition on {cond.get('variable')}; AWS's documented statement has none")
    queue = r.modules["modules/lambda"].data.get(("aws_iam_policy_document", "source_queue"), {})
    variables = {c.get("variable") for st in statements(queue) for c in as_list(st.get("condition"))}
    for key in ("aws:SourceArn", "aws:SourceAccount"):
        if key not in variables:
            fails.append(f"modules/lambda: the source queue policy lost its {key} condition (the confused-deputy guard)")
    return fails


def check_backfill_timeouts(r: Resolver) -> list[str]:
    """The backfill Task's timeout and retries follow the raw-to-parquet timeout
    (issue 15, defect 9): the module gets it from the root, the Task uses the
    derived locals, and an EXPRESS child that cannot fit one attempt fails plan."""
    fails = []
    call = r.module(r.root).calls.get("backfill", {})
    if "var.raw_to_parquet_timeout_seconds" not in str(call.get("function_timeout_seconds")):
        fails.append("module.backfill: function_timeout_seconds is not var.raw_to_parquet_timeout_seconds")
    mod = r.modules.get("modules/backfill")
    if mod is None:
        return fails + ["modules/backfill is missing"]
    definition = str(mod.locals.get("definition"))
    for key, local in (("MaxAttempts", "local.task_retries"), ("TimeoutSeconds", "local.task_timeout_seconds")):
        if not re.search(rf"'{key}': '\$\{{{re.escape(local)}\}}'", definition):
            fails.append(f"modules/backfill: the Task's {key} is not {local}")
    if "var.function_timeout_seconds" not in str(mod.locals.get("express_retries")):
        fails.append("modules/backfill: express_retries does not depend on var.function_timeout_seconds")
    sm = mod.resources.get(("aws_sfn_state_machine", "this"), {})
    pre = str(sm.get("lifecycle"))
    if "precondition" not in pre or "EXPRESS" not in pre or "local.express_retries" not in pre:
        fails.append("modules/backfill: no precondition refusing EXPRESS children when no attempt fits in 300 s")
    return fails


# ---------------------------------------------------------------------------
# The Snowflake role's trust policy, rendered for one handshake state
# ---------------------------------------------------------------------------

# Stand-ins for what only AWS knows at plan time.
HCL_DATA = {
    "data.aws_caller_identity.current.account_id": "111122223333",
    "data.aws_partition.current.partition": "aws",
}
SNOWFLAKE_USER = "arn:aws:iam::999988887777:user/snowflake-abc"
SNOWFLAKE_EXTERNAL_ID = "ACCT_SFCRole=2_abc="


def hcl_value(expr, mod: Module, env: dict):
    """The value of an HCL expression of `mod` (tests/infra/hcl_eval.py, shared with
    tests/infra/policies.py), with `env` for the variables, the module's locals and
    HCL_DATA for the data sources; raises ValueError for anything it cannot evaluate."""

    def var(name):
        if name not in env:
            raise HclError(f"var.{name} has no value here")
        return env[name]

    def local(name):
        if name not in mod.locals:
            raise HclError(f"local.{name} is not defined")
        return evaluate(mod.locals[name], scope)

    def data(path):
        def step(name):
            key = f"{path}.{name}"
            if key in HCL_DATA:
                return HCL_DATA[key]
            if key.count(".") >= 3:
                raise HclError(f"{key} has no stand-in value here")
            return data(key)
        return Namespace(path, attr=step)

    scope = Scope({
        "var": Namespace("var", attr=var),
        "local": Namespace("local", attr=local),
        "data": data("data"),
    })
    return evaluate(expr, scope)


def rendered_statements(mod: Module, doc: dict, env: dict) -> list[dict]:
    """The policy document's statements as Terraform would render them for `env`:
    static statements, and each dynamic one once per element of its for_each."""
    out = [dict(st) for st in doc.get("statement", [])]
    for entry in doc.get("dynamic", []):
        if "statement" not in entry:
            continue
        dyn = entry["statement"]
        n = len(as_list(hcl_value(dyn.get("for_each"), mod, env)))
        out += [dict(c) for c in dyn.get("content", [])] * n
    for st in out:
        for key in ("effect", "actions"):
            st[key] = hcl_value(st.get(key, "Allow" if key == "effect" else []), mod, env)
        st["principals"] = [
            {"type": p.get("type"), "identifiers": hcl_value(as_list(p.get("identifiers")), mod, env)}
            for p in as_list(st.get("principals"))
        ]
        st["condition"] = [
            {"test": c.get("test"), "variable": c.get("variable"), "values": hcl_value(as_list(c.get("values")), mod, env)}
            for c in as_list(st.get("condition"))
        ]
    return out


def check_snowflake_trust(r: Resolver) -> list[str]:
    """The Snowflake storage role trusts nobody before the handshake (issue 15,
    defect 4): with snowflake_iam_user_arn and snowflake_external_id unset (or only
    one set) its trust policy is one unconditional Deny of sts:AssumeRole to every
    AWS principal, with no Allow (so no principal of this account or any other
    can assume it, whatever its own policies allow). After the handshake it is
    one Allow of sts:AssumeRole to exactly Snowflake's IAM user with
    StringEquals sts:ExternalId, and no Deny (else the handshake cannot finish)."""
    fails = []
    mod = r.modules.get("modules/snowflake_access")
    if mod is None:
        return ["modules/snowflake_access is missing"]
    role = mod.resources.get(("aws_iam_role", "snowflake"), {})
    m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z0-9_]+)\.json\}", str(role.get("assume_role_policy")))
    if not m or ("aws_iam_policy_document", m.group(1)) not in mod.data:
        return [f"modules/snowflake_access: the role's assume_role_policy is not a policy document: {role.get('assume_role_policy')!r}"]
    doc = mod.data[("aws_iam_policy_document", m.group(1))]
    states = {
        "before the handshake": {"snowflake_iam_user_arn": "", "snowflake_external_id": ""},
        "with only the IAM user set": {"snowflake_iam_user_arn": SNOWFLAKE_USER, "snowflake_external_id": ""},
        "with only the external id set": {"snowflake_iam_user_arn": "", "snowflake_external_id": SNOWFLAKE_EXTERNAL_ID},
    }
    for state, env in states.items():
        try:
            sts = rendered_statements(mod, doc, env)
        except ValueError as exc:
            fails.append(f"trust policy {state}: cannot render: {exc}")
            continue
        allows = [st for st in sts if st["effect"] != "Deny"]
        for st in allows:
            who = [i for p in st["principals"] for i in p["identifiers"]]
            ids = [v for c in st["condition"] for v in c["values"]]
            fails.append(
                f"trust policy {state}: statement {st.get('sid')!r} allows {st['actions']} to {who}"
                + (f" with external id {ids}" if ids else "")
                + ": any principal it names may assume the role and read the curated data"
            )
        deny_all = [
            st for st in sts
            if st["effect"] == "Deny" and "sts:AssumeRole" in st["actions"] and not st["condition"]
            and any(p["type"] == "AWS" and "*" in p["identifiers"] for p in st["principals"])
        ]
        if not deny_all:
            fails.append(f"trust policy {state}: no unconditional Deny of sts:AssumeRole to every AWS principal (\"*\")")
    env = {"snowflake_iam_user_arn": SNOWFLAKE_USER, "snowflake_external_id": SNOWFLAKE_EXTERNAL_ID}
    try:
        sts = rendered_statements(mod, doc, env)
    except ValueError as exc:
        return fails + [f"trust policy after the handshake: cannot render: {exc}"]
    for st in sts:
        if st["effect"] == "Deny":
            fails.append(f"trust policy after the handshake: statement {st.get('sid')!r} still denies {st['actions']}: Snowflake could never assume the role")
    allows = [st for st in sts if st["effect"] != "Deny"]
    want_principals = [{"type": "AWS", "identifiers": [SNOWFLAKE_USER]}]
    want_condition = [{"test": "StringEquals", "variable": "sts:ExternalId", "values": [SNOWFLAKE_EXTERNAL_ID]}]
    if len(allows) != 1:
        fails.append(f"trust policy after the handshake: {len(allows)} Allow statements, expected exactly one for Snowflake's IAM user")
    for st in allows:
        if st["actions"] != ["sts:AssumeRole"] or st["principals"] != want_principals or st["condition"] != want_condition:
            fails.append(
                f"trust policy after the handshake: statement {st.get('sid')!r} allows {st['actions']} to "
                f"{st['principals']} if {st['condition']}; expected sts:AssumeRole to exactly {want_principals} "
                f"if {want_condition}"
            )
    return fails


# ---------------------------------------------------------------------------
# Many feeds (issue 17): infra/feeds.tf, rendered for both configurations
# ---------------------------------------------------------------------------

FEEDS_EXAMPLE = "infra/feeds.example"  # relative to the repository root, as feeds_dir is
FEEDS_TABLES = ["orders", "orders_eu"]  # the tables of its feeds.toml
FEEDS_PREFIX = "_feedpipe/feeds"
# The variables the Lambdas refuse beside FEEDPIPE_FEEDS_URL (their config.rs).
SINGLE_FEED_ENV = {
    "ingest": {"FEEDPIPE_PARTITION_KEY_FIELD"},
    "raw_to_parquet": {"FEEDPIPE_TABLE", "FEEDPIPE_SCHEMA_URL", "FEEDPIPE_EVENT_TIME_COLUMN"},
}
SNOWPIPE_QUEUE = "arn:aws:sqs:us-east-1:999988887777:sf-snowpipe-AIDAEXAMPLE-abc"


def feeds_digest(folder: pathlib.Path) -> tuple[list[str], str]:
    """The files feeds.tf uploads (all but hidden ones) and its <digest>, computed
    here as infra/feeds.tf documents it: the first 16 hex digits of SHA-256 over
    "<path> <SHA-256 of the file>" lines, sorted by path."""
    files = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    lines = "\n".join(f"{f} {hashlib.sha256((folder / f).read_bytes()).hexdigest()}" for f in files)
    return files, hashlib.sha256(lines.encode()).hexdigest()[:16]


def _allows(statement: dict, action: str, resource: str) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    acts, res = as_list(statement.get("Action", [])), as_list(statement.get("Resource", []))
    return any(fnmatch.fnmatchcase(action, a) for a in acts) and any(fnmatch.fnmatchcase(resource, x) for x in res)


def check_feeds(r: Resolver) -> list[str]:
    """feeds_dir (infra/feeds.tf), rendered by tests/infra/policies.py for the IAM
    fixture's names: without it, nothing of it exists and the single-feed
    variables are as before; with infra/feeds.example, every file is an object at
    _feedpipe/feeds/<digest>/ of the curated bucket (digest computed here), both
    functions get FEEDPIPE_FEEDS_URL = its feeds.toml (from the object, so they
    depend on the uploads) and none of the variables they refuse beside it, may
    s3:GetObject on exactly _feedpipe/feeds/*, and nothing else may read or write
    there; raw-to-parquet writes, Snowflake reads and Snowpipe hears every table;
    sql_vars lists them; the preconditions and validations refuse what the
    Lambdas or the upload could not work with."""
    import policies  # noqa: PLC0415 (imports this module: only once it is loaded)

    fails = []
    texts = r.texts if r.texts is not None else read_texts()
    base = json.loads((REPO / "tests/infra/iam_fixture/names.json").read_text())
    curated = base["curated_bucket"]
    root = r.module(r.root)

    def tree(**extra):
        return policies.Tree({**base, **extra}, texts)

    def env(t, call):
        return t.local((call,), "environment")

    def preconditions(t) -> list[tuple[str, bool]]:
        out = []
        for (rtype, name), body in list(root.data.items()) + list(root.resources.items()):
            for lc in as_list(body.get("lifecycle")):
                for pc in as_list(lc.get("precondition")):
                    out.append((f"{rtype}.{name}: {str(pc.get('error_message'))[:70]}...", evaluate(pc["condition"], t.scope(()))))
        return out

    def validations(t, var) -> list[bool]:
        return [evaluate(v["condition"], t.scope(())) for v in as_list(root.variables.get(var, {}).get("validation"))]

    def objects(t) -> list:
        return t.block_ns((), "resource", "aws_s3_object", "feeds").items()

    # ---- without feeds_dir: the single-feed deployment, unchanged ----------------
    try:
        t = tree()
        for call in ("ingest", "raw_to_parquet"):
            if "FEEDPIPE_FEEDS_URL" in env(t, call):
                fails.append(f"single feed: module.{call} gets FEEDPIPE_FEEDS_URL")
        if env(t, "raw_to_parquet").get("FEEDPIPE_TABLE") != base["curated_table"]:
            fails.append(f"single feed: FEEDPIPE_TABLE is {env(t, 'raw_to_parquet').get('FEEDPIPE_TABLE')!r}, not curated_table")
        if env(t, "ingest").get("FEEDPIPE_PARTITION_KEY_FIELD") != "customer_id":
            fails.append("single feed: FEEDPIPE_PARTITION_KEY_FIELD is not ingest_partition_key_field's default")
        t2 = tree(schema_url="s3://config-bucket/feed.json", event_time_column="order_ts")
        got = {k: env(t2, "raw_to_parquet").get(k) for k in ("FEEDPIPE_SCHEMA_URL", "FEEDPIPE_EVENT_TIME_COLUMN")}
        if got != {"FEEDPIPE_SCHEMA_URL": "s3://config-bucket/feed.json", "FEEDPIPE_EVENT_TIME_COLUMN": "order_ts"}:
            fails.append(f"single feed: schema_url and event_time_column no longer reach raw-to-parquet: {got}")
        if objects(t):
            fails.append(f"single feed: {len(objects(t))} aws_s3_object.feeds instances")
        rendered = policies.render(base, texts)
        for component, doc in rendered["identity"].items():
            if any(st.get("Sid") == "ReadFeedsFile" for st in doc["Statement"]):
                fails.append(f"single feed: {component} has a ReadFeedsFile statement")
        if not _allows(next((st for st in rendered["identity"]["raw_to_parquet"]["Statement"] if st.get("Sid") == "WriteCuratedTable"), {}),
                       "s3:PutObject", f"arn:aws:s3:::{curated}/{base['curated_table']}/dt=2026-12-01/x.parquet"):
            fails.append("single feed: raw-to-parquet may not write curated_table")
        for what, ok in preconditions(t):
            if not ok:
                fails.append(f"single feed: precondition fails: {what}")
    except HclError as exc:
        fails.append(f"single feed: cannot render: {exc}")

    # ---- with infra/feeds.example --------------------------------------------------
    feeds = {"feeds_dir": FEEDS_EXAMPLE, "feeds_tables": FEEDS_TABLES}
    files, digest = feeds_digest(REPO / FEEDS_EXAMPLE)
    url = f"s3://{curated}/{FEEDS_PREFIX}/{digest}/feeds.toml"
    object_arns = [f"arn:aws:s3:::{curated}/{FEEDS_PREFIX}/{digest}/{f}" for f in files]
    try:
        t = tree(**feeds)
        for call in ("ingest", "raw_to_parquet"):
            e = env(t, call)
            if e.get("FEEDPIPE_FEEDS_URL") != url:
                fails.append(f"feeds: module.{call}: FEEDPIPE_FEEDS_URL is {e.get('FEEDPIPE_FEEDS_URL')!r}, not {url!r}")
            both = sorted(SINGLE_FEED_ENV[call] & set(e))
            if both:
                fails.append(f"feeds: module.{call} also gets {both}, which its handler refuses beside FEEDPIPE_FEEDS_URL")
            # The functions must wait for the uploads: the value comes from the objects.
            targets = r.resolve(r.root, root.calls.get(call, {}).get("environment", {}).get("FEEDPIPE_FEEDS_URL"))
            if not any((x.rtype, x.rname) == ("aws_s3_object", "feeds") and r.exists(x) for x in targets):
                fails.append(f"feeds: module.{call}'s FEEDPIPE_FEEDS_URL does not refer to aws_s3_object.feeds "
                             f"({sorted(map(str, targets))}): the function would not wait for the upload")
        if t.local((), "feeds_url") != url or evaluate(root.outputs.get("feeds_url", {}).get("value", "null"), t.scope(())) != url:
            fails.append("feeds: local.feeds_url or output feeds_url is not the uploaded feeds.toml")
        kms = t.module_ns(("buckets",)).attr("kms_key_arn")
        got = {}
        for o in objects(t):
            got[o.attr("key")] = (o.attr("bucket"), o.attr("source"), o.attr("source_hash"), o.attr("kms_key_id"), o.attr("server_side_encryption"))
        want = {
            f"{FEEDS_PREFIX}/{digest}/{f}": (curated, str(REPO / FEEDS_EXAMPLE / f), hashlib.md5((REPO / FEEDS_EXAMPLE / f).read_bytes()).hexdigest(), kms, "aws:kms")
            for f in files
        }
        if got != want:
            fails.append(f"feeds: the uploaded objects are {got}, expected {want}")
        lifecycle = as_list(root.resources.get(("aws_s3_object", "feeds"), {}).get("lifecycle"))
        if not any(lc.get("create_before_destroy") is True for lc in lifecycle):
            fails.append("feeds: aws_s3_object.feeds lacks create_before_destroy: a changed feeds file would delete the "
                         "objects the functions still point at before they move on")
        rendered = policies.render({**base, **feeds}, texts)
        for component, doc in rendered["identity"].items():
            readers = [st.get("Sid") for st in doc["Statement"] if any(_allows(st, "s3:GetObject", a) for a in object_arns)]
            writers = [st.get("Sid") for st in doc["Statement"]
                       if any(_allows(st, act, a) for a in object_arns for act in ("s3:PutObject", "s3:DeleteObject"))]
            if writers:
                fails.append(f"feeds: {component} may write or delete the feeds objects: {writers}")
            if component not in ("ingest", "raw_to_parquet"):
                if readers:
                    fails.append(f"feeds: {component} may read the feeds objects: {readers}")
                continue
            if readers != ["ReadFeedsFile"]:
                fails.append(f"feeds: {component}: the statements that let it read the feeds objects are {readers}, not ReadFeedsFile")
            st = next((x for x in doc["Statement"] if x.get("Sid") == "ReadFeedsFile"), {})
            if (st.get("Action"), st.get("Resource")) != ("s3:GetObject", f"arn:aws:s3:::{curated}/{FEEDS_PREFIX}/*"):
                fails.append(f"feeds: {component}'s ReadFeedsFile allows {st.get('Action')} on {st.get('Resource')}, "
                             f"not s3:GetObject on exactly arn:aws:s3:::{curated}/{FEEDS_PREFIX}/*")
        r2p, snow = rendered["identity"]["raw_to_parquet"]["Statement"], rendered["identity"]["snowflake"]["Statement"]
        for table in FEEDS_TABLES:
            parquet = f"arn:aws:s3:::{curated}/{table}/dt=2026-12-01/raw-1-part-00001.parquet"
            manifest = f"arn:aws:s3:::{curated}/_manifests/{table}/raw-1.json"
            for who, sts, action, arn in (("raw-to-parquet", r2p, "s3:PutObject", parquet), ("raw-to-parquet", r2p, "s3:PutObject", manifest),
                                          ("snowflake", snow, "s3:GetObject", parquet), ("snowflake", snow, "s3:GetObject", manifest)):
                if not any(_allows(st, action, arn) for st in sts):
                    fails.append(f"feeds: {who} may not {action} {arn}")
            prefixes = [v for st in snow for c in st.get("Condition", {}).values() for v in as_list(c.get("s3:prefix", []))]
            if f"{table}/" not in prefixes or f"_manifests/{table}/" not in prefixes:
                fails.append(f"feeds: snowflake may not list {table}/ and _manifests/{table}/ ({prefixes})")
        # The Snowpipe notification, once the queue is known: one configuration per table.
        t3 = tree(**feeds, snowpipe_sqs_arn=SNOWPIPE_QUEUE)
        mod = r.modules["modules/snowflake_access"]
        body = mod.resources.get(("aws_s3_bucket_notification", "snowpipe"), {})
        scope = t3.scope(("snowflake_access",))
        configs = []
        if int(evaluate(body.get("count", 1), scope)) == 1:
            for entry in as_list(body.get("dynamic")):
                dyn = entry.get("queue") if isinstance(entry, dict) else None
                if not dyn:
                    continue
                for i, v in enumerate(evaluate(dyn.get("for_each"), scope)):
                    inner = scope.child({"queue": {"key": i, "value": v}})
                    for c in as_list(dyn.get("content")):
                        configs.append({k: evaluate(c.get(k, ""), inner) for k in ("queue_arn", "events", "filter_prefix", "filter_suffix")})
            configs += [{k: evaluate(q.get(k, ""), scope) for k in ("queue_arn", "events", "filter_prefix", "filter_suffix")} for q in as_list(body.get("queue"))]
        if sorted(c["filter_prefix"] for c in configs) != sorted(f"{x}/" for x in FEEDS_TABLES):
            fails.append(f"feeds: the Snowpipe notification filters {[c['filter_prefix'] for c in configs]}, not one <table>/ per table")
        for c in configs:
            if c["queue_arn"] != SNOWPIPE_QUEUE or c["events"] != ["s3:ObjectCreated:*"] or c["filter_suffix"] != ".parquet":
                fails.append(f"feeds: a Snowpipe configuration sends {c['events']} of {c['filter_prefix']}*{c['filter_suffix']} "
                             f"to {c['queue_arn']}, not s3:ObjectCreated:* of <table>/*.parquet to the pipes' queue")
        for a in configs:
            for b in configs:
                if a is not b and (a["filter_prefix"].startswith(b["filter_prefix"]) and a["filter_suffix"].endswith(b["filter_suffix"])):
                    fails.append(f"feeds: Snowpipe configurations overlap (S3 refuses it): {a['filter_prefix']} and {b['filter_prefix']}")

        def notified(key):
            return [c for c in configs if key.startswith(c["filter_prefix"]) and key.endswith(c["filter_suffix"])]

        for table in FEEDS_TABLES:
            if len(notified(f"{table}/dt=2026-12-01/raw-1-part-00001.parquet")) != 1:
                fails.append(f"feeds: a Parquet file of {table} is not notified exactly once")
            if notified(f"_manifests/{table}/raw-1.json"):
                fails.append(f"feeds: a manifest of {table} is notified to Snowpipe")
        for key in (f"{FEEDS_PREFIX}/{digest}/{f}" for f in files):
            if notified(key):
                fails.append(f"feeds: the upload {key} is notified to Snowpipe")
        sql_vars = evaluate(root.outputs["sql_vars"]["value"], t.scope(()))
        want_locations = [x for tb in FEEDS_TABLES for x in (f"s3://{curated}/{tb}/", f"s3://{curated}/_manifests/{tb}/")]
        if (sql_vars.get("tables"), sql_vars.get("table"), sql_vars.get("storage_allowed_locations")) != (FEEDS_TABLES, "", want_locations):
            fails.append(f"feeds: sql_vars has tables {sql_vars.get('tables')}, table {sql_vars.get('table')!r}, "
                         f"storage_allowed_locations {sql_vars.get('storage_allowed_locations')}; expected {FEEDS_TABLES}, '', {want_locations}")
        for what, ok in preconditions(t):
            if not ok:
                fails.append(f"feeds: precondition fails: {what}")
    except HclError as exc:
        fails.append(f"feeds: cannot render: {exc}")

    # ---- what the preconditions and validations must refuse -----------------------
    with tempfile.TemporaryDirectory() as tmp:
        def variant(name: str, old: str | None = None, new: str | None = None) -> str:
            folder = pathlib.Path(tmp) / name
            shutil.copytree(REPO / FEEDS_EXAMPLE, folder)
            if old is not None:
                toml = (folder / "feeds.toml").read_text()
                assert old in toml, (old, name)
                (folder / "feeds.toml").write_text(toml.replace(old, new, 1))
            return str(folder)

        hidden = variant("hidden")
        (pathlib.Path(hidden) / ".DS_Store").write_bytes(b"\0")
        (pathlib.Path(hidden) / "contracts" / ".orders.json.swp").write_bytes(b"\0")
        try:
            # _feedpipe/feeds/<digest>/<path>
            keys = sorted(o.attr("key").split("/", 3)[-1] for o in objects(tree(feeds_dir=hidden, feeds_tables=FEEDS_TABLES)))
            if keys != files:
                fails.append(f"feeds: with hidden files in feeds_dir the upload is {keys}, not {files}")
        except HclError as exc:
            fails.append(f"feeds: hidden files: cannot render: {exc}")
        refused = [
            ("a table of feeds.toml missing from feeds_tables", {**feeds, "feeds_tables": ["orders"]}),
            ("a table in feeds_tables that feeds.toml does not name", {**feeds, "feeds_tables": FEEDS_TABLES + ["returns"]}),
            ("feeds_dir without feeds_tables", {**feeds, "feeds_tables": []}),
            ("feeds_tables without feeds_dir", {"feeds_tables": FEEDS_TABLES}),
            ("schema_url beside feeds_dir", {**feeds, "schema_url": "s3://config-bucket/feed.json"}),
            ("event_time_column beside feeds_dir", {**feeds, "event_time_column": "order_ts"}),
            ("curated_table beside feeds_dir", {**feeds, "curated_table": "orders"}),
            ("ingest_partition_key_field beside feeds_dir", {**feeds, "ingest_partition_key_field": "customer.id"}),
            ("an s3:// contract", {**feeds, "feeds_dir": variant("s3", 'contract = "contracts/orders.json"', 'contract = "s3://config/orders.json"')}),
            ("a contract that is not in feeds_dir", {**feeds, "feeds_dir": variant("missing", '"contracts/orders.json"', '"contracts/returns.json"')}),
            ("a contract named ./contracts/orders.json", {**feeds, "feeds_dir": variant("dot", '"contracts/orders.json"', '"./contracts/orders.json"')}),
            ("a feed outside source_prefix", {**feeds, "source_prefix": "incoming/"}),
            ("a table named twice", {"feeds_dir": variant("twice", 'table = "orders_eu"', 'table = "orders"'), "feeds_tables": ["orders"]}),
        ]
        for what, names in refused:
            try:
                failing = [w for w, ok in preconditions(tree(**names)) if not ok]
            except HclError as exc:
                failing = [f"cannot render: {exc}"]
            if not failing:
                fails.append(f"feeds: no precondition refuses {what}")
        try:
            t = tree()
            for var, value, want in (
                ("feeds_dir", "", True), ("feeds_dir", FEEDS_EXAMPLE, True), ("feeds_dir", FEEDS_EXAMPLE + "/", True),
                ("feeds_dir", str(REPO / FEEDS_EXAMPLE), True), ("feeds_dir", "infra/no-such-feeds", False),
                ("feeds_dir", "infra", False),
                ("feeds_tables", [], True), ("feeds_tables", FEEDS_TABLES, True), ("feeds_tables", ["Orders", "x9_y"], True),
                ("feeds_tables", ["_feedpipe"], False), ("feeds_tables", ["9lives"], False), ("feeds_tables", ["orders-eu"], False),
                ("feeds_tables", ["Orders", "orders"], False), ("feeds_tables", [f"t{i}" for i in range(101)], False),
            ):
                t.root_vars[var] = value
                t._memo.clear()
                got = all(validations(t, var))
                if got != want:
                    shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
                    fails.append(f"feeds: var.{var} = {shown} is {'accepted' if got else 'refused'}, "
                                 f"expected {'accepted' if want else 'refused'}")
        except HclError as exc:
            fails.append(f"feeds: validations: cannot evaluate: {exc}")
    return fails


def check_declarations(r: Resolver) -> list[str]:
    """Every variable has a description and a type; every output a description."""
    fails = []
    for path, mod in r.modules.items():
        for name, body in mod.variables.items():
            for key in ("description", "type"):
                if not body.get(key):
                    fails.append(f"{path}: variable {name} has no {key}")
        for name, body in mod.outputs.items():
            if not body.get("description"):
                fails.append(f"{path}: output {name} has no description")
        if path != "." and not mod.variables.get("name_prefix"):
            fails.append(f"{path}: module has no name_prefix variable")
    for call, body in r.module(r.root).calls.items():
        for key in ("name_prefix", "tags"):
            if key not in body:
                fails.append(f"module.{call}: {key} is not passed")
    return fails


CHECKS = {
    "firehose reads the stream and writes the raw bucket": check_firehose,
    "raw bucket notification feeds the raw-to-parquet queue": check_raw_notification,
    "lambda environments are exactly the handlers' variables": check_lambda_environment,
    "the ingest's continuation queue: env, mapping, redrive, IAM, alarms": check_continuation_queue,
    "IAM statements name actions and resources": check_iam,
    "the Lambdas may write manifests and list the buckets they read": check_lambda_s3_access,
    "S3 may use the key for notifications as AWS documents it; the queue policy guards": check_kms_for_s3_notifications,
    "backfill Task timeout and retries follow the Lambda timeout": check_backfill_timeouts,
    "the Snowflake role trusts nobody before the handshake, exactly Snowflake after": check_snowflake_trust,
    "feeds_dir: the feeds file uploaded, FEEDPIPE_FEEDS_URL and its grant, every table (issue 17)": check_feeds,
    "variables and outputs are declared fully; name_prefix and tags threaded": check_declarations,
}


# ---------------------------------------------------------------------------
# Mutations: each must make its check fail
# ---------------------------------------------------------------------------

MUTATIONS = [
    # (description, file, regex, replacement, check that must fail)
    ("Firehose reads a bucket instead of the stream", "modules/stream/main.tf",
     r"kinesis_stream_arn(\s*)= aws_kinesis_stream\.this\.arn", r"kinesis_stream_arn\1= var.raw_bucket_arn",
     check_firehose),
    ("Firehose writes to the curated bucket", "main.tf",
     r"(raw_bucket_arn\s*= )module\.buckets\.raw_bucket_arn(\n\s*raw_prefix)", r"\1module.buckets.curated_bucket_arn\2",
     check_firehose),
    ("Firehose appends a delimiter", "modules/stream/main.tf",
     r"(    cloudwatch_logging_options \{)",
     "    processing_configuration {\n      enabled = true\n      processors {\n"
     "        type = \"AppendDelimiterToRecord\"\n      }\n    }\n\n\\1",
     check_firehose),
    ("raw notification targets the ingest module's queue", "main.tf",
     r"module\.raw_to_parquet\.source_queue_arn", "module.ingest.source_queue_arn",
     check_raw_notification),
    ("raw notification is on the curated bucket", "main.tf",
     r"(resource \"aws_s3_bucket_notification\" \"raw\" \{\n  bucket = )module\.buckets\.raw_bucket_name",
     r"\1module.buckets.curated_bucket_name", check_raw_notification),
    ("event source mapping reads the DLQ", "modules/lambda/main.tf",
     r"(event_source_arn\s*= )aws_sqs_queue\.source\[0\]\.arn", r"\1aws_sqs_queue.source_dlq[0].arn",
     check_raw_notification),
    ("event source mapping without partial batch failures", "modules/lambda/main.tf",
     r"function_response_types(\s*)= \[\"ReportBatchItemFailures\"\]", r"function_response_types\1= []",
     check_raw_notification),
    ("visibility timeout equal to the function timeout", "modules/lambda/main.tf",
     r"var\.timeout_seconds \* 6", "var.timeout_seconds",
     check_raw_notification),
    ("ingest loses FEEDPIPE_MAX_IN_FLIGHT", "main.tf",
     r"\n\s*FEEDPIPE_MAX_IN_FLIGHT\s*= [^\n]*", "",
     check_lambda_environment),
    ("raw-to-parquet gets an extra variable", "main.tf",
     r"(\n(\s*)FEEDPIPE_COMPRESSION\s*= [^\n]*)", r'\1\n\2FEEDPIPE_DEBUG = "1"',
     check_lambda_environment),
    ("raw-to-parquet variable renamed", "main.tf",
     r"FEEDPIPE_TABLE(\s+)=", r"FEEDPIPE_TABLE_NAME\1=",
     check_lambda_environment),
    ("stream name comes from the Firehose", "main.tf",
     r"(FEEDPIPE_STREAM_NAME\s*= )module\.stream\.stream_name", r"\1module.stream.firehose_name",
     check_lambda_environment),
    ("runtime is not provided.al2023", "modules/lambda/main.tf",
     r"\"provided\.al2023\"", "\"provided.al2\"",
     check_lambda_environment),
    ("service-wide Kinesis action", "iam.tf",
     r"\"kinesis:PutRecords\",", "\"kinesis:*\",",
     check_iam),
    ("action \"*\"", "iam.tf",
     r"actions(\s*)= \[\"s3:GetObject\", \"s3:GetObjectVersion\"\]", r'actions\1= ["*"]',
     check_iam),
    ("resources \"*\" on the stream statement", "iam.tf",
     r"resources = \[module\.stream\.stream_arn\]", "resources = [\"*\"]",
     check_iam),
    ("resources \"*\" in a dynamic statement", "modules/lambda/main.tf",
     r"resources = \[statement\.value\]", "resources = [\"*\"]",
     check_iam),
    ("scoped action slipped into an allowlisted \"*\" statement", "modules/lambda/main.tf",
     r"\[\"xray:PutTelemetryRecords\", \"xray:PutTraceSegments\"\]",
     "[\"s3:GetObject\", \"xray:PutTelemetryRecords\", \"xray:PutTraceSegments\"]",
     check_iam),
    ("a variable without a description", "modules/stream/variables.tf",
     r'(variable "shard_count" \{\n)  description = "[^"\n]*"\n', r"\1",
     check_declarations),
    ("tags not passed to a module", "main.tf",
     r'(module "alarms" \{\n  source = "\./modules/alarms"\n\n(?:.*\n)*?)  tags\s*= local\.tags\n', r"\1",
     check_declarations),
    ("raw-to-parquet loses its manifests statement", "iam.tf",
     r'\n  # jobs/convert/src/job/manifest\.rs:(?:.*\n)*?  statement \{\n    sid       = "WriteConversionManifests"(?:.*\n)*?  \}\n', "\n",
     check_lambda_s3_access),
    ("manifests written to the table prefix only", "iam.tf",
     r"curated_bucket_arn\}/_manifests/\$\{t\}/\*", "curated_bucket_arn}/${t}/*",
     check_lambda_s3_access),
    ("raw-to-parquet cannot list the curated bucket", "iam.tf",
     r"(raw_to_parquet_read_buckets = distinct\(compact\(\[\n(?:.*\n)*?)\s*module\.buckets\.curated_bucket_arn,\n", r"\1",
     check_lambda_s3_access),
    ("ingest cannot list the source bucket", "iam.tf",
     r'  statement \{\n    sid       = "KnowMissingFeedFiles"(?:.*\n)*?  \}\n', "",
     check_lambda_s3_access),
    ("raw-to-parquet cannot list the raw bucket", "iam.tf",
     r"(raw_to_parquet_read_buckets = distinct\(compact\(\[\n)\s*module\.buckets\.raw_bucket_arn,\n", r"\1",
     check_lambda_s3_access),
    ("aws:SourceAccount back on S3's key statement", "modules/buckets/main.tf",
     r'(actions   = \["kms:Decrypt", "kms:GenerateDataKey"\]\n    resources = \["\*"\]\n)',
     '\\1\n    condition {\n      test     = "StringEquals"\n      variable = "aws:SourceAccount"\n      values   = [local.account_id]\n    }\n',
     check_kms_for_s3_notifications),
    ("the queue policy loses aws:SourceAccount", "modules/lambda/main.tf",
     r'\n    condition \{\n      test     = "StringEquals"\n      variable = "aws:SourceAccount"\n(?:.*\n)*?    \}\n', "\n",
     check_kms_for_s3_notifications),
    ("backfill retries fixed at 6 again", "modules/backfill/main.tf",
     r"MaxAttempts     = local\.task_retries", "MaxAttempts     = 6",
     check_backfill_timeouts),
    ("backfill no longer told the Lambda timeout", "main.tf",
     r"\n  function_timeout_seconds     = var\.raw_to_parquet_timeout_seconds", "\n  function_timeout_seconds     = 300",
     check_backfill_timeouts),
    ("the Snowflake role trusts the account root with the published id 0000 again", "modules/snowflake_access/main.tf",
     r'(data "aws_iam_policy_document" "assume" \{\n)',
     '\\1  statement {\n    sid     = "PlaceholderTrust"\n    effect  = "Allow"\n    actions = ["sts:AssumeRole"]\n\n'
     '    principals {\n      type        = "AWS"\n      identifiers = ["arn:${data.aws_partition.current.partition}:iam::'
     '${data.aws_caller_identity.current.account_id}:root"]\n    }\n\n    condition {\n      test     = "StringEquals"\n'
     '      variable = "sts:ExternalId"\n      values   = ["0000"]\n    }\n  }\n\n',
     check_snowflake_trust),
    ("the pre-handshake deny becomes an allow", "modules/snowflake_access/main.tf",
     r'effect  = "Deny"', 'effect  = "Allow"',
     check_snowflake_trust),
    ("the deny is active after the handshake instead of before", "modules/snowflake_access/main.tf",
     r"for_each = local\.handshake_done \? \[\] : \[1\]", "for_each = local.handshake_done ? [1] : []",
     check_snowflake_trust),
    ("the deny names one principal, not every principal", "modules/snowflake_access/main.tf",
     r'identifiers = \["\*"\]', 'identifiers = ["arn:aws:iam::111122223333:user/admin"]',
     check_snowflake_trust),
    ("one of the two handshake values is enough", "modules/snowflake_access/main.tf",
     r'!= "" && var\.snowflake_external_id', '!= "" || var.snowflake_external_id',
     check_snowflake_trust),
    ("the external id condition is dropped after the handshake", "modules/snowflake_access/main.tf",
     r'\n      condition \{\n        test     = "StringEquals"\n        variable = "sts:ExternalId"(?:.*\n)*?      \}\n', "\n",
     check_snowflake_trust),
    ("ingest loses FEEDPIPE_DEADLINE_MARGIN_SECONDS", "main.tf",
     r"\n\s*FEEDPIPE_DEADLINE_MARGIN_SECONDS\s*= [^\n]*", "",
     check_lambda_environment),
    ("the continuation queue's URL is no longer set (continuation env var dropped)", "main.tf",
     r'\n    environment_variable = "FEEDPIPE_CONTINUATION_QUEUE_URL"', "",
     check_lambda_environment),
    ("the function is told the continuation DLQ's URL", "modules/lambda/main.tf",
     r"for url in aws_sqs_queue\.continuation\[\*\]\.url", "for url in aws_sqs_queue.continuation_dlq[*].url",
     check_continuation_queue),
    ("the continuation event source mapping reads the DLQ", "modules/lambda/main.tf",
     r"(event_source_arn = )aws_sqs_queue\.continuation\[0\]\.arn", r"\1aws_sqs_queue.continuation_dlq[0].arn",
     check_continuation_queue),
    ("the continuation mapping reports batch item failures", "modules/lambda/main.tf",
     r"(\n(\s*)batch_size       = 1\n)", '\\1\\2function_response_types = ["ReportBatchItemFailures"]\n',
     check_continuation_queue),
    ("continuations in batches of 10", "modules/lambda/main.tf",
     r"batch_size       = 1\n", "batch_size       = 10\n",
     check_continuation_queue),
    ("the continuation queue's visibility timeout is the function timeout", "modules/lambda/main.tf",
     r"(visibility_timeout_seconds = )var\.timeout_seconds \* 6\n", r"\1var.timeout_seconds\n",
     check_continuation_queue),
    ("the continuation queue redrives nowhere", "modules/lambda/main.tf",
     r"\n  redrive_policy = jsonencode\(\{\n    deadLetterTargetArn = aws_sqs_queue\.continuation_dlq\[0\]\.arn\n(?:.*\n)*?  \}\)\n", "\n",
     check_continuation_queue),
    ("the continuation max receive count is fixed", "main.tf",
     r"max_receive_count    = var\.ingest_continuation_max_receive_count", "max_receive_count    = 3",
     check_continuation_queue),
    ("the continuation DLQ keeps messages for 4 days", "modules/lambda/main.tf",
     r'(name = "\$\{local\.function_name\}-continuations-dlq"\n(?:.*\n){2}  message_retention_seconds\s*= )var\.dlq_message_retention_seconds',
     r"\g<1>345600", check_continuation_queue),
    ("the continuation queue is not encrypted with the project key", "modules/lambda/main.tf",
     r'(name = "\$\{local\.function_name\}-continuations"\n(?:.*\n)*?  kms_master_key_id\s*= )var\.kms_key_arn',
     r'\1"alias/aws/sqs"', check_continuation_queue),
    ("SendMessage to the continuation queue widened to \"*\"", "modules/lambda/main.tf",
     r'(sid       = "SendContinuationsToOwnQueue"\n(?:.*\n){2}      resources = )\[statement\.value\]', r'\1["*"]',
     check_iam),
    ("SendMessage to the continuation queue widened to \"*\" (continuation check)", "modules/lambda/main.tf",
     r'(sid       = "SendContinuationsToOwnQueue"\n(?:.*\n){2}      resources = )\[statement\.value\]', r'\1["*"]',
     check_continuation_queue),
    ("the function may send to the continuation DLQ too", "modules/lambda/main.tf",
     r'for_each = aws_sqs_queue\.continuation\[\*\]\.arn(\n    content \{\n      sid       = "SendContinuationsToOwnQueue")',
     r"for_each = concat(aws_sqs_queue.continuation[*].arn, aws_sqs_queue.continuation_dlq[*].arn)\1",
     check_continuation_queue),
    ("the continuation mapping may not delete its messages", "modules/lambda/main.tf",
     r'actions   = \["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"\]',
     'actions   = ["sqs:GetQueueAttributes", "sqs:ReceiveMessage"]', check_continuation_queue),
    ("the continuation DLQ alarm is removed", "main.tf",
     r'\n    "ingest-continuations"  = module\.ingest\.continuation_dlq_name', "",
     check_continuation_queue),
    ("the continuation age alarm is removed", "main.tf",
     r"\n  queue_age_alarms = \{\n(?:.*\n)*?  \}\n", "\n",
     check_continuation_queue),
    ("the DLQ alarm fires only above 10 messages", "modules/alarms/main.tf",
     r'(metric_name         = "ApproximateNumberOfMessagesVisible"\n(?:.*\n)*?  threshold\s*= )0\n', r"\g<1>10\n",
     check_continuation_queue),
    ("Lambda's recursive loop detection stops long files again", "modules/lambda/main.tf",
     r'recursive_loop = "Allow"', 'recursive_loop = "Terminate"',
     check_continuation_queue),
    ("the deadline margin may reach the timeout", "iam.tf",
     r"var\.ingest_deadline_margin_seconds < var\.ingest_timeout_seconds", "var.ingest_deadline_margin_seconds <= 900",
     check_continuation_queue),
    # Many feeds (issue 17): feeds.tf and what it feeds.
    ("FEEDPIPE_TABLE set beside the feeds file", "main.tf",
     r'FEEDPIPE_TABLE(\s+)= local\.feeds_enabled \? "" : var\.curated_table', r"FEEDPIPE_TABLE\1= var.curated_table",
     check_feeds),
    ("FEEDPIPE_PARTITION_KEY_FIELD set beside the feeds file", "main.tf",
     r'(FEEDPIPE_PARTITION_KEY_FIELD\s+= )local\.feeds_enabled \? "" : ', r"\1",
     check_feeds),
    ("raw-to-parquet is not told the feeds file", "main.tf",
     r"(\n    FEEDPIPE_FEEDS_URL         = )local\.feeds_url", r'\1""',
     check_feeds),
    ("the feeds URL built from names, not from the uploaded object", "feeds.tf",
     r'feeds_url = local\.feeds_enabled \? "s3://\$\{aws_s3_object\.feeds\["feeds\.toml"\]\.bucket\}/\$\{aws_s3_object\.feeds\["feeds\.toml"\]\.key\}"',
     'feeds_url = local.feeds_enabled ? "s3://${module.buckets.curated_bucket_name}/${local.feeds_prefix}/${local.feeds_digest}/feeds.toml"',
     check_feeds),
    ("the feeds grant widened to the whole curated bucket", "feeds.tf",
     r'feeds_objects_arn = "\$\{module\.buckets\.curated_bucket_arn\}/\$\{local\.feeds_prefix\}/\*"',
     'feeds_objects_arn = "${module.buckets.curated_bucket_arn}/*"',
     check_feeds),
    ("the ingest loses its feeds grant", "iam.tf",
     r'\n  dynamic "statement" \{\n    for_each = local\.feeds_enabled \? \[local\.feeds_objects_arn\] : \[\]\n    content \{\n      sid       = "ReadFeedsFile"(?:.*\n)*?  \}\n',
     "\n", check_feeds),
    ("the digest left out of the keys", "feeds.tf",
     r'key         = "\$\{local\.feeds_prefix\}/\$\{local\.feeds_digest\}/\$\{each\.key\}"', 'key         = "${local.feeds_prefix}/${each.key}"',
     check_feeds),
    ("the digest no longer covers the files' content", "feeds.tf",
     r'"\$\{f\} \$\{filesha256\("\$\{local\.feeds_path\}/\$\{f\}"\)\}"', '"${f}"',
     check_feeds),
    ("old feeds objects deleted before the functions move on", "feeds.tf",
     r"create_before_destroy = true", "create_before_destroy = false",
     check_feeds),
    ("hidden files uploaded", "feeds.tf",
     r' if !startswith\(f, "\."\) && !strcontains\(f, "/\."\)', "",
     check_feeds),
    ("Snowflake reads and Snowpipe hears only curated_table", "main.tf",
     r'curated_prefixes       = \[for t in local\.curated_tables : "\$\{t\}/"\]', 'curated_prefixes       = ["${var.curated_table}/"]',
     check_feeds),
    ("raw-to-parquet may write curated_table only", "iam.tf",
     r'resources = \[for t in local\.curated_tables : "\$\{module\.buckets\.curated_bucket_arn\}/\$\{t\}/\*"\]',
     'resources = ["${module.buckets.curated_bucket_arn}/${var.curated_table}/*"]',
     check_feeds),
    ("feeds_tables no longer compared with feeds.toml", "iam.tf",
     r"condition     = sort\(distinct\(local\.feeds_toml_tables\)\) == sort\(distinct\(var\.feeds_tables\)\) && ",
     "condition     = true || ", check_feeds),
    ("feeds outside source_prefix accepted", "iam.tf",
     r"condition     = length\(local\.feeds_unheard_prefixes\) == 0", "condition     = true",
     check_feeds),
    ("contracts outside feeds_dir accepted", "iam.tf",
     r"condition     = length\(local\.feeds_foreign_contracts\) == 0", "condition     = true",
     check_feeds),
    ("schema_url accepted beside feeds_dir", "iam.tf",
     r'\(var\.schema_url == "" && ', "(",
     check_feeds),
    ("the Snowpipe notification loses its .parquet suffix", "modules/snowflake_access/main.tf",
     r'filter_suffix = "\.parquet"', 'filter_suffix = ""',
     check_feeds),
    ("a leading _ allowed in feeds_tables", "variables.tf",
     r"\^\[A-Za-z\]\[A-Za-z0-9_\]\{0,254\}\$", "^[A-Za-z_][A-Za-z0-9_]{0,254}$",
     check_feeds),
    ("a feeds_dir without feeds.toml accepted", "variables.tf",
     r'var\.feeds_dir == "" \|\| fileexists\(', 'var.feeds_dir == "" || true || fileexists(',
     check_feeds),
    ("sql_vars without every table", "outputs.tf",
     r"tables              = local\.curated_tables", "tables              = [var.curated_table]",
     check_feeds),
    ("service-wide action in an Allow", "modules/stream/main.tf",
     r"actions(\s*)= \[\"logs:PutLogEvents\"\]", r'actions\1= ["logs:*"]',
     check_iam),
]


def run_mutations(texts: dict[str, str]) -> list[str]:
    fails = []
    for description, rel, pattern, replacement, check in MUTATIONS:
        if rel not in texts:
            fails.append(f"mutation {description!r}: {rel} not found")
            continue
        mutated_text, n = re.subn(pattern, replacement, texts[rel], count=1)
        if n != 1:
            fails.append(f"mutation {description!r}: pattern no longer matches {rel}; update the mutation")
            continue
        try:
            mutated = {**texts, rel: mutated_text}
            result = check(Resolver(parse_tree(mutated), mutated))
        except Exception as exc:  # a crash is a detection too, but say so
            result = [f"{type(exc).__name__}: {exc}"]
        if not result:
            fails.append(f"mutation {description!r} was NOT detected by {check.__name__}")
        else:
            print(f"  detected: {description} -> {result[0]}")
    return fails


def main() -> int:
    texts = read_texts()
    if not texts:
        print(f"no .tf files under {INFRA}")
        return 1
    resolver = Resolver(parse_tree(texts), texts)
    passed = failed = 0
    for title, check in CHECKS.items():
        try:
            problems = check(resolver)
        except Exception as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            failed += 1
            print(f"FAIL {title}")
            for p in problems:
                print(f"     {p}")
        else:
            passed += 1
            print(f"ok   {title}")

    print("mutations (each must be caught):")
    problems = run_mutations(texts)
    if problems:
        failed += 1
        print(f"FAIL {len(MUTATIONS)} mutations, {len(problems)} not caught")
        for p in problems:
            print(f"     {p}")
    else:
        passed += 1
        print(f"ok   all {len(MUTATIONS)} mutations caught")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
