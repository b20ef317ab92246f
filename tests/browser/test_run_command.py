"""The README's run command, as a newcomer uses it: `python3 dev.py run` on embedded
defaults, then the three test cards of Stripe's guide in a real browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def running_product(tmp_path_factory):
    site_port, sandbox_port = free_port(), free_port()
    database = tmp_path_factory.mktemp("run") / "db.sqlite3"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STRIPE_", "DJANGO_", "PAYMENTS_")) and k != "DATABASE_URL"}
    # Only the ports and a fresh database file differ from a newcomer's machine.
    env.update(SITE_PORT=str(site_port), SANDBOX_PORT=str(sandbox_port),
               DATABASE_URL=f"sqlite:///{database}")
    process = subprocess.Popen([sys.executable, "dev.py", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output: list[str] = []
    deadline = time.monotonic() + 240
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if "Ctrl-C stops everything." in line:
            break
    else:
        process.kill()
    text = "".join(output)
    assert "Ctrl-C stops everything." in text, text
    yield f"http://127.0.0.1:{site_port}", text
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == 0


def checkout(page, store: str) -> None:
    page.goto(store + "/")
    page.get_by_role("button", name="Add to cart").first.click()
    page.get_by_role("link", name="Checkout").click()
    page.fill("input[name=email]", "newcomer@example.com")
    page.get_by_role("button", name="Continue to payment").click()


def pay(page, number: str) -> None:
    page.fill("input[name=cardnumber]", number)
    page.fill("input[name=exp-date]", "12 / 34")
    page.fill("input[name=cvc]", "123")
    page.get_by_role("button", name="Pay").click()


def test_the_run_command_prints_the_addresses_and_login(running_product):
    store, text = running_product
    assert f"Store:    {store}/" in text and f"Admin:    {store}/admin/" in text
    assert "login: admin / admin" in text


def test_a_newcomer_buys_with_the_guides_test_cards(running_product, page):
    store, _ = running_product
    checkout(page, store)
    pay(page, "4000000000009995")
    expect(page.locator("#card-errors")).to_have_text("Your card has insufficient funds.")
    pay(page, "4000002500003155")
    page.get_by_role("button", name="Fail authentication").click()
    expect(page.locator("#card-errors")).to_contain_text("Your bank could not confirm")
    pay(page, "4000002500003155")
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.locator("#order-status")).to_have_text("Paid")
    checkout(page, store)
    pay(page, "4242424242424242")
    expect(page.locator("#order-status")).to_have_text("Paid")


def test_the_demo_admin_login_works(running_product, page):
    store, _ = running_product
    page.goto(store + "/admin/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
