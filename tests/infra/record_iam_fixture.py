#!/usr/bin/env python3
"""Records tests/infra/iam_fixture/requests.jsonl: the calls each component makes, for real.

Starts moto's server and tests/py/fault_proxy.py --record in front of it, then
makes, with boto3 and one access key per component, the calls the Rust code
makes (read from it; the component that makes each is named below):

  ingest          jobs/ingest (job.rs, kinesis.rs), jobs/shared (storage.rs, quarantine.rs):
                  GetObject with versionId (the S3 event names the version), a GetObject
                  of a deleted feed (404), PutRecords by stream name, quarantine parts
                  (PutObject) and side objects (multipart; aborted on failure);
                  lambdas/ingest (handoff.rs): SendMessage of a continuation to the
                  continuation queue (a run stopped before its deadline), the
                  continuation queue's event source mapping with the function's role
                  (GetQueueAttributes, ReceiveMessage, DeleteMessage), and the next
                  part's ranged GetObject with the same versionId
  firehose        jobs/standins (kinesis_source.rs, firehose.rs): ListShards by name
                  (then by NextToken, which moto's single page never gives); GetShardIterator; GetRecords; PutObject under raw/
  raw_to_parquet  lambdas/raw-to-parquet, jobs/convert (job.rs, manifest.rs, backfill.rs):
                  ReceiveMessage/DeleteMessage (the event source mapping, with the
                  function's role), GetObject with versionId, HeadObject (named backfill
                  items), the manifest's GetObject (404 before the first conversion),
                  Parquet and manifest PutObject, quarantine PutObject
  backfill        infra/modules/backfill: the Distributed Map's ItemReader
                  (ListObjectsV2 under the prefix) and its lambda:invoke (moto has no
                  function without Docker: the invoke answers 404, and is still recorded)
  snowflake       the storage integration's reads: GetBucketLocation, ListObjectsV2
                  under <table>/ and _manifests/<table>/, GetObject (with and without
                  versionId)
  operator        jobs/feedpipe/src/distributed.rs (`feedpipe convert --distributed`,
                  under infra/modules/backfill's aws_iam_policy.operator):
                  DescribeStateMachine, StartExecution, DescribeExecution, ListMapRuns
                  on the state machine (created by the admin key first, with the shape
                  of the module's definition), and DescribeMapRun with the Map Run ARN
                  AWS would give (mapRun:<state machine>/<label>:<id>): moto 5.2.5
                  never runs an execution, so it has no Map Run and answers an error,
                  but the request is recorded and evaluated like AWS's

Set-up (buckets, versioning, stream, queues, notification, the feed file, the state
machine) uses an admin key, which is not in principals.json, so iam_check ignores
(and counts) its requests.

With --feeds it records instead what differs in a deployment with many feeds
(issue 17: feeds_dir = infra/feeds.example, feeds_tables = orders, orders_eu;
infra/feeds.tf), into tests/infra/iam_fixture_feeds by default:

  ingest          its cold start (lambdas/ingest main.rs, FeedsFile::load): GetObject of
                  FEEDPIPE_FEEDS_URL (the uploaded feeds.toml, whose key the names render
                  through tests/infra/policies.py); then a feed file of each feed
                  (orders/, orders/eu/) read with its versionId and put on the stream,
                  and a file of no feed quarantined as unrouted
  raw_to_parquet  its cold start: the same GetObject, then one of each entry's contract
                  beside it (jobs/convert contract/load.rs, load_feeds: relative to the
                  feeds file, no version); then one raw object read and, per table, the
                  manifest's GetObject (404), the Parquet and the manifest PutObject
  snowflake       each table's stage: ListObjectsV2 under <table>/ and
                  _manifests/<table>/, GetObject of what it lists

Run with the servers venv (moto, boto3):
  .tools/servers-venv/bin/python tests/infra/record_iam_fixture.py [--feeds] [OUT_DIR]
It rewrites OUT_DIR (default tests/infra/iam_fixture, or tests/infra/iam_fixture_feeds
with --feeds): requests.jsonl, names.json, principals.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's

NAMES = {
    "account_id": ACCOUNT,
    "region": REGION,
    "source_bucket": "fixture-source",
    "raw_bucket": "fixture-raw",
    "curated_bucket": "fixture-curated",
    "stream_name": "fixture-records",
    "raw_to_parquet_queue": "fixture-raw-events",
    "ingest_continuation_queue": "fixture-ingest-continuations",
    "ingest_function": "fixture-ingest",
    "raw_to_parquet_function": "fixture-raw-to-parquet",
    "state_machine": "fixture-backfill",
    "curated_table": "feed",
    "raw_prefix": "raw",
    "quarantine_prefix": "quarantine",
}
# The feeds deployment: the same names, with feeds_dir (relative to the repository root).
FEEDS_NAMES = {
    **{k: v for k, v in NAMES.items() if k != "curated_table"},
    "feeds_dir": "infra/feeds.example",
    "feeds_tables": ["orders", "orders_eu"],
}
KEYS = {
    "ingest": "AKIAFEEDPIPEINGEST",
    "raw_to_parquet": "AKIAFEEDPIPERAWTOPARQUET",
    "firehose": "AKIAFEEDPIPEFIREHOSE",
    "backfill": "AKIAFEEDPIPEBACKFILL",
    "snowflake": "AKIAFEEDPIPESNOWFLAKE",
    # The Rust test of `feedpipe convert --distributed` signs the CLI's calls with it too.
    "operator": "AKIAFEEDPIPEOPERATOR",
}
ADMIN = "AKIAFEEDPIPEADMINSETUP"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def client(service: str, akid: str, endpoint: str):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=akid, aws_secret_access_key=f"secret-{akid}",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def run(endpoint: str) -> None:
    n = NAMES
    admin = {s: client(s, ADMIN, endpoint) for s in ("s3", "kinesis", "sqs")}
    for b in (n["source_bucket"], n["raw_bucket"], n["curated_bucket"]):
        admin["s3"].create_bucket(Bucket=b)
        admin["s3"].put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    admin["kinesis"].create_stream(StreamName=n["stream_name"], ShardCount=2)
    queue_url = admin["sqs"].create_queue(QueueName=n["raw_to_parquet_queue"])["QueueUrl"]
    queue_arn = admin["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    admin["s3"].put_bucket_notification_configuration(
        Bucket=n["raw_bucket"],
        NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
        }]},
    )
    continuation_url = admin["sqs"].create_queue(QueueName=n["ingest_continuation_queue"])["QueueUrl"]
    feed = b'{"order_id":1,"customer_id":"c1","unit_price":"1.00"}\n{"order_id":2,"customer_id":"c2"}\n'
    version = admin["s3"].put_object(Bucket=n["source_bucket"], Key="feeds/orders-1.jsonl", Body=feed)["VersionId"]

    # ---- ingest ---------------------------------------------------------------
    s3 = client("s3", KEYS["ingest"], endpoint)
    kinesis = client("kinesis", KEYS["ingest"], endpoint)
    body = s3.get_object(Bucket=n["source_bucket"], Key="feeds/orders-1.jsonl", VersionId=version)["Body"].read()
    try:
        s3.get_object(Bucket=n["source_bucket"], Key="feeds/deleted.jsonl")
    except s3.exceptions.NoSuchKey:
        pass
    kinesis.put_records(StreamName=n["stream_name"], Records=[
        {"Data": line + b"\n", "PartitionKey": f"c{i}"} for i, line in enumerate(body.splitlines())
    ])
    quarantine = f"quarantine/ingest/dt=2026-12-01/orders-1-{version[:8]}"
    s3.put_object(Bucket=n["raw_bucket"], Key=f"{quarantine}/part-00001.jsonl", Body=b'{"line":2}\n')
    upload = s3.create_multipart_upload(Bucket=n["raw_bucket"], Key=f"{quarantine}/line-2.json")["UploadId"]
    etag = s3.upload_part(Bucket=n["raw_bucket"], Key=f"{quarantine}/line-2.json", UploadId=upload,
                          PartNumber=1, Body=b"x" * 1024)["ETag"]
    s3.complete_multipart_upload(Bucket=n["raw_bucket"], Key=f"{quarantine}/line-2.json", UploadId=upload,
                                 MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    upload = s3.create_multipart_upload(Bucket=n["raw_bucket"], Key=f"{quarantine}/line-9.json")["UploadId"]
    s3.abort_multipart_upload(Bucket=n["raw_bucket"], Key=f"{quarantine}/line-9.json", UploadId=upload)
    # The run stops before its deadline and hands the rest of the file on (handoff.rs:
    # one SendMessage, the body a feedpipe_ingest::Continuation).
    sqs = client("sqs", KEYS["ingest"], endpoint)
    first_line = len(body.splitlines()[0]) + 1
    sqs.send_message(QueueUrl=continuation_url, MessageBody=json.dumps({
        "uri": f"s3://{n['source_bucket']}/feeds/orders-1.jsonl", "version_id": version, "e_tag": None,
        "source_version": version, "lines_done": 1, "byte_offset": first_line, "json_array": False,
        "gzip": False, "parts": 1, "ingested_at": "2026-12-01T10:00:00Z", "so_far": {},
    }))
    # The continuation queue's event source mapping polls with the function's role ...
    sqs.get_queue_attributes(QueueUrl=continuation_url, AttributeNames=["All"])
    for m in sqs.receive_message(QueueUrl=continuation_url, MaxNumberOfMessages=1, WaitTimeSeconds=0).get("Messages", []):
        # ... and the next part reads on from where the first stopped, same version.
        s3.get_object(Bucket=n["source_bucket"], Key="feeds/orders-1.jsonl", VersionId=version,
                      Range=f"bytes={first_line}-")["Body"].read()
        sqs.delete_message(QueueUrl=continuation_url, ReceiptHandle=m["ReceiptHandle"])

    # ---- firehose (the stand-in) -----------------------------------------------
    kinesis = client("kinesis", KEYS["firehose"], endpoint)
    s3 = client("s3", KEYS["firehose"], endpoint)
    # (The stand-in follows NextToken alone; moto answers two shards in one page.)
    shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=n["stream_name"])["Shards"]]
    data = b""
    for shard in shards:
        it = kinesis.get_shard_iterator(StreamName=n["stream_name"], ShardId=shard,
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        data += b"".join(r["Data"] for r in kinesis.get_records(ShardIterator=it, Limit=100)["Records"])
    raw_key = "raw/2026/12/01/10/fixture-raw-delivery-1-2026-12-01-10-00-00-0f1e2d3c.jsonl"
    s3.put_object(Bucket=n["raw_bucket"], Key=raw_key, Body=data)

    # ---- raw-to-parquet ---------------------------------------------------------
    sqs = client("sqs", KEYS["raw_to_parquet"], endpoint)
    s3 = client("s3", KEYS["raw_to_parquet"], endpoint)
    raw_version = None
    for _ in range(3):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for m in messages:
            event = json.loads(m["Body"])
            for record in event.get("Records", []):
                raw_version = record["s3"]["object"].get("versionId", raw_version)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if raw_version:
            break
    if not raw_version:
        raw_version = s3.head_object(Bucket=n["raw_bucket"], Key=raw_key)["VersionId"]
    s3.get_object(Bucket=n["raw_bucket"], Key=raw_key, VersionId=raw_version)["Body"].read()
    s3.head_object(Bucket=n["raw_bucket"], Key=raw_key)
    manifest = f"_manifests/{n['curated_table']}/fixture-raw-delivery-1-2026-12-01-10-00-00-0f1e2d3c-1a2b3c4d.json"
    try:
        s3.get_object(Bucket=n["curated_bucket"], Key=manifest)
    except s3.exceptions.NoSuchKey:
        pass
    parquet = f"{n['curated_table']}/dt=2026-12-01/fixture-raw-delivery-1-2026-12-01-10-00-00-0f1e2d3c-part-00001.parquet"
    s3.put_object(Bucket=n["curated_bucket"], Key=parquet, Body=b"PAR1fixturePAR1")
    s3.put_object(Bucket=n["curated_bucket"], Key=manifest, Body=b'{"table":"feed","rows_written":1}')
    s3.put_object(Bucket=n["raw_bucket"], Key=f"quarantine/convert/dt=2026-12-01/{raw_version[:8]}/part-00001.jsonl",
                  Body=b'{"line":2}\n')

    # ---- backfill (the state machine's role) -------------------------------------
    s3 = client("s3", KEYS["backfill"], endpoint)
    s3.list_objects_v2(Bucket=n["raw_bucket"], Prefix="raw/2026/12/")
    lam = client("lambda", KEYS["backfill"], endpoint)
    try:
        lam.invoke(FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{n['raw_to_parquet_function']}",
                   Payload=json.dumps({"BatchInput": {"bucket": n["raw_bucket"], "source": "backfill"},
                                       "Items": [{"key": raw_key}]}).encode())
    except lam.exceptions.ResourceNotFoundException:
        pass

    # ---- the operator (`feedpipe convert --distributed`) -------------------------
    definition = {  # the shape of infra/modules/backfill's definition
        "StartAt": "ConvertRawObjects",
        "States": {"ConvertRawObjects": {
            "Type": "Map",
            "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                           "Parameters": {"Bucket": n["raw_bucket"], "Prefix.$": "$.prefix"}},
            "ItemBatcher": {"MaxItemsPerBatch": 5, "BatchInput": {"bucket": n["raw_bucket"], "source": "backfill"}},
            "MaxConcurrency": 10,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "ConvertBatch",
                "States": {"ConvertBatch": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{n['raw_to_parquet_function']}",
                                   "Payload.$": "$"},
                    "End": True}},
            },
            "End": True,
        }},
    }
    machine = client("stepfunctions", ADMIN, endpoint).create_state_machine(
        name=n["state_machine"], definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{n['state_machine']}-role",
    )["stateMachineArn"]
    sfn = client("stepfunctions", KEYS["operator"], endpoint)
    sfn.describe_state_machine(stateMachineArn=machine)
    execution = sfn.start_execution(stateMachineArn=machine, name="feedpipe-backfill-20261201T100000-000Z",
                                    input=json.dumps({"prefix": "raw/2026/12/"}))["executionArn"]
    sfn.describe_execution(executionArn=execution)
    runs = sfn.list_map_runs(executionArn=execution).get("mapRuns", [])  # moto leaves it out
    # What AWS would list: the Distributed Map's run, mapRun:<machine>/<label>:<id>.
    map_run = runs[0]["mapRunArn"] if runs else (
        f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:{n['state_machine']}/ConvertRawObjects:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
    try:
        sfn.describe_map_run(mapRunArn=map_run)
    except ClientError:
        pass  # moto has no such Map Run

    # ---- snowflake (the storage integration) ------------------------------------
    s3 = client("s3", KEYS["snowflake"], endpoint)
    s3.get_bucket_location(Bucket=n["curated_bucket"])
    listed = s3.list_objects_v2(Bucket=n["curated_bucket"], Prefix=f"{n['curated_table']}/")
    for obj in listed.get("Contents", []):
        s3.get_object(Bucket=n["curated_bucket"], Key=obj["Key"])["Body"].read()
        v = s3.head_object(Bucket=n["curated_bucket"], Key=obj["Key"])["VersionId"]
        s3.get_object(Bucket=n["curated_bucket"], Key=obj["Key"], VersionId=v)["Body"].read()
    s3.list_objects_v2(Bucket=n["curated_bucket"], Prefix=f"_manifests/{n['curated_table']}/")
    s3.get_object(Bucket=n["curated_bucket"], Key=manifest)["Body"].read()


def feeds_url(names: dict) -> str:
    """FEEDPIPE_FEEDS_URL as infra/ renders it for `names` (tests/infra/policies.py)."""
    sys.path.insert(0, str(HERE))
    import policies  # noqa: PLC0415 (python-hcl2 from .tools/venv/hcl2-lib)

    return policies.Tree(names).local((), "feeds_url")


def run_feeds(endpoint: str) -> None:
    n = FEEDS_NAMES
    url = feeds_url(n)
    config_bucket, feeds_key = url.removeprefix("s3://").split("/", 1)
    config_dir = feeds_key.rsplit("/", 1)[0]
    feeds_dir = REPO / n["feeds_dir"]
    admin = {s: client(s, ADMIN, endpoint) for s in ("s3", "kinesis", "sqs")}
    for b in (n["source_bucket"], n["raw_bucket"], n["curated_bucket"]):
        admin["s3"].create_bucket(Bucket=b)
        admin["s3"].put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    # What Terraform uploads (aws_s3_object.feeds): every file of feeds_dir.
    for path in sorted(p for p in feeds_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(feeds_dir).as_posix()
        admin["s3"].put_object(Bucket=config_bucket, Key=f"{config_dir}/{rel}", Body=path.read_bytes())
    entries = tomllib.loads((feeds_dir / "feeds.toml").read_text())["feeds"]
    contracts = [f"{config_dir}/{e['contract']}" for e in entries if "contract" in e]
    admin["kinesis"].create_stream(StreamName=n["stream_name"], ShardCount=2)
    queue_url = admin["sqs"].create_queue(QueueName=n["raw_to_parquet_queue"])["QueueUrl"]
    feed = b'{"order_id":"o-1","customer_id":"c1","order_ts":"2026-12-01T10:00:00Z"}\n'
    versions = {key: admin["s3"].put_object(Bucket=n["source_bucket"], Key=key, Body=feed)["VersionId"]
                for key in ("orders/2026-12-01.jsonl", "orders/eu/2026-12-01.jsonl", "loyalty/points.jsonl")}

    def cold_start(s3, with_contracts):
        # FeedsFile::load of FEEDPIPE_FEEDS_URL; raw-to-parquet then loads each entry's contract.
        s3.get_object(Bucket=config_bucket, Key=feeds_key)["Body"].read()
        for key in contracts if with_contracts else []:
            s3.get_object(Bucket=config_bucket, Key=key)["Body"].read()

    # ---- ingest ---------------------------------------------------------------
    s3 = client("s3", KEYS["ingest"], endpoint)
    kinesis = client("kinesis", KEYS["ingest"], endpoint)
    cold_start(s3, with_contracts=False)
    for key in ("orders/2026-12-01.jsonl", "orders/eu/2026-12-01.jsonl"):
        body = s3.get_object(Bucket=n["source_bucket"], Key=key, VersionId=versions[key])["Body"].read()
        kinesis.put_records(StreamName=n["stream_name"], Records=[{"Data": body, "PartitionKey": "c1"}])
    # A file of no feed: one unrouted quarantine entry (IngestJob::quarantine_unrouted).
    s3.put_object(Bucket=n["raw_bucket"], Key="quarantine/ingest/dt=2026-12-01/points-unrouted/part-00001.jsonl",
                  Body=b'{"kind":"unrouted"}\n')

    # ---- raw-to-parquet ---------------------------------------------------------
    raw_key = "raw/2026/12/01/10/fixture-raw-delivery-1-2026-12-01-10-00-00-0f1e2d3c.jsonl"
    raw_version = admin["s3"].put_object(Bucket=n["raw_bucket"], Key=raw_key, Body=feed * 2)["VersionId"]
    admin["sqs"].send_message(QueueUrl=queue_url, MessageBody=json.dumps({"Records": [{"s3": {
        "bucket": {"name": n["raw_bucket"]}, "object": {"key": raw_key, "versionId": raw_version}}}]}))
    sqs = client("sqs", KEYS["raw_to_parquet"], endpoint)
    s3 = client("s3", KEYS["raw_to_parquet"], endpoint)
    cold_start(s3, with_contracts=True)
    for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    s3.get_object(Bucket=n["raw_bucket"], Key=raw_key, VersionId=raw_version)["Body"].read()
    stem = "fixture-raw-delivery-1-2026-12-01-10-00-00-0f1e2d3c"
    for table in n["feeds_tables"]:
        manifest = f"_manifests/{table}/{stem}-1a2b3c4d.json"
        try:
            s3.get_object(Bucket=n["curated_bucket"], Key=manifest)
        except s3.exceptions.NoSuchKey:
            pass
        s3.put_object(Bucket=n["curated_bucket"], Key=f"{table}/dt=2026-12-01/{stem}-part-00001.parquet", Body=b"PAR1fixturePAR1")
        s3.put_object(Bucket=n["curated_bucket"], Key=manifest, Body=json.dumps({"table": table, "rows_written": 1}).encode())

    # ---- snowflake (one stage per table) ------------------------------------------
    s3 = client("s3", KEYS["snowflake"], endpoint)
    for table in n["feeds_tables"]:
        for prefix in (f"{table}/", f"_manifests/{table}/"):
            for obj in s3.list_objects_v2(Bucket=n["curated_bucket"], Prefix=prefix).get("Contents", []):
                s3.get_object(Bucket=n["curated_bucket"], Key=obj["Key"])["Body"].read()


def main() -> int:
    args = sys.argv[1:]
    feeds = "--feeds" in args
    args = [a for a in args if a != "--feeds"]
    out = pathlib.Path(args[0]) if args else HERE / ("iam_fixture_feeds" if feeds else "iam_fixture")
    out.mkdir(parents=True, exist_ok=True)
    log = out / "requests.jsonl"
    log.unlink(missing_ok=True)
    bindir = pathlib.Path(sys.executable).parent
    moto_port = free_port()
    moto = subprocess.Popen([str(bindir / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        wait_http(f"http://127.0.0.1:{moto_port}/moto-api/")
        proxy = subprocess.Popen(
            [sys.executable, str(REPO / "tests/py/fault_proxy.py"), "--target", f"http://127.0.0.1:{moto_port}",
             "--port", "0", "--record", str(log)],
            stdout=subprocess.PIPE, text=True,
        )
        line = proxy.stdout.readline()
        if not line.startswith("listening on 127.0.0.1:"):
            raise SystemExit(f"the proxy did not start: {line!r}")
        endpoint = "http://" + line.strip().removeprefix("listening on ")
        os.environ.pop("AWS_PROFILE", None)
        (run_feeds if feeds else run)(endpoint)
    finally:
        for p in (proxy, moto):
            if p is not None:
                p.terminate()
                p.wait(timeout=10)
    (out / "names.json").write_text(json.dumps(FEEDS_NAMES if feeds else NAMES, indent=2) + "\n")
    used = ("ingest", "raw_to_parquet", "snowflake") if feeds else tuple(KEYS)
    (out / "principals.json").write_text(json.dumps({KEYS[c]: c for c in used}, indent=2) + "\n")
    print(f"wrote {log} ({sum(1 for _ in log.open())} requests), names.json, principals.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
