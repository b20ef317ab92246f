"""The session store: Django's database sessions, read in one plain query.

Every shopper request loads its session by primary key, /pay included. Django's store
reads it through the ORM (a queryset, a model instance) to use one column; this store
reads that column with one SQL statement, the same one the ORM sends, and otherwise is
Django's: the same table, expiry, writes and cookie (``SESSION_ENGINE``). A key that is
missing or expired loads an empty session and is forgotten, as in Django.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self) -> dict:
        data = self._session_data_read() if self.session_key else None
        if data is None:
            self._session_key = None
            return {}
        return self.decode(data)

    def _session_data_read(self) -> str | None:
        connection = connections[router.db_for_read(self.model)]
        table = connection.ops.quote_name(self.model._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())  # as the ORM sends it
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT session_data FROM {table} "
                           "WHERE session_key = %s AND expire_date > %s",
                           [self.session_key, now])
            row = cursor.fetchone()
        return row[0] if row else None
