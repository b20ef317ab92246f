"""``manage.py shopper_data``: a summary, the JSON export of an access request, an erasure
asked for and confirmed; bad input and refusals are errors (exit status 1), an address
nothing is held about is not."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest
from django.core.management import CommandError, call_command

from payments.models import ErasureRecord, Order, PaymentAttempt
from tests.payments.factories import attempt_of, incident_of, order_of

pytestmark = pytest.mark.django_db
CAROL = "carol@example.com"


def shopper_data(*args: str) -> str:
    out = io.StringIO()
    call_command("shopper_data", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def carol() -> Order:
    order = order_of(("Espresso cups", 2599, 2), email=CAROL)
    attempt_of(order, status=PaymentAttempt.Status.CANCELED)
    incident_of("card_declined", attempt=order.attempts.get())
    order_of(("Tea", 900, 1), email="dave@example.com")
    return order


def test_the_export_writes_everything_held_as_json_for_its_owner_only(carol, tmp_path):
    path = tmp_path / "carol.json"
    out = shopper_data("--email", "Carol@Example.com", "--export", str(path))
    assert f"Written to {path}." in out
    assert f"Held about {CAROL}: 1 order, 1 payment, 1 incident, 0 recovery links" in out
    data = json.loads(path.read_text())
    assert [order["reference"] for order in data["orders"]] == [carol.reference]
    assert data["stripe"]["payment_intents"] == [carol.attempts.get().stripe_id]
    assert "dave@example.com" not in path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(CommandError, match="exists already"):  # never overwritten
        shopper_data("--email", CAROL, "--export", str(path))


def test_the_export_to_standard_output_is_json_alone(carol):
    assert json.loads(shopper_data("--email", CAROL, "--export", "-"))["email"] == CAROL


def test_erase_with_yes_prints_what_it_changed_and_a_repeat_is_recognised(carol):
    out = shopper_data("--email", CAROL, "--erase", "--yes", "--actor", "user:olga")
    assert "Erased (record #" in out and "by user:olga" in out
    assert "  1 order\n" in out and "  1 incident\n" in out and "  0 receipts stopped" in out
    assert "Kept for accounting" in out
    carol.refresh_from_db()
    assert carol.email == "" and carol.erased_at is not None
    again = shopper_data("--email", CAROL, "--erase", "--yes")
    assert f"Nothing held about {CAROL}." in again and "Erased on " in again
    assert "by user:olga" in again and ErasureRecord.objects.count() == 1


def test_erase_asks_first_and_a_no_changes_nothing(carol, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    out = shopper_data("--email", CAROL, "--erase")
    assert "This cannot be undone." in out and out.rstrip().endswith("Not erased.")
    carol.refresh_from_db()
    assert carol.email == CAROL and not ErasureRecord.objects.exists()
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert "Erased (record #" in shopper_data("--email", CAROL, "--erase")


def test_erase_without_a_terminal_to_ask_on_needs_yes(carol, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="confirm with --yes"):
        shopper_data("--email", CAROL, "--erase")
    carol.refresh_from_db()
    assert carol.email == CAROL


def test_a_payment_in_flight_is_an_error_naming_it(carol):
    waiting = attempt_of(carol, status=PaymentAttempt.Status.REQUIRES_ACTION)
    with pytest.raises(CommandError, match=waiting.stripe_id):
        shopper_data("--email", CAROL, "--erase", "--yes")
    carol.refresh_from_db()
    assert carol.email == CAROL and not ErasureRecord.objects.exists()


def test_nothing_held_is_said_and_is_no_error(db):
    assert shopper_data("--email", "nobody@example.com").strip() == \
        "Nothing held about nobody@example.com."
    assert "Nothing held" in shopper_data("--email", "nobody@example.com", "--erase", "--yes")


@pytest.mark.parametrize(("args", "error"), [
    (["--email", ""], "An email address is required."),
    (["--email", "carol"], "'carol' is not an email address."),
    (["--email", CAROL, "--yes"], "--yes goes with --erase."),
])
def test_bad_input_is_a_clear_error(db, args, error):
    with pytest.raises(CommandError, match=error):
        shopper_data(*args)
