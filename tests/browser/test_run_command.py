"""The README's run command, as a newcomer uses it: `python3 dev.py run` on embedded
defaults, then the three test cards of Stripe's guide in a real browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Output:
    """A child's output, read by a thread: waiting for a line never blocks past a deadline,
    and the child never stalls on a full pipe while the tests run."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.closed = threading.Event()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)
        self.closed.set()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, marker: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.text:
                return True
            if self.closed.wait(0.2):
                return marker in self.text
        return False


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@dataclass
class Product:
    store: str
    site_port: int
    sandbox_port: int
    process: subprocess.Popen
    output: Output


@pytest.fixture(scope="module")
def running_product(tmp_path_factory):
    site_port, sandbox_port = free_port(), free_port()
    folder = tmp_path_factory.mktemp("run")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STRIPE_", "DJANGO_", "PAYMENTS_", "EMAIL_", "CELERY_"))
           and k not in ("DATABASE_URL", "REDIS_URL")}
    # Only the ports, a fresh database, sandbox state, mail and broker folder differ from a
    # newcomer's machine.
    env.update(SITE_PORT=str(site_port), SANDBOX_PORT=str(sandbox_port),
               DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
               SANDBOX_STATE_FILE=str(folder / "sandbox-state.json"),
               EMAIL_FILE_PATH=str(folder / "mail"),
               CELERY_BROKER_FOLDER=str(folder / "celery"))
    process = subprocess.Popen([sys.executable, "dev.py", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    assert process.stdout is not None
    output = Output(process.stdout)
    try:
        assert output.wait_for("Ctrl-C stops everything.", timeout=240), output.text
        yield Product(f"http://127.0.0.1:{site_port}", site_port, sandbox_port, process,
                      output)
    finally:
        if process.poll() is None:  # the SIGTERM test did not run, or failed
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


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
    store, text = running_product.store, running_product.output.text
    assert f"Store:    {store}/" in text and f"Admin:    {store}/admin/" in text
    assert "login: admin / admin" in text
    assert "Mail:     " in text and "/mail/" in text
    assert "Celery:   worker and beat, broker " in text and "/celery/" in text


def test_a_newcomer_buys_with_the_guides_test_cards(running_product, page):
    store = running_product.store
    checkout(page, store)
    pay(page, "4000000000009995")
    expect(page.locator("#card-errors")).to_have_text("Your card has insufficient funds.")
    pay(page, "4000002500003155")
    page.get_by_role("button", name="Fail authentication").click()
    expect(page.locator("#card-errors")).to_contain_text("The check with your bank was cancelled")
    pay(page, "4000002500003155")
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.locator("#order-status")).to_have_text("Paid")
    checkout(page, store)
    pay(page, "4242424242424242")
    expect(page.locator("#order-status")).to_have_text("Paid")


def test_the_demo_admin_login_works(running_product, page):
    store = running_product.store
    page.goto(store + "/admin/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_sigterm_stops_the_sandbox_and_the_site(running_product):
    """Last in this module: it stops the product. SIGTERM to dev.py alone, as a process
    manager or `kill` sends it, leaves no server or worker running behind."""
    product = running_product
    children = descendants(product.process.pid)
    # The sandbox, the site, Celery's worker (and its pool) and beat.
    assert len(children) >= 4, children
    product.process.send_signal(signal.SIGTERM)
    assert product.process.wait(timeout=30) == 0, product.output.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)], product.output.text
    assert port_free(product.site_port) and port_free(product.sandbox_port)
