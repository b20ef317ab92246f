"""The admin's searches (payments.admin.common.IndexedSearchMixin) find what Django's own
search finds, one indexed SELECT per field: any field of a row or of its order, every word
of the search, each row once, and on PostgreSQL through the trigram indexes of 0050."""

from __future__ import annotations

import importlib

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.db import connection
from django.test import RequestFactory

from payments.models import Incident, OpsAction, Order, PaymentAttempt
from tests.payments.factories import attempt_of, incident_of, order_of

Kind = Incident.Kind


def found(model, term: str) -> list[int]:
    """The rows the admin's search finds, and those Django's own search would."""
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    rows = model._default_manager.order_by("pk")
    ours, duplicates = model_admin.get_search_results(request, rows, term)
    assert duplicates is False
    django, _ = ModelAdmin.get_search_results(model_admin, request, rows, term)
    ours_pks = list(ours.values_list("pk", flat=True))
    assert ours_pks == sorted(set(django.values_list("pk", flat=True)))
    return ours_pks


@pytest.fixture
def rows(db):
    anna = attempt_of(order_of(("Mug", 1200, 1), email="anna.schmidt@example.com"))
    bob = attempt_of(order_of(("Cap", 900, 1), email="bob@example.org"))
    return {"anna": incident_of(Kind.ACTION_ABANDONED, attempt=anna),
            "bob": incident_of(Kind.EXPIRED, attempt=bob), "anna_attempt": anna,
            "bob_attempt": bob}


def test_incidents_by_email_order_intent_and_last4(rows):
    anna, bob = rows["anna"], rows["bob"]
    assert found(Incident, "schmidt") == [anna.pk]
    assert found(Incident, anna.order.reference[4:12]) == [anna.pk]  # part of the order
    assert found(Incident, bob.stripe_id.upper()) == [bob.pk]  # any case
    assert found(Incident, "3155") == sorted([anna.pk, bob.pk])  # the card's last 4
    assert found(Incident, "example.org 3155") == [bob.pk]  # every word must match
    assert found(Incident, "nobody") == []


def test_attempts_and_orders_by_their_orders_fields(rows):
    anna = rows["anna_attempt"]
    assert found(PaymentAttempt, "anna.schmidt") == [anna.pk]
    assert found(PaymentAttempt, anna.order.reference) == [anna.pk]
    assert found(Order, "bob@") == [rows["bob_attempt"].order_id]


def test_an_ops_action_over_several_payments_is_found_once(rows, admin_user):
    action = OpsAction.objects.create(kind=OpsAction.Kind.REFRESH, user=admin_user,
                                      status=OpsAction.Status.DONE)
    for position, incident in enumerate([rows["anna"], rows["bob"]]):
        action.items.create(incident=incident, position=position, version="v")
    assert found(OpsAction, "example") == [action.pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
@pytest.mark.parametrize(("model", "field", "index"), [
    (Incident, "customer_email", "incident_email_trgm"),
    (Incident, "stripe_id", "incident_intent_trgm"),
    (Incident, "card_last4", "incident_last4_trgm"),
    (Order, "reference", "order_reference_trgm"),
    (Order, "email", "order_email_trgm"),
    (PaymentAttempt, "stripe_id", "attempt_intent_trgm"),
])
def test_the_trigram_indexes_serve_the_search(db, model, field, index):
    """The indexes of migration 0050 (the suite builds tables from the models, so it makes
    them here) serve exactly the SQL Django writes for a search field."""
    migration = importlib.import_module("payments.migrations.0050_admin_search_trigram")
    with connection.schema_editor() as editor:
        migration.trigram_indexes_create(None, editor)
    # As IndexedSearchMixin asks: no ordering (the list orders the rows it keeps).
    query = model.objects.order_by().filter(**{f"{field}__icontains": "3155"}).values("pk").query
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert index in plan, plan
