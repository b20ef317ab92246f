"""The test suite builds tables from the models (--no-migrations, for speed), so this
checks that the committed migrations match the models."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree(settings):
    settings.MIGRATION_MODULES = {}  # undo --no-migrations for this check
    call_command("makemigrations", "payments", "--check", "--dry-run", verbosity=0)


def test_0076_fills_the_order_reference_of_incidents_already_there(db):
    """0075 adds the column empty; 0076 copies each order's reference into it, in batches
    (here of 2, so several), leaving incidents with no order empty; run again, it finds
    nothing left to fill."""
    import importlib

    from django.apps import apps
    from django.db import connection

    from payments.models import Incident
    from tests.payments.factories import attempt_of, incident_of, order_of

    fill = importlib.import_module(
        "payments.migrations.0076_incident_order_references_fill").incident_order_references_fill
    for _ in range(5):
        incident_of(Incident.Kind.CARD_DECLINED, attempt=attempt_of(order_of(("Mug", 500, 1))))
    incident_of(Incident.Kind.EXPIRED)  # made outside the checkout: no order
    Incident.objects.update(order_reference=None)  # as 0075 leaves the rows

    # The fill reads only the editor's connection; a real schema editor cannot be opened
    # inside the test's transaction on SQLite.
    editor = SimpleNamespace(connection=connection)
    assert fill(apps, editor, batch=2) == 5
    assert fill(apps, editor, batch=2) == 0
    kept = [(i.order.reference if i.order else None, i.order_reference)
            for i in Incident.objects.select_related("order")]
    assert len(kept) == 6
    assert all(reference == order for order, reference in kept)


def test_0078_lowers_the_currencies_stored_in_upper_case(db):
    """Products and orders saved as "EUR" before ``CurrencyField`` (plain SQL writes them
    so here: the field lowers what the ORM sends) read "eur" after 0078; the rest stay."""
    import importlib

    from django.apps import apps
    from django.db import connection

    from payments.models import Order, PaymentAttempt, Product
    from tests.payments.factories import attempt_of

    lower = importlib.import_module(
        "payments.migrations.0078_currency_lower_case").currencies_lower
    Product.objects.create(sku="mug", name="Mug", price=1500, currency="eur")
    Product.objects.create(sku="cup", name="Cup", price=900, currency="usd")
    Order.objects.create(email="a@example.com", amount=1500, currency="eur")
    Order.objects.create(email="b@example.com", amount=900, currency="usd")
    attempt = attempt_of(Order.objects.get(email="a@example.com"))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Product._meta.db_table} SET currency = 'EUR' "
                       "WHERE sku = 'mug'")
        cursor.execute(f"UPDATE {Order._meta.db_table} SET currency = 'Eur' "
                       "WHERE email = 'a@example.com'")
        cursor.execute(f"UPDATE {PaymentAttempt._meta.db_table} SET currency = 'EUR' "
                       "WHERE id = %s", [attempt.pk])
        cursor.execute(f"SELECT currency FROM {Product._meta.db_table} WHERE sku = 'mug'")
        assert cursor.fetchone() == ("EUR",)

    # In batches of 2 ids: each its own short transaction, none missed between them.
    assert lower(apps, SimpleNamespace(connection=connection), batch=2) == 3
    assert lower(apps, SimpleNamespace(connection=connection), batch=2) == 0
    attempt.refresh_from_db()
    assert attempt.currency == "eur"
    assert dict(Product.objects.values_list("sku", "currency")) == {"mug": "eur", "cup": "usd"}
    assert dict(Order.objects.values_list("email", "currency")) == {
        "a@example.com": "eur", "b@example.com": "usd"}
