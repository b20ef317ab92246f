import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from playwright.sync_api import expect

from payments.models import PaymentAttempt
from tests.browser.test_admin_languages import shot

pytestmark = pytest.mark.browser


def test_shots(browser, store, sandbox):
    page = browser.new_page(viewport={"width": 390, "height": 800})
    page.set_default_timeout(10_000)
    page.goto(store + "/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="Checkout").click()
    page.fill("input[name=email]", "eva@example.com")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_selector("input[name=cardnumber]")
    shot(page, "tmp-order-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, "tmp-order-1280")
    page.fill("input[name=cardnumber]", "4000 0025 0000 3155")
    page.fill("input[name=exp-date]", "12 / 34")
    page.fill("input[name=cvc]", "123")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_text(re.compile("paid", re.I)).first).to_be_visible()
    shot(page, "tmp-paid-1280")
    olga = User.objects.create_user("olga", password="pw-olga", is_staff=True)
    olga.groups.add(Group.objects.get(name="Payments ops"))
    client = Client()
    client.force_login(olga)
    attempt = PaymentAttempt.objects.get()
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": store}])
        admin = context.new_page()
        admin.goto(store + f"/admin/payments/paymentattempt/{attempt.pk}/change/")
        shot(admin, f"tmp-attempt-{width}")
        admin.goto(store + "/admin/payments/incident/?payment=latest")
        shot(admin, f"tmp-incidents-latest-{width}")
        admin.goto(store + "/admin/payments/dashboard/?days=7")
        shot(admin, f"tmp-dashboard-{width}")
