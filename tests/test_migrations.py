"""The test suite builds tables from the models (--no-migrations, for speed), so this
checks that the committed migrations match the models."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree(settings):
    settings.MIGRATION_MODULES = {}  # undo --no-migrations for this check
    call_command("makemigrations", "payments", "--check", "--dry-run", verbosity=0)
