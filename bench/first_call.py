#!/usr/bin/env python3
"""The cold start a user of a restarted server sees: the first call of a
function after `swirl serve` restarts, against the warm calls after it.

A restarted server creates its function host before it listens, and loads
the stored function versions in the background from then on, listening
meanwhile (the component from the store's blob, the compiled code from the
code cache); a first call that comes before its version is loaded waits for
that load, then makes a new instance. This connects as soon as the server
listens and times that first call end to end over one keep-alive connection
on loopback, then 20 warm ones, for each of ROUNDS restarts.

    cargo build --release -p swirl
    cargo build --release --target wasm32-wasip2 -p bench-step
    bench/first_call.py [ROUNDS]          # SWIRL=/path/to/swirl to choose the binary

Another app's function instead of bench/app's `step`: APP (its directory,
holding swirl.toml, with its components built), FUNCTION and INPUT (JSON),
e.g. an app `swirl new greeter --lang python` made:

    APP=greeter FUNCTION=greeter INPUT='{"name":"World"}' bench/first_call.py

Prints the medians in microseconds: the first call, the server's own time for
it (`durationMs` of the answer: the instance and the call, not the load), and
the warm calls.
"""

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIRL = os.environ.get("SWIRL", os.path.join(ROOT, "target/release/swirl"))
APP = os.path.abspath(os.environ.get("APP", os.path.join(ROOT, "bench/app")))
FUNCTION = os.environ.get("FUNCTION", "step")
INPUT = os.environ.get("INPUT", '{"n": 1}')
# bench/app's step adds one; another function's answer is only checked to be one.
EXPECTED = {"n": 2} if "APP" not in os.environ else None
PORT = 7741


def connect():
    for _ in range(500):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return connection
        except OSError:
            time.sleep(0.01)
    sys.exit(f"first_call: {SWIRL} did not answer on port {PORT}")


def call(connection):
    started = time.perf_counter()
    connection.request("POST", f"/functions/{FUNCTION}/invoke", body=INPUT,
                       headers={"content-type": "application/json"})
    answer = connection.getresponse()
    body = json.loads(answer.read())
    if answer.status != 200 or (EXPECTED is not None and body.get("output") != EXPECTED):
        sys.exit(f"first_call: a wrong answer: {answer.status} {body}")
    return (time.perf_counter() - started) * 1e6, body


def serve(data, *manifest):
    return subprocess.Popen([SWIRL, "serve", *manifest, "--data-dir", data,
                             "--listen", f"127.0.0.1:{PORT}"],
                            cwd=APP, stderr=subprocess.DEVNULL)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    data = os.path.join(tempfile.mkdtemp(), "data")
    # Deploy once and call once: the code cache holds the compiled function.
    server = serve(data, "swirl.toml")
    call(connect())
    server.send_signal(signal.SIGTERM)
    server.wait()
    first, inside, warm = [], [], []
    for _ in range(rounds):
        server = serve(data)
        connection = connect()
        took, body = call(connection)
        if body.get("coldStart") is not True:
            sys.exit(f"first_call: the first call after a restart was not cold: {body}")
        first.append(took)
        inside.append(body["durationMs"] * 1000)
        warm.extend(call(connection)[0] for _ in range(20))
        server.send_signal(signal.SIGTERM)
        server.wait()
    median = statistics.median
    print(f"first call after a restart: p50 {median(first):.0f} us "
          f"(the server's time for the call itself {median(inside):.0f} us); "
          f"warm calls p50 {median(warm):.0f} us; {rounds} restarts")


if __name__ == "__main__":
    main()
