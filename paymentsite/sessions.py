"""Sessions in the database as Django's ``db`` engine keeps them, read by one plain
SELECT. Every /pay loads its session, and building the ORM's query cost more CPU than
the read itself (issue 18). Everything else (saving a cart, cycling the key at sign-in,
expiry, clearsessions) is Django's own."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self) -> dict[str, Any]:
        data = self._session_data_read()
        if data is None:  # unknown or expired, as Django's: the key is dropped
            self._session_key = None
            return {}
        return self.decode(data)

    def _session_data_read(self) -> str | None:
        model = self.model
        database = connections[router.db_for_read(model)]
        quote = database.ops.quote_name
        with database.cursor() as cursor:
            cursor.execute(f"SELECT {quote('session_data')} FROM {quote(model._meta.db_table)} "
                           f"WHERE {quote('session_key')} = %s AND {quote('expire_date')} > %s",
                           [self.session_key, timezone.now()])
            row = cursor.fetchone()
        return row[0] if row else None
