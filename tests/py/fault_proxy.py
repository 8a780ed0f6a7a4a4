"""A fault-injecting HTTP proxy in front of moto's server (the local AWS stand-in).

What it stands in for
---------------------
moto never fails a call on its own. Real AWS does, and the pipeline must lose and
duplicate nothing when it does. Pointed at moto, this proxy answers some calls the way
AWS answers under load, so the end-to-end tests can drive the real clients (the AWS
Rust SDK, object_store) through those failures:

* S3: the answers S3 gives when it is overloaded or has an internal fault. With
  probability ``--s3-error-rate`` an object-level GET, PUT (PutObject, UploadPart,
  CopyObject, ...) or POST (CreateMultipartUpload, CompleteMultipartUpload) is
  answered by the proxy instead of being forwarded, cycling through
  500 ``InternalError``, 503 ``ServiceUnavailable`` and 503 ``SlowDown``, each with
  S3's XML error body (``Content-Type: application/xml``). A faulted request never
  reaches moto, so a faulted PUT stores nothing. Bucket-level calls (CreateBucket,
  ListObjects, PutBucketNotificationConfiguration, DeleteObjects, ...) and HEAD and
  DELETE are never faulted: only GET/PUT/POST whose path names a key (``/bucket/key``).
* Kinesis ``PutRecords`` (``X-Amz-Target: Kinesis_20131202.PutRecords``, JSON 1.1):
  - throttling: with probability ``--kinesis-throttle-rate`` the whole call is answered
    with HTTP 400 ``ProvisionedThroughputExceededException`` (nothing is stored);
  - partial failure: otherwise each record is rejected with probability
    ``--kinesis-reject-rate``. Only the records not rejected are forwarded to moto (none
    when all are rejected), and the answer is HTTP 200 with the entries in the original
    order: moto's ``SequenceNumber``/``ShardId`` for the stored ones,
    ``ErrorCode: ProvisionedThroughputExceededException`` and an ``ErrorMessage`` for
    the rejected ones, and the matching ``FailedRecordCount``. As on Kinesis, a rejected
    record is not stored.
* Everything else (other Kinesis calls, SQS, moto's own ``/moto-api``, ...) is forwarded
  unchanged: method, path and query, every header except the hop-by-hop ones (the
  ``Host`` header stays as the client sent it, since SigV4 signs it), and the body
  byte for byte, including ``Transfer-Encoding: chunked`` framing and
  ``Content-Encoding: aws-chunked`` bodies. Status, reason and response headers come
  back unchanged (bar hop-by-hop ones; the body is re-sent with ``Content-Length``).

Every decision is drawn from one ``random.Random(--seed)`` under a lock. With
concurrent clients the order of the draws follows the order in which calls arrive, so
a seed gives the same fault *rates* but not necessarily the same faulted calls.

Starting it
-----------
::

    python tests/py/fault_proxy.py --target http://127.0.0.1:MOTO_PORT --port 0 \\
        [--s3-error-rate 0.3] [--kinesis-reject-rate 0.3] [--kinesis-throttle-rate 0.1] \\
        [--seed 7] [--verbose] [--record requests.jsonl]

It binds 127.0.0.1. Once it accepts connections it prints exactly one line on stdout,
``listening on 127.0.0.1:PORT`` (flushed), and nothing else on stdout. It runs until
SIGTERM or SIGINT and then exits with status 0. Diagnostics go to stderr: one line at
start (the seed), a warning for a PutRecords body it cannot parse, upstream failures,
and with ``--verbose`` one line per request (so do not pipe stderr without reading it).

Recording (``--record FILE``)
----------------------------
With ``--record FILE`` (faults or not; every rate defaults to 0) the proxy appends one
JSON line per request to FILE, written and flushed before the answer goes back to the
client (so a client that got its answer finds its line in the file, even if the proxy
is killed right after). ``/__faults`` is not recorded, nor a request whose framing the
proxy cannot read (answered 400 before it is dispatched). Each line::

    {"akid": "AKIA...", "service": "s3", "region": "us-east-1",
     "method": "GET", "host": "127.0.0.1:PORT", "path": "/bucket/key%20x",
     "query": "versionId=...", "target": "Kinesis_20131202.PutRecords",
     "content_type": "...", "copy_source": "...", "fields": {...},
     "status": 200, "faulted": false}

* ``akid``, ``service``, ``region``: from the SigV4 credential scope
  (``Credential=AKID/date/region/service/aws4_request`` of the ``Authorization``
  header, or the ``X-Amz-Credential`` query parameter of a presigned URL); for S3's
  SigV2 (``Authorization: AWS AKID:...`` or a presigned ``AWSAccessKeyId``) the key,
  service ``s3`` and no region; null when the request is not signed (moto's own
  ``/moto-api``).
* ``path`` and ``query``: as sent (percent-encoded). ``target``: ``X-Amz-Target``.
  ``copy_source``: ``x-amz-copy-source`` (CopyObject, UploadPartCopy).
* ``fields``: only the body fields that name what a request acts on (what IAM
  authorizes): from a JSON body (Kinesis, SQS JSON, Step Functions, KMS, Lambda, STS
  JSON) the keys in ``RECORDED_FIELDS``; from a form body (query protocol: SQS, STS)
  the same keys plus ``Action``. Nothing else of a body is kept (S3 objects can be
  large, records are data).
* ``status``: the status the client got; ``faulted``: the proxy answered itself (an
  injected fault) and the request never reached the target.

Counters
--------
``GET /__faults`` is answered by the proxy itself (never forwarded) with JSON::

    {"s3_errors": n, "kinesis_throttled_calls": n,
     "kinesis_rejected_records": n, "forwarded": n}

``forwarded`` counts requests sent on to the target (a partially rejected PutRecords
call whose surviving records were forwarded counts once).

Limits (what it does not model)
-------------------------------
* S3: path-style addressing only (``/bucket/key``); with virtual-hosted style
  (``bucket.host/key``) object calls look bucket-level and are never faulted. No
  faults after a request reached S3 (a PUT stored but answered 500, a reset
  connection, a truncated GET body), no latency, no 503s on HEAD/DELETE/List.
* Kinesis: only PutRecords is faulted (PutRecord, GetRecords, ListShards, ... pass
  through). Rejections are drawn per record, independently of the shard the record
  would go to, and the ``ErrorMessage`` always names ``shardId-000000000000``.
  ``KMSThrottlingException``/``InternalFailure`` record errors are not produced. Only
  the JSON 1.1 protocol is understood; a PutRecords body in another content type (CBOR,
  ``application/x-amz-cbor-1.1``, which the AWS Rust SDK does not use) is forwarded
  unchanged and not faulted (a warning goes to stderr).
* SigV4: a rewritten PutRecords body (some records rejected) no longer matches the
  client's signature. moto does not check signatures unless started with
  ``INITIAL_NO_AUTH_ACTION_COUNT``; with signature checking on, use only
  ``--s3-error-rate`` and ``--kinesis-throttle-rate`` (those never alter a forwarded
  request).
* Kinesis calls are forwarded one at a time (a lock): moto assigns sequence numbers
  without a lock, so concurrent PutRecords to one shard could overwrite each other
  there. This hides that moto bug; it does not model any Kinesis behaviour.
* No TLS, no HTTP/2, no ``Expect: 100-continue`` round trip to the target (the proxy
  answers ``100 Continue`` itself and forwards the full body; the header is kept).
  Bodies are held in memory, so it is meant for test-sized objects.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import signal
import sys
import threading
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded; Transfer-Encoding on a
# request is kept because the body is forwarded with its chunked framing untouched.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
}

KINESIS_PUT_RECORDS = "Kinesis_20131202.PutRecords"
KINESIS_TARGET_PREFIX = "Kinesis_20131202."
ACCOUNT = "123456789012"

# Body fields kept by --record: the ones that name the resource a request acts on.
RECORDED_FIELDS = (
    "Action", "StreamName", "StreamARN", "ConsumerARN", "ShardIterator", "QueueUrl", "QueueName",
    "QueueOwnerAWSAccountId", "stateMachineArn", "executionArn", "mapRunArn", "name", "KeyId",
    "DestinationKeyId", "SourceKeyId", "RoleArn", "RoleSessionName", "ExternalId", "FunctionName",
    "DeliveryStreamName", "TopicArn", "TargetArn", "ResourceARN", "LogGroupName", "logGroupName",
    "logStreamName",
)

S3_FAULTS = (
    (500, "Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
    (503, "Service Unavailable", "ServiceUnavailable", "Service is unable to handle request."),
    (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
)


def log(message: str) -> None:
    """One line on stderr; never lets a closed stderr break a request."""
    try:
        sys.stderr.write(f"fault_proxy: {message}\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - diagnostics are best effort
        pass


def request_id() -> str:
    return uuid.uuid4().hex[:16].upper()


def host_id() -> str:
    return base64.b64encode(os.urandom(48)).decode("ascii")


class Faults:
    """The seeded random source and the counters, shared by all handler threads."""

    def __init__(self, s3_error_rate: float, reject_rate: float, throttle_rate: float, seed: int):
        self.s3_error_rate = s3_error_rate
        self.reject_rate = reject_rate
        self.throttle_rate = throttle_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._s3_kind = 0
        self.counts = {
            "s3_errors": 0,
            "kinesis_throttled_calls": 0,
            "kinesis_rejected_records": 0,
            "forwarded": 0,
        }

    def s3_fault(self):
        """None, or the (status, reason, code, message) to answer with."""
        if self.s3_error_rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= self.s3_error_rate:
                return None
            fault = S3_FAULTS[self._s3_kind % len(S3_FAULTS)]
            self._s3_kind += 1
            self.counts["s3_errors"] += 1
            return fault

    def kinesis_throttle(self) -> bool:
        if self.throttle_rate <= 0:
            return False
        with self._lock:
            if self._rng.random() >= self.throttle_rate:
                return False
            self.counts["kinesis_throttled_calls"] += 1
            return True

    def kinesis_rejections(self, n: int) -> list[bool]:
        if self.reject_rate <= 0:
            return [False] * n
        with self._lock:
            rejected = [self._rng.random() < self.reject_rate for _ in range(n)]
            self.counts["kinesis_rejected_records"] += sum(rejected)
            return rejected

    def forwarded(self) -> None:
        with self._lock:
            self.counts["forwarded"] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.counts)


class Recorder:
    """--record: one JSON line per request, appended and flushed under a lock."""

    def __init__(self, path: str):
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the server's life
        self._lock = threading.Lock()

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


def credential_scope(headers, query: dict) -> tuple[str | None, str | None, str | None]:
    """(access key id, region, service) of a SigV4 request (header or presigned query)."""
    credential = None
    auth = headers.get("Authorization") or ""
    if "Credential=" in auth:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    elif "X-Amz-Credential" in query:
        credential = query["X-Amz-Credential"][0]
    if not credential:
        # SigV2 (S3 only): "Authorization: AWS AKID:signature", or a presigned
        # URL's AWSAccessKeyId; no region in either.
        if auth.startswith("AWS ") and ":" in auth:
            return auth[4:].split(":", 1)[0].strip(), None, "s3"
        if "AWSAccessKeyId" in query:
            return query["AWSAccessKeyId"][0], None, "s3"
        return None, None, None
    scope = credential.split("/")
    if len(scope) >= 5:
        return scope[0], scope[2], scope[3]
    return scope[0], None, None


def recorded_fields(content_type: str, body: bytes) -> dict:
    """The RECORDED_FIELDS of a JSON or form body (nothing else of it)."""
    if not body:
        return {}
    content_type = content_type.lower()
    try:
        if "json" in content_type:
            parsed = json.loads(body)
            if not isinstance(parsed, dict):
                return {}
            return {k: parsed[k] for k in RECORDED_FIELDS if isinstance(parsed.get(k), (str, int))}
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
            return {k: form[k][0] for k in RECORDED_FIELDS if k in form}
    except (ValueError, UnicodeDecodeError):
        return {}
    return {}


class BadRequest(Exception):
    pass


class UpstreamError(Exception):
    pass


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # small answers must not wait for delayed ACKs
    server_version = "fault_proxy"

    # Set on the class by main().
    faults: Faults
    target_host: str
    target_port: int
    verbose: bool = False
    recorder: "Recorder | None" = None
    kinesis_lock = threading.Lock()
    upstream_timeout = 120.0

    # ---- plumbing -------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None
        self._pending_record: dict | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        if self.verbose:
            log(f"{self.address_string()} {format % args}")

    def log_error(self, format: str, *args) -> None:  # noqa: A002
        log(format % args)

    def _read_body(self) -> tuple[bytes, bytes]:
        """(raw bytes as received, decoded payload). Reads the body completely, so the
        connection stays in step for the next request whatever is answered."""
        te = ",".join(self.headers.get_all("Transfer-Encoding") or []).lower()
        if "chunked" in te:
            raw = bytearray()
            decoded = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise BadRequest("connection closed inside a chunked body")
                raw += line
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as e:
                    raise BadRequest(f"bad chunk size line {line!r}") from e
                if size == 0:
                    while True:  # trailer section, up to the empty line
                        trailer = self.rfile.readline(65537)
                        if not trailer:
                            raise BadRequest("connection closed inside chunked trailers")
                        raw += trailer
                        if trailer in (b"\r\n", b"\n"):
                            break
                    return bytes(raw), bytes(decoded)
                data = self._read_exact(size)
                raw += data
                decoded += data
                crlf = self.rfile.readline(65537)
                if crlf not in (b"\r\n", b"\n"):
                    raise BadRequest("chunk not followed by CRLF")
                raw += crlf
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", b""
        try:
            n = int(length)
        except ValueError as e:
            raise BadRequest(f"bad Content-Length {length!r}") from e
        data = self._read_exact(n)
        return data, data

    def _read_exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            chunk = self.rfile.read(n)
            if not chunk:
                raise BadRequest("connection closed inside the body")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def _respond(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes,
                 keep_length: bool = False) -> None:
        """Writes the whole answer in one write. `keep_length`: the headers already
        carry the right Content-Length (HEAD) or must carry none (1xx/204/304)."""
        lines = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or lower == "transfer-encoding":
                continue
            if lower == "content-length" and not keep_length:
                continue
            lines.append(f"{name}: {value}")
        if not keep_length:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self._pending_record is not None and self.recorder is not None:
            entry, self._pending_record = self._pending_record, None
            entry["status"] = status
            self.recorder.write(entry)
        if self.command == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        self.wfile.write(head + body)
        self.log_request(status, len(body))

    def _upstream_conn(self) -> tuple[http.client.HTTPConnection, bool]:
        if self._upstream is not None:
            return self._upstream, True
        self._upstream = http.client.HTTPConnection(
            self.target_host, self.target_port, timeout=self.upstream_timeout
        )
        return self._upstream, False

    def _drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _forward(self, headers: list[tuple[str, str]], body: bytes):
        """Sends the request to the target; returns (status, reason, headers, body)."""
        for attempt in range(2):
            conn, reused = self._upstream_conn()
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                result = (resp.status, resp.reason, resp.getheaders(), data)
                if self._pending_record is not None:
                    self._pending_record["faulted"] = False
                if resp.will_close:
                    self._drop_upstream()
                self.faults.forwarded()
                return result
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self._drop_upstream()
                # A kept-alive connection the target had already closed: the request
                # never got there, so sending it once more on a new one is safe.
                if reused and attempt == 0:
                    continue
                raise UpstreamError(repr(e)) from e
            except (OSError, http.client.HTTPException) as e:
                self._drop_upstream()
                raise UpstreamError(repr(e)) from e
        raise AssertionError("unreachable")

    def _forward_headers(self, replace_body: bytes | None = None) -> list[tuple[str, str]]:
        out = []
        has_host = False
        for name, value in self.headers.items():
            lower = name.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower == "host":
                has_host = True
            if replace_body is not None and lower in ("content-length", "transfer-encoding", "content-md5"):
                continue
            out.append((name, value))
        if not has_host:
            out.insert(0, ("Host", f"{self.target_host}:{self.target_port}"))
        if replace_body is not None:
            out.append(("Content-Length", str(len(replace_body))))
        return out

    # ---- dispatch -------------------------------------------------------------

    def _handle(self) -> None:
        try:
            raw, decoded = self._read_body()
        except BadRequest as e:
            self.close_connection = True
            log(f"bad request {self.command} {self.path}: {e}")
            self._respond(400, "Bad Request", [("Content-Type", "text/plain")], str(e).encode())
            return
        try:
            self._dispatch(raw, decoded)
        except UpstreamError as e:
            log(f"upstream failed for {self.command} {self.path}: {e}")
            self.close_connection = True
            self._respond(502, "Bad Gateway", [("Content-Type", "text/plain")],
                          f"fault_proxy: upstream failed: {e}".encode())

    def _dispatch(self, raw: bytes, decoded: bytes) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = split.path

        if path == "/__faults" and self.command == "GET":
            body = json.dumps(self.faults.snapshot()).encode()
            self._respond(200, "OK", [("Content-Type", "application/json")], body)
            return
        if self.recorder is not None:
            self._pending_record = self._record_entry(split, decoded)

        amz_target = self.headers.get("X-Amz-Target")
        if amz_target is not None:
            if amz_target == KINESIS_PUT_RECORDS:
                self._kinesis_put_records(raw, decoded)
                return
            if amz_target.startswith(KINESIS_TARGET_PREFIX):
                with self.kinesis_lock:
                    self._pass_through(raw)
                return
            self._pass_through(raw)
            return

        if self._is_s3_object_call(split, decoded):
            fault = self.faults.s3_fault()
            if fault is not None:
                self._s3_error(*fault, resource=path)
                return
        self._pass_through(raw)

    def _record_entry(self, split: urllib.parse.SplitResult, decoded: bytes) -> dict:
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        akid, region, service = credential_scope(self.headers, query)
        content_type = self.headers.get("Content-Type") or ""
        entry = {
            "akid": akid,
            "service": service,
            "region": region,
            "method": self.command,
            "host": self.headers.get("Host"),
            "path": split.path,
            "query": split.query,
            "target": self.headers.get("X-Amz-Target"),
            "content_type": content_type or None,
            "copy_source": self.headers.get("x-amz-copy-source"),
            "fields": recorded_fields(content_type, decoded),
            "status": None,
            "faulted": True,  # until the target answers
        }
        return entry

    def _pass_through(self, raw: bytes) -> None:
        status, reason, headers, body = self._forward(self._forward_headers(), raw)
        self._respond_upstream(status, reason, headers, body)

    def _respond_upstream(self, status, reason, headers, body) -> None:
        keep_length = self.command == "HEAD" or status in (204, 304)
        self._respond(status, reason, headers, body, keep_length=keep_length)

    # ---- S3 -------------------------------------------------------------------

    def _is_s3_object_call(self, split: urllib.parse.SplitResult, decoded: bytes) -> bool:
        if self.command not in ("GET", "PUT", "POST"):
            return False
        path = split.path
        if path.startswith("/moto-api") or path.startswith("/__"):
            return False
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if "Action" in query:
            return False  # query protocol (SQS, SNS, STS, ...) as a GET
        content_type = (self.headers.get("Content-Type") or "").lower()
        if content_type.startswith("application/x-amz-json") or content_type.startswith("application/x-amz-cbor"):
            return False
        if content_type.startswith("application/x-www-form-urlencoded") and decoded:
            try:
                form = urllib.parse.parse_qs(decoded.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                form = {}
            if "Action" in form:
                return False  # query protocol (SQS, ...) as a form POST
        service = self._signed_service(query)
        if service is not None and service != "s3":
            return False
        parts = path.lstrip("/").split("/", 1)
        return len(parts) == 2 and parts[0] != "" and parts[1] != ""

    def _signed_service(self, query: dict) -> str | None:
        """The service in the SigV4 credential scope (header or presigned query)."""
        return credential_scope(self.headers, query)[2]

    def _s3_error(self, status: int, reason: str, code: str, message: str, resource: str) -> None:
        rid = request_id()
        hid = host_id()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{_xml_escape(urllib.parse.unquote(resource))}</Resource>"
            f"<RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>"
        ).encode()
        if self.verbose:
            log(f"S3 fault {status} {code} for {self.command} {self.path}")
        self._respond(
            status,
            reason,
            [
                ("x-amz-request-id", rid),
                ("x-amz-id-2", hid),
                ("Content-Type", "application/xml"),
                ("Server", "AmazonS3"),
            ],
            body,
        )

    # ---- Kinesis --------------------------------------------------------------

    def _kinesis_put_records(self, raw: bytes, decoded: bytes) -> None:
        content_type = (self.headers.get("Content-Type") or "").lower()
        request = None
        if "json" in content_type:
            try:
                request = json.loads(decoded)
            except (ValueError, UnicodeDecodeError):
                request = None
        records = request.get("Records") if isinstance(request, dict) else None
        if not isinstance(records, list) or not records:
            if not content_type.startswith("application/x-amz-json"):
                log(f"PutRecords with Content-Type {content_type!r} passed through unfaulted")
            with self.kinesis_lock:
                self._pass_through(raw)
            return

        stream = _stream_name(request)
        if self.faults.kinesis_throttle():
            if self.verbose:
                log(f"Kinesis throttled PutRecords of {len(records)} records to {stream}")
            self._kinesis_error(
                "ProvisionedThroughputExceededException",
                f"Rate exceeded for stream {stream} under account {ACCOUNT}.",
            )
            return

        rejected = self.faults.kinesis_rejections(len(records))
        if not any(rejected):
            with self.kinesis_lock:
                self._pass_through(raw)
            return

        kept = [r for r, rej in zip(records, rejected) if not rej]
        if self.verbose:
            log(f"Kinesis rejected {len(records) - len(kept)} of {len(records)} records to {stream}")
        upstream_entries: list = []
        base_response: dict = {}
        resp_headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        if kept:
            body = json.dumps(dict(request, Records=kept)).encode()
            with self.kinesis_lock:
                status, reason, headers, data = self._forward(self._forward_headers(replace_body=body), body)
            try:
                parsed = json.loads(data) if status == 200 else None
            except (ValueError, UnicodeDecodeError):
                parsed = None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("Records"), list) \
                    or len(parsed["Records"]) != len(kept):
                # An error (missing stream, bad argument, ...): the caller gets it as is.
                self._respond_upstream(status, reason, headers, data)
                return
            upstream_entries = parsed["Records"]
            base_response = parsed
            resp_headers = headers

        error = {
            "ErrorCode": "ProvisionedThroughputExceededException",
            "ErrorMessage": f"Rate exceeded for shard shardId-000000000000 in stream {stream} under account {ACCOUNT}.",
        }
        merged = []
        upstream = iter(upstream_entries)
        for rej in rejected:
            merged.append(dict(error) if rej else next(upstream))
        response = dict(base_response)
        response["FailedRecordCount"] = sum(1 for e in merged if e.get("ErrorCode"))
        response["Records"] = merged
        self._respond(200, "OK", resp_headers, json.dumps(response).encode())

    def _kinesis_error(self, error_type: str, message: str) -> None:
        body = json.dumps({"__type": error_type, "message": message}).encode()
        self._respond(
            400,
            "Bad Request",
            [
                ("x-amzn-RequestId", str(uuid.uuid4())),
                ("x-amz-id-2", host_id()),
                ("x-amzn-ErrorType", error_type),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            body,
        )

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle


def _stream_name(request: dict) -> str:
    name = request.get("StreamName")
    if isinstance(name, str) and name:
        return name
    arn = request.get("StreamARN")
    if isinstance(arn, str) and "stream/" in arn:
        return arn.rsplit("stream/", 1)[1]
    return "unknown"


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, not {text}")
    return value


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # the client went away; nothing to answer
        log(f"error serving {client_address}: {traceback.format_exc()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", required=True, help="the server to forward to, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--s3-error-rate", type=_rate, default=0.0)
    parser.add_argument("--kinesis-reject-rate", type=_rate, default=0.0)
    parser.add_argument("--kinesis-throttle-rate", type=_rate, default=0.0)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one, logged)")
    parser.add_argument("--verbose", action="store_true", help="log every request and fault on stderr")
    parser.add_argument("--record", metavar="FILE", default=None,
                        help="append one JSON line per request to FILE (see 'Recording' above)")
    args = parser.parse_args(argv)

    target = urllib.parse.urlsplit(args.target)
    if target.scheme != "http" or not target.hostname:
        parser.error("--target must be http://HOST:PORT")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)

    ProxyHandler.faults = Faults(args.s3_error_rate, args.kinesis_reject_rate, args.kinesis_throttle_rate, seed)
    ProxyHandler.target_host = target.hostname
    ProxyHandler.target_port = target.port or 80
    ProxyHandler.verbose = args.verbose
    ProxyHandler.recorder = Recorder(args.record) if args.record else None

    server = Server(("127.0.0.1", args.port), ProxyHandler)
    port = server.server_address[1]
    log(
        f"seed {seed}, target {target.hostname}:{ProxyHandler.target_port}, s3-error-rate {args.s3_error_rate}, "
        f"kinesis-reject-rate {args.kinesis_reject_rate}, kinesis-throttle-rate {args.kinesis_throttle_rate}"
        + (f", recording to {args.record}" if args.record else "")
    )

    def stop(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
