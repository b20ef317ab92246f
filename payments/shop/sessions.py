"""What we keep of a shopper's session: a keyed hash, never the key.

A session key is a bearer credential (it is the ``sessionid`` cookie); anyone who reads
it can act as that shopper, or as that admin. Orders and the ledger keep this hash,
which correlates a shopper's requests for support and cannot be turned back into a key.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.utils.crypto import salted_hmac

# Migration 0002 computes the same hash for the orders stored before it.
_SALT = "payments.session"


def session_fingerprint(*, session: SessionBase) -> str:
    key = session.session_key or ""
    return salted_hmac(_SALT, key).hexdigest()[:32] if key else ""
