"""The Alembic environment every service's ``migrations/env.py`` runs: one call, no copies.

A service's ``env.py`` is just::

    from toko.platform.migrations import run_alembic_environment

    run_alembic_environment()
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    # NullPool: a migration run holds one connection briefly and must leave nothing behind.
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_alembic_environment() -> None:
    """Apply the migrations Alembic was asked for, over the async engine (or as SQL, offline)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (toko.platform.db.run_migrations does)")
    if context.is_offline_mode():
        _run_offline(url)
    else:
        # Alembic runs env.py synchronously; run_migrations is called from a worker thread, never the loop.
        asyncio.run(_run_online(url))
