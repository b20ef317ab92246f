"""Logging for the site and its workers: one JSON object per line, a request id on every
record, and secrets scrubbed before anything is written.

- :class:`RequestIdMiddleware` takes the caller's ``X-Request-ID`` when it is a short safe
  token (a proxy or load balancer usually sets one), or makes one; keeps it in a context
  variable for the request and returns it in the response's ``X-Request-ID``.
- :class:`RequestIdFilter` puts it on every record as ``request_id``.
- :class:`RedactingFilter` scrubs card numbers, PaymentIntent client secrets, session keys,
  Stripe keys (``sk_``, ``rk_``, ``whsec_``), the tokens of links mailed to shoppers and
  email addresses (a shopper's is personal data: smtplib names a refused recipient in
  its exception) from the message, its arguments and the traceback.
- :func:`gunicorn_logger_class` puts gunicorn's access and error logs through the same filter.
- :class:`JsonFormatter` writes ``time``, ``level``, ``logger``, ``message``,
  ``request_id`` and ``exception`` (the traceback, newlines escaped) on one line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators, at most 64: safe in a header and a log line.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def request_id_get() -> str | None:
    """The id of the request being handled in this context (None outside requests)."""
    return request_id_var.get()


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a safe short token, else a new one."""
    if header and SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            # django.request logs 4xx/5xx after the middleware has returned, but hands us
            # the request: its id is there.
            record.request_id = request_id_get() or getattr(
                getattr(record, "request", None), "request_id", None)
        return True


# --- Redaction ----------------------------------------------------------------------------
REDACTED = "[redacted]"
# Email addresses (personal data): a refused recipient in smtplib's exception, an address
# in a form or a query. The domain needs a dot and a last label of letters, so
# "postgres@127.0.0.1" in a database URL stays readable. Every repeat bounded (RFC 5321's
# lengths): unbounded ones, tried at each character, took seconds of CPU over an access
# line's long Referer or User-Agent.
EMAIL = re.compile(r"[\w.%+-]{1,64}@(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63}\b")
EMAIL_REDACTED = "[email redacted]"
_SECRETS = [
    # PaymentIntent / SetupIntent client secrets: keep the intent id, drop the secret.
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), rf"\1_secret_{REDACTED}"),
    # Secret and restricted API keys, webhook signing secrets.
    (re.compile(r"\b((?:sk|rk)_(?:test|live)_)[A-Za-z0-9]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(whsec_)[A-Za-z0-9+/=]+"), rf"\1{REDACTED}"),
    # Session keys: in a cookie header, a form, JSON, or SQL on django_session.
    (re.compile(r"(?i)\b(session_?key|sessionid)([\"'\s:=]+)[a-z0-9]{8,}"),
     rf"\1\2{REDACTED}"),
    # The tokens of the links mailed to shoppers: a recovery link, the receipt's order link
    # (payments/urls.py), in a path, a Referer or a full URL.
    (re.compile(r"(/(?:recover|order-status)/)[^/\s\"'?#<>]+"), rf"\1{REDACTED}"),
    (EMAIL, EMAIL_REDACTED),
]
# 13 to 19 digits, optionally grouped by single spaces or dashes; redacted when the Luhn
# checksum holds (a card number), so ids and millisecond timestamps mostly stay readable.
# Letters may touch a card number ("%3D4242…", a repr's "\\n4242…"), so only a uuid's
# digits are spared: "b768-6368-4451-84ae" passed the checksum and a webhook endpoint's
# address was logged mangled.
_CARD = re.compile(r"(?<!\d)(?<!\d\.)\d(?:[ -]?\d){12,18}(?!\d|\.\d)")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_redact(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return f"[card {digits[-4:]}]" if _luhn_valid(digits) else match.group()


def redact(text: str) -> str:
    """``text`` with card numbers, client secrets, session keys, Stripe keys, link tokens
    and email addresses scrubbed."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    if "-" not in text or not _UUID.search(text):
        return _CARD.sub(_card_redact, text)
    # Cards between the uuids, each uuid as it is.
    parts, start = [], 0
    for found in _UUID.finditer(text):
        parts += [_CARD.sub(_card_redact, text[start:found.start()]), found.group()]
        start = found.end()
    return "".join([*parts, _CARD.sub(_card_redact, text[start:])])


class RedactingFilter(logging.Filter):
    """Scrubs the message with its arguments merged in, and the traceback, in place: every
    handler after this one sees only the scrubbed text."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what there is rather than nothing
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ClientMistake(logging.Filter):
    """For a client's mistake that Django logs as an error with its traceback (a request
    for a Host the site does not serve, from any scanner on the internet): a warning, in
    one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # Once more over the whole line: a handler without RedactingFilter stays safe too.
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def gunicorn_logger_class():
    """gunicorn's logger with every line (the access log's request line and Referer
    included) through :class:`RedactingFilter`; for ``gunicorn.conf.py``."""
    from gunicorn.glogging import Logger

    class GunicornLogger(Logger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for log in (self.access_log, self.error_log):
                log.addFilter(RedactingFilter())

    return GunicornLogger
