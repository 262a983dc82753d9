"""Idempotency keys on a real PostgreSQL: replay, key reuse, rollback and concurrent retries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import func, select, update

from toko.platform.db import Database
from toko.platform.errors import FailedPrecondition
from toko.platform.idempotency import purge_idempotency_keys, remember, replay_or_none, request_hash
from toko.platform.schema import idempotency_keys

OPERATION = "order.PlaceOrder"


async def place_order(db: Database, *, key: str, request: StringValue, calls: list[str]) -> bytes:
    """A use case that honours idempotency keys; ``calls`` records each time it really runs."""
    digest = request_hash(request)
    async with db.unit_of_work("order") as uow:
        stored = await replay_or_none(uow.session, operation=OPERATION, key=key, request_hash=digest)
        if stored is not None:
            return stored
        await asyncio.sleep(0.1)  # the work, long enough for a concurrent retry to arrive
        calls.append(request.value)
        response = f"order for {request.value} #{len(calls)}".encode()
        await remember(uow.session, operation=OPERATION, key=key, request_hash=digest, response=response)
        await uow.commit()
    return response


async def test_a_retry_with_the_same_key_replays_the_first_response(database: Database) -> None:
    key, calls = str(uuid.uuid4()), list[str]()

    first = await place_order(database, key=key, request=StringValue(value="2 mugs"), calls=calls)
    retry = await place_order(database, key=key, request=StringValue(value="2 mugs"), calls=calls)

    assert retry == first
    assert calls == ["2 mugs"]


async def test_reusing_a_key_for_a_different_request_is_refused(database: Database) -> None:
    key, calls = str(uuid.uuid4()), list[str]()
    await place_order(database, key=key, request=StringValue(value="2 mugs"), calls=calls)

    with pytest.raises(FailedPrecondition) as refused:
        await place_order(database, key=key, request=StringValue(value="9 mugs"), calls=calls)

    assert refused.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert calls == ["2 mugs"]


async def test_concurrent_retries_run_the_use_case_once(database: Database) -> None:
    key, calls = str(uuid.uuid4()), list[str]()
    request = StringValue(value="1 kettle")

    responses = await asyncio.gather(
        *(place_order(database, key=key, request=request, calls=calls) for _ in range(3))
    )

    assert len(set(responses)) == 1
    assert calls == ["1 kettle"]


async def test_a_rolled_back_use_case_leaves_no_key_behind(database: Database) -> None:
    key = str(uuid.uuid4())
    async with database.unit_of_work("order") as uow:
        await remember(uow.session, operation=OPERATION, key=key, request_hash="h", response=b"r")
        # no commit: the use case failed after remembering

    async with database.sessions() as session:
        assert await replay_or_none(session, operation=OPERATION, key=key, request_hash="h") is None


async def test_the_same_key_for_different_operations_is_independent(database: Database) -> None:
    key = str(uuid.uuid4())
    async with database.unit_of_work("order") as uow:
        await remember(uow.session, operation="a.One", key=key, request_hash="h1", response=b"one")
        await remember(uow.session, operation="a.Two", key=key, request_hash="h2", response=b"two")
        await uow.commit()

    async with database.sessions() as session:
        assert await replay_or_none(session, operation="a.Two", key=key, request_hash="h2") == b"two"


async def test_purge_drops_only_old_keys(database: Database) -> None:
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    async with database.sessions() as session, session.begin():
        for key in (old, recent):
            await remember(session, operation="purge.Test", key=key, request_hash="h", response=b"r")
        await session.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == old)
            .values(created_at=func.now() - timedelta(days=2))
        )

    async with database.sessions() as session, session.begin():
        await purge_idempotency_keys(session, older_than=timedelta(days=1))

    async with database.sessions() as session:
        left = (
            await session.scalars(
                select(idempotency_keys.c.key).where(idempotency_keys.c.operation == "purge.Test")
            )
        ).all()
    assert left == [recent]
