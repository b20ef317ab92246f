"""What the admin's pages share (payments.admin.common), where it is written out for speed:
the same text as Django's own formatting, in every language and time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.utils import timezone, translation

from payments.admin.common import NBSP, timestamp
from payments.models import Incident
from payments.templatetags.times import zoned_format
from tests.payments.factories import incident_of


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York",
                                  "Asia/Kolkata", "Australia/Lord_Howe"])
@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_a_timestamp_reads_as_djangos_date_format(settings, zone, language):
    """Every month, both sides of each clock change (an hour that happens twice
    included), with and without seconds; the zone named as the templates' ``zoned``
    names it (Django's "T" is empty in the hour that happens twice)."""
    settings.TIME_ZONE = zone
    moments = [datetime(2026, month, 3, 17, 5, 9, tzinfo=UTC) for month in range(1, 13)]
    # Around the 2026 clock changes of Europe and the US, hour by hour.
    for start in (datetime(2026, 3, 8, 4, tzinfo=UTC), datetime(2026, 3, 29, 0, tzinfo=UTC),
                  datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 11, 1, 4, tzinfo=UTC),
                  datetime(2026, 4, 4, 14, tzinfo=UTC)):
        moments += [start + timedelta(minutes=30 * step) for step in range(8)]
    moments.append(datetime(9, 1, 1, 0, 0, tzinfo=UTC) + timedelta(days=400))
    with timezone.override(zone), translation.override(language):
        for moment in moments:
            for seconds, pattern in ((False, "j M Y H:i T"), (True, "j M Y H:i:s T")):
                expected = zoned_format(value=moment, format_string=pattern).replace(
                    " ", NBSP)
                assert timestamp(moment, seconds=seconds) == expected, (moment, zone)


def test_a_rows_checkbox_is_djangos_markup(db, settings):
    incident = incident_of(Incident.Kind.EXPIRED, email='a"<b>@example.com')
    incident_admin = admin.site._registry[Incident]
    for language in ("en", "de"):
        with translation.override(language):
            assert incident_admin.action_checkbox(incident) == \
                ModelAdmin.action_checkbox(incident_admin, incident)


@pytest.mark.parametrize("path", ["/admin/payments/incident/?status=open&o=2",
                                  "/admin/payments/incident/", "/admin/payments/order/?q=anna",
                                  "/admin/payments/paymentattempt/?status__exact=requires_action"])
def test_a_lists_rows_are_djangos_rows(db, admin_client, monkeypatch, path):
    """Checkboxes and row links (which keep the filters) as Django's own ChangeList and
    ``action_checkbox`` write them."""
    from django.contrib.admin.views.main import ChangeList

    from tests.payments.factories import attempt_of, order_of

    for n in range(3):
        attempt = attempt_of(order_of(("Mug", 1000 + n, 1), email=f"anna{n}@example.com"))
        incident_of(Incident.Kind.EXPIRED, attempt=attempt)

    def rows() -> str:
        html = admin_client.get(path).content.decode()
        return html[html.index('<table id="result_list">'):html.index("</table>")]

    ours = rows()
    assert "_changelist_filters" in ours or "?" not in path
    for model_admin in admin.site._registry.values():
        monkeypatch.setattr(model_admin, "get_changelist", lambda request, **kw: ChangeList)
        monkeypatch.setattr(model_admin, "action_checkbox",
                            lambda obj, _admin=model_admin: ModelAdmin.action_checkbox(_admin,
                                                                                       obj))
    assert rows() == ours
