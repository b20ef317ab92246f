"""What every mail of the site shares (payments.mail.messages)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.mail.messages import in_words


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(seconds=20), "0 minutes"), (timedelta(seconds=50), "1 minute"),
    (timedelta(minutes=119), "119 minutes"), (timedelta(hours=5, minutes=20), "5 hours"),
    (timedelta(hours=47, minutes=59), "2 days"), (timedelta(days=7), "7 days"),
    (timedelta(minutes=-5), "0 minutes"),
])
def test_times_to_come_are_rounded_as_people_say_them(delta, words):
    assert in_words(delta) == words
