#!/usr/bin/env python3
"""The IAM policies infra/ gives each component, rendered for concrete names.

Terraform cannot plan here (no providers), so this renders the policies the
way `terraform plan` would: it parses every .tf file of infra/ with python-hcl2,
evaluates the module tree lazily (tests/infra/hcl_eval.py) from the root
variables, and computes the attributes the AWS provider would (bucket, stream,
queue, log group, function, role and state machine ARNs and queue URLs from
their names; see RESOURCE_ATTRS). `aws_iam_policy_document` data sources render
as the provider renders them: source_policy_documents first (a statement of the
document itself with the same Sid replaces one of them), then the document's
statements, static ones first and each dynamic one once per element of its
for_each; one-element lists become strings.

Components and the policy each one runs under (the identity policy of its role):

  ingest          module.ingest          aws_iam_role_policy.this   (iam.tf "ingest" + modules/lambda's own statements)
  raw_to_parquet  module.raw_to_parquet  aws_iam_role_policy.this   (iam.tf "raw_to_parquet" + modules/lambda's own)
  firehose        module.stream          aws_iam_role_policy.firehose
  backfill        module.backfill        aws_iam_role_policy.this   (the state machine's role)
  snowflake       module.snowflake_access aws_iam_role_policy.read_curated (Snowflake's reader role)

and the components whose policy is a customer managed policy that an operator
attaches to their own role or user (no role, so no trust policy and no role ARN):

  operator        module.backfill        aws_iam_policy.operator    (`feedpipe convert --distributed`)

Names JSON (every key optional; unknown keys are an error):

  account_id, region, partition        the account, region ("us-east-1") and partition ("aws");
                                       region also sets var.aws_region
  <any root variable of infra/variables.tf>
                                       e.g. raw_prefix, raw_error_prefix, quarantine_prefix,
                                       quarantine_bucket_name, curated_table, schema_url,
                                       schema_kms_key_arn, tracing_enabled, name_prefix,
                                       snowflake_iam_user_arn, snowflake_external_id,
                                       feeds_dir and feeds_tables (many feeds: infra/feeds.tf
                                       reads feeds_dir's files, relative to the repository root)
  source_bucket, raw_bucket, curated_bucket
                                       bucket names (module.buckets aws_s3_bucket.this[...].bucket)
  stream_name                          the Kinesis stream's name
  firehose_name                        the delivery stream's name (local.firehose_name)
  kms_key_arn                          the project key's ARN (aws_kms_key.this.arn; default
                                       arn:<p>:kms:<region>:<account>:key/00000000-0000-0000-0000-000000000000)
  ingest_function, raw_to_parquet_function
                                       function names (the lambda module's local.function_name,
                                       so role, log group and queue names follow it)
  raw_to_parquet_queue, raw_to_parquet_dlq, ingest_failure_queue
                                       queue names (event source queue, its DLQ, ingest's
                                       on-failure destination)
  ingest_continuation_queue, ingest_continuation_dlq
                                       queue names of ingest's continuation queue (the one
                                       FEEDPIPE_CONTINUATION_QUEUE_URL names: the function
                                       sends to it, its event source mapping reads it) and of
                                       that queue's DLQ (module.ingest aws_sqs_queue.continuation
                                       and .continuation_dlq)
  state_machine                        the backfill state machine's name

Unset names are what Terraform would compute from name_prefix ("feedpipe"),
account and region. snowflake_iam_user_arn and snowflake_external_id default to
stand-in handshake values (DEFAULT_HANDSHAKE), so that the reader role is
rendered as it is after the handshake; pass "" for both to render it before.

CLI:
  policies.py NAMES.json                 {component: identity policy document}
  policies.py NAMES.json --all           {"identity": {...}, "trust": {component with a role: trust policy},
                                          "resources": {"buckets": {name: bucket policy},
                                          "kms_key": key policy, "queues": {name: queue policy}},
                                          "names": the resolved names}
  (NAMES.json may be "-" for stdin.) Needs python-hcl2: from PYTHONPATH, else from
  ${FEEDPIPE_TOOLS:-<repo>/.tools}/venv/hcl2-lib, where tests/infra/check.sh installs it.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import posixpath
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


def _find_hcl2() -> None:
    """python-hcl2 from PYTHONPATH, else from where tests/infra/check.sh installs it."""
    try:
        import hcl2  # noqa: F401, PLC0415
        return
    except ImportError:
        pass
    tools = pathlib.Path(os.environ.get("FEEDPIPE_TOOLS") or pathlib.Path(__file__).resolve().parents[2] / ".tools")
    lib = tools / "venv" / "hcl2-lib"
    if not lib.is_dir():
        raise SystemExit(f"policies.py: python-hcl2 is not importable and {lib} does not exist: run "
                         "tests/infra/check.sh once (it installs python-hcl2 8.1.4 there), or put it on PYTHONPATH")
    sys.path.append(str(lib))


_find_hcl2()

import hcl_eval  # noqa: E402
from hcl_eval import HclError, Namespace, Scope, evaluate  # noqa: E402
from test_wiring import parse_tree, read_texts  # noqa: E402  (python-hcl2 parsing, shared)

REPO = pathlib.Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

COMPONENTS = {
    # component: (module call path, aws_iam_role_policy name, aws_iam_role name)
    "ingest": (("ingest",), "this", "this"),
    "raw_to_parquet": (("raw_to_parquet",), "this", "this"),
    "firehose": (("stream",), "firehose", "firehose"),
    "backfill": (("backfill",), "this", "this"),
    "snowflake": (("snowflake_access",), "read_curated", "snowflake"),
}
MANAGED_POLICY_COMPONENTS = {
    # component: (module call path, aws_iam_policy name); attached by the operator
    # to whoever runs it (infra/README.md), so it has no role of its own.
    "operator": (("backfill",), "operator"),
}

# names key -> what it overrides: ("local", calls, local name) or
# ("resource", calls, type, name, index key, argument).
NAME_OVERRIDES = {
    "source_bucket": ("resource", ("buckets",), "aws_s3_bucket", "this", "source", "bucket"),
    "raw_bucket": ("resource", ("buckets",), "aws_s3_bucket", "this", "raw", "bucket"),
    "curated_bucket": ("resource", ("buckets",), "aws_s3_bucket", "this", "curated", "bucket"),
    "stream_name": ("resource", ("stream",), "aws_kinesis_stream", "this", None, "name"),
    "firehose_name": ("local", ("stream",), "firehose_name"),
    "kms_key_arn": ("resource", ("buckets",), "aws_kms_key", "this", None, "arn"),
    "ingest_function": ("local", ("ingest",), "function_name"),
    "raw_to_parquet_function": ("local", ("raw_to_parquet",), "function_name"),
    "ingest_failure_queue": ("resource", ("ingest",), "aws_sqs_queue", "async_failure", 0, "name"),
    "raw_to_parquet_queue": ("resource", ("raw_to_parquet",), "aws_sqs_queue", "source", 0, "name"),
    "raw_to_parquet_dlq": ("resource", ("raw_to_parquet",), "aws_sqs_queue", "source_dlq", 0, "name"),
    "ingest_continuation_queue": ("resource", ("ingest",), "aws_sqs_queue", "continuation", 0, "name"),
    "ingest_continuation_dlq": ("resource", ("ingest",), "aws_sqs_queue", "continuation_dlq", 0, "name"),
    "state_machine": ("local", ("backfill",), "state_machine_name"),
}

DEFAULT_HANDSHAKE = {
    "snowflake_iam_user_arn": "arn:aws:iam::999988887777:user/snowflake-standin",
    "snowflake_external_id": "FEEDPIPE_STANDIN_SFCRole=1_abc=",
}

hcl_eval.FUNCTIONS.setdefault("one", lambda v: (v[0] if v else None) if isinstance(v, list) else v)


# ---------------------------------------------------------------------------
# What the AWS provider computes
# ---------------------------------------------------------------------------


def _arn(ctx, service, rest, region=True, account=True):
    return f"arn:{ctx['partition']}:{service}:{ctx['region'] if region else ''}:{ctx['account_id'] if account else ''}:{rest}"


def _queue_url(ctx, name):
    return f"https://sqs.{ctx['region']}.amazonaws.com/{ctx['account_id']}/{name}"


# type -> attribute -> fn(ctx, arg) where arg(name) is the resource's argument.
RESOURCE_ATTRS = {
    "aws_s3_bucket": {
        "id": lambda c, a: a("bucket"),
        "arn": lambda c, a: f"arn:{c['partition']}:s3:::{a('bucket')}",
    },
    "aws_kinesis_stream": {
        "id": lambda c, a: _arn(c, "kinesis", f"stream/{a('name')}"),
        "arn": lambda c, a: _arn(c, "kinesis", f"stream/{a('name')}"),
    },
    "aws_kinesis_firehose_delivery_stream": {
        "arn": lambda c, a: _arn(c, "firehose", f"deliverystream/{a('name')}"),
    },
    "aws_sqs_queue": {
        "arn": lambda c, a: _arn(c, "sqs", a("name")),
        "id": lambda c, a: _queue_url(c, a("name")),
        "url": lambda c, a: _queue_url(c, a("name")),
    },
    "aws_cloudwatch_log_group": {
        # The provider's arn has no trailing ":*" (since v4).
        "arn": lambda c, a: _arn(c, "logs", f"log-group:{a('name')}"),
        "id": lambda c, a: a("name"),
    },
    "aws_cloudwatch_log_stream": {"id": lambda c, a: a("name")},
    "aws_lambda_function": {
        "arn": lambda c, a: _arn(c, "lambda", f"function:{a('function_name')}"),
        "id": lambda c, a: a("function_name"),
    },
    "aws_iam_role": {
        "arn": lambda c, a: _arn(c, "iam", f"role/{a('name')}", region=False),
        "id": lambda c, a: a("name"),
    },
    "aws_iam_policy": {
        "arn": lambda c, a: _arn(c, "iam", f"policy/{a('name')}", region=False),
        "id": lambda c, a: _arn(c, "iam", f"policy/{a('name')}", region=False),
    },
    "aws_sfn_state_machine": {
        "arn": lambda c, a: _arn(c, "states", f"stateMachine:{a('name')}"),
        "id": lambda c, a: _arn(c, "states", f"stateMachine:{a('name')}"),
    },
    "aws_kms_key": {
        "arn": lambda c, a: _arn(c, "kms", "key/00000000-0000-0000-0000-000000000000"),
        "key_id": lambda c, a: a("arn").rsplit("/", 1)[1],
        "id": lambda c, a: a("arn").rsplit("/", 1)[1],
    },
    "aws_kms_alias": {"arn": lambda c, a: _arn(c, "kms", a("name"))},
}


def _single(values: list):
    return values[0] if len(values) == 1 else values


def render_policy_document(statements: list[dict]) -> dict:
    """aws_iam_policy_document's json for evaluated statement blocks."""
    out = []
    for st in statements:
        rendered = {}
        if st.get("sid"):
            rendered["Sid"] = st["sid"]
        rendered["Effect"] = st.get("effect") or "Allow"
        for key, name in (("actions", "Action"), ("not_actions", "NotAction"),
                          ("resources", "Resource"), ("not_resources", "NotResource")):
            if st.get(key):
                rendered[name] = _single(sorted(set(st[key])))
        for key, name in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            blocks = st.get(key) or []
            if blocks:
                if len(blocks) == 1 and blocks[0]["type"] == "*" and blocks[0]["identifiers"] == ["*"]:
                    rendered[name] = "*"
                else:
                    principal = {}
                    for b in blocks:
                        principal.setdefault(b["type"], []).extend(b["identifiers"])
                    rendered[name] = {t: _single(sorted(set(ids))) for t, ids in principal.items()}
        if st.get("condition"):
            cond = {}
            for c in st["condition"]:
                cond.setdefault(c["test"], {})[c["variable"]] = _single(list(c["values"]))
            rendered["Condition"] = cond
        out.append(rendered)
    return {"Version": "2012-10-17", "Statement": out}


# ---------------------------------------------------------------------------
# The module tree
# ---------------------------------------------------------------------------


class Tree:
    def __init__(self, names: dict, texts: dict[str, str] | None = None):
        self.modules = parse_tree(texts if texts is not None else read_texts())
        root = self.modules["."]
        names = dict(names)
        unknown = set(names) - set(NAME_OVERRIDES) - set(root.variables) - {"account_id", "region", "partition"}
        if unknown:
            raise SystemExit(f"policies.py: unknown names {sorted(unknown)}; see the names schema in {__file__}")
        for key, value in DEFAULT_HANDSHAKE.items():
            names.setdefault(key, value)
        self.ctx = {
            "account_id": str(names.pop("account_id", "123456789012")),
            "region": names.pop("region", "us-east-1"),
            "partition": names.pop("partition", "aws"),
        }
        self.root_vars = {"aws_region": self.ctx["region"]}
        self.overrides: dict[tuple, object] = {}
        for key, value in names.items():
            if key in NAME_OVERRIDES:
                spec = NAME_OVERRIDES[key]
                self.overrides[(spec[0], spec[1]) + tuple(spec[2:])] = value
            else:
                self.root_vars[key] = value
        self._scopes: dict[tuple, Scope] = {}
        self._memo: dict[tuple, object] = {}

    # ---- instances ----------------------------------------------------------

    def module_at(self, calls: tuple):
        path = "."
        for call in calls:
            body = self.modules[path].calls[call]
            path = posixpath.normpath(posixpath.join(path, body["source"]))
        return self.modules[path]

    def scope(self, calls: tuple) -> Scope:
        if calls in self._scopes:
            return self._scopes[calls]
        mod = self.module_at(calls)
        names = {
            "var": Namespace(f"var in {calls}", attr=lambda n: self.var(calls, n)),
            "local": Namespace(f"local in {calls}", attr=lambda n: self.local(calls, n)),
            "module": Namespace(f"module in {calls}", attr=lambda c: self.module_ns(calls + (c,))),
            "data": Namespace(f"data in {calls}", attr=lambda t: Namespace(
                f"data.{t}", attr=lambda n: self.block_ns(calls, "data", t, n))),
            "path": {"root": str(INFRA), "module": str(INFRA), "cwd": str(INFRA)},
        }
        for rtype in {t for (t, _n) in mod.resources}:
            names[rtype] = Namespace(rtype, attr=lambda n, t=rtype: self.block_ns(calls, "resource", t, n))
        scope = Scope(names)
        self._scopes[calls] = scope
        return scope

    def _memoized(self, key, fn):
        if key not in self._memo:
            self._memo[key] = _PENDING
            try:
                self._memo[key] = fn()
            except BaseException:
                del self._memo[key]
                raise
        if self._memo[key] is _PENDING:
            raise HclError(f"cycle at {key}")
        return self._memo[key]

    def var(self, calls: tuple, name: str):
        def compute():
            mod = self.module_at(calls)
            if name not in mod.variables:
                raise HclError(f"var.{name} is not declared in {calls or 'the root'}")
            if not calls:
                if name in self.root_vars:
                    return self.root_vars[name]
            else:
                args = self.module_at(calls[:-1]).calls[calls[-1]]
                if name in args:
                    return evaluate(args[name], self.scope(calls[:-1]))
            if "default" in mod.variables[name]:
                return evaluate(mod.variables[name]["default"], self.scope(calls))
            raise HclError(f"var.{name} of {calls or 'the root'} has no value (give it in the names JSON)")

        return self._memoized(("var", calls, name), compute)

    def local(self, calls: tuple, name: str):
        def compute():
            if ("local", calls, name) in self.overrides:
                return self.overrides[("local", calls, name)]
            mod = self.module_at(calls)
            if name not in mod.locals:
                raise HclError(f"local.{name} is not defined in {calls or 'the root'}")
            return evaluate(mod.locals[name], self.scope(calls))

        return self._memoized(("local", calls, name), compute)

    def module_ns(self, calls: tuple):
        mod = self.module_at(calls)

        def output(name):
            if name not in mod.outputs:
                raise HclError(f"module.{'.'.join(calls)} has no output {name}")
            return self._memoized(("output", calls, name), lambda: evaluate(mod.outputs[name]["value"], self.scope(calls)))

        return Namespace(f"module.{'.'.join(calls)}", attr=output)

    def block_ns(self, calls: tuple, kind: str, rtype: str, rname: str):
        mod = self.module_at(calls)
        table = mod.resources if kind == "resource" else mod.data
        if (rtype, rname) not in table:
            raise HclError(f"{kind} {rtype}.{rname} is not defined in {calls or 'the root'}")
        body = table[(rtype, rname)]
        scope = self.scope(calls)
        if "count" in body:
            n = int(evaluate(body["count"], scope))
            keys = list(range(n))
            return Namespace(f"{rtype}.{rname}", index=lambda k: self.instance(calls, kind, rtype, rname, body, int(k), keys),
                             items=lambda: [self.instance(calls, kind, rtype, rname, body, k, keys) for k in keys])
        if "for_each" in body:
            each = evaluate(body["for_each"], scope)
            each = each if isinstance(each, dict) else {str(v): v for v in each}
            return Namespace(f"{rtype}.{rname}", index=lambda k: self.instance(calls, kind, rtype, rname, body, str(k), each),
                             items=lambda: [self.instance(calls, kind, rtype, rname, body, k, each) for k in each])
        return self.instance(calls, kind, rtype, rname, body, None, None)

    def instance(self, calls, kind, rtype, rname, body, key, keys):
        if keys is not None and key not in keys:
            raise HclError(f"{rtype}.{rname}[{key!r}] does not exist (instances {list(keys)})")
        scope = self.scope(calls)
        if isinstance(keys, dict):
            scope = scope.child({"each": {"key": key, "value": keys[key]}})
        elif isinstance(keys, list):
            scope = scope.child({"count": {"index": key}})
        where = f"{kind}.{rtype}.{rname}" + ("" if key is None else f"[{key!r}]") + f" in {calls or 'the root'}"

        def argument(name):
            over = ("resource", calls, rtype, rname, key, name)
            if over in self.overrides:
                return self.overrides[over]
            if name in RESOURCE_ATTRS.get(rtype, {}) and name not in body:
                return RESOURCE_ATTRS[rtype][name](self.ctx, argument)
            if name not in body:
                raise HclError(f"{where} has no argument {name}")
            return evaluate(body[name], scope)

        def attr(name):
            def compute():
                if kind == "data":
                    return self.data_attr(rtype, body, scope, name, where)
                over = ("resource", calls, rtype, rname, key, name)
                if over in self.overrides:
                    return self.overrides[over]
                if name in RESOURCE_ATTRS.get(rtype, {}):
                    return RESOURCE_ATTRS[rtype][name](self.ctx, argument)
                return argument(name)

            return self._memoized(("attr", calls, kind, rtype, rname, key, name), compute)

        return Namespace(where, attr=attr)

    def data_attr(self, rtype, body, scope, name, where):
        if rtype == "aws_caller_identity" and name == "account_id":
            return self.ctx["account_id"]
        if rtype == "aws_partition" and name == "partition":
            return self.ctx["partition"]
        if rtype == "aws_partition" and name == "dns_suffix":
            return "amazonaws.com"
        if rtype == "aws_region" and name in ("region", "name", "id"):
            return self.ctx["region"]
        if rtype == "aws_iam_policy_document" and name == "json":
            return json.dumps(self.policy_document(body, scope))
        raise HclError(f"{where}: attribute {name} is not modelled")

    # ---- policy documents ---------------------------------------------------

    def policy_document(self, body: dict, scope: Scope) -> dict:
        sources = []
        for text in evaluate(body.get("source_policy_documents", []), scope) or []:
            sources.extend(json.loads(text)["Statement"])
        own = [self.statement(st, scope) for st in body.get("statement", [])]
        for entry in body.get("dynamic", []):
            if "statement" not in entry:
                continue
            dyn = entry["statement"]
            iterator = dyn.get("iterator", "statement")
            each = evaluate(dyn.get("for_each"), scope)
            pairs = list(each.items()) if isinstance(each, dict) else list(enumerate(each or []))
            for k, v in pairs:
                inner = scope.child({iterator: {"key": k, "value": v}})
                own.extend(self.statement(c, inner) for c in dyn.get("content", []))
        mine = render_policy_document(own)["Statement"]
        sids = {st.get("Sid") for st in mine if st.get("Sid")}
        merged = [st for st in sources if st.get("Sid") not in sids] + mine
        return {"Version": "2012-10-17", "Statement": merged}

    def statement(self, st: dict, scope: Scope) -> dict:
        out = {}
        for key in ("sid", "effect"):
            if key in st:
                out[key] = evaluate(st[key], scope)
        for key in ("actions", "not_actions", "resources", "not_resources"):
            if key in st:
                value = evaluate(st[key], scope)
                out[key] = value if isinstance(value, list) else [value]
        for key in ("principals", "not_principals"):
            out[key] = [
                {"type": evaluate(p["type"], scope), "identifiers": _as_list(evaluate(p["identifiers"], scope))}
                for p in st.get(key, [])
            ]
        out["condition"] = [
            {"test": evaluate(c["test"], scope), "variable": evaluate(c["variable"], scope),
             "values": _as_list(evaluate(c["values"], scope))}
            for c in st.get("condition", [])
        ]
        return out

    def attached(self, calls: tuple, rtype: str, rname: str, argument: str, key=None):
        """The JSON document in `argument` of a resource (a role policy, a trust policy...)."""
        ns = self.block_ns(calls, "resource", rtype, rname)
        if key is not None:
            ns = ns.index(key)
        return json.loads(ns.attr(argument))


_PENDING = object()


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def render(names: dict, texts: dict[str, str] | None = None) -> dict:
    """Everything iam_check.py needs, for `names` (see the module docstring)."""
    tree = Tree(names, texts)
    identity = {c: tree.attached(calls, "aws_iam_role_policy", pol, "policy") for c, (calls, pol, _) in COMPONENTS.items()}
    identity.update({c: tree.attached(calls, "aws_iam_policy", pol, "policy")
                     for c, (calls, pol) in MANAGED_POLICY_COMPONENTS.items()})
    trust = {c: tree.attached(calls, "aws_iam_role", role, "assume_role_policy") for c, (calls, _, role) in COMPONENTS.items()}
    buckets_ns = tree.module_ns(("buckets",))
    bucket_names = {k: buckets_ns.attr(f"{k}_bucket_name") for k in ("source", "raw", "curated")}
    bucket_policies = {
        bucket_names[k]: tree.attached(("buckets",), "aws_s3_bucket_policy", "this", "policy", key=k) for k in bucket_names
    }
    kms_key = json.loads(tree.block_ns(("buckets",), "resource", "aws_kms_key", "this").attr("policy"))
    r2p = tree.module_ns(("raw_to_parquet",))
    queue_name = r2p.attr("source_queue_arn").rsplit(":", 1)[1]
    queues = {queue_name: tree.attached(("raw_to_parquet",), "aws_sqs_queue_policy", "source", "policy", key=0)}
    stream = tree.module_ns(("stream",))
    backfill = tree.module_ns(("backfill",))
    ingest = tree.module_ns(("ingest",))
    resolved = {
        **tree.ctx,
        "source_bucket": bucket_names["source"],
        "raw_bucket": bucket_names["raw"],
        "curated_bucket": bucket_names["curated"],
        "quarantine_bucket": tree.local((), "quarantine_bucket_name"),
        "raw_prefix": tree.var((), "raw_prefix"),
        "raw_error_prefix": tree.var((), "raw_error_prefix"),
        "quarantine_prefix": tree.var((), "quarantine_prefix"),
        "curated_table": tree.var((), "curated_table"),
        "schema_url": tree.var((), "schema_url"),
        "stream_name": stream.attr("stream_name"),
        "stream_arn": stream.attr("stream_arn"),
        "kms_key_arn": buckets_ns.attr("kms_key_arn"),
        "ingest_function_arn": ingest.attr("function_arn"),
        "raw_to_parquet_function_arn": r2p.attr("function_arn"),
        "raw_to_parquet_queue_arn": r2p.attr("source_queue_arn"),
        "raw_to_parquet_queue_url": r2p.attr("source_queue_url"),
        "ingest_continuation_queue_arn": ingest.attr("continuation_queue_arn"),
        "ingest_continuation_queue_url": ingest.attr("continuation_queue_url"),
        "ingest_continuation_dlq_arn": ingest.attr("continuation_dlq_arn"),
        "state_machine_arn": tree.local(("backfill",), "state_machine_arn"),
        "state_machine_role_arn": backfill.attr("role_arn"),
        "firehose_role_arn": stream.attr("firehose_role_arn"),
        "snowflake_iam_user_arn": tree.var((), "snowflake_iam_user_arn"),
        "snowflake_external_id": tree.var((), "snowflake_external_id"),
        "role_arns": {
            c: tree.block_ns(calls, "resource", "aws_iam_role", role).attr("arn") for c, (calls, _, role) in COMPONENTS.items()
        },
        # Managed policies (no role): their ARNs, as Terraform outputs them.
        "policy_arns": {
            c: tree.block_ns(calls, "resource", "aws_iam_policy", pol).attr("arn")
            for c, (calls, pol) in MANAGED_POLICY_COMPONENTS.items()
        },
    }
    # What S3, SQS and Kinesis encrypt with (they call KMS with the caller's permissions).
    sse = tree.block_ns(("buckets",), "resource", "aws_s3_bucket_server_side_encryption_configuration", "this")
    bucket_keys = {}
    for k, bucket in bucket_names.items():
        rule = sse.index(k).attr("rule")[0]["apply_server_side_encryption_by_default"][0]
        if rule.get("sse_algorithm") == "aws:kms" and rule.get("kms_master_key_id"):
            bucket_keys[bucket] = rule["kms_master_key_id"]
    queue_keys = {}
    for calls in (("ingest",), ("raw_to_parquet",)):
        for qname in ("source", "source_dlq", "async_failure", "continuation", "continuation_dlq"):
            for q in tree.block_ns(calls, "resource", "aws_sqs_queue", qname).items():
                key = q.attr("kms_master_key_id")
                if key:
                    queue_keys[q.attr("name")] = key
    stream_res = tree.block_ns(("stream",), "resource", "aws_kinesis_stream", "this")
    stream_keys = {stream_res.attr("name"): stream_res.attr("kms_key_id")} \
        if stream_res.attr("encryption_type") == "KMS" else {}
    resolved.update(bucket_kms_keys=bucket_keys, queue_kms_keys=queue_keys, stream_kms_keys=stream_keys)
    return {
        "identity": identity,
        "trust": trust,
        "resources": {"buckets": bucket_policies, "kms_key": kms_key, "queues": queues},
        "names": resolved,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", help="the names JSON file ('-': stdin)")
    parser.add_argument("--all", action="store_true", help="also trust, resource policies and the resolved names")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.names == "-" else pathlib.Path(args.names).read_text()
    try:
        out = render(json.loads(text))
    except HclError as e:
        print(f"policies.py: cannot render infra/: {e}", file=sys.stderr)
        return 2
    json.dump(out if args.all else out["identity"], sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
