"""payments/after_response.py, and the receipt queued by it once /pay has answered."""

from __future__ import annotations

import logging

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from payments.mail import tasks
from payments.mail.after_response import after_response
from payments.models import Order, order_paid


@pytest.fixture
def request_signals():
    """The request signals without Django's connection housekeeping, as Django's own test
    client sends them (it would touch a database these tests do not open)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_outside_a_request_the_work_runs_at_once():
    done = []
    after_response(lambda: done.append(1))
    assert done == [1]


def test_inside_a_request_it_waits_for_the_response_and_runs_once(request_signals):
    done = []
    request_started.send(sender=None)
    after_response(lambda: done.append("a"))
    after_response(lambda: done.append("b"))
    assert done == []
    request_finished.send(sender=None)
    assert done == ["a", "b"]
    request_finished.send(sender=None)  # a second close runs nothing again
    assert done == ["a", "b"]


def test_a_failing_call_is_logged_and_the_next_still_runs(request_signals, caplog):
    done = []
    request_started.send(sender=None)
    after_response(lambda: 1 / 0)
    after_response(lambda: done.append(1))
    with caplog.at_level(logging.ERROR, logger="payments.after_response"):
        request_finished.send(sender=None)
    assert done == [1]
    assert "work after the response failed" in caplog.text and "ZeroDivisionError" in caplog.text


def test_a_paid_order_s_receipt_is_queued_after_the_response(request_signals, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.order_receipt_task, "apply_async",
                        lambda args, **options: queued.extend(args))
    request_started.send(sender=None)
    order_paid.send(sender=Order, order_id=41)
    assert queued == []  # the shopper's answer is not held for the broker
    request_finished.send(sender=None)
    assert queued == [41]
