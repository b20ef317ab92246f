"""paymentsite/sessions.py: Django's database sessions, loaded by one plain query, with
Django's answers for a session that is missing, expired or tampered with."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from paymentsite.sessions import SessionStore

pytestmark = pytest.mark.django_db


def saved(**data) -> str:
    session = SessionStore()
    session.update(data)
    session.save()
    return session.session_key


def test_it_is_the_sites_session_engine():
    assert settings.SESSION_ENGINE == "paymentsite.sessions"


def test_a_saved_session_loads_in_one_query_as_djangos_store_loads_it():
    key = saved(orders=["ord_a", "ord_b"], cart={"3": 2})
    session = SessionStore(session_key=key)
    with CaptureQueriesContext(connection) as queries:
        assert dict(session.items()) == {"orders": ["ord_a", "ord_b"], "cart": {"3": 2}}
    assert len(queries) == 1 and "django_session" in queries[0]["sql"]
    assert session.session_key == key
    session["cart"] = {}
    session.save()  # written back under the same key, as Django does
    assert SessionStore(session_key=key)["cart"] == {}


def test_an_expired_session_loads_empty_and_its_key_is_forgotten():
    key = saved(orders=["ord_a"])
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    session = SessionStore(session_key=key)
    assert dict(session.items()) == {}
    assert session.session_key is None
    session["cart"] = {"1": 1}
    session.save()
    assert session.session_key not in (None, key)  # a new session, never the old key


def test_an_unknown_key_loads_empty_and_no_key_sends_no_query():
    session = SessionStore(session_key="x" * 32)
    assert dict(session.items()) == {} and session.session_key is None
    with CaptureQueriesContext(connection) as queries:
        assert dict(SessionStore().items()) == {}
    assert len(queries) == 0


def test_tampered_data_loads_empty_and_keeps_its_key_as_django_does():
    key = saved(orders=["ord_a"])
    Session.objects.filter(session_key=key).update(session_data="bm90IHNpZ25lZA:forged")
    session = SessionStore(session_key=key)
    assert dict(session.items()) == {} and session.session_key == key
