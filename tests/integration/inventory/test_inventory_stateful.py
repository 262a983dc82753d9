"""Random sequences of stock movements against the real database, checking the ledger's invariants after each.

- on hand equals the sum of the ledger (per line), and so does reserved;
- reserved equals the quantities of live reservations; available is never negative;
- the totals agree with a plain model of what each step should have done;
- the second SKU is perishable: its lines always equal the sum of their lots.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from inventory_testkit import invariant_breaches, seller
from sqlalchemy import text

from toko.platform.cache import create_valkey
from toko.platform.db import Database, open_service_database
from toko.platform.errors import DomainError
from toko.services.inventory.bootstrap import MIGRATIONS
from toko.services.inventory.counters import FlashSaleCounters
from toko.services.inventory.domain import Line, WarehouseKind
from toko.services.inventory.handlers import Inventory, reservations, stock, warehouses
from toko.services.inventory.handlers.stock import StockChange, Transfer
from toko.services.inventory.settings import InventorySettings

T = TypeVar("T")
SERVICE = reservations.EXPIRY_ACTOR


class StockMachine(RuleBasedStateMachine):
    """One shop, two warehouses, two SKUs (the second perishable), and every kind of movement in any order."""

    reservations = Bundle("reservations")
    loop: asyncio.AbstractEventLoop
    database: Database
    counters: FlashSaleCounters

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime.now(UTC)
        self.inventory = Inventory(database=self.database, flash_sales=self.counters, clock=lambda: self.now)
        self.shop = str(uuid.uuid4())
        self.principal = seller(self.shop)
        self.skus = [str(uuid.uuid4()) for _ in range(2)]
        self.warehouses = [
            self.run(
                warehouses.create_warehouse(
                    inventory=self.inventory,
                    command=warehouses.CreateWarehouse(
                        self.shop, f"Gudang {city}", "", city, WarehouseKind.SHOP
                    ),
                    principal=self.principal,
                )
            ).id
            for city in ("Bandung", "Surabaya")
        ]
        self.run(
            stock.set_sku_perishable(
                inventory=self.inventory,
                sku_id=self.skus[1],
                shop_id=self.shop,
                perishable=True,
                principal=self.principal,
            )
        )
        # The model: units on hand per SKU, and the lines of each live reservation.
        self.on_hand = dict.fromkeys(self.skus, 0)
        self.live: dict[str, dict[str, int]] = {}

    def run(self, call: Awaitable[T]) -> T:
        return self.loop.run_until_complete(call)

    def attempt(self, call: Awaitable[Any]) -> bool:
        """Run a movement that may be refused; a refusal must be a domain error, never a crash."""
        try:
            self.run(call)
        except DomainError:
            return False
        return True

    def lot(self, s: int, lot: int) -> dict[str, str]:
        """The lot fields of units arriving: a lot of the perishable SKU, nothing for the other."""
        if s == 0:
            return {}
        expiry = self.now.date() + timedelta(days=7 * (lot + 1))
        return {"lot_code": f"LOT-{lot}", "expiry_date": expiry.isoformat()}

    @rule(w=st.integers(0, 1), s=st.integers(0, 1), quantity=st.integers(1, 20), lot=st.integers(0, 2))
    def receive(self, w: int, s: int, quantity: int, lot: int) -> None:
        change = StockChange(self.warehouses[w], self.skus[s], quantity, **self.lot(s, lot))
        self.run(stock.receive_stock(inventory=self.inventory, change=change, principal=self.principal))
        self.on_hand[self.skus[s]] += quantity

    @rule(
        w=st.integers(0, 1), s=st.integers(0, 1), delta=st.integers(-6, 6).filter(bool), lot=st.integers(0, 2)
    )
    def adjust(self, w: int, s: int, delta: int, lot: int) -> None:
        change = StockChange(
            self.warehouses[w], self.skus[s], delta, reason="stock opname", **self.lot(s, lot)
        )
        if self.attempt(
            stock.adjust_stock(inventory=self.inventory, change=change, principal=self.principal)
        ):
            self.on_hand[self.skus[s]] += delta

    @rule(w=st.integers(0, 1), s=st.integers(0, 1), quantity=st.integers(1, 6))
    def write_off(self, w: int, s: int, quantity: int) -> None:
        change = StockChange(self.warehouses[w], self.skus[s], quantity, reason="rusak")
        if self.attempt(
            stock.write_off_stock(inventory=self.inventory, change=change, principal=self.principal)
        ):
            self.on_hand[self.skus[s]] -= quantity

    @rule(w=st.integers(0, 1), s=st.integers(0, 1), quantity=st.integers(1, 8))
    def transfer(self, w: int, s: int, quantity: int) -> None:
        command = Transfer(self.skus[s], self.warehouses[w], self.warehouses[1 - w], quantity)
        self.attempt(
            stock.transfer_stock(inventory=self.inventory, command=command, principal=self.principal)
        )

    @rule(target=reservations, first=st.integers(0, 5), second=st.integers(0, 5))
    def reserve(self, first: int, second: int) -> str:
        lines = tuple(
            Line(sku, quantity) for sku, quantity in zip(self.skus, (first, second), strict=True) if quantity
        )
        reference = f"order-{uuid.uuid4().hex[:12]}"
        if lines and self.attempt(
            reservations.reserve(
                inventory=self.inventory,
                command=reservations.Reserve(reference, lines, buyer_city="Bandung", ttl_seconds=60),
                principal=SERVICE,
            )
        ):
            self.live[reference] = {line.sku_id: line.quantity for line in lines}
        return reference

    @rule(reference=consumes(reservations))
    def release(self, reference: str) -> None:
        self.attempt(
            reservations.release_reservation(inventory=self.inventory, reference=reference, principal=SERVICE)
        )
        self.live.pop(reference, None)

    @rule(reference=consumes(reservations))
    def commit(self, reference: str) -> None:
        if self.attempt(
            reservations.commit_reservation(inventory=self.inventory, reference=reference, principal=SERVICE)
        ):
            for sku, quantity in self.live.pop(reference).items():
                self.on_hand[sku] -= quantity

    @rule()
    def time_passes(self) -> None:
        self.now += timedelta(seconds=61)
        while self.run(reservations.expire_due_reservations(inventory=self.inventory)):
            pass
        self.live.clear()

    @invariant()
    def books_balance(self) -> None:
        assert self.run(invariant_breaches(self.database)) == []

    @invariant()
    def totals_match_the_model(self) -> None:
        async def totals() -> dict[str, tuple[int, int]]:
            async with self.database.sessions() as session:
                rows = await session.execute(
                    text(
                        "SELECT sku_id, sum(on_hand) AS on_hand, sum(reserved) AS reserved FROM stock "
                        "WHERE sku_id = ANY(:skus) GROUP BY sku_id"
                    ),
                    {"skus": self.skus},
                )
                return {str(row.sku_id): (int(row.on_hand), int(row.reserved)) for row in rows}

        found = self.run(totals())
        for sku in self.skus:
            reserved = sum(lines.get(sku, 0) for lines in self.live.values())
            assert found.get(sku, (0, 0)) == (self.on_hand[sku], reserved)


@pytest.fixture
def machine_loop(settings: InventorySettings) -> Any:
    """An event loop of the machine's own (hypothesis drives it synchronously), the migrated database,
    and flash-sale counters (the machine claims none)."""
    loop = asyncio.new_event_loop()
    database = loop.run_until_complete(open_service_database(settings, MIGRATIONS))
    valkey = create_valkey(settings.redis_url)
    yield loop, database, FlashSaleCounters(valkey)
    loop.run_until_complete(valkey.aclose())
    loop.run_until_complete(database.dispose())
    loop.close()


def test_random_movements_keep_the_books_balanced(machine_loop: Any) -> None:
    StockMachine.loop, StockMachine.database, StockMachine.counters = machine_loop
    run_state_machine_as_test(
        StockMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
