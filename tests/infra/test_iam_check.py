#!/usr/bin/env python3
"""Self-test of tests/infra/iam_check.py: it passes on real calls, and it can fail.

Over tests/infra/iam_fixture/ (requests recorded by record_iam_fixture.py through
fault_proxy.py --record, one access key per component, against moto):

  * every request of the fixture is allowed by the policies rendered from infra/,
    no request is unmapped, and no statement is unused (bar MAY_BE_UNUSED);
  * dropping any one statement that a request used, from the rendered policy of
    its component, makes the check report DENIED naming an action of that
    statement and a resource it covered;
  * an added statement that no request uses is reported UNUSED;
  * each role's trust policy lets its assumer in (and only Snowflake's IAM user with
    the integration's external id into the reader role): re-adding the account-root
    trust with the published id 0000 (defect 4), rendering before the handshake,
    Firehose's external id or the state machine's service changed give TRUST lines;
  * the same from infra/'s own text: removing the manifests statement (issue 15,
    defect 1) or a ListBucket statement (defect 3) from infra/iam.tf gives DENIED,
    and so does scoping the operator's policy to the child executions or to
    another state machine's Map Runs;
  * the ingest's continuations (issue 16): the fixture's SendMessage (AWS JSON 1.0,
    X-Amz-Target AmazonSQS.SendMessage) maps to sqs:SendMessage on
    arn:aws:sqs:<region>:<account>:<queue> of its QueueUrl, is allowed on the
    continuation queue the names JSON's "ingest_continuation_queue" names, and
    the same call (JSON or query protocol) to the continuation DLQ, the
    raw-to-parquet queue or any other queue is DENIED;
  * the operator (`feedpipe convert --distributed`, infra/modules/backfill's
    aws_iam_policy.operator): every Step Functions call distributed.rs makes is
    in the fixture under AKIAFEEDPIPEOPERATOR, mapped from a field the recorder
    keeps, denied on another state machine, and has no trust check (no role);
  * many feeds (issue 17), over tests/infra/iam_fixture_feeds/ (record_iam_fixture.py
    --feeds, names with feeds_dir = infra/feeds.example): both Lambdas' cold-start
    reads of the feeds file (and raw-to-parquet's of the contracts beside it), the
    writes and Snowflake's reads of both tables are allowed and use the statements
    feeds.tf adds or widens; dropping the ingest's ReadFeedsFile, scoping the grant
    to one digest, or a table left out of feeds_tables gives DENIED;
  * the request -> IAM mapping on hand-made requests (GetObject with a versionId
    needs s3:GetObjectVersion only, a 404 needs s3:ListBucket, ListObjectsV2 carries
    s3:prefix, the KMS calls S3 makes for the caller, ...), and the recorder's
    parsing of credential scopes (header and presigned) and body fields.

Run: python tests/infra/test_iam_check.py  (python-hcl2 on PYTHONPATH; node; the
simulator is installed on first use, see iam_check.NPM_PACKAGES). Prints
"N passed, N failed".
"""

from __future__ import annotations

import copy
import fnmatch
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "py"))

import fault_proxy  # noqa: E402
import iam_check  # noqa: E402
import policies  # noqa: E402
from test_wiring import read_texts  # noqa: E402

FIXTURE = HERE / "iam_fixture"


def load():
    names = json.loads((FIXTURE / "names.json").read_text())
    principals = json.loads((FIXTURE / "principals.json").read_text())
    requests = iam_check.read_log(FIXTURE / "requests.jsonl")
    return names, principals, requests


def covers(patterns, value) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def test_fixture_passes(ctx) -> list[str]:
    result = iam_check.check(ctx["requests"], ctx["rendered"], ctx["principals"])
    ctx["baseline"] = result
    fails = [f"baseline: {line}" for line in iam_check.report_lines(result)[:-1]]
    counts = result["counts"]
    components = set(ctx["principals"].values())
    signed_by = {ctx["principals"].get(r.get("akid")) for r in ctx["requests"]} - {None}
    if signed_by != components:
        fails.append(f"the fixture has no request by {sorted(components - signed_by)}")
    if counts["unknown_keys"] == 0:
        fails.append("the fixture has no set-up requests by unknown keys (they must be ignored and counted)")
    if counts["checked"] + counts["unknown_keys"] + counts["unsigned"] != counts["requests"]:
        fails.append(f"counts do not add up: {counts}")
    if not result["used"]:
        fails.append("no statement was used")
    return fails


def test_dropping_a_used_statement_is_denied(ctx) -> list[str]:
    fails = []
    used = [u.split(" ", 1) for u in ctx["baseline"]["used"]]
    if len(used) < 15:
        fails.append(f"only {len(used)} statements used; expected the fixture to exercise most of them")
    for component, sid in used:
        rendered = copy.deepcopy(ctx["rendered"])
        statements = rendered["identity"][component]["Statement"]
        index = next(i for i, st in enumerate(statements) if iam_check.statement_id(st, i) == sid)
        dropped = statements.pop(index)
        result = iam_check.check(ctx["requests"], rendered, ctx["principals"])
        lines = iam_check.report_lines(result)
        actions = iam_check._as_list(dropped["Action"])
        resources = iam_check._as_list(dropped["Resource"])
        named = [
            d for d in result["findings"]["denied"]
            if d["component"] == component and covers(actions, d["action"]) and covers(resources, d["resource"])
        ]
        line_ok = any(
            re.match(rf"DENIED {component} {re.escape(d['action'])} {re.escape(d['resource'])} \(", line)
            for d in named for line in lines
        )
        if not named or not line_ok:
            fails.append(f"dropping {component} {sid} ({actions} on {resources}) gave no DENIED line naming it: {lines}")
        else:
            print(f"  dropped {component} {sid}: {next(line for line in lines if line.startswith('DENIED'))}")
    return fails


def test_an_unused_statement_is_reported(ctx) -> list[str]:
    fails = []
    for component in sorted(set(ctx["principals"].values())):
        rendered = copy.deepcopy(ctx["rendered"])
        bucket = ctx["rendered"]["names"]["raw_bucket"]
        rendered["identity"][component]["Statement"].append(
            {"Sid": "NeverUsedByTheRun", "Effect": "Allow", "Action": "s3:DeleteObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"})
        lines = iam_check.report_lines(iam_check.check(ctx["requests"], rendered, ctx["principals"]))
        want = f"UNUSED {component} NeverUsedByTheRun: s3:DeleteObject on arn:aws:s3:::{bucket}/*"
        if want not in lines:
            fails.append(f"{component}: expected {want!r}, got {lines}")
    # Statements without a Sid are named by their 1-based index.
    rendered = copy.deepcopy(ctx["rendered"])
    st = rendered["identity"]["snowflake"]["Statement"]
    st.append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"})
    lines = iam_check.report_lines(iam_check.check(ctx["requests"], rendered, ctx["principals"]))
    if f"UNUSED snowflake {len(st)}: s3:GetObject on arn:aws:s3:::elsewhere/*" not in lines:
        fails.append(f"a statement without Sid is not reported by index: {lines}")
    # ... and only the components of the run (or --components) are checked.
    only = iam_check.check(ctx["requests"], rendered, ctx["principals"], components=["ingest"])
    if only["findings"]["unused"]:
        fails.append(f"--components ingest still reports {only['findings']['unused']}")
    return fails


INFRA_MUTATIONS = [
    # (what, file, pattern, replacement, component, action, resource pattern)
    ("raw-to-parquet loses its manifests statement (defect 1)", "iam.tf",
     r'\n  # jobs/convert/src/job/manifest\.rs:(?:.*\n)*?  statement \{\n    sid       = "WriteConversionManifests"(?:.*\n)*?  \}\n',
     "\n", "raw_to_parquet", "s3:PutObject", "arn:aws:s3:::*/_manifests/feed/*"),
    ("ingest cannot list the source bucket (defect 3)", "iam.tf",
     r'  statement \{\n    sid       = "KnowMissingFeedFiles"(?:.*\n)*?  \}\n', "",
     "ingest", "s3:ListBucket", "arn:aws:s3:::fixture-source"),
    ("the stream statement names another stream", "iam.tf",
     r"resources = \[module\.stream\.stream_arn\]", 'resources = ["${module.stream.stream_arn}-other"]',
     "ingest", "kinesis:PutRecords", "arn:aws:kinesis:*:stream/fixture-records"),
    ("the lambda module no longer grants its key", "modules/lambda/main.tf",
     r'    sid       = "DecryptOwnEnvironmentAndQueues"\n    effect    = "Allow"\n',
     '    sid       = "DecryptOwnEnvironmentAndQueues"\n    effect    = "Deny"\n',
     "raw_to_parquet", "kms:Decrypt", "arn:aws:kms:*"),
    ("the backfill may list another prefix only", "modules/backfill/main.tf",
     r'values   = \["\$\{var\.raw_prefix\}/\*"\]', 'values   = ["${var.raw_prefix}/2025/*"]',
     "backfill", "s3:ListBucket", "arn:aws:s3:::fixture-raw"),
    ("the operator may follow only the Distributed Map's child executions", "modules/backfill/main.tf",
     r'resources = \[local\.started_executions_arn\]', "resources = [local.executions_arn]",
     "operator", "states:DescribeExecution", "arn:aws:states:*:execution:fixture-backfill:*"),
    ("the operator's Map Run statement names another state machine's", "modules/backfill/main.tf",
     r'map_runs_arn           = "\$\{local\.arn_base\}:mapRun:\$\{local\.state_machine_name\}/\*"',
     'map_runs_arn           = "${local.arn_base}:mapRun:${local.state_machine_name}-other/*"',
     "operator", "states:DescribeMapRun", "arn:aws:states:*:mapRun:fixture-backfill/*"),
    ("ingest may send its continuations to the continuation DLQ only", "modules/lambda/main.tf",
     r'for_each = aws_sqs_queue\.continuation\[\*\]\.arn(\n    content \{\n      sid       = "SendContinuationsToOwnQueue")',
     r"for_each = aws_sqs_queue.continuation_dlq[*].arn\1",
     "ingest", "sqs:SendMessage", "arn:aws:sqs:*:fixture-ingest-continuations"),
    ("the continuation queue is no longer given to the ingest", "main.tf",
     r'\n  continuation_queue = \{\n(?:.*\n)*?  \}\n', "\n",
     "ingest", "sqs:SendMessage", "arn:aws:sqs:*:fixture-ingest-continuations"),
    ("Snowflake may not read the manifests", "main.tf",
     r'manifest_prefixes      = \[for t in local\.curated_tables : "_manifests/\$\{t\}/"\]', "manifest_prefixes      = []",
     "snowflake", "s3:GetObject", "arn:aws:s3:::fixture-curated/_manifests/*"),
]


def test_infra_mutations(ctx) -> list[str]:
    fails = []
    texts = read_texts()
    for what, rel, pattern, replacement, component, action, resource in INFRA_MUTATIONS:
        mutated, n = re.subn(pattern, replacement, texts[rel], count=1)
        if n != 1:
            fails.append(f"mutation {what!r}: pattern no longer matches {rel}; update it")
            continue
        rendered = policies.render(ctx["names"], {**texts, rel: mutated})
        result = iam_check.check(ctx["requests"], rendered, ctx["principals"])
        hits = [d for d in result["findings"]["denied"]
                if d["component"] == component and d["action"] == action and fnmatch.fnmatchcase(d["resource"], resource)]
        if not hits:
            fails.append(f"mutation {what!r}: no DENIED {component} {action} {resource}: {iam_check.report_lines(result)}")
        else:
            print(f"  infra mutation {what}: DENIED {component} {hits[0]['action']} {hits[0]['resource']} ({hits[0]['request']})")
    return fails


TRUST_MUTATIONS = [
    # (what, file, pattern, replacement, names override, component whose TRUST line must appear)
    ("the Snowflake role trusts the account root with the published id 0000 again (defect 4)",
     "modules/snowflake_access/main.tf", r'(data "aws_iam_policy_document" "assume" \{\n)',
     '\\1  statement {\n    sid     = "PlaceholderTrust"\n    effect  = "Allow"\n    actions = ["sts:AssumeRole"]\n\n'
     '    principals {\n      type        = "AWS"\n      identifiers = ["arn:aws:iam::123456789012:root"]\n    }\n\n'
     '    condition {\n      test     = "StringEquals"\n'
     '      variable = "sts:ExternalId"\n      values   = ["0000"]\n    }\n  }\n\n', {}, "snowflake"),
    ("the run is rendered before the handshake: Snowflake could not assume its role", None, None, None,
     {"snowflake_iam_user_arn": "", "snowflake_external_id": ""}, "snowflake"),
    ("Firehose's trust expects another external id", "modules/stream/main.tf",
     r'variable = "sts:ExternalId"\n      values   = \[data\.aws_caller_identity\.current\.account_id\]',
     'variable = "sts:ExternalId"\n      values   = ["0000"]', {}, "firehose"),
    ("the state machine's role trusts Lambda instead", "modules/backfill/main.tf",
     r'identifiers = \["states\.amazonaws\.com"\]', 'identifiers = ["lambda.amazonaws.com"]', {}, "backfill"),
]


def test_trust_mutations(ctx) -> list[str]:
    fails = []
    texts = read_texts()
    for what, rel, pattern, replacement, names, component in TRUST_MUTATIONS:
        mutated = dict(texts)
        if rel is not None:
            mutated[rel], n = re.subn(pattern, replacement, texts[rel], count=1)
            if n != 1:
                fails.append(f"mutation {what!r}: pattern no longer matches {rel}; update it")
                continue
        rendered = policies.render({**ctx["names"], **names}, mutated)
        lines = iam_check.report_lines(iam_check.check(ctx["requests"], rendered, ctx["principals"]))
        hits = [line for line in lines if line.startswith(f"TRUST {component} ")]
        if not hits:
            fails.append(f"mutation {what!r}: no TRUST {component} line: {lines}")
        else:
            print(f"  trust mutation {what}: {hits[0]}")
    return fails


def _req(**kw):
    base = {"akid": "K", "service": "s3", "region": "us-east-1", "method": "GET", "host": "h", "path": "/",
            "query": "", "target": None, "copy_source": None, "fields": {}, "status": 200, "faulted": False}
    base.update(kw)
    return base


def test_mapping(ctx) -> list[str]:
    fails = []
    m = iam_check.Mapper(ctx["rendered"]["names"])
    key = ctx["rendered"]["names"]["kms_key_arn"]
    cases = [
        (_req(path="/fixture-raw/raw/a%20b.json", query="versionId=v1"),
         [("s3:GetObjectVersion", "arn:aws:s3:::fixture-raw/raw/a b.json"), ("kms:Decrypt", key)]),
        (_req(path="/fixture-raw/raw/a.json"), [("s3:GetObject", "arn:aws:s3:::fixture-raw/raw/a.json"), ("kms:Decrypt", key)]),
        (_req(method="HEAD", path="/fixture-raw/raw/a.json", status=404),
         [("s3:GetObject", "arn:aws:s3:::fixture-raw/raw/a.json"), ("s3:ListBucket", "arn:aws:s3:::fixture-raw")]),
        (_req(path="/fixture-raw", query="list-type=2&prefix=raw%2F2026%2F"), [("s3:ListBucket", "arn:aws:s3:::fixture-raw")]),
        (_req(path="/fixture-raw", query="versions&prefix=raw%2F"), [("s3:ListBucketVersions", "arn:aws:s3:::fixture-raw")]),
        (_req(path="/fixture-raw", query="location"), [("s3:GetBucketLocation", "arn:aws:s3:::fixture-raw")]),
        (_req(method="PUT", path="/fixture-curated/feed/x.parquet"),
         [("s3:PutObject", "arn:aws:s3:::fixture-curated/feed/x.parquet"), ("kms:GenerateDataKey", key)]),
        (_req(method="POST", path="/fixture-raw/q/x", query="uploads"),
         [("s3:PutObject", "arn:aws:s3:::fixture-raw/q/x"), ("kms:GenerateDataKey", key)]),
        (_req(method="PUT", path="/fixture-raw/q/x", query="partNumber=1&uploadId=u"),
         [("s3:PutObject", "arn:aws:s3:::fixture-raw/q/x"), ("kms:Decrypt", key)]),
        (_req(method="POST", path="/fixture-raw/q/x", query="uploadId=u"), [("s3:PutObject", "arn:aws:s3:::fixture-raw/q/x")]),
        (_req(method="DELETE", path="/fixture-raw/q/x", query="uploadId=u"), [("s3:AbortMultipartUpload", "arn:aws:s3:::fixture-raw/q/x")]),
        (_req(method="DELETE", path="/fixture-raw/q/x", query="versionId=v"), [("s3:DeleteObjectVersion", "arn:aws:s3:::fixture-raw/q/x")]),
        (_req(method="PUT", path="/other/x", copy_source="/fixture-raw/a.json?versionId=v"),
         [("s3:PutObject", "arn:aws:s3:::other/x"), ("s3:GetObjectVersion", "arn:aws:s3:::fixture-raw/a.json"), ("kms:Decrypt", key)]),
        (_req(path="/fixture-raw/raw/a.json", status=503, faulted=True), [("s3:GetObject", "arn:aws:s3:::fixture-raw/raw/a.json")]),
        (_req(service="kinesis", method="POST", target="Kinesis_20131202.PutRecords", fields={"StreamName": "fixture-records"}),
         [("kinesis:PutRecords", "arn:aws:kinesis:us-east-1:123456789012:stream/fixture-records"), ("kms:GenerateDataKey", key)]),
        (_req(service="kinesis", method="POST", target="Kinesis_20131202.ListShards", fields={}),
         [("kinesis:ListShards", "arn:aws:kinesis:us-east-1:123456789012:stream/fixture-records")]),
        (_req(service="sqs", method="POST", target="AmazonSQS.DeleteMessageBatch",
              fields={"QueueUrl": "http://127.0.0.1:1/123456789012/fixture-raw-events"}),
         [("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:fixture-raw-events")]),
        (_req(service="sqs", method="POST", content_type="application/x-www-form-urlencoded",
              fields={"Action": "ReceiveMessage", "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/fixture-raw-events"}),
         [("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:fixture-raw-events"), ("kms:Decrypt", key)]),
        # The ingest's continuations (lambdas/ingest/src/handoff.rs, aws-sdk-sqs: AWS JSON
        # 1.0), the older query protocol, and a batch send: sqs:SendMessage on the queue
        # of QueueUrl, plus the KMS calls SQS makes for the caller on the queue's key.
        (_req(service="sqs", method="POST", target="AmazonSQS.SendMessage", content_type="application/x-amz-json-1.0",
              fields={"QueueUrl": "http://127.0.0.1:1/123456789012/fixture-ingest-continuations"}),
         [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:fixture-ingest-continuations"),
          ("kms:GenerateDataKey", key), ("kms:Decrypt", key)]),
        (_req(service="sqs", method="POST", region="eu-west-1", content_type="application/x-www-form-urlencoded",
              fields={"Action": "SendMessage",
                      "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/fixture-ingest-continuations"}),
         [("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:fixture-ingest-continuations"),
          ("kms:GenerateDataKey", key), ("kms:Decrypt", key)]),
        (_req(service="sqs", method="POST", target="AmazonSQS.SendMessageBatch",
              fields={"QueueUrl": "http://127.0.0.1:1/123456789012/some-other-queue"}),
         [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:some-other-queue")]),
        (_req(service="states", method="POST", target="AWSStepFunctions.StartExecution",
              fields={"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm"}),
         [("states:StartExecution", "arn:aws:states:us-east-1:123456789012:stateMachine:sm")]),
        # `feedpipe convert --distributed` (jobs/feedpipe/src/distributed.rs), each on
        # the resource type the Service Authorization Reference gives.
        (_req(service="states", method="POST", target="AWSStepFunctions.DescribeStateMachine",
              fields={"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm"}),
         [("states:DescribeStateMachine", "arn:aws:states:us-east-1:123456789012:stateMachine:sm")]),
        (_req(service="states", method="POST", target="AWSStepFunctions.DescribeExecution",
              fields={"executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:e1"}),
         [("states:DescribeExecution", "arn:aws:states:us-east-1:123456789012:execution:sm:e1")]),
        (_req(service="states", method="POST", target="AWSStepFunctions.ListMapRuns",
              fields={"executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:e1"}),
         [("states:ListMapRuns", "arn:aws:states:us-east-1:123456789012:execution:sm:e1")]),
        (_req(service="states", method="POST", target="AWSStepFunctions.DescribeMapRun",
              fields={"mapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:sm/Map:1f2e"}),
         [("states:DescribeMapRun", "arn:aws:states:us-east-1:123456789012:mapRun:sm/Map:1f2e")]),
        (_req(service="kms", method="POST", target="TrentService.Decrypt", fields={"KeyId": "alias/feedpipe"}),
         [("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:alias/feedpipe")]),
        (_req(service="sts", method="POST", fields={"Action": "AssumeRole", "RoleArn": "arn:aws:iam::123456789012:role/r"}),
         [("sts:AssumeRole", "arn:aws:iam::123456789012:role/r")]),
        (_req(service="lambda", method="POST", path="/2015-03-31/functions/fn/invocations", query="Qualifier=live"),
         [("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:fn:live")]),
    ]
    for req, want in cases:
        got = [(a.action, a.resource) for a in m.map(req)]
        if got != want:
            fails.append(f"{req['method']} {req['path']}?{req['query']} {req.get('target')}: mapped to {got}, expected {want}")
    ctx_list = m.map(_req(path="/fixture-raw", query="list-type=2&prefix=raw%2F2026%2F&delimiter=%2F"))[0].context
    if ctx_list != {"s3:prefix": "raw/2026/", "s3:delimiter": "/"}:
        fails.append(f"ListObjectsV2 context is {ctx_list}")
    for unmapped in (_req(method="POST", path="/fixture-raw", query="delete"), _req(service="ec2"),
                     _req(service="states", method="POST", target="AWSStepFunctions.DescribeMapRun",
                          fields={"executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:e1"})):
        try:
            got = m.map(unmapped)
            fails.append(f"{unmapped['service']} {unmapped['method']} {unmapped['query']} should be UNMAPPED, got {got}")
        except iam_check.Unmapped:
            pass
    return fails


def test_recorder_parsing(ctx) -> list[str]:
    fails = []
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAX/20261201/eu-west-1/kinesis/aws4_request, "
                                "SignedHeaders=host, Signature=abc"}
    if fault_proxy.credential_scope(headers, {}) != ("AKIAX", "eu-west-1", "kinesis"):
        fails.append(f"header scope: {fault_proxy.credential_scope(headers, {})}")
    presigned = {"X-Amz-Credential": ["AKIAP/20261201/us-east-1/s3/aws4_request"]}
    if fault_proxy.credential_scope({}, presigned) != ("AKIAP", "us-east-1", "s3"):
        fails.append(f"presigned scope: {fault_proxy.credential_scope({}, presigned)}")
    if fault_proxy.credential_scope({}, {"AWSAccessKeyId": ["AKIAV2"], "Signature": ["x"]}) != ("AKIAV2", None, "s3"):
        fails.append("a SigV2 presigned URL's key is not read")
    if fault_proxy.credential_scope({"Authorization": "AWS AKIAV2H:c2ln"}, {}) != ("AKIAV2H", None, "s3"):
        fails.append("a SigV2 Authorization header's key is not read")
    if fault_proxy.credential_scope({}, {}) != (None, None, None):
        fails.append("an unsigned request has a scope")
    body = json.dumps({"StreamName": "s", "Records": [{"Data": "eA=="}]}).encode()
    if fault_proxy.recorded_fields("application/x-amz-json-1.1", body) != {"StreamName": "s"}:
        fails.append(f"JSON fields: {fault_proxy.recorded_fields('application/x-amz-json-1.1', body)}")
    form = b"Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F1%2Fq&MessageBody=secret"
    if fault_proxy.recorded_fields("application/x-www-form-urlencoded; charset=utf-8", form) != {
            "Action": "SendMessage", "QueueUrl": "http://h/1/q"}:
        fails.append(f"form fields: {fault_proxy.recorded_fields('application/x-www-form-urlencoded', form)}")
    send = json.dumps({"QueueUrl": "http://h/123456789012/q", "MessageBody": '{"uri":"s3://b/k"}'}).encode()
    if fault_proxy.recorded_fields("application/x-amz-json-1.0", send) != {"QueueUrl": "http://h/123456789012/q"}:
        fails.append(f"SQS JSON fields: {fault_proxy.recorded_fields('application/x-amz-json-1.0', send)}")
    if fault_proxy.recorded_fields("application/octet-stream", b"PAR1...") != {}:
        fails.append("an object body was recorded")
    keys = {"akid", "service", "region", "method", "host", "path", "query", "target", "fields", "status", "faulted"}
    for n, req in enumerate(ctx["requests"], 1):
        if not keys <= set(req):
            fails.append(f"fixture line {n} lacks {sorted(keys - set(req))}")
            break
    return fails


def test_continuations(ctx) -> list[str]:
    """The ingest's SendMessage (issue 16) is allowed on its continuation queue, the one
    the names JSON's "ingest_continuation_queue" names, and denied on any other queue."""
    fails = []
    names = ctx["rendered"]["names"]
    queue = ctx["names"].get("ingest_continuation_queue")
    want_arn = f"arn:aws:sqs:{names['region']}:{names['account_id']}:{queue}"
    if not queue or names.get("ingest_continuation_queue_arn") != want_arn:
        fails.append(f"names ingest_continuation_queue {queue!r} renders the queue as "
                     f"{names.get('ingest_continuation_queue_arn')!r}, not {want_arn!r}")
    key = next(k for k, c in ctx["principals"].items() if c == "ingest")
    sends = [r for r in ctx["requests"] if r.get("akid") == key and r.get("service") == "sqs"
             and (r.get("target") or "").endswith(".SendMessage")]
    if not sends:
        return fails + ["the fixture has no SendMessage by the ingest (a continuation handed on)"]
    mapped = [(a.action, a.resource) for a in iam_check.Mapper(names).map(sends[0])]
    if ("sqs:SendMessage", want_arn) not in mapped:
        fails.append(f"the ingest's SendMessage maps to {mapped}, not sqs:SendMessage on {want_arn}")
    if "ingest SendContinuationsToOwnQueue" not in ctx["baseline"]["used"]:
        fails.append(f"the fixture's SendMessage used no SendContinuationsToOwnQueue: {ctx['baseline']['used']}")
    if ctx["baseline"]["findings"]["denied"]:
        fails.append(f"baseline has denials: {ctx['baseline']['findings']['denied']}")

    # The same call to any other queue: DENIED, naming that queue (JSON and query protocol).
    dlq = names["ingest_continuation_dlq_arn"].rsplit(":", 1)[1]
    for other in (dlq, names["raw_to_parquet_queue_arn"].rsplit(":", 1)[1], "someone-elses-queue"):
        for protocol in ("json", "query"):
            req = copy.deepcopy(sends[0])
            url = req["fields"]["QueueUrl"].rsplit("/", 1)[0] + "/" + other
            if protocol == "json":
                req["fields"] = {"QueueUrl": url}
            else:
                req.update(target=None, content_type="application/x-www-form-urlencoded",
                           fields={"Action": "SendMessage", "QueueUrl": url})
            result = iam_check.check([req], ctx["rendered"], ctx["principals"], components=[])
            lines = iam_check.report_lines(result)
            arn = f"arn:aws:sqs:{names['region']}:{names['account_id']}:{other}"
            if not any(line.startswith(f"DENIED ingest sqs:SendMessage {arn} (") for line in lines):
                fails.append(f"SendMessage ({protocol}) to {other}: expected DENIED ingest sqs:SendMessage {arn}, got {lines}")
    # The names key is what makes the policy's ARN: another name, and the fixture's send is denied.
    renamed = policies.render({**ctx["names"], "ingest_continuation_queue": "renamed-continuations"})
    result = iam_check.check(ctx["requests"], renamed, ctx["principals"], components=[])
    if not any(d["action"] == "sqs:SendMessage" and d["resource"] == want_arn for d in result["findings"]["denied"]):
        fails.append(f"with ingest_continuation_queue renamed, the send to {queue} is still allowed: "
                     f"{iam_check.report_lines(result)}")
    return fails


# What jobs/feedpipe/src/distributed.rs calls (aws-sdk-sfn), as X-Amz-Target.
DISTRIBUTED_CALLS = ("DescribeStateMachine", "StartExecution", "DescribeExecution", "ListMapRuns", "DescribeMapRun")


def test_operator(ctx) -> list[str]:
    fails = []
    source = (REPO / "jobs/feedpipe/src/distributed.rs").read_text()
    # Every operation on the aws_sdk_sfn::Client (`sfn.<operation>()`), in API names.
    called = {re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), c)
              for c in re.findall(r"\bsfn\s*\.\s*([a-z_]+)\(\)", source)}
    if called != set(DISTRIBUTED_CALLS):
        fails.append(f"distributed.rs calls {sorted(called)}; DISTRIBUTED_CALLS is {sorted(DISTRIBUTED_CALLS)}: update it")
    key = next((k for k, c in ctx["principals"].items() if c == "operator"), None)
    if key != "AKIAFEEDPIPEOPERATOR":
        fails.append(f"the operator's key is {key}, not AKIAFEEDPIPEOPERATOR (the Rust test signs with it)")
    recorded = {(r.get("target") or "").rsplit(".", 1)[-1] for r in ctx["requests"] if r.get("akid") == key}
    missing = set(DISTRIBUTED_CALLS) - recorded
    if missing:
        fails.append(f"the fixture has no operator request for {sorted(missing)}")
    for op in DISTRIBUTED_CALLS:
        if op not in iam_check.STATES_RESOURCE:
            fails.append(f"iam_check.STATES_RESOURCE does not map {op}")
        elif iam_check.STATES_RESOURCE[op] not in fault_proxy.RECORDED_FIELDS:
            fails.append(f"{op}'s {iam_check.STATES_RESOURCE[op]} is not in fault_proxy.RECORDED_FIELDS")
    if "operator" in ctx["rendered"]["trust"] or iam_check.trust_expectations("operator", ctx["rendered"]["names"]):
        fails.append("the operator (a managed policy, no role) has a trust policy or trust checks")
    arn = ctx["rendered"]["names"]["policy_arns"].get("operator")
    if arn != "arn:aws:iam::123456789012:policy/feedpipe-backfill-operator":
        fails.append(f"the operator policy's ARN is {arn}")
    # Only the backfill state machine: the same calls on another one are denied.
    other = [dict(r, fields={k: v.replace(":fixture-backfill", ":other-machine") for k, v in r["fields"].items()})
             for r in ctx["requests"] if r.get("akid") == key]
    result = iam_check.check(other, ctx["rendered"], ctx["principals"], components=[])
    denied = {d["action"] for d in result["findings"]["denied"]}
    if denied != {f"states:{op}" for op in DISTRIBUTED_CALLS}:
        fails.append(f"the operator's calls on another state machine: denied {sorted(denied)}")
    return fails

FEEDS_FIXTURE = HERE / "iam_fixture_feeds"
# The statements a deployment with many feeds adds or widens (infra/feeds.tf): the run
# of iam_fixture_feeds/ must use each. The fixture records only what differs from the
# single-feed run, so the other statements may stay unused there.
FEEDS_STATEMENTS = {
    ("ingest", "ReadFeedsFile"), ("raw_to_parquet", "ReadFeedsFile"),
    ("raw_to_parquet", "WriteCuratedTable"), ("raw_to_parquet", "WriteConversionManifests"),
    ("snowflake", "ListCuratedTablePrefixes"), ("snowflake", "ReadCuratedTableObjects"),
    ("snowflake", "ReadConversionManifests"),
}
FEEDS_INFRA_MUTATIONS = [
    # (what, file, pattern, replacement, names override, component, action, resource pattern)
    ("the ingest loses its feeds grant", "iam.tf",
     r'\n  dynamic "statement" \{\n    for_each = local\.feeds_enabled \? \[local\.feeds_objects_arn\] : \[\]\n    content \{\n      sid       = "ReadFeedsFile"(?:.*\n)*?  \}\n',
     "\n", {}, "ingest", "s3:GetObject", "arn:aws:s3:::fixture-curated/_feedpipe/feeds/*/feeds.toml"),
    ("the feeds grant names another apply's digest", "feeds.tf",
     r'feeds_objects_arn = "\$\{module\.buckets\.curated_bucket_arn\}/\$\{local\.feeds_prefix\}/\*"',
     'feeds_objects_arn = "${module.buckets.curated_bucket_arn}/${local.feeds_prefix}/0000000000000000/*"', {},
     "raw_to_parquet", "s3:GetObject", "arn:aws:s3:::fixture-curated/_feedpipe/feeds/*/contracts/orders.json"),
    ("feeds_tables without orders_eu", None, None, None, {"feeds_tables": ["orders"]},
     "raw_to_parquet", "s3:PutObject", "arn:aws:s3:::fixture-curated/orders_eu/*"),
    ("feeds_tables without orders_eu (Snowflake's reads)", None, None, None, {"feeds_tables": ["orders"]},
     "snowflake", "s3:GetObject", "arn:aws:s3:::fixture-curated/_manifests/orders_eu/*"),
]


def test_feeds_fixture(ctx) -> list[str]:
    """iam_fixture_feeds/ (record_iam_fixture.py --feeds): the calls a deployment with
    many feeds makes that a single-feed one does not (the feeds file and contracts read
    at cold start, two tables written and read) are all allowed by the policies rendered
    for its names (feeds_dir = infra/feeds.example), and use every statement of
    FEEDS_STATEMENTS; removing the grant, scoping it to a digest, or leaving a table out
    of feeds_tables gives DENIED."""
    fails = []
    names = json.loads((FEEDS_FIXTURE / "names.json").read_text())
    principals = json.loads((FEEDS_FIXTURE / "principals.json").read_text())
    requests = iam_check.read_log(FEEDS_FIXTURE / "requests.jsonl")
    texts = read_texts()
    result = iam_check.check(requests, policies.render(names, texts), principals)
    f = result["findings"]
    for line in iam_check.report_lines({**result, "findings": {**f, "unused": []}})[:-1]:
        fails.append(f"feeds fixture: {line}")
    unused = {(u["component"], u["statement"]) for u in f["unused"]}
    for component, sid in sorted(FEEDS_STATEMENTS & unused):
        fails.append(f"feeds fixture: {component} {sid} is not used by the run: the fixture no longer exercises it")
    feeds_reads = [r for r in requests if "/_feedpipe/feeds/" in (r.get("path") or "") and principals.get(r.get("akid"))]
    if {principals[r["akid"]] for r in feeds_reads} != {"ingest", "raw_to_parquet"}:
        fails.append(f"feeds fixture: the feeds file is read by {sorted({principals[r['akid']] for r in feeds_reads})}, "
                     "not by both Lambdas")
    for what, rel, pattern, replacement, override, component, action, resource in FEEDS_INFRA_MUTATIONS:
        mutated = dict(texts)
        if rel is not None:
            mutated[rel], n = re.subn(pattern, replacement, texts[rel], count=1)
            if n != 1:
                fails.append(f"feeds mutation {what!r}: pattern no longer matches {rel}; update it")
                continue
        got = iam_check.check(requests, policies.render({**names, **override}, mutated), principals)
        hits = [d for d in got["findings"]["denied"]
                if d["component"] == component and d["action"] == action and fnmatch.fnmatchcase(d["resource"], resource)]
        if not hits:
            fails.append(f"feeds mutation {what!r}: no DENIED {component} {action} {resource}: {iam_check.report_lines(got)}")
        else:
            print(f"  feeds mutation {what}: DENIED {component} {hits[0]['action']} {hits[0]['resource']}")
    return fails


TESTS = [
    ("every request of the fixture is allowed, nothing unmapped or unused", test_fixture_passes),
    ("dropping any used statement gives DENIED naming its action and resource", test_dropping_a_used_statement_is_denied),
    ("an unused statement is reported UNUSED", test_an_unused_statement_is_reported),
    ("mutations of infra/ itself give DENIED", test_infra_mutations),
    ("trust policies: each role's assumer may assume it, nobody else Snowflake's", test_trust_mutations),
    ("requests map to the IAM actions and resources AWS authorizes", test_mapping),
    ("the ingest's continuations: SendMessage allowed on its continuation queue, denied elsewhere", test_continuations),
    ("the operator: every call of convert --distributed recorded, mapped, scoped; no trust check", test_operator),
    ("the recorder's credential scope and body fields", test_recorder_parsing),
    ("many feeds (iam_fixture_feeds/): the feeds file read by both Lambdas, every table, each grant needed", test_feeds_fixture),
]


def main() -> int:
    names, principals, requests = load()
    ctx = {"names": names, "principals": principals, "requests": requests, "rendered": policies.render(names)}
    passed = failed = 0
    for title, fn in TESTS:
        try:
            problems = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - a crash is a failure, with its reason
            import traceback

            problems = [f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"]
        if problems:
            failed += 1
            print(f"FAIL {title}")
            for p in problems:
                print(f"     {p}")
        else:
            passed += 1
            print(f"ok   {title}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
