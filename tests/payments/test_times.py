"""Times in the site's zone name it in every hour, the one that happens twice included
(payments/templatetags/times.py, the admin's ``timestamp``)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone

from payments.admin.common import timestamp

# Clocks go back in New York at 02:00 EDT on 1 Nov 2026: 01:30 happens twice.
FIRST, SECOND = datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30,
                                                                    tzinfo=UTC)


def test_the_hour_that_happens_twice_names_each_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    with timezone.override("America/New_York"):
        shown = [Template('{% load times %}{{ at|zoned:"j M Y H:i T" }}').render(
            Context({"at": at})) for at in (FIRST, SECOND)]
        assert shown == ["1 Nov 2026 01:30 EDT", "1 Nov 2026 01:30 EST"]
        # Django's own filter names neither: why ``zoned`` exists.
        assert Template('{{ at|date:"H:i T" }}').render(Context({"at": FIRST})) == "01:30 "
        assert [timestamp(at) for at in (FIRST, SECOND)] == [
            "1\N{NO-BREAK SPACE}Nov\N{NO-BREAK SPACE}2026\N{NO-BREAK SPACE}01:30"
            "\N{NO-BREAK SPACE}EDT",
            "1\N{NO-BREAK SPACE}Nov\N{NO-BREAK SPACE}2026\N{NO-BREAK SPACE}01:30"
            "\N{NO-BREAK SPACE}EST"]


def test_a_literal_t_in_a_format_stays_and_no_time_is_empty():
    with timezone.override("UTC"):
        rendered = Template('{% load times %}{{ at|zoned:"\\T H:i T" }}|{{ none|zoned:"T" }}'
                            ).render(Context({"at": FIRST, "none": None}))
    assert rendered == "T 05:30 UTC|"
