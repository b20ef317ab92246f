"""The admin's searches (payments.admin.common.IndexedSearchMixin) find what Django's own
search finds, one indexed SELECT per field: any field of a row or of its order, every word
of the search, each row once, and on PostgreSQL through the trigram indexes of 0050;
except that an address finds that address (any case) and four digits a card's last 4,
through the B-trees of 0065."""

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


def found(model, term: str, *, as_django: bool = True) -> list[int]:
    """The rows the admin's search finds; unless told, also those Django's own would."""
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    rows = model._default_manager.order_by("pk")
    ours, duplicates = model_admin.get_search_results(request, rows, term)
    assert duplicates is False
    ours_pks = list(ours.values_list("pk", flat=True))
    if as_django:
        django, _ = ModelAdmin.get_search_results(model_admin, request, rows, term)
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
    assert found(Incident, "3155", as_django=False) == sorted([anna.pk, bob.pk])  # last 4
    assert found(Incident, "example.org 3155", as_django=False) == [bob.pk]  # every word
    assert found(Incident, "nobody") == []


def test_attempts_and_orders_by_their_orders_fields(rows):
    anna = rows["anna_attempt"]
    assert found(PaymentAttempt, "anna.schmidt") == [anna.pk]
    assert found(PaymentAttempt, anna.order.reference) == [anna.pk]
    assert found(Order, "bob@") == [rows["bob_attempt"].order_id]


@pytest.mark.parametrize("path", ["order", "paymentattempt", "incident", "recoverylink",
                                  "opsaction", "reconciliationmismatch", "webhookevent",
                                  "product"])
def test_a_search_of_many_words_answers_and_every_word_must_match(rows, admin_client, path):
    """Eleven words were a 500: one subquery nested in the next, a RecursionError on
    PostgreSQL and "Expression tree is too large" on SQLite (attacker). Blanks alone
    search nothing."""
    url = f"/admin/payments/{path}/"
    assert admin_client.get(url, {"q": " ".join(["ab"] * 30)}).status_code == 200
    assert admin_client.get(url, {"q": "   "}).status_code == 200
    # A thousand different words: a 500 on SQLite, and on PostgreSQL a query that grew
    # to 22 GB (a review). The first ten are searched, and the page says so.
    many = admin_client.get(url, {"q": " ".join(f"w{i}@x" for i in range(1000))})
    assert many.status_code == 200
    assert [str(m) for m in many.context["messages"]] == [
        "A search uses its first 10 different words; the rest (from “w10@x”) were left out."]
    anna = rows["anna"]
    words = ["anna", "schmidt", "example.com", anna.order.reference[4:12], "3155"] * 3
    assert found(Incident, " ".join(words), as_django=False) == [anna.pk]
    assert found(Incident, " ".join([*words, "nobody"]), as_django=False) == []


def test_an_ops_action_over_several_payments_is_found_once(rows, admin_user):
    action = OpsAction.objects.create(kind=OpsAction.Kind.REFRESH, user=admin_user,
                                      status=OpsAction.Status.DONE)
    for position, incident in enumerate([rows["anna"], rows["bob"]]):
        action.items.create(incident=incident, position=position, version="v")
    assert found(OpsAction, "example") == [action.pk]


def test_an_address_finds_that_shoppers_rows_in_any_case(db):
    """A merchant typing a whole address means that shopper, not every address that
    contains it; shoppers type theirs with capitals, merchants too."""
    anna = attempt_of(order_of(("Mug", 1200, 1), email="Anna.Schmidt@Example.com"))
    again = attempt_of(order_of(("Cap", 900, 1), email="anna.schmidt@example.com"))
    other = attempt_of(order_of(("Hat", 700, 1), email="joanna.schmidt@example.com"))
    anna_incident = incident_of(Kind.EXPIRED, attempt=anna)
    incident_of(Kind.EXPIRED, attempt=other)
    for term in ("anna.schmidt@example.com", "ANNA.SCHMIDT@EXAMPLE.COM"):
        assert found(Order, term, as_django=False) == [anna.order_id, again.order_id]
        assert found(PaymentAttempt, term, as_django=False) == [anna.pk, again.pk]
        assert found(Incident, term, as_django=False) == [anna_incident.pk]
    # Django's search finds the longer address too; ours only when the address is exact.
    assert found(Order, "joanna.schmidt@example.com") == [other.order_id]


def test_part_of_an_address_finds_every_address_containing_it(db):
    anna = order_of(("Mug", 1200, 1), email="anna.schmidt@example.com")
    joanna = order_of(("Cap", 900, 1), email="Joanna.Schmidt@example.com")
    order_of(("Hat", 700, 1), email="bob@example.org")
    assert found(Order, "schmidt") == [anna.pk, joanna.pk]  # no "@": as Django
    assert found(Order, "SCHMIDT@example") == [anna.pk, joanna.pk]  # no address is exact
    assert found(Order, "@example.org") != []
    assert found(Order, "nobody@example.com") == []


def test_four_digits_find_the_cards_ending_in_them_only(db):
    """Not the addresses, order references or intents that contain them."""
    card = incident_of(Kind.EXPIRED, email="anna@example.com")
    number_in_address = incident_of(Kind.EXPIRED, email="jan4242@example.com")
    Incident.objects.filter(pk=card.pk).update(card_last4="4242")
    assert found(Incident, "4242", as_django=False) == [card.pk]
    assert found(Incident, "jan4242", as_django=False) == [number_in_address.pk]
    assert found(Incident, "424", as_django=False) == [card.pk, number_in_address.pk]
    assert found(Incident, "0000", as_django=False) == []


def test_attempts_and_orders_by_a_cards_last_4(rows):
    """"Which card did I use?": four digits found nothing among attempts or orders,
    though the README promised it (support agent)."""
    anna, bob = rows["anna_attempt"], rows["bob_attempt"]
    PaymentAttempt.objects.filter(pk=bob.pk).update(card_last4="4242")
    attempt_of(bob.order)  # a second try on bob's order, with 3155
    assert found(PaymentAttempt, "4242", as_django=False) == [bob.pk]
    assert found(Order, "4242", as_django=False) == [bob.order_id]
    assert found(Order, "3155", as_django=False) == sorted([anna.order_id, bob.order_id])
    assert found(Order, "0000", as_django=False) == []


def test_an_ops_action_is_found_by_a_payments_address(rows, admin_user):
    action = OpsAction.objects.create(kind=OpsAction.Kind.REFRESH, user=admin_user,
                                      status=OpsAction.Status.DONE)
    action.items.create(incident=rows["bob"], position=0, version="v")
    assert found(OpsAction, "Bob@Example.org", as_django=False) == [action.pk]
    assert found(OpsAction, "anna.schmidt@example.com", as_django=False) == []


@pytest.mark.parametrize("term", ["anna.schmidt@example.com", "nobody@example.com", "3155",
                                  "schmidt"])
def test_a_search_makes_as_many_queries_for_many_rows_as_for_few(db, admin_client, term):
    from django.core.cache import cache
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/payments/incident/", {"q": term}).status_code == 200
        return len(captured)

    def incidents(count: int) -> None:
        for _ in range(count):
            incident_of(Kind.EXPIRED, attempt=attempt_of(order_of(
                ("Mug", 1200, 1), email="anna.schmidt@example.com")))

    incidents(2)
    few = queries()
    incidents(30)
    assert queries() == few


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL plan")
@pytest.mark.parametrize(("model", "term", "index"), [
    (Order, "Anna@Example.com", "order_email_lower"),
    (PaymentAttempt, "Anna@Example.com", "order_email_lower"),
    (Incident, "Anna@Example.com", "incident_email_lower"),
    (Incident, "4242", "incident_last4"),
    (PaymentAttempt, "4242", "attempt_last4"),
    (Order, "4242", "attempt_last4"),
])
def test_the_btree_indexes_serve_the_exact_searches(db, model, term, index):
    """The indexes of migration 0065 (in the models, so the suite's tables have them)
    serve the SQL the mixin writes for an address and for a last 4."""
    model_admin = admin.site._registry[model]
    rows = model._base_manager.order_by()
    query = model_admin.search_email_exact(rows, term) if "@" in term else \
        model_admin.search_word_matches(rows, model_admin.search_fields, term)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert index in plan, plan


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
