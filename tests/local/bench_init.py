#!/usr/bin/env python3
"""Benchmark: Lambda init time and peak memory of the ecs-retirement function.

Runs the release binary the way Lambda does: against a Runtime API (a loopback fake here),
with the Lambda environment variables set, and AWS pointed at moto. Measures
- init: process start until its first `GET /runtime/invocation/next` (the Lambda INIT phase),
  median of several cold starts;
- peak RSS (VmHWM) after handling the demo notice and a notice naming 1,000 services,
  with the ledger (a DynamoDB table in moto) in the path.

- the ratio of the init to a hello-world `lambda_runtime` binary's (BASELINE), built with the
  same profile, started against the same fake Runtime API in the same run, alternating;
- init plus the first small invocation (process start until the demo notice's response).

Usage: bench_init.py BINARY MOTO_SERVER [RUNS] [BASELINE]. `make bench-init` builds and runs it.
The host is x86_64 here; Lambda runs arm64 (Graviton) with 128 MB: treat the numbers as an
estimate of the same code path, not a Lambda measurement.
"""

import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Runtime:
    """A minimal Lambda Runtime API: hands out queued events, collects responses."""

    def __init__(self, events):
        self.events = queue.Queue()
        for e in events:
            self.events.put(e)
        self.first_next = None
        self.first_response = None
        self.results = []
        self.done = threading.Event()
        self.expected = len(events)
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if runtime.first_next is None:
                    runtime.first_next = time.monotonic()
                try:
                    event = runtime.events.get(timeout=30)
                except queue.Empty:
                    self.send_error(500)
                    return
                body = json.dumps(event).encode()
                request_id = f"bench-{time.monotonic_ns()}"
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:ecs-retirement",
                )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                kind = "response" if self.path.endswith("/response") else "error"
                if runtime.first_response is None:
                    runtime.first_response = time.monotonic()
                runtime.results.append((kind, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if len(runtime.results) >= runtime.expected:
                    runtime.done.set()

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def run_once(binary, env, events):
    runtime = Runtime(events)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{runtime.port}")
    start = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not runtime.done.wait(timeout=120):
            raise SystemExit(f"timed out: {len(runtime.results)} of {len(events)} answered")
        with open(f"/proc/{proc.pid}/status") as f:
            hwm_kb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    finally:
        proc.kill()
        proc.wait()
        runtime.close()
    run_once.first_response_ms = (runtime.first_response - start) * 1000
    return (runtime.first_next - start) * 1000, hwm_kb / 1024, runtime.results


def create_ledger(port, table):
    """The ledger table in moto, keyed as `remediator ledger init` makes it (raw JSON protocol:
    the system python running this has no boto3)."""
    body = json.dumps({
        "TableName": table, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "notice", "AttributeType": "S"},
                                 {"AttributeName": "resource", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "notice", "KeyType": "HASH"},
                      {"AttributeName": "resource", "KeyType": "RANGE"}],
    }).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.CreateTable",
        "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20261125/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    urllib.request.urlopen(request, timeout=10).read()


def main():
    binary, moto = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    baseline = sys.argv[4] if len(sys.argv) > 4 else None
    port = free_port()
    moto_proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "ecs-retirement", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ecs-retirement",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "UPDATE_SERVICE_RATE": "off",
            # The ledger in the path, as the templates deploy it.
            "LEDGER_TABLE": "retirement-ledger",
        }
        create_ledger(port, env["LEDGER_TABLE"])
        with open(os.path.join(ROOT, "events-fixtures", "health-ecs-demo-account.json")) as f:
            demo = json.load(f)
        big = json.loads(json.dumps(demo))
        big["resources"] = [f"prod|svc-{i:04}" for i in range(1000)]
        big["detail"]["affectedEntities"] = []

        inits, firsts, base_inits = [], [], []
        for _ in range(runs):
            if baseline:
                base_ms, _, _ = run_once(baseline, env, [demo])
                base_inits.append(base_ms)
            init_ms, _, _ = run_once(binary, env, [demo])
            inits.append(init_ms)
            firsts.append(run_once.first_response_ms)
        _, peak_mb, results = run_once(binary, env, [demo, big])
        kinds = [k for k, _ in results]
        big_report = json.loads(results[-1][1]) if kinds[-1] == "response" else {}
        print(f"binary                 {binary} ({os.path.getsize(binary) / 1e6:.1f} MB)")
        print(f"init (median of {runs})     {statistics.median(inits):.1f} ms   (min {min(inits):.1f}, max {max(inits):.1f})")
        print(f"init + first invocation {statistics.median(firsts):.1f} ms median (the demo notice, ledger in moto)")
        if baseline:
            ratio = statistics.median(inits) / statistics.median(base_inits)
            print(f"hello-world init       {statistics.median(base_inits):.1f} ms   (min {min(base_inits):.1f}, max {max(base_inits):.1f}), {baseline}")
            print(f"init ratio             {ratio:.2f}x the hello world (medians, alternating runs)")
        print(f"peak RSS               {peak_mb:.1f} MB after the demo notice and a 1,000-service notice")
        print(f"invocations            {kinds}")
        print(f"1,000-service outcomes {len(big_report.get('outcomes', []))}")
    finally:
        moto_proc.kill()
        moto_proc.wait()


if __name__ == "__main__":
    main()
