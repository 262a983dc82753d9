"""What a storefront shows of a SKU: stock levels from inventory's buckets, and a flash sale's discount."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.services.product.domain.storefront import Availability, StockLevel, discount_percent


@pytest.mark.parametrize(
    ("in_stock", "bucket", "level", "surely"),
    [
        (False, "0", StockLevel.OUT_OF_STOCK, 0),
        (True, "1-5", StockLevel.LOW, 1),
        (True, "6-20", StockLevel.IN_STOCK, 6),
        (True, "21+", StockLevel.IN_STOCK, 21),
        # A bucket this side does not know yet: in stock, and at least one unit.
        (True, "100+", StockLevel.IN_STOCK, 1),
    ],
)
def test_inventorys_buckets_read_as_a_stock_level_and_the_units_surely_there(
    in_stock: bool, bucket: str, level: StockLevel, surely: int
) -> None:
    availability = Availability(in_stock, bucket)

    assert (availability.level, availability.surely_available) == (level, surely)


def test_a_discount_is_the_whole_percent_below_the_base_rounded_down() -> None:
    assert discount_percent(45_000, 29_000) == 35  # 35.5 %
    assert discount_percent(100_000, 50_000) == 50
    assert discount_percent(45_000, 45_000) == 0
    assert discount_percent(45_000, 50_000) == 0


@given(st.integers(1, 10**11), st.integers(1, 10**11))
def test_a_discount_never_overstates_the_saving(base: int, price: int) -> None:
    percent = discount_percent(base, price)

    assert 0 <= percent < 100
    if price >= base:
        assert percent == 0
    else:
        # The price with the discount taken off the base is never below the real price.
        assert base * (100 - percent) >= price * 100
