"""The reservation expiry worker: it sleeps longer and longer while nothing is due, yet a reservation made
meanwhile still expires within moments of its time."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from inventory_testkit import Stub, inventory_settings, service, stocked_sku

from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database, UnitOfWork
from toko.services.inventory.bootstrap import expiry_worker
from toko.services.inventory.domain import Line
from toko.services.inventory.handlers import Inventory
from toko.services.inventory.handlers.common import ExpiryAlarm
from toko.services.inventory.handlers.reservations import Reserve, get_reservation, reserve
from toko.services.inventory.settings import InventorySettings

IDLE_SECONDS = 3.0


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints) -> InventorySettings:
    """Settings with a fresh database, whose service's own expiry worker sleeps (the tests run their own)."""
    return inventory_settings(
        infrastructure,
        f"test_inventory_expiry_worker_{uuid.uuid4().hex[:8]}",
        expiry_interval_seconds=3600.0,
        expiry_idle_seconds=3600.0,
    )


class CountingDatabase:
    """The service's database, counting the transactions opened on it (each pass of the worker opens one)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.transactions = 0

    def unit_of_work(self, source: str) -> UnitOfWork:
        self.transactions += 1
        return self._database.unit_of_work(source)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


async def test_an_idle_worker_backs_off_yet_expires_a_new_reservation_on_time(
    stub: Stub, inventory: Inventory, settings: InventorySettings
) -> None:
    _, _, sku_id = await stocked_sku(stub, 3)
    counting = CountingDatabase(inventory.database)
    replica = replace(inventory, database=counting, expiry_alarm=ExpiryAlarm())  # type: ignore[arg-type]
    worker = expiry_worker(
        replica, settings.model_copy(update={"expiry_interval_seconds": 0.1, "expiry_idle_seconds": 30.0})
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker(stop))
    try:
        await asyncio.sleep(IDLE_SECONDS)  # nothing is reserved: the worker waits 0.2 s, 0.4 s, 0.8 s...
        idle_passes = counting.transactions
        reserved = await reserve(
            inventory=replica,
            command=Reserve("order-w1", (Line(sku_id, 3),), ttl_seconds=1),
            principal=service(),
        )
        expires_at = reserved.expire_time.ToDatetime(UTC)
        status = reserved.status
        for _ in range(200):
            status = (await get_reservation(inventory=inventory, reference="order-w1")).status
            if status == pb.RESERVATION_STATUS_EXPIRED:
                break
            await asyncio.sleep(0.05)
        lateness = datetime.now(UTC) - expires_at
    finally:
        stop.set()
        await running

    assert idle_passes <= 6  # passing every 0.1 s, it would have looked 30 times
    assert status == pb.RESERVATION_STATUS_EXPIRED
    # Without the alarm the reservation rings, the worker would sleep on until about 6 s in: 2 s late.
    assert lateness < timedelta(seconds=1.5)
