"""Erasure records in the admin: read-only, for superusers only."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from payments.models import ErasureRecord
from payments.privacy.selectors import email_keyed_hashes

LIST = "/admin/payments/erasurerecord/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def record(db) -> ErasureRecord:
    return ErasureRecord.objects.create(
        email_hmac="ab" * 32, actor="operator:root", erased_at=timezone.now(),
        counts={"orders": 2, "recovery_links": 1})


def test_a_superuser_sees_the_records_and_cannot_change_them(record):
    boss = logged_in(User.objects.create_superuser("root", password="x"))
    listing = html.unescape(boss.get(LIST).content.decode())
    assert "operator:root" in listing and "orders: 2, recovery links: 1" in listing
    assert "Erasure records" in html.unescape(boss.get("/admin/").content.decode())
    page = boss.get(f"{LIST}{record.pk}/change/")
    assert page.status_code == 200 and "ab" * 32 in page.content.decode()
    assert boss.get(f"{LIST}add/").status_code == 403
    assert boss.post(f"{LIST}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ErasureRecord.objects.get().actor == "operator:root"


@pytest.mark.parametrize("group", ["Merchants", "Payments ops"])
def test_other_staff_do_not_see_them(record, group):
    user = User.objects.create_user("staff", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = logged_in(user)
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}{record.pk}/change/").status_code == 403
    assert "Erasure records" not in html.unescape(client.get("/admin/").content.decode())


def test_an_address_typed_in_the_search_finds_its_record_by_its_hash(record):
    """The record keeps no address: a search for one found nothing, which read as "never
    erased"."""
    erased = ErasureRecord.objects.create(
        email_hmac=email_keyed_hashes(address="carol@example.com")[0], actor="user:olga",
        erased_at=timezone.now(), counts={"orders": 1})
    boss = logged_in(User.objects.create_superuser("root", password="x"))
    found = boss.get(LIST, {"q": " Carol@Example.com "}).context["cl"].result_list
    assert [r.pk for r in found] == [erased.pk]
    assert list(boss.get(LIST, {"q": "dave@example.com"}).context["cl"].result_list) == []
    assert [r.pk for r in boss.get(LIST, {"q": "operator:root"}).context["cl"].result_list] \
        == [record.pk]
