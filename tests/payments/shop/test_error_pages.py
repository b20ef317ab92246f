"""The site's own 400 and 403 pages (the 404's test is in test_views.py): styled under
the CSP, in the reader's language, with a way back, and nothing of Django's debug text
or the exception's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client, RequestFactory
from django.views import defaults


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
