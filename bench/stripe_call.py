#!/usr/bin/env python3
"""What one Stripe call costs this process, by the way it is made (issue 18).

    .venv/bin/python bench/stripe_call.py [--calls 200] [--rounds 5]

A create-and-confirm of 4242 (``expand=["payment_method"]``, metadata, an idempotency
key: /pay's create) against the sandbox at 0 ms, in a loop, rounds interleaved so drift
hits every way alike. CPU (this process) and wall per call, median of the rounds:

- stripe-python's objects over its ``RequestsClient``: the minimal server's way;
- ``raw_request`` (plain JSON) over ``RequestsClient``;
- ``raw_request`` over the gateway's transport (``payments.stripe.transport``, urllib3):
  the gateway's way since issue 18.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stripe  # noqa: E402

from bench.checkout import free_port, wait_for  # noqa: E402
from payments.stripe.transport import Urllib3Client  # noqa: E402
from stripe_sandbox import DEFAULT_SECRET_KEY  # noqa: E402


def params() -> dict:
    return {"amount": 1200, "currency": "eur", "payment_method_types": ["card"],
            "payment_method": "pm_card_visa", "confirm": True, "confirmation_method": "manual",
            "expand": ["payment_method"], "metadata": {"order": "ord_bench", "attempt": "1"}}


def with_objects(client: stripe.StripeClient) -> str:
    return client.v1.payment_intents.create(
        params=params(), options={"idempotency_key": uuid.uuid4().hex}).status


def with_json(client: stripe.StripeClient) -> str:
    return client.raw_request("post", "/v1/payment_intents", **params(),
                              idempotency_key=uuid.uuid4().hex).data["status"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{free_port()}"
    sandbox = subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--port",
                                base.rsplit(":", 1)[1]], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(base + "/healthz")

        def client(http_client: stripe.HTTPClient) -> stripe.StripeClient:
            return stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": base},
                                       max_network_retries=0, http_client=http_client)

        ways = {
            "objects, RequestsClient (the minimal server)":
                (with_objects, client(stripe.RequestsClient(timeout=30))),
            "plain JSON, RequestsClient": (with_json, client(stripe.RequestsClient(timeout=30))),
            "plain JSON, urllib3 (the gateway)":
                (with_json, client(Urllib3Client(timeout=30, api_base=base))),
        }
        for call, made_with in ways.values():
            for _ in range(30):  # warm: connections open, code paths hot
                call(made_with)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, (call, made_with) in ways.items():
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(args.calls):
                    assert call(made_with) == "succeeded"
                figures[name].append(((time.process_time() - cpu) / args.calls * 1000,
                                      (time.perf_counter() - wall) / args.calls * 1000))
    finally:
        sandbox.terminate()
        sandbox.wait()
    first = statistics.median(cpu for cpu, _ in figures[next(iter(ways))])
    print(f"\n{args.calls} creates × {args.rounds} rounds per way, sandbox at 0 ms\n")
    print("| way | CPU per call | ÷ the minimal server's | wall per call |")
    print("| --- | --- | --- | --- |")
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"| {name} | {cpu:.2f} ms | {cpu / first:.2f} | {wall:.2f} ms |")


if __name__ == "__main__":
    main()
