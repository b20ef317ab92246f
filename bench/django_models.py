"""Django for the in-process benchmarks, its tables built from the models."""

from __future__ import annotations

import os


class _NoMigrations:
    """Every app without migrations, as ``pytest --no-migrations``: ``migrate
    --run-syncdb`` creates the tables straight from the models, which is much faster."""

    def __contains__(self, item: str) -> bool:
        return True

    def __getitem__(self, item: str) -> None:
        return None


def django_setup_without_migrations(*, env: dict[str, str]) -> None:
    """Set ``env`` (DATABASE_URL, the Stripe and Django settings), start Django, and turn
    the migrations off."""
    os.environ.update(env)
    import django
    from django.conf import settings

    django.setup()
    settings.MIGRATION_MODULES = _NoMigrations()
