#!/usr/bin/env python3
"""How fast and how large the Stripe sandbox is, on this machine, in one run.

    .venv/bin/python bench/sandbox.py [--seconds 5] [--clients 2]

Starts ``python -m stripe_sandbox`` as its own process, drives it from
``--clients`` client processes over keep-alive HTTP (http.client, no SDK
overhead), and prints:
  - GET /v1/payment_intents/{id} per second (goal ≥ 1,500)
  - create-and-confirm (POST /v1/payment_intents confirm=true, 4242) per second (goal ≥ 800)
  - seeding 100,000 intents: seconds (goal < 10) and the server's resident memory (goal < 500 MB)
  - list pages at 100,000 intents vs 1,000: the cost ratio (goal ≈ 1, i.e. O(page))
  - seeding the same 100,000 intents with ``events: true`` (their implied events as
    history): seconds and memory, and one ``GET /v1/events?type=payment_intent.*`` page
Figures are ratios and rates from this single run; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_sandbox import DEFAULT_SECRET_KEY  # noqa: E402

AUTH = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}",
        "Content-Type": "application/x-www-form-urlencoded"}


BATCHES = [
    {"kind": "succeeded", "count": 70_000, "spread_seconds": 86_400 * 30},
    {"kind": "authentication_not_handled", "count": 10_000, "spread_seconds": 86_400},
    {"kind": "requires_action", "count": 10_000, "age_seconds": 3_600, "spread_seconds": 86_400},
    {"kind": "requires_confirmation", "count": 10_000, "spread_seconds": 3_000},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(conn: http.client.HTTPConnection, method: str, path: str, body: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or AUTH)
    response = conn.getresponse()
    return response.status, response.read()


def worker(port: int, kind: str, seconds: float, intent_id: str, out: multiprocessing.Queue
           ) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = urlencode({"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa",
                      "confirm": "true", "confirmation_method": "manual"})
    done = errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if kind == "get":
            status, _ = call(conn, "GET", f"/v1/payment_intents/{intent_id}")
        else:
            status, _ = call(conn, "POST", "/v1/payment_intents", body)
        done += 1
        errors += status != 200
    out.put((done, errors))


def rate(port: int, kind: str, seconds: float, clients: int, intent_id: str) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(port, kind, seconds, intent_id, queue))
             for _ in range(clients)]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    total, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    if errors:
        print(f"  ({errors} non-200 answers)")
    return total / seconds


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def page_cost(conn: http.client.HTTPConnection, repeat: int = 30) -> float:
    """Median seconds for a 100-item first page and a 100-item page deep in the list."""
    status, body = call(conn, "GET", "/v1/payment_intents?limit=100")
    middle = json.loads(body)["data"][-1]["id"]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call(conn, "GET", "/v1/payment_intents?limit=100")
        call(conn, "GET", f"/v1/payment_intents?limit=100&starting_after={middle}")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(100):
            try:
                call(conn, "GET", "/")
                break
            except OSError:
                conn.close()
                time.sleep(0.1)
        status, body = call(conn, "POST", "/v1/payment_intents",
                            urlencode({"amount": 2000, "currency": "usd"}))
        intent_id = json.loads(body)["id"]
        print(f"Stripe sandbox benchmark: {os.cpu_count()} cores, {args.clients} client "
              f"processes, {args.seconds:.0f} s per rate")
        gets = rate(port, "get", args.seconds, args.clients, intent_id)
        print(f"GET /v1/payment_intents/{{id}}:   {gets:8.0f} /s   (goal >= 1500: "
              f"{gets / 1500:.2f}x)")
        creates = rate(port, "create", args.seconds, args.clients, intent_id)
        print(f"create-and-confirm (4242):       {creates:8.0f} /s   (goal >= 800: "
              f"{creates / 800:.2f}x)")

        conn = http.client.HTTPConnection("127.0.0.1", port)  # the idle one timed out
        call(conn, "POST", "/_sandbox/reset")
        call(conn, "POST", "/_sandbox/seed", json.dumps({"count": 1000, "kind": "succeeded"}),
             {"Content-Type": "application/json"})
        small = page_cost(conn)
        call(conn, "POST", "/_sandbox/reset")
        before = rss_mb(server.pid)
        started = time.perf_counter()
        status, body = call(conn, "POST", "/_sandbox/seed", json.dumps({"batches": BATCHES}),
                            {"Content-Type": "application/json"})
        seeded = time.perf_counter() - started
        after = rss_mb(server.pid)
        assert status == 200, body
        print(f"seed 100,000 intents:            {seeded:8.2f} s    (goal < 10 s: "
              f"{seeded / 10:.2f} of budget)")
        print(f"server memory after seeding:     {after:8.0f} MB   (goal < 500 MB; "
              f"{after - before:.0f} MB added by the seed)")
        large = page_cost(conn)
        print(f"two 100-item list pages:         {small * 1000:8.2f} ms at 1,000 intents, "
              f"{large * 1000:.2f} ms at 100,000: ratio {large / small:.2f} (O(page) ≈ 1)")
        started = time.perf_counter()
        call(conn, "GET", "/v1/payment_intents/search?" + urlencode(
            {"query": 'status:"requires_action"', "limit": 100}))
        print(f"search status:requires_action:   {(time.perf_counter() - started) * 1000:8.2f} "
              "ms at 100,000 intents (a scan, as documented)")

        call(conn, "POST", "/_sandbox/reset")
        before = rss_mb(server.pid)
        started = time.perf_counter()
        status, body = call(conn, "POST", "/_sandbox/seed", json.dumps(
            {"batches": BATCHES, "events": True}), {"Content-Type": "application/json"})
        seeded = time.perf_counter() - started
        assert status == 200, body
        events = json.loads(body)["events"]
        after = rss_mb(server.pid)
        print(f"seed 100,000 with events:        {seeded:8.2f} s    ({events:,} events; "
              f"{after:.0f} MB resident, {after - before:.0f} MB added; goal < 500 MB)")
        started = time.perf_counter()
        call(conn, "GET", "/v1/events?limit=100&type=payment_intent.*")
        print(f"events page, type wildcard:      {(time.perf_counter() - started) * 1000:8.2f} "
              f"ms at {events:,} events")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
