"""paymentsite/sessions.py: the session read in plain SQL loads what Django's db engine
loads, and drops an unknown or expired key as it does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from paymentsite.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_a_saved_session_reads_as_djangos_engine_reads_it():
    saved = DjangoStore()
    saved.update({"cart": {"cups": 2}, "orders": ["ord_a"], "note": "é"})
    saved.save()
    ours = SessionStore(session_key=saved.session_key)
    assert dict(ours.items()) == dict(DjangoStore(session_key=saved.session_key).items())
    assert ours["cart"] == {"cups": 2} and ours.session_key == saved.session_key


def test_an_expired_session_reads_empty_and_its_key_is_dropped():
    saved = SessionStore()
    saved["cart"] = {"cups": 1}
    saved.save()
    Session.objects.filter(session_key=saved.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    ours = SessionStore(session_key=saved.session_key)
    assert dict(ours.items()) == {}
    assert ours.session_key is None  # a new one is made at the next save, as Django does


def test_an_unknown_key_reads_empty_and_a_save_makes_a_new_session():
    ours = SessionStore(session_key="x" * 32)
    assert ours.get("cart") is None and ours.session_key is None
    ours["cart"] = {"cups": 3}
    ours.save()
    assert ours.session_key != "x" * 32
    assert SessionStore(session_key=ours.session_key)["cart"] == {"cups": 3}
