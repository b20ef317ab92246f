"""The reconciliation's cost: a month of a shop's payments compared, against bare
stripe-python listing the same intents and charges.

In one process (the sandbox runs in a thread of it): seeds ``--intents`` intents over
the last 30 days (the scan bench's mix of states), gives each an order and an attempt of
ours that agree with it (paid orders for the succeeded ones), then measures
``reconciliation_run(days=31)`` (pacing off) against bare
``StripeClient.v1.payment_intents.list(...).auto_paging_iter()`` plus the same for
charges over the window: seconds, the ratio, Stripe calls against the floor (one per 100
intents and one per 100 charges), and the mismatches found (0 expected). Then it makes
one mismatch of each kind and runs again: what a finding costs.

    .venv/bin/python bench/reconcile.py [--intents 20000] [--database-url postgres://…/NAME]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_sandbox import DEFAULT_SECRET_KEY, SandboxServer  # noqa: E402,I001
from stripe_sandbox.controls import SandboxControls  # noqa: E402

from bench.scan import DAY, database_url, django_setup, seed  # noqa: E402


def bare(sandbox_url: str, since: int, until: int) -> tuple[int, int, float]:
    """Intents and charges of the window listed by stripe-python alone."""
    import stripe

    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url},
                                 max_network_retries=0)
    params = {"limit": 100, "created": {"gte": since, "lt": until}}
    started = time.perf_counter()
    intents = sum(1 for _ in client.v1.payment_intents.list(params=params).auto_paging_iter())
    charges = sum(1 for _ in client.v1.charges.list(params=params).auto_paging_iter())
    return intents, charges, time.perf_counter() - started


def ours_from_stripe(sandbox_url: str) -> int:
    """An order and an attempt of ours for every intent, agreeing with it."""
    import stripe
    from django.utils import timezone

    from payments.models import Order, PaymentAttempt

    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url},
                                 max_network_retries=0)
    made = 0
    page: list = []

    def flush() -> None:
        orders = Order.objects.bulk_create([Order(
            email="bench@example.com", amount=i.amount, currency=i.currency,
            status=Order.Status.PAID if i.status == "succeeded" else Order.Status.OPEN,
            paid_at=timezone.now() if i.status == "succeeded" else None) for i in page])
        PaymentAttempt.objects.bulk_create([PaymentAttempt(
            order=order, number=1, stripe_id=i.id, create_payment_method="pm_card_visa",
            status=i.status, amount=i.amount, currency=i.currency,
            confirmation_method=i.confirmation_method)
            for order, i in zip(orders, page, strict=True)])
        page.clear()

    for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        page.append(intent)
        made += 1
        if len(page) == 1000:
            flush()
    flush()
    return made


def run(days: int = 31):
    from payments.monitoring import reconcile

    started = time.perf_counter()
    result = reconcile.reconciliation_run(days=days)
    return result, time.perf_counter() - started


def one_of_each(controls: SandboxControls, sandbox_url: str) -> None:
    """A second charge for a paid order, a payment made outside the checkout for an open
    order, an order paid by hand, an amount changed, an intent canceled at Stripe."""
    import stripe

    from payments.models import Order, PaymentAttempt

    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url},
                                 max_network_retries=0)
    paid = list(Order.objects.filter(status=Order.Status.PAID)[:2])
    opened = list(Order.objects.filter(status=Order.Status.OPEN)[:1])
    client.v1.payment_intents.create(params={
        "amount": paid[0].amount, "currency": paid[0].currency,
        "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"order": paid[0].reference}})
    client.v1.payment_intents.create(params={
        "amount": opened[0].amount, "currency": opened[0].currency,
        "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"order": opened[0].reference}})
    Order.objects.filter(pk=paid[1].pk).update(amount=paid[1].amount + 1)
    Order.objects.create(email="bench@example.com", amount=1000, currency="usd",
                         status=Order.Status.PAID)
    waiting = PaymentAttempt.objects.filter(status="requires_action").first()
    client.v1.payment_intents.cancel(waiting.stripe_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=20_000)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgres://...); default: a SQLite file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    with SandboxServer() as server:
        url = server.url
        controls = SandboxControls(url)
        started = time.perf_counter()
        seeded = seed(controls, args.intents)
        print(f"seeded {seeded['total']:,} intents in {time.perf_counter() - started:.1f} s",
              flush=True)
        db_url = database_url(args.database_url, tmp / "bench_reconcile.sqlite3")
        django_setup(sandbox_url=url, db_url=db_url)
        started = time.perf_counter()
        ours = ours_from_stripe(url)
        print(f"database {db_url.split(':')[0]}: {ours:,} orders and attempts in "
              f"{time.perf_counter() - started:.1f} s", flush=True)

        now = int(time.time())
        bare(url, now - 3600, now)  # warm-up: connections, imports
        intents, charges, bare_s = bare(url, now - 31 * DAY, now + 1)
        clean, clean_s = run()
        floor = math.ceil(intents / 100) + math.ceil(charges / 100)
        one_of_each(controls, url)
        found, found_s = run()

    print()
    print(f"{'':44} {'value':>12}")
    print(f"{'bare stripe-python: intents + charges':44} {intents:>6,} + {charges:,} "
          f"in {bare_s:.1f} s")
    print(f"{'reconciliation, clean: status':44} {clean.status:>12}")
    print(f"{'  intents compared + outside':44} {clean.intents_compared:>6,} + "
          f"{clean.intents_outside:,}")
    print(f"{'  seconds (bare = 1.00)':44} {clean_s:>8.1f} s  {clean_s / bare_s:.2f}×")
    print(f"{'  Stripe calls (floor)':44} {clean.stripe_calls:>8,} ({floor:,})")
    print(f"{'  mismatches found':44} {clean.mismatches_found:>12}")
    print(f"{'reconciliation with one of each kind':44} {found_s:>8.1f} s  "
          f"{found_s / bare_s:.2f}×")
    print(f"{'  Stripe calls':44} {found.stripe_calls:>12,}")
    print(f"{'  mismatches found (kinds)':44} {found.mismatches_found:>12} "
          f"{sorted(found.mismatches_last_found.values_list('kind', flat=True))}")


if __name__ == "__main__":
    main()
