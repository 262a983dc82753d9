"""PostgreSQL access: one database per service, SQLAlchemy 2.0 async over asyncpg, and the unit of work.

The unit of work owns the transaction. A use case opens one, does its reads and
writes through ``uow.session``, records the domain events it raises with
``uow.publish(...)``, and commits once: the events are written to the outbox in
that same transaction, so either both the change and its events exist or neither.
Leaving the block without committing rolls back.

Hot paths may run statements on the unit of work's asyncpg connection itself
(``driver_connection``): they are part of the same transaction, and skip the
statement layer of SQLAlchemy, which costs more CPU than a short statement (ADR 10).
``driver_connection(generic_plans=True)`` also has PostgreSQL reuse each statement's
generic plan for the rest of the transaction, for statements written so that plan is
the best one (ADR 11).

Reads are sessions from ``Database.sessions`` (one transaction, so several statements
agree) or, for a read that is a single statement, ``Database.single_reads``: no
transaction, so no BEGIN and ROLLBACK round trips.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from toko.platform.context import trace_var
from toko.platform.events import PendingEvent
from toko.platform.schema import outbox
from toko.platform.settings import ServiceSettings

log = logging.getLogger(__name__)

# The outbox relay LISTENs here (``toko.platform.outbox``); a commit that wrote events NOTIFYs it.
NOTIFY_CHANNEL = "toko_outbox"
_NOTIFY = text(f"NOTIFY {NOTIFY_CHANNEL}")


def service_database_url(server_url: str, database: str) -> URL:
    """The URL of ``database`` on the server that ``server_url`` points at."""
    return make_url(server_url).set(drivername="postgresql+asyncpg", database=database)


def _asyncpg_dsn(url: URL) -> tuple[str, dict[str, str]]:
    # asyncpg takes a libpq-style DSN; a Unix socket directory travels as the 'host' query argument.
    plain = url.set(drivername="postgresql")
    query = dict(plain.query)
    host = query.pop("host", None)
    dsn = plain.set(query={}).render_as_string(hide_password=False)
    return dsn, ({"host": str(host)} if host else {})


async def ensure_database(url: URL) -> bool:
    """Create the service's database if it does not exist yet; True when it was created."""
    admin_dsn, extra = _asyncpg_dsn(url.set(database="postgres"))
    connection = await asyncpg.connect(admin_dsn, **extra)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if exists:
            return False
        try:
            await connection.execute(f'CREATE DATABASE "{url.database}"')
        except asyncpg.DuplicateDatabaseError:
            # Another replica created it between our check and our CREATE.
            return False
        log.info("created database", extra={"database": url.database})
        return True
    finally:
        await connection.close()


def run_migrations(url: URL, migrations: Path) -> None:
    """Apply the service's Alembic migrations up to head (blocking; call at start, before serving)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


async def open_service_database(settings: ServiceSettings, migrations: Path) -> Database:
    """A service's own database (``settings.database_name`` on ``settings.database_url``), migrated."""
    return await open_database(
        server_url=settings.database_url,
        name=settings.database_name,
        migrations=migrations,
        pool_size=settings.db_pool_size,
    )


async def open_database(*, server_url: str, name: str, migrations: Path, pool_size: int) -> Database:
    """A service's database: created if needed, migrated to head, opened."""
    url = service_database_url(server_url, name)
    await ensure_database(url)
    # Alembic's env.py runs its own event loop, so it cannot run on ours.
    await asyncio.to_thread(run_migrations, url, migrations)
    return Database(url, pool_size=pool_size)


@dataclass
class Database:
    """A service's database: its engine and session factory."""

    url: URL
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    # Sessions without a transaction, for a read that is one statement (see ``single_reads``).
    single_reads: async_sessionmaker[AsyncSession] = field(init=False)
    pool_size: int = 20

    def __post_init__(self) -> None:
        self.engine = create_async_engine(
            self.url,
            # Connections beyond the pool are closed as soon as they are returned, so a load just above
            # the pool size opens a PostgreSQL backend per request (measured: a third of the reservation
            # throughput lost). The pool holds the steady concurrency; the overflow only absorbs bursts.
            pool_size=self.pool_size,
            max_overflow=self.pool_size // 2,
            pool_pre_ping=False,
            # A failed statement's error (logged with its traceback) shows the SQL, not every value bound
            # to it (password hashes, token digests, emails); only what PostgreSQL or asyncpg quote about
            # the value at fault remains in their own message.
            hide_parameters=True,
            # Prepared statements are cached per connection by asyncpg; keep the cache warm.
            connect_args={"statement_cache_size": 512},
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # A statement on its own is as consistent as inside a transaction, and BEGIN and ROLLBACK would
        # be two of its three round trips. Only for reads of one statement: never for writes, nor for
        # several reads that must agree with one another.
        self.single_reads = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            autoflush=False,
        )

    def unit_of_work(self, source: str) -> UnitOfWork:
        """A new unit of work whose events are published as coming from ``source``."""
        return UnitOfWork(self.sessions, source)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


class UnitOfWork:
    """One transaction, and the events it raises, committed together."""

    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession], source: str) -> None:
        self._sessions = sessions
        self.source = source
        self._events: list[PendingEvent] = []

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        await self.session.begin()
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Rolls back whatever was not committed, including after an exception.
        await self.session.rollback()
        await self.session.close()

    def publish(self, message: Message, *, subject: str) -> None:
        """Record a domain event about aggregate ``subject``; it is written on commit."""
        self._events.append(
            PendingEvent(source=self.source, subject=subject, message=message, trace=trace_var.get())
        )

    @property
    def pending_events(self) -> Sequence[PendingEvent]:
        """Events recorded and not yet committed."""
        return tuple(self._events)

    async def driver_connection(self, *, generic_plans: bool = False) -> asyncpg.Connection:
        """The asyncpg connection under this unit of work, inside its transaction.

        Statements run on it commit or roll back with the unit of work. SQLAlchemy begins its
        transaction on its first statement; when none has run yet, one trivial statement begins it
        here, so that nothing run on the connection could ever be committed on its own.

        With ``generic_plans``, every statement for the rest of the transaction runs the generic plan
        PostgreSQL keeps for it instead of planning again for each call's values (``plan_cache_mode``).
        Only for statements whose best plan does not depend on the values: for the reservation
        statements, planning was 40% of PostgreSQL's time (ADR 11).
        """
        return await driver_connection(self.session, generic_plans=generic_plans)

    async def commit(self) -> None:
        """Write the recorded events to the outbox and commit everything in one transaction."""
        if self._events:
            await stage_events(self.session, self._events)
            self._events = []
        await self.session.commit()


async def driver_connection(session: AsyncSession, *, generic_plans: bool = False) -> asyncpg.Connection:
    """The asyncpg connection of ``session``, its transaction begun (see ``UnitOfWork.driver_connection``)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        # The statement that begins the transaction sets the plan mode too: no round trip of its own.
        await connection.exec_driver_sql(_GENERIC_PLANS if generic_plans else "SELECT 1")
    elif generic_plans:
        await driver.execute(_GENERIC_PLANS)
    return driver


# Local to the transaction: the pooled connection goes back to planning per call when it ends.
_GENERIC_PLANS = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"


async def stage_events(session: AsyncSession, events: Sequence[PendingEvent]) -> None:
    """Write ``events`` to the outbox in the session's transaction and wake the relay on commit."""
    if not events:
        return
    rows = [
        {
            "id": event.id,
            "subject": event.nats_subject,
            "aggregate": event.subject,
            "type": event.type,
            "envelope": event.envelope().SerializeToString(),
        }
        for event in events
    ]
    if len(rows) == 1:
        await session.execute(outbox.insert().values(rows))
    else:
        # Run once per row from one compiled statement: a multi-row VALUES is compiled anew for every
        # count of rows, which cost the demo seed 2.5 s of its 22 (48 commits of 100 products).
        await session.execute(outbox.insert(), rows)
    # PostgreSQL delivers a NOTIFY only when the transaction commits, and never after a rollback.
    await session.execute(_NOTIFY)
