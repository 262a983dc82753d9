"""Alembic environment of the service: the platform's, over the async engine."""

from toko.platform.migrations import run_alembic_environment

run_alembic_environment()
