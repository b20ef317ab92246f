"""bench/floor_server.py, the floor ``bench/checkout.py`` and ``bench/pay_profile.py``
measure /pay against: it must make our /pay's writes with our SQL, or its throughput says
nothing about what our guarantees cost. Each card is paid once through our /pay and once
through the floor, and what each left in the database is compared."""

from __future__ import annotations

import contextlib
import io
import json
import re

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import floor_server
from payments.checkout.models import DailyTotal, PaymentAttempt
from payments.checkout.status import RECORDED_FIELDS
from payments.shop.models import Order, Product
from payments.stripe import budget, facts
from stripe_sandbox import DEFAULT_SECRET_KEY
from tests.conftest import need
from tests.payments.conftest import Shopper, shopper_with_order


def test_the_floor_reads_and_writes_our_tables_columns():
    assert floor_server.ORDER_COLUMNS == [f.column for f in Order._meta.concrete_fields]
    assert floor_server.ATTEMPT_COLUMNS == \
        [f.column for f in PaymentAttempt._meta.concrete_fields]
    assert tuple(floor_server.RECORDED) == RECORDED_FIELDS
    assert floor_server.TAKE_SCRIPT == budget._TAKE_SCRIPT
    assert set(floor_server.CHALLENGE_KINDS) == set(facts.AUTHENTICATION_FAILURES)


@pytest.fixture
def product(transactional_db) -> Product:
    return Product.objects.create(sku="espresso-cups", name="Espresso cups", price=2599,
                                  currency="eur")


@pytest.fixture
def floor(transactional_db, site_on_sandbox, sandbox, monkeypatch):
    """The floor's /pay on the test database, Redis and sandbox: (shopper, body) -> (status,
    answer), with the shopper's session cookie and CSRF token as a browser sends them."""
    need(connection.vendor == "postgresql", "the floor speaks PostgreSQL only (set "
         "DATABASE_URL=postgres://…)")
    need(bool(settings.REDIS_URL), "the floor counts in Redis (set REDIS_URL=redis://…)")
    import redis

    db = connection.settings_dict
    monkeypatch.setattr(floor_server, "DATABASE_URL", psycopg.conninfo.make_conninfo(
        dbname=db["NAME"], host=db["HOST"] or None, port=db["PORT"] or None,
        user=db["USER"] or None, password=db["PASSWORD"] or None))
    monkeypatch.setattr(floor_server, "SECRET_KEY", settings.SECRET_KEY)
    monkeypatch.setattr(floor_server, "STRIPE_API_BASE", sandbox.url)
    monkeypatch.setattr(floor_server, "STRIPE_SECRET_KEY", DEFAULT_SECRET_KEY)
    client = redis.Redis.from_url(settings.REDIS_URL)
    monkeypatch.setattr(floor_server, "_redis", client)
    monkeypatch.setattr(floor_server, "_take", client.register_script(floor_server.TAKE_SCRIPT))

    def pay(shopper: Shopper, **body: str) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        answer: dict = {}
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/pay", "REMOTE_ADDR": "127.0.0.1",
                   "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data),
                   "HTTP_COOKIE": f"sessionid={shopper.client.cookies['sessionid'].value}; "
                                  "csrftoken=floortoken", "HTTP_X_CSRFTOKEN": "floortoken"}
        chunks = floor_server.application(environ, lambda status, headers: answer.update(
            status=int(status.split()[0])))
        return answer["status"], json.loads(b"".join(chunks))

    yield pay
    floor_server.connections_close()
    client.close()


def _left(order: Order) -> dict:
    """What a payment left: the order's status, its attempt and the attempt's ledger."""
    order.refresh_from_db()
    attempt = order.attempts.get()
    return {"order": (order.status, order.paid_at is not None),
            "attempt": (attempt.status, attempt.amount, attempt.currency,
                        attempt.confirmation_method, attempt.confirmations,
                        attempt.card_brand, attempt.card_last4, attempt.card_country,
                        attempt.last_error_code, attempt.last_decline_code,
                        bool(attempt.latest_charge), attempt.requires_action_at is not None,
                        attempt.final_at is not None, attempt.status_observed_at is not None),
            "ledger": [(e.from_status, e.to_status, e.source, e.applied)
                       for e in attempt.events.order_by("id")]}


def _challenged() -> int:
    return sum(DailyTotal.objects.filter(measure="challenged").values_list("count", flat=True))


@pytest.mark.parametrize("card", ["pm_card_visa", "pm_card_chargeDeclinedInsufficientFunds"])
def test_the_floor_leaves_what_our_pay_leaves_for_a_card_without_a_challenge(
        floor, product, sandbox, card):
    ours, theirs = shopper_with_order(product), shopper_with_order(product)
    response = ours.pay(payment_method_id=card, order_reference=ours.order.reference)
    status, answer = floor(theirs, payment_method_id=card)
    assert (status, set(answer)) == (response.status_code, set(response.json()))
    assert _left(theirs.order) == _left(ours.order)
    assert _left(theirs.order)["attempt"][0] == \
        ("succeeded" if card == "pm_card_visa" else "requires_payment_method")


def test_the_floor_leaves_what_our_pay_leaves_through_a_challenge(floor, product, sandbox):
    left, challenged = [], []
    for pay_through in ("ours", "floor"):
        shopper = shopper_with_order(product)
        before = _challenged()
        if pay_through == "ours":
            first = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
        else:
            first = floor(shopper, payment_method_id="pm_card_authenticationRequired")[1]
        challenged.append(_challenged() - before)
        intent_id = first["clientSecret"].split("_secret_")[0]
        sandbox.authenticate(intent_id, "complete")
        if pay_through == "ours":
            second = shopper.pay(payment_intent_id=intent_id)
            assert second.json()["success"] is True
        else:
            assert floor(shopper, payment_intent_id=intent_id) == \
                (200, {"success": True, "orderUrl": f"/orders/{shopper.order.reference}/"})
        left.append(_left(shopper.order))
    assert left[1] == left[0]
    assert left[1]["ledger"] == [("creating", "requires_action", "pay", True),
                                 ("requires_action", "succeeded", "pay", True)]
    assert challenged == [1, 1]


def test_the_floor_refuses_an_unknown_session_and_pays_nothing(
        floor, product, sandbox):
    shopper = shopper_with_order(product)
    shopper.client.cookies["sessionid"] = "no-such-session"
    assert floor(shopper, payment_method_id="pm_card_visa") == \
        (400, {"error": "Refused: no session"})
    assert not shopper.order_now().attempts.exists()


def _shape(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement as its first word and the tables it names: the same statement whether
    the ORM or the floor spelled it."""
    return sql.split(None, 1)[0].upper(), tuple(sorted(set(re.findall(
        r'"((?:payments|django)_[a-z_]+)"', sql))))


class _Recorded:
    """The floor's request connection, every statement it is sent recorded."""

    def __init__(self, conn: psycopg.Connection, into: list[str]) -> None:
        self.conn, self.into = conn, into

    def execute(self, sql: str, params=None):
        self.into.append(sql)
        return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def transaction(self):
        self.into.append("BEGIN")
        with self.conn.transaction():
            yield
        self.into.append("COMMIT")


def test_the_floor_sends_our_statements_step_by_step(floor, product, sandbox, monkeypatch):
    """On the request's connection (the order lock's is not Django's: not compared), each
    step of each card sends the same statements in the same order: the floor's round
    trips are ours."""
    floor_sql: list[str] = []
    real_db = floor_server._db
    monkeypatch.setattr(floor_server, "_db", lambda: _Recorded(real_db(), floor_sql))
    steps: dict[str, list[list]] = {"ours": [], "floor": []}
    for card in ("pm_card_visa", "pm_card_authenticationRequired"):
        for pay_through in ("ours", "floor"):
            shopper = shopper_with_order(product)
            for body in ({"payment_method_id": card}, None):
                if body is None:  # the confirm after the bank's challenge
                    if card == "pm_card_visa":
                        break
                    intent_id = shopper.order_now().attempts.get().stripe_id
                    sandbox.authenticate(intent_id, "complete")
                    body = {"payment_intent_id": intent_id}
                if pay_through == "ours":
                    with CaptureQueriesContext(connection) as ours:
                        assert shopper.pay(**body).status_code == 200
                    sent = [query["sql"] for query in ours.captured_queries]
                    sent = [sql for sql in sent if "django_session" in sql
                            or "payments_" in sql or sql in ("BEGIN", "COMMIT")]
                else:
                    floor_sql.clear()
                    assert floor(shopper, **body)[0] == 200
                    sent = list(floor_sql)
                steps[pay_through].append([_shape(sql) for sql in sent])
    assert steps["floor"] == steps["ours"]
    # Paid at once: session, which order, order read, INSERT, BEGIN, the record, COMMIT.
    assert [kind for kind, _ in steps["ours"][0]] == \
        ["SELECT", "SELECT", "SELECT", "INSERT", "BEGIN", "WITH", "COMMIT"]
