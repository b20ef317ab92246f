"""The floor of issue 18: /pay's guarantees at their bare cost, with no framework.

    DATABASE_URL=postgres://… REDIS_URL=redis://… STRIPE_API_BASE=http://127.0.0.1:12111 \
        DJANGO_SECRET_KEY=… gunicorn bench.floor_server:application

The minimal server (``bench/minimal_server.py``) keeps nothing, so it says what Stripe's
calls cost, not what a checkout that charges once must cost. This WSGI callable pays the
site's own orders (same database, same sessions) with the round trips our /pay makes for
its guarantees, in the same order, with equivalent SQL (the same statements; a few
spelled differently, ``= ANY`` for ``IN``), and nothing else: no Django (only
``django.core.signing`` to read the session cookie's data, Django's format), no ORM, no
middleware, no logging, no metrics, no translations, no errors beyond the bench's cards.
Its throughput is the most any /pay keeping those guarantees can reach on this machine,
so ``bench/checkout.py`` shows both distances: ours to the floor (what our code costs
beyond its guarantees) and the floor to the minimal server (what the guarantees cost).

The round trips of ``POST /pay {"payment_method_id"}`` (``{"payment_intent_id"}`` skips
the INSERT and confirms), as ``bench/pay_profile.py --queries`` lists ours:

1. the session's row (``django_session``), its order list decoded and checked;
2. the card-testing throttle: one Redis pipeline (two counters);
3. the order lock: ``BEGIN; pg_try_advisory_xact_lock`` on a connection of its own,
   ``COMMIT`` at the end;
4. the order with its latest attempt (or the intent's), one statement;
5. the attempt's INSERT, committed before the Stripe call;
6. the account's Stripe budget: our Lua script in Redis (``payments/stripe/budget.py``);
7. the Stripe call, plain JSON over urllib3 (as ``payments/stripe/transport.py``);
8. ``BEGIN``, the status record (the attempt updated where it is still what was read,
   its ledger row, the order paid or the day's challenged total), the incidents probe
   after a challenge or a settled challenge, ``COMMIT``.

A request with no order to pay, another card or anything unexpected answers 400: the
bench sends only what it should. ``GET /warm`` opens this thread's database connection,
as placing the orders through the site opens ours' before they are paid (each server's
lock connection opens with its first /pay, in both).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import psycopg
import redis
import urllib3
from django.core import signing

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "sk_test_sandbox")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
SITE_TIME_ZONE = ZoneInfo(os.environ.get("DJANGO_TIME_ZONE") or "UTC")  # the totals' days
SESSION_SALT = "django.contrib.sessions.SessionStore"  # SessionBase.key_salt of our store

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
STATUS = {200: "200 OK", 400: "400 Bad Request", 402: "402 Payment Required",
          404: "404 Not Found"}

# The budget's script and keys, as payments/stripe/budget.py sends them. A copy: importing
# that module needs Django's settings; tests/bench/ fails if the two ever differ.
TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local background = tonumber(ARGV[4])
local last = background > 0 and 3 or 2
for i = 1, last do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - 1) end
if redis.call('ZCARD', KEYS[1]) + 1 > tonumber(ARGV[2]) then return 0 end
if redis.call('ZCARD', KEYS[2]) + 1 > tonumber(ARGV[3]) then return 0 end
if background > 0 and redis.call('ZCARD', KEYS[3]) + 1 > background then return 0 end
for i = 1, last do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], 2000)
end
return 1
"""

ORDER_COLUMNS = ["id", "reference", "email", "amount", "currency", "status", "session_hash",
                 "created_at", "paid_at", "receipt_sent_at", "receipt_refusals",
                 "receipt_retry_at", "language", "erased_at"]
ATTEMPT_COLUMNS = ["id", "order_id", "number", "stripe_id", "create_payment_method",
                   "create_requested_at", "outcome_lost_at", "create_key_spent_at", "status",
                   "amount", "currency",
                   "confirmation_method", "confirmations", "last_error_code",
                   "last_decline_code", "last_error_message", "card_brand", "card_last4",
                   "card_country", "latest_charge", "created_at", "updated_at",
                   "requires_action_at", "requires_confirmation_at", "final_at",
                   "status_observed_at"]
# What the status record may change, each guarded: the row must still be what was read.
RECORDED = ["stripe_id", "status", "amount", "currency", "confirmation_method",
            "confirmations", "last_error_code", "last_decline_code", "last_error_message",
            "card_brand", "card_last4", "card_country", "latest_charge",
            "requires_action_at", "requires_confirmation_at", "final_at",
            "status_observed_at"]
SELECTED = ", ".join([f'o."{c}"' for c in ORDER_COLUMNS] + [f'a."{c}"' for c in ATTEMPT_COLUMNS])
ORDER_READ_LATEST = (
    f'SELECT {SELECTED} FROM "payments_order" o LEFT JOIN LATERAL (SELECT * FROM '
    '"payments_paymentattempt" WHERE "order_id" = o."id" ORDER BY "number" DESC LIMIT 1) a '
    'ON true WHERE o."reference" = %s')
ORDER_READ_BY_INTENT = (
    f'SELECT {SELECTED} FROM "payments_order" o LEFT JOIN "payments_paymentattempt" a ON '
    'a."order_id" = o."id" AND a."stripe_id" = %s WHERE o."reference" = %s')
INSERTED = ATTEMPT_COLUMNS[1:]
ATTEMPT_INSERT = (f'INSERT INTO "payments_paymentattempt" ({", ".join(INSERTED)}) VALUES '
                  f'({", ".join(["%s"] * len(INSERTED))}) RETURNING "id"')
CHALLENGE_KINDS = ("action_abandoned", "authentication_failed", "expired",
                   "requires_action_not_handled")

_local = threading.local()
_http = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(30))
_redis = redis.Redis.from_url(REDIS_URL)
_take = _redis.register_script(TAKE_SCRIPT)


class Refused(Exception):
    """Not a request this bench sends: 400."""


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/warm":
        _db()
        time.sleep(0.05)  # held a moment, so a burst of these reaches every thread
        return _answer(start_response, 200, {})
    if environ.get("PATH_INFO") != "/pay" or environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, 404, {"error": "Not found."})
    try:
        status, body = _pay(environ)
    except (Refused, signing.BadSignature, ValueError, KeyError) as error:
        status, body = 400, {"error": f"{type(error).__name__}: {error}"}
    return _answer(start_response, status, body)


def _pay(environ: dict[str, Any]) -> tuple[int, dict]:
    cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    csrf = cookies.get("csrftoken")
    if csrf is None or not hmac.compare_digest(csrf.value, environ.get("HTTP_X_CSRFTOKEN", "")):
        raise Refused("CSRF")
    body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    method, intent_id = body.get("payment_method_id"), body.get("payment_intent_id")
    session_key = cookies["sessionid"].value if "sessionid" in cookies else ""
    db, lock = _db(), _lock()
    owned = _session_orders(db, session_key)
    _throttle(session_key, environ.get("REMOTE_ADDR", ""))
    reference = _which_order(db, owned, body.get("order_reference"), intent_id)
    _lock_take(lock, reference)
    try:
        order, attempt = _order_read(db, reference, intent_id)
        if method is not None:
            return _create(db, order, attempt, method, reference)
        return _confirm(db, order, attempt, reference)
    finally:
        _lock_release(lock)


def _session_orders(db: psycopg.Connection, session_key: str) -> list[str]:
    if not SECRET_KEY:  # the site's key, or none of its sessions can be read
        raise Refused("DJANGO_SECRET_KEY is not set: the floor reads the site's sessions")
    row = db.execute('SELECT session_data FROM "django_session" WHERE session_key = %s '
                     "AND expire_date > %s", [session_key, datetime.now(UTC)]).fetchone()
    if row is None:
        raise Refused("no session")
    return signing.loads(row[0], key=SECRET_KEY, fallback_keys=[], salt=SESSION_SALT,
                         serializer=signing.JSONSerializer).get("orders", [])


def _lock_take(lock: psycopg.Connection, reference: str) -> None:
    # The reference is ord_ + [A-Za-z0-9_-]: a literal is safe, and one simple query.
    cursor = lock.execute("BEGIN; SELECT pg_try_advisory_xact_lock(hashtextextended("
                          f"'payments.order:{reference}', 0))")
    cursor.nextset()  # past the BEGIN's result to the SELECT's
    if not cursor.fetchone()[0]:
        lock.execute("ROLLBACK")
        raise Refused("the order is being paid")  # the bench pays each order once


def _lock_release(lock: psycopg.Connection) -> None:
    lock.execute("COMMIT")


def _throttle(session_key: str, address: str) -> None:
    pipe = _redis.pipeline(transaction=False)
    for name in (f"throttle:pay-ip:{address}", f"throttle:pay-session:{session_key}"):
        pipe.incrby(name, 1)
        pipe.expire(name, 60, nx=True)
    counts = pipe.execute()
    if counts[0] > 1_000_000 or counts[2] > 1000:
        raise Refused("rate limited")


def _which_order(db: psycopg.Connection, owned: list[str], reference: str | None,
                 intent_id: str | None) -> str:
    if reference is not None:
        if reference not in owned:
            raise Refused("not this session's order")
        return reference
    if not owned:
        raise Refused("no order")
    if intent_id is not None:
        row = db.execute('SELECT o."reference" FROM "payments_paymentattempt" a JOIN '
                         '"payments_order" o ON a."order_id" = o."id" WHERE a."stripe_id" = %s '
                         'AND o."reference" = ANY(%s) ORDER BY a."id" LIMIT 1',
                         [intent_id, owned]).fetchone()
    else:
        rows = db.execute('SELECT "reference" FROM "payments_order" WHERE "reference" = ANY(%s) '
                          "AND \"status\" = 'open' LIMIT 2", [owned]).fetchall()
        if len(rows) > 1:
            raise Refused("more than one order awaiting payment")  # ours refuses too
        row = rows[0] if rows else None
    if row is None:
        raise Refused("no such order")
    return row[0]


def _order_read(db: psycopg.Connection, reference: str, intent_id: str | None
                ) -> tuple[dict, dict | None]:
    if intent_id is None:
        row = db.execute(ORDER_READ_LATEST, [reference]).fetchone()
    else:
        row = db.execute(ORDER_READ_BY_INTENT, [intent_id, reference]).fetchone()
    if row is None:
        raise Refused("no such order")
    order = dict(zip(ORDER_COLUMNS, row[:len(ORDER_COLUMNS)], strict=True))
    attempt = dict(zip(ATTEMPT_COLUMNS, row[len(ORDER_COLUMNS):], strict=True))
    return order, attempt if attempt["id"] is not None else None


def _create(db: psycopg.Connection, order: dict, latest: dict | None, method: str,
            reference: str) -> tuple[int, dict]:
    if order["status"] != "open" or (latest is not None and latest["status"] != "canceled"):
        raise Refused("the bench pays each order once")
    now = datetime.now(UTC)
    attempt = {"order_id": order["id"], "number": 1, "stripe_id": None,
               "create_payment_method": method, "create_requested_at": now,
               "outcome_lost_at": None, "status": "creating", "amount": order["amount"],
               "currency": order["currency"], "confirmation_method": "manual",
               "confirmations": 0, "last_error_code": "", "last_decline_code": "",
               "last_error_message": "", "card_brand": "", "card_last4": "",
               "card_country": "", "latest_charge": "", "created_at": now, "updated_at": now,
               "requires_action_at": None, "requires_confirmation_at": None,
               "final_at": None, "status_observed_at": None, "create_key_spent_at": None}
    attempt["id"] = _attempt_insert(db, attempt)
    intent = _stripe("/v1/payment_intents", [
        ("amount", order["amount"]), ("currency", order["currency"]),
        ("payment_method_types[0]", "card"), ("payment_method", method), ("confirm", "true"),
        ("metadata[order]", reference), ("metadata[attempt]", "1"),
        ("expand[0]", "payment_method"), ("confirmation_method", "manual")],
        idempotency_key=f"{reference}:attempt-1:create:{method}")
    return _recorded(db, order, attempt, intent, confirmed=False, reference=reference)


def _attempt_insert(db: psycopg.Connection, attempt: dict) -> int:
    return db.execute(ATTEMPT_INSERT, [attempt[c] for c in INSERTED]).fetchone()[0]


def _confirm(db: psycopg.Connection, order: dict, attempt: dict | None, reference: str
             ) -> tuple[int, dict]:
    if attempt is None or attempt["status"] not in ("requires_action", "requires_confirmation"):
        raise Refused("nothing to confirm")
    key = f"{reference}:{attempt['stripe_id']}:confirm-{attempt['confirmations'] + 1}:attached"
    intent = _stripe(f"/v1/payment_intents/{quote(attempt['stripe_id'], safe='')}/confirm",
                     [("expand[0]", "payment_method")], idempotency_key=key)
    return _recorded(db, order, attempt, intent, confirmed=True, reference=reference)


def _stripe(path: str, params: list[tuple[str, Any]], *, idempotency_key: str) -> dict:
    _budget_take()
    return _stripe_post(path, params, idempotency_key=idempotency_key)


def _budget_take() -> None:
    if not _take(keys=["{payments:budget}:total", "{payments:budget}:endpoint:payment_intents",
                       "{payments:budget}:background"],
                 args=[secrets.token_hex(8), 1_000_000, 1_000_000, 0]):
        raise Refused("over the Stripe budget")


def _stripe_post(path: str, params: list[tuple[str, Any]], *, idempotency_key: str) -> dict:
    response = _http.request(
        "POST", STRIPE_API_BASE + path, body=urlencode(params),
        headers={"Authorization": f"Bearer {STRIPE_SECRET_KEY}",
                 "Content-Type": "application/x-www-form-urlencoded",
                 "Idempotency-Key": idempotency_key})
    answer = json.loads(response.data)
    if response.status == 200:
        return answer
    intent = answer.get("error", {}).get("payment_intent")
    if response.status == 402 and intent is not None:
        return intent  # a decline: recorded as the intent it left
    raise Refused(f"Stripe answered {response.status}")


def _recorded(db: psycopg.Connection, order: dict, attempt: dict, intent: dict, *,
              confirmed: bool, reference: str) -> tuple[int, dict]:
    """The status record (one statement, as payments/checkout/status.py's guarded write),
    the incidents probe where ours makes one, in one transaction; then the answer."""
    now = datetime.now(UTC)
    error = intent.get("last_payment_error") or {}
    method = intent.get("payment_method")  # expanded; a decline's is in its error
    method = method if isinstance(method, dict) else error.get("payment_method")
    card = (method.get("card") if isinstance(method, dict) else None) or {}
    status = intent["status"]
    new = {"stripe_id": intent["id"], "status": status,
           "confirmations": attempt["confirmations"] + confirmed,
           "last_error_code": error.get("code") or "",
           "last_decline_code": error.get("decline_code") or "",
           "last_error_message": error.get("message") or "",
           "card_brand": card.get("brand", ""), "card_last4": card.get("last4", ""),
           "card_country": card.get("country", ""),
           "latest_charge": intent.get("latest_charge") or "",
           "status_observed_at": now, "updated_at": now}
    if status == "requires_action":
        new["requires_action_at"] = now
    if status in ("succeeded", "canceled"):
        new["final_at"] = now
    sets = ", ".join(f'"{name}" = %s' for name in new)
    guard = " AND ".join(f'"{name}" IS NOT DISTINCT FROM %s' for name in RECORDED)
    sql = (f'WITH upd AS (UPDATE "payments_paymentattempt" SET {sets} WHERE "id" = %s AND '
           f'{guard} RETURNING *), ev AS (INSERT INTO "payments_paymentevent" ("attempt_id", '
           '"from_status", "to_status", "error_code", "decline_code", "source", "actor", '
           '"observed_at", "applied", "note", "created_at") SELECT "id", %s, %s, %s, %s, '
           "'pay', %s, %s, true, '', %s FROM upd RETURNING 1)")
    params = [*new.values(), attempt["id"], *[attempt[name] for name in RECORDED],
              attempt["status"], status, new["last_error_code"], new["last_decline_code"],
              "session:floor", now, now]
    if status == "succeeded":
        sql += (', paid AS (UPDATE "payments_order" SET "status" = \'paid\', "paid_at" = %s '
                'WHERE "id" = (SELECT "order_id" FROM upd) AND "amount" = %s AND "currency" '
                "= %s AND \"status\" <> 'paid' RETURNING 1) SELECT (SELECT count(*) FROM paid), "
                "upd.* FROM upd")
        params += [now, order["amount"], order["currency"]]
    elif status == "requires_action":
        sql += (', tot AS (INSERT INTO "payments_dailytotal" (measure, day, currency, value, '
                "status, count, amount) SELECT 'challenged', %s::date, %s, '', '', 1, %s WHERE "
                "EXISTS (SELECT 1 FROM upd) ON CONFLICT (measure, day, currency, value, status) "
                'DO UPDATE SET count = "payments_dailytotal".count + excluded.count, amount = '
                '"payments_dailytotal".amount + excluded.amount RETURNING 1) SELECT 0, upd.* '
                "FROM upd")
        params += [now.astimezone(SITE_TIME_ZONE).date(), order["currency"], order["amount"]]
    else:
        sql += " SELECT 0, upd.* FROM upd"
    with db.transaction():
        _record_statement(db, sql, params)
        if status == "requires_action":  # a challenge: does one already have incidents?
            _challenge_probe(db, intent["id"])
        elif status == "succeeded" and attempt["requires_action_at"] is not None:
            _settled_probe(db, intent["id"], order["id"])
    if status == "requires_action":
        return 200, {"requiresAction": True, "clientSecret": intent["client_secret"]}
    if status == "succeeded":
        return 200, {"success": True, "orderUrl": f"/orders/{reference}/"}
    return 402, {"error": "Your card was declined."}


def _record_statement(db: psycopg.Connection, sql: str, params: list) -> None:
    if db.execute(sql, params).fetchone() is None:
        raise Refused("the attempt changed under the record")


def _challenge_probe(db: psycopg.Connection, intent_id: str) -> None:
    db.execute('SELECT 1 FROM "payments_incident" WHERE "stripe_id" = %s AND "kind" = ANY(%s) '
               "LIMIT 1", [intent_id, list(CHALLENGE_KINDS)]).fetchone()


def _settled_probe(db: psycopg.Connection, intent_id: str, order_id: int) -> None:
    db.execute('SELECT 1 FROM "payments_incident" WHERE ("stripe_id" = %s OR "order_id" = %s) '
               "LIMIT 1", [intent_id, order_id]).fetchone()


def _db() -> psycopg.Connection:
    """This thread's request connection (autocommit, client-side binding as Django's)."""
    if getattr(_local, "db", None) is None:
        _local.db = psycopg.connect(DATABASE_URL, autocommit=True,
                                    cursor_factory=psycopg.ClientCursor)
    return _local.db


def _lock() -> psycopg.Connection:
    """This thread's order lock connection (autocommit; it sends BEGIN itself)."""
    if getattr(_local, "lock", None) is None:
        _local.lock = psycopg.connect(DATABASE_URL, autocommit=True,
                                      application_name="floor order lock")
    return _local.lock


def _answer(start_response: StartResponse, status: int, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(STATUS[status], [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(data)))])
    return [data]


def connections_close() -> None:
    """Close this thread's connections (a test's end, before its database is dropped)."""
    for name in ("db", "lock"):
        conn = getattr(_local, name, None)
        if conn is not None:
            conn.close()
        setattr(_local, name, None)
