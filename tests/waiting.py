"""Wait on a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float = 10, what: str = "condition"
               ) -> T:
    """Poll ``condition`` until it returns something truthy (returned), or fail at the
    deadline naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def same_window(*, seconds: int, room: float = 15) -> None:
    """Wait, if need be, for a fixed window of ``seconds`` (the /pay throttle's: its key
    holds ``int(time.time()) // seconds``) with ``room`` seconds left at least, so the
    requests a test counts fall in one window (a new window starts its counts afresh)."""
    left = seconds - time.time() % seconds
    if left < room:
        time.sleep(left + 0.1)
