"""The site's own 400, 403 and CSRF failure pages (the 404's test is in test_views.py):
styled under the CSP, in the reader's language, with a way back, and nothing of Django's
debug text or the failure's reason."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client, RequestFactory
from django.views import defaults

from tests.conftest import ApplicationClient

CSRF_HEADINGS = {"en": "Your session has expired", "de": "Ihre Sitzung ist abgelaufen",
                 "fr": "Votre session a expiré"}
STORE_LINKS = {"en": "Back to the store", "de": "Zurück zum Shop", "fr": "Retour à la boutique"}


@pytest.fixture(autouse=True)
def debug_off(settings):
    settings.DEBUG = False  # as in production: Django's own pages would then say "DEBUG=True"
    return settings


def site_page(response, status: int) -> str:
    """The page, after checking what every one of our error pages shares."""
    assert response.status_code == status
    page = response.content.decode()
    assert "payments/site.css" in page
    assert "<style" not in page and "<script" not in page and " style=" not in page
    assert "DEBUG" not in page and "Traceback" not in page
    assert "default-src 'self'" in response["Content-Security-Policy"]
    return page


def add_to_cart(client: Client, product, **headers):
    return client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 1},
                       **headers)


# --- the CSRF failure --------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_a_shopper_without_cookies_gets_our_csrf_page_in_their_language(product, language):
    client = Client(enforce_csrf_checks=True)  # no session, no CSRF cookie: cleared
    page = site_page(add_to_cart(client, product, HTTP_ACCEPT_LANGUAGE=language), 403)
    assert f'<html lang="{language}">' in page
    assert CSRF_HEADINGS[language] in page
    assert f'href="/">{STORE_LINKS[language]}</a>' in page
    assert "CSRF" not in page  # neither Django's words nor the reason it logs
    assert not client.session.get("cart")


def test_the_csrf_page_links_back_to_the_page_the_form_came_from_on_this_site(product):
    client = Client(enforce_csrf_checks=True)
    page = site_page(add_to_cart(client, product, HTTP_REFERER="http://testserver/cart/?x=1"),
                     403)
    assert 'href="/cart/?x=1">Back to the page you were on</a>' in page
    for elsewhere in ("https://evil.example/cart/", "javascript:alert(1)", "//evil.example/",
                      "http://testserver/\\evil.example/",  # "/\evil.example/": a host
                      "http://testserver/"):  # the store: its own link is there already
        page = site_page(add_to_cart(client, product, HTTP_REFERER=elsewhere), 403)
        assert "Back to the page you were on" not in page and "evil" not in page


def test_a_wrong_token_is_our_page_too_and_the_retry_after_reloading_works(product):
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    page = site_page(add_to_cart(client, product, HTTP_X_CSRFTOKEN="x" * 64), 403)
    assert "Your session has expired" in page
    token = client.cookies["csrftoken"].value  # what the reloaded page's form sends
    response = client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 1,
                                      "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and client.session["cart"] == {product.sku: 1}


@pytest.mark.parametrize("client_class", [ApplicationClient, Client])
def test_pay_still_answers_its_csrf_failure_in_json(db, client_class):
    client = client_class(enforce_csrf_checks=True)
    response = client.post("/pay", json.dumps({"payment_method_id": "pm_card_visa"}),
                           content_type="application/json", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "Sitzung ist abgelaufen" in response.json()["error"]  # no session here


@pytest.mark.parametrize("language,heading,link", [
    ("en", "Your session has expired", "Back to the sign-in page"),
    ("de", "Ihre Sitzung ist abgelaufen", "Zurück zur Anmeldeseite")])
def test_the_admins_csrf_failure_is_a_page_with_a_link_to_the_sign_in(db, language, heading,
                                                                     link):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "a", "password": "b"},
                           HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 403
    page = response.content.decode()
    assert f"<h1>{heading}</h1>" in page
    assert f'href="/admin/login/">{link}</a>' in page
    assert "admin/css/login.css" in page and "<style" not in page
    assert "DEBUG" not in page and "CSRF" not in page
    assert "default-src 'self'" in response["Content-Security-Policy"]


# --- 400 and 403 -------------------------------------------------------------------------

@pytest.mark.parametrize("language,heading", [
    ("en", "This request could not be read"), ("de", "Diese Anfrage konnte nicht gelesen"),
    ("fr", "Cette requête n’a pas pu être lue")])
def test_a_host_not_ours_is_our_400(db, language, heading):
    page = site_page(Client().get("/", HTTP_HOST="evil.example",
                                  HTTP_ACCEPT_LANGUAGE=language), 400)
    assert heading in page and f'<html lang="{language}">' in page
    assert 'href="/"' in page and "evil.example" not in page


def test_a_suspicious_request_is_our_400(product, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    data = {f"field{i}": "x" for i in range(10)}
    page = site_page(Client().post("/cart/", {"action": "add", "sku": product.sku, **data}),
                     400)
    assert "This request could not be read" in page and "field" not in page


def test_neither_page_shows_the_exceptions_text(db):
    request = RequestFactory().get("/")
    request.user = User()
    for view, exception in ((defaults.bad_request, SuspiciousOperation("secret detail")),
                            (defaults.permission_denied, PermissionDenied("secret detail"))):
        page = view(request, exception).content.decode()
        assert "secret detail" not in page and "payments/site.css" in page


def test_permission_denied_is_our_403_with_a_way_back_for_staff(db):
    client = Client()
    client.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    page = site_page(client.get("/admin/payments/dashboard/"), 403)  # no permission for it
    assert "Not allowed" in page and "Sandbox Supply" in page
    assert 'href="/admin/">Back to the admin</a>' in page
    german = site_page(client.get("/admin/payments/dashboard/", HTTP_ACCEPT_LANGUAGE="de"),
                       403)
    assert "Nicht erlaubt" in german and "Zurück zur Verwaltung" in german
