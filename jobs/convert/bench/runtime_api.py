#!/usr/bin/env python3
"""Runs a built Lambda bootstrap for one invocation, as Lambda runs a custom runtime.

The Python twin of tests/support/runtime_api.rs (which only the Rust tests can
include): a stand-in of the Lambda Runtime API on 127.0.0.1 hands the event in FILE to
the first `GET /2018-06-01/runtime/invocation/next` (with the request id, deadline and
function ARN headers), takes the answer at `POST .../invocation/<id>/response` (or
`/error`, or `/runtime/init/error`), and after that one event holds every further
`next`, as Lambda freezes an idle function. COMMAND is started with
AWS_LAMBDA_RUNTIME_API and the function's name, version, memory and log names in its
environment, besides this process's (the AWS endpoint, credentials, FEEDPIPE_*), and is
stopped once it has answered.

Prints `<kind> <body>` (kind: response, error or init-error) and exits 0 only for a
response. Standard library only.

usage: runtime_api.py --event FILE [--log FILE] [--timeout SECONDS] -- COMMAND...
"""

import argparse
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--event", required=True, help="the event, a JSON file")
    parser.add_argument("--log", help="where the function's stdout and stderr go (default: this stderr)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the answer")
    parser.add_argument("--deadline", type=float, default=300,
                        help="the invocation's deadline, seconds after it starts (Lambda-Runtime-Deadline-Ms)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no COMMAND to run")
    with open(args.event, "rb") as f:
        event = f.read()
    json.loads(event)  # fail here, not in the function, on a broken event file

    answers = queue.Queue()
    pending = [event]
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the runtime keeps its connection alive

        def log_message(self, *_):
            pass

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += chunk
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def reply(self, status, body, headers=()):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self.reply(404, b"{}")
            with lock:
                event = pending.pop() if pending else None
            if event is None:
                threading.Event().wait()  # no more events: hold the call, as Lambda does
            deadline = int(time.time() * 1000 + args.deadline * 1000)
            self.reply(200, event, [
                ("Lambda-Runtime-Aws-Request-Id", "req-1"),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 "arn:aws:lambda:us-east-1:123456789012:function:feedpipe-bench"),
                ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
            ])

        def do_POST(self):
            body = self.body()
            if "/runtime/" not in self.path:
                return self.reply(404, b"{}")
            if self.path.endswith("/response"):
                kind = "response"
            elif self.path.endswith("/init/error"):
                kind = "init-error"
            else:
                kind = "error"
            self.reply(202, b'{"status":"OK"}')
            answers.put((kind, body.decode("utf-8", "replace")))

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], OSError):  # a reset: the function was stopped
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address

    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "feedpipe-bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/feedpipe-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    })
    log = open(args.log, "wb") if args.log else None
    function = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                stdout=log or sys.stderr, stderr=subprocess.STDOUT)
    started = time.monotonic()
    answer = None
    while answer is None and time.monotonic() - started < args.timeout:
        try:
            answer = answers.get(timeout=0.5)
        except queue.Empty:
            if function.poll() is not None:
                try:  # it may have answered just before it stopped
                    answer = answers.get(timeout=0.5)
                except queue.Empty:
                    break
    function.kill()
    status = function.wait()
    if answer is None:
        why = (f"exited with status {status} before answering" if time.monotonic() - started < args.timeout
               else f"answered nothing in {args.timeout:.0f} s")
        print(f"error: {' '.join(command)} {why}" + (f"; see {args.log}" if args.log else ""), file=sys.stderr)
        sys.exit(1)
    kind, body = answer
    print(kind, body)
    sys.exit(0 if kind == "response" else 1)


if __name__ == "__main__":
    main()
