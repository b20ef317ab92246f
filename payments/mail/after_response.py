"""Work that need not keep a shopper waiting: run it once the response has been sent.

Django sends ``request_finished`` when the WSGI server closes the response, after its
bytes have gone out (gunicorn closes it after writing). ``after_response`` keeps a
callable until then; outside a request (a task, a command, a test calling a service) it
runs at once. A failing callable is logged and the others still run: the response is gone,
nobody else could hear of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.core.signals import request_finished, request_started

log = logging.getLogger(__name__)

_pending = threading.local()  # .calls: the current request's callables, or absent


def after_response(call: Callable[[], object]) -> None:
    calls = getattr(_pending, "calls", None)
    if calls is None:
        call()
    else:
        calls.append(call)


def _request_started(**kwargs) -> None:
    _pending.calls = []


def _request_finished(**kwargs) -> None:
    calls = getattr(_pending, "calls", None) or []
    _pending.calls = None
    for call in calls:
        try:
            call()
        except Exception:
            log.exception("work after the response failed")


request_started.connect(_request_started, dispatch_uid="payments.after_response.started")
request_finished.connect(_request_finished, dispatch_uid="payments.after_response.finished")
