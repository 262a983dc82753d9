"""Alembic environment of the product service: the platform's, over the async engine."""

from toko.platform.migrations import run_alembic_environment

run_alembic_environment()
