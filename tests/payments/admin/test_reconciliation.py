"""Reconciliation in the admin: merchants and ops read the runs and the mismatches (made
by a real run against the sandbox), nobody changes them, and the index lists them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import Order, ReconciliationMismatch, ReconciliationRun
from payments.monitoring import reconcile
from tests.payments.admin.test_dashboard import staff_client
from tests.payments.conftest import shopper_with_order

RUNS = reverse("admin:payments_reconciliationrun_changelist")
MISMATCHES = reverse("admin:payments_reconciliationmismatch_changelist")


@pytest.fixture
def found(site_on_sandbox, settings, sandbox, product) -> ReconciliationRun:
    """A run that found one order paid here and not at Stripe, and one clean payment."""
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    assert shopper_with_order(product).pay(payment_method_id="pm_card_visa").json()["success"]
    order = shopper_with_order(product).order
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    return reconcile.reconciliation_run(days=1)


@pytest.mark.parametrize("group", ["Merchants", "Payments ops"])
def test_both_roles_read_runs_and_mismatches_and_change_nothing(found, group):
    client = staff_client("someone", group=group)
    mismatch = ReconciliationMismatch.objects.get()
    runs = client.get(RUNS)
    assert runs.status_code == 200
    html = runs.content.decode()
    assert f"#{found.pk}" in html and "<strong>1</strong>" in html
    mismatches = client.get(MISMATCHES + "?state=open")
    assert mismatches.status_code == 200
    listed = mismatches.content.decode()
    assert "Paid here, not at Stripe" in listed and "<strong>Open</strong>" in listed
    page = client.get(reverse("admin:payments_reconciliationmismatch_change",
                              args=[mismatch.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert mismatch.order.reference in body and "no succeeded payment" in body
    assert "do not ship it before the shopper pays" in body  # what to do about it
    run_page = client.get(reverse("admin:payments_reconciliationrun_change", args=[found.pk]))
    assert run_page.status_code == 200
    assert f"?last_run__id__exact={found.pk}" in run_page.content.decode()
    # The money side by side: the order marked paid by hand has no payment date, so
    # neither side counts it (as the Orders list's Paid filter does not).
    assert run_page.content.decode().count("51.98\u00a0EUR") == 2  # 2 × 25.99
    # read-only: no add, no save, no delete
    assert client.get(reverse("admin:payments_reconciliationrun_add")).status_code == 403
    assert client.post(reverse("admin:payments_reconciliationmismatch_delete",
                               args=[mismatch.pk]), {"post": "yes"}).status_code == 403
    assert client.post(reverse("admin:payments_reconciliationmismatch_change",
                               args=[mismatch.pk]), {"resolved": "on"}).status_code == 403
    assert not ReconciliationMismatch.objects.get().resolved
    index = client.get(reverse("admin:index")).content.decode()
    assert "Reconciliation mismatches" in index and "Reconciliation runs" in index


def test_staff_without_the_roles_see_neither(found):
    client = staff_client("nobody")
    assert client.get(RUNS).status_code == 403
    assert client.get(MISMATCHES).status_code == 403


def test_the_mismatch_list_filters_by_kind_and_state(found):
    client = staff_client("someone", group="Merchants")
    assert client.get(MISMATCHES + "?kind__exact=charged_twice").content.decode().count(
        "Paid here, not at Stripe") <= 1  # the filter's own label at most
    resolved = client.get(MISMATCHES + "?state=resolved").content.decode()
    assert "0 reconciliation mismatches" in resolved
    assert "1 reconciliation mismatch\n" in client.get(MISMATCHES + "?state=open").content.decode()


def test_the_orders_page_says_what_the_reconciliation_found_open(found):
    """The order's page said "Paid" and nothing of a mismatch: only the mismatch list did
    (an accountant)."""
    client = staff_client("someone", group="Merchants")
    mismatch = ReconciliationMismatch.objects.get()
    order_page = reverse("admin:payments_order_change", args=[mismatch.order.pk])
    body = client.get(order_page).content.decode()
    assert "The reconciliation with Stripe found, still open:" in body
    link = reverse("admin:payments_reconciliationmismatch_change", args=[mismatch.pk])
    assert f'<a href="{link}">Paid here, not at Stripe</a>' in body
    clean = Order.objects.exclude(pk=mismatch.order.pk).get()
    assert "found, still open" not in client.get(
        reverse("admin:payments_order_change", args=[clean.pk])).content.decode()
    ReconciliationMismatch.objects.update(resolved=True)
    assert "found, still open" not in client.get(order_page).content.decode()


def test_the_orders_page_links_its_incidents_and_recovery_links(db, staff_roles):
    """"What happened?": the order's page named neither its incidents nor the links ops
    mailed; a support agent searched each list by hand (support agent)."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from payments.models import Incident, RecoveryLink
    from tests.payments.factories import attempt_of, incident_of, order_of

    order = order_of(("Lamp", 8900, 1))
    incident = incident_of(Incident.Kind.ACTION_ABANDONED, attempt=attempt_of(order))
    incident_of(Incident.Kind.AUTHENTICATION_FAILED, attempt=attempt_of(order),
                status=Incident.Status.LOST)
    RecoveryLink.objects.create(order=order, incident=incident, email=order.email,
                                created_by=User.objects.create_user("olga"),
                                expires_at=timezone.now())
    page = reverse("admin:payments_order_change", args=[order.pk])
    search = f"?q={order.reference}"
    for group, shown in (("Merchants", ["2 incidents (1 open)", "1 recovery link"]),
                         ("Payments ops", ["2 incidents (1 open)", "1 recovery link"])):
        client = staff_client(f"someone-{group[:4]}", group=group)
        body = client.get(page).content.decode()
        assert "More about this order:" in body
        for words, listing in zip(shown, ("incident", "recoverylink"), strict=True):
            assert f'<a href="/admin/payments/{listing}/{search}">{words}</a>' in body
        assert order.reference in client.get(f"/admin/payments/incident/{search}"
                                              ).content.decode()
    other = order_of(("Mug", 1200, 1))
    body = staff_client("third", group="Merchants").get(
        reverse("admin:payments_order_change", args=[other.pk])).content.decode()
    assert "0 incidents (0 open)" in body and "0 recovery links" in body
