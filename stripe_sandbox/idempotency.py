"""Stored answers for idempotent requests, forgotten after 24 hours.

Stripe (docs: api/idempotent_requests): "keys are eligible to be removed from
the system automatically after they're at least 24 hours old, and a new
request is generated if a key is reused after the original has been pruned."
Age is measured on the sandbox clock, so advancing it expires keys too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

KEY_LIFETIME_SECONDS = 24 * 3600
# A hard cap as well, so a client minting a key per request cannot grow
# memory without bound inside one day.
MAX_KEYS = 200_000

Key = tuple[str, str]  # (API key, Idempotency-Key)


@dataclass(slots=True)
class StoredAnswer:
    fingerprint: str
    status: int
    payload: bytes
    created: int  # sandbox clock, seconds


class IdempotencyStore:
    def __init__(self) -> None:
        # Insertion order is age order: the sandbox clock only moves forward.
        self._answers: OrderedDict[Key, StoredAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def __iter__(self) -> Iterator[tuple[Key, StoredAnswer]]:
        return iter(self._answers.items())

    def clear(self) -> None:
        self._answers.clear()

    def get(self, key: Key, *, now: int) -> StoredAnswer | None:
        self.prune(now=now)
        return self._answers.get(key)

    def put(self, key: Key, answer: StoredAnswer) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > MAX_KEYS:
            self._answers.popitem(last=False)

    def prune(self, *, now: int) -> int:
        """Forget every key at least 24 hours old; O(keys removed)."""
        cutoff = now - KEY_LIFETIME_SECONDS
        removed = 0
        while self._answers:
            answer = next(iter(self._answers.values()))
            if answer.created > cutoff:
                break
            self._answers.popitem(last=False)
            removed += 1
        return removed
