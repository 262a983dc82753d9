"""The worker writing off expired lots: no call needed, the books and availability events follow, replicas
share the work without doing it twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from inventory_testkit import (
    Stub,
    as_,
    invariant_breaches,
    inventory_settings,
    new_id,
    new_warehouse,
    seller,
    service,
)
from sqlalchemy import select, text

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import events_pb2
from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database
from toko.platform.schema import outbox
from toko.services.inventory.bootstrap import lot_write_off_worker
from toko.services.inventory.handlers import Inventory
from toko.services.inventory.handlers.lots import write_off_due_lots
from toko.services.inventory.settings import InventorySettings

WORKER_INTERVAL = 0.2


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints) -> InventorySettings:
    """Settings with a fresh database and a lot write-off worker passing every 0.2 s, idle or not (the tests
    expire lots behind its back)."""
    return inventory_settings(
        infrastructure,
        f"test_inventory_lot_expiry_{uuid.uuid4().hex[:8]}",
        lot_write_off_interval_seconds=WORKER_INTERVAL,
        lot_write_off_idle_seconds=WORKER_INTERVAL,
        lot_write_off_batch_size=2,
    )


def _in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


async def _perishable_with_lots(stub: Stub, lots: dict[str, tuple[int, int]]) -> tuple[str, str, str]:
    """A new shop's warehouse holding a perishable SKU in ``lots`` (code -> (days left, units))."""
    shop_id, sku_id = new_id(), new_id()
    warehouse_id = await new_warehouse(stub, shop_id)
    as_seller = as_(seller(shop_id))
    await stub.SetSkuPerishable(
        pb.SetSkuPerishableRequest(sku_id=sku_id, shop_id=shop_id, perishable=True), metadata=as_seller
    )
    for code, (days, units) in lots.items():
        await stub.ReceiveStock(
            pb.ReceiveStockRequest(
                warehouse_id=warehouse_id,
                sku_id=sku_id,
                quantity=units,
                lot_code=code,
                expiry_date=_in_days(days),
            ),
            metadata=as_seller,
        )
    return shop_id, warehouse_id, sku_id


async def _lots(database: Database, sku_id: str) -> dict[str, tuple[int, int]]:
    async with database.sessions() as session:
        rows = await session.execute(
            text("SELECT lot_code, on_hand, reserved FROM stock_lots WHERE sku_id = :sku"), {"sku": sku_id}
        )
        return {row.lot_code: (row.on_hand, row.reserved) for row in rows}


async def _write_offs(database: Database, sku_id: str) -> list[tuple[int, str, str]]:
    """The SKU's write-off ledger rows: (on hand delta, reason, actor)."""
    async with database.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT on_hand_delta, reason, actor FROM stock_ledger "
                "WHERE sku_id = :sku AND kind = 'write_off' ORDER BY id"
            ),
            {"sku": sku_id},
        )
        return [(row.on_hand_delta, row.reason, row.actor) for row in rows]


async def _line(database: Database, sku_id: str) -> tuple[int, int, int]:
    """The SKU's (only) stock line: on hand, reserved, and the sum of its ledger's on hand deltas."""
    async with database.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT s.on_hand, s.reserved, (SELECT sum(l.on_hand_delta) FROM stock_ledger l "
                    "WHERE l.stock_id = s.id) AS ledger FROM stock s WHERE s.sku_id = :sku"
                ),
                {"sku": sku_id},
            )
        ).one()
        return row.on_hand, row.reserved, int(row.ledger)


async def _availability_events(
    database: Database, sku_id: str
) -> list[tuple[events_pb2.StockAvailabilityChanged, bool]]:
    """The SKU's StockAvailabilityChanged events in the outbox, each with whether it was published."""
    async with database.sessions() as session:
        rows = await session.execute(
            select(outbox.c.envelope, outbox.c.sent_at)
            .where(
                outbox.c.type == events_pb2.StockAvailabilityChanged.DESCRIPTOR.full_name,
                outbox.c.aggregate == sku_id,
            )
            .order_by(outbox.c.created_at, outbox.c.id)
        )
        events = []
        for data, sent_at in rows:
            event = events_pb2.StockAvailabilityChanged()
            EventEnvelope.FromString(data).payload.Unpack(event)
            events.append((event, sent_at is not None))
    return events


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Wait until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the worker did not get there in time")
        await asyncio.sleep(WORKER_INTERVAL)


async def test_the_worker_writes_off_expired_lots_without_being_asked(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await _perishable_with_lots(stub, {"OLD": (3, 6), "NEW": (20, 2)})
    await stub.Reserve(  # two units of the old lot are held for a buyer: they stay
        pb.ReserveRequest(reference=f"order-{sku_id}", lines=[pb.ReservationLine(sku_id=sku_id, quantity=2)]),
        metadata=as_(service()),
    )
    async with database.sessions() as session:  # time passes: the old lot is past its date
        await session.execute(
            text("UPDATE stock_lots SET expires_on = :day WHERE sku_id = :sku AND lot_code = 'OLD'"),
            {"day": datetime.now(UTC).date() - timedelta(days=1), "sku": sku_id},
        )
        await session.commit()

    async def written_off() -> bool:
        return bool(await _write_offs(database, sku_id))

    async def published() -> bool:
        events = await _availability_events(database, sku_id)
        return bool(events) and events[-1][1]

    await _eventually(written_off)
    await _eventually(published)
    listed = await stub.ListStockLots(
        pb.ListStockLotsRequest(warehouse_id=warehouse_id, sku_id=sku_id), metadata=as_(seller(shop_id))
    )
    last_event, _ = (await _availability_events(database, sku_id))[-1]

    assert await _write_offs(database, sku_id) == [(-4, "expired lots", "inventory-lot-expiry")]
    assert await _lots(database, sku_id) == {"OLD": (2, 2), "NEW": (2, 0)}
    on_hand, reserved, ledger = await _line(database, sku_id)
    assert (on_hand, reserved) == (4, 2)
    assert on_hand == ledger
    # 8 units, 2 held: 6 available ("6-20") before, 2 ("1-5") once the expired ones are gone.
    assert (last_event.in_stock, last_event.quantity_bucket) == (True, "1-5")
    assert [(lot.lot_code, lot.available, lot.expired) for lot in listed.lots] == [
        ("OLD", 0, True),
        ("NEW", 2, False),
    ]
    assert await invariant_breaches(database) == []


async def test_replicas_share_the_batches_and_never_write_a_lot_off_twice(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    skus = [(await _perishable_with_lots(stub, {"A": (100, 3), "B": (200, 1)}))[2] for _ in range(5)]
    # A clock 150 days ahead: lot A is past its date, B not yet (the service's own worker sees neither).
    later = replace(inventory, clock=lambda: datetime.now(UTC) + timedelta(days=150))

    async def replica() -> list[int]:
        batches = []
        while batch := await write_off_due_lots(inventory=later, limit=2):
            batches.append(batch)
        return batches

    first, second = await asyncio.gather(replica(), replica())

    assert all(1 <= batch <= 2 for batch in first + second)
    assert sum(first + second) >= len(skus)
    for sku_id in skus:
        assert await _write_offs(database, sku_id) == [(-3, "expired lots", "inventory-lot-expiry")]
        assert await _lots(database, sku_id) == {"A": (0, 0), "B": (1, 0)}
    assert await write_off_due_lots(inventory=later) == 0
    assert await invariant_breaches(database) == []


async def test_a_line_locked_elsewhere_is_skipped_not_waited_for(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, _, sku_id = await _perishable_with_lots(stub, {"A": (400, 2)})
    later = replace(inventory, clock=lambda: datetime.now(UTC) + timedelta(days=401))

    async with database.sessions() as session:
        await session.execute(text("SELECT id FROM stock WHERE sku_id = :sku FOR UPDATE"), {"sku": sku_id})
        while await asyncio.wait_for(write_off_due_lots(inventory=later), timeout=5):
            pass  # lines of other tests' SKUs, if any: this one is locked
        skipped = await _write_offs(database, sku_id)
        await session.rollback()
    await write_off_due_lots(inventory=later)

    assert skipped == []
    assert await _write_offs(database, sku_id) == [(-2, "expired lots", "inventory-lot-expiry")]
    assert await invariant_breaches(database) == []


async def test_the_worker_wakes_when_the_date_turns_not_at_its_next_interval(
    stub: Stub, database: Database, inventory: Inventory, settings: InventorySettings
) -> None:
    _, _, sku_id = await _perishable_with_lots(stub, {"LAST": (0, 3)})  # sells through today
    now = datetime.now(UTC)
    to_midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC) - now
    # A worker whose clock is a second before midnight, passing only hourly.
    turning = replace(inventory, clock=lambda: datetime.now(UTC) + to_midnight - timedelta(seconds=1))
    worker = lot_write_off_worker(
        turning, settings.model_copy(update={"lot_write_off_interval_seconds": 3600})
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker(stop))
    try:
        await asyncio.sleep(0.5)
        assert await _write_offs(database, sku_id) == []  # its last day of sale is not over yet

        async def written_off() -> bool:
            return bool(await _write_offs(database, sku_id))

        await _eventually(written_off, seconds=5)
    finally:
        stop.set()
        await running
    assert await _write_offs(database, sku_id) == [(-3, "expired lots", "inventory-lot-expiry")]
