"""The inventory's pure rules: allocation, availability buckets, reorder maths, purchase orders."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.error_codes import CommonReason
from toko.platform.rules import ValidationFailed
from toko.services.inventory import domain
from toko.services.inventory.demo import demo_initial_stock
from toko.services.inventory.domain import (
    Candidate,
    InsufficientStock,
    Line,
    NotPossible,
    OrderedLine,
    PurchaseOrderStatus,
    ReceivedLine,
    WarehouseKind,
)
from toko.services.inventory.error_codes import ErrorCode

CITIES = ["Bandung", "Bekasi", "Jakarta Barat", "Surabaya", "Medan", "Atlantis"]

candidates = st.lists(
    st.builds(
        Candidate,
        stock_id=st.uuids().map(str),
        sku_id=st.sampled_from(["sku-a", "sku-b"]),
        warehouse_id=st.uuids().map(str),
        city=st.sampled_from(CITIES),
        available=st.integers(0, 30),
    ),
    max_size=8,
)
lines = st.lists(
    st.builds(Line, sku_id=st.sampled_from(["sku-a", "sku-b"]), quantity=st.integers(1, 40)),
    min_size=1,
    max_size=2,
    unique_by=lambda line: line.sku_id,
)


@given(lines=lines, stock=candidates, city=st.sampled_from([*CITIES, ""]))
def test_allocation_serves_every_line_exactly_or_refuses_naming_the_short_skus(
    lines: list[Line], stock: list[Candidate], city: str
) -> None:
    available = {c.stock_id: c.available for c in stock}
    short = {
        line.sku_id
        for line in lines
        if sum(c.available for c in stock if c.sku_id == line.sku_id) < line.quantity
    }
    if short:
        with pytest.raises(InsufficientStock) as refused:
            domain.plan_allocation(lines, stock, city)
        assert set(refused.value.shortages) == short
        return
    plan = domain.plan_allocation(lines, stock, city)
    for line in lines:
        assert sum(a.quantity for a in plan if a.sku_id == line.sku_id) == line.quantity
    for allocated in plan:
        assert 0 < allocated.quantity <= available[allocated.stock_id]
    assert len({a.stock_id for a in plan}) == len(plan)


@given(stock=candidates, quantity=st.integers(1, 10), city=st.sampled_from(CITIES))
def test_a_nearer_warehouse_is_used_before_a_farther_one(
    stock: list[Candidate], quantity: int, city: str
) -> None:
    try:
        plan = domain.plan_allocation([Line("sku-a", quantity)], stock, city)
    except InsufficientStock:
        return
    used = {a.stock_id for a in plan}
    used_rank = max(domain.proximity(city, c.city) for c in stock if c.stock_id in used)
    # Any warehouse strictly nearer than the farthest one used was drained first.
    for c in stock:
        if c.sku_id == "sku-a" and c.available and domain.proximity(city, c.city) < used_rank:
            assert c.stock_id in used
            assert next(a.quantity for a in plan if a.stock_id == c.stock_id) == c.available


def test_same_city_then_province_then_the_most_stock() -> None:
    stock = [
        Candidate("1", "s", "far-big", "Surabaya", 50),
        Candidate("2", "s", "province", "Bekasi", 3),
        Candidate("3", "s", "far-small", "Medan", 10),
    ]

    plan = domain.plan_allocation([Line("s", 5)], stock, "Bandung")

    assert [(a.warehouse_id, a.quantity) for a in plan] == [("province", 3), ("far-big", 2)]


@pytest.mark.parametrize(
    ("available", "bucket"),
    [(0, "0"), (-1, "0"), (1, "1-5"), (5, "1-5"), (6, "6-20"), (20, "6-20"), (21, "21+")],
)
def test_quantity_buckets(available: int, bucket: str) -> None:
    assert domain.quantity_bucket(available) == bucket


@given(before=st.integers(0, 100), after=st.integers(0, 100), point=st.integers(0, 50))
def test_low_stock_is_crossed_only_on_the_way_down(before: int, after: int, point: int) -> None:
    crossed = domain.crossed_into_low(before, after, point)
    assert crossed == (point > 0 and after <= point < before)


@pytest.mark.parametrize("bad", [0, -1, 1_000_001, True, 1.5])
def test_quantities_are_positive_whole_numbers(bad: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.positive_quantity(bad, "quantity")  # type: ignore[arg-type]
    assert refused.value.reason == ErrorCode.INVALID_QUANTITY


def test_an_adjustment_needs_a_reason() -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.adjustment_reason("   ")
    assert refused.value.reason == ErrorCode.ADJUSTMENT_REASON_REQUIRED


@given(
    sold=st.integers(0, 10_000), days=st.integers(1, 365), lead=st.integers(0, 60), safety=st.integers(0, 500)
)
def test_reorder_point_is_demand_over_the_lead_time_plus_safety_stock(
    sold: int, days: int, lead: int, safety: int
) -> None:
    demand = domain.average_daily_demand(sold, days)
    point = domain.reorder_point(demand, lead, safety)

    assert demand == Fraction(sold, days)
    assert point - safety == math.ceil(Fraction(sold * lead, days))
    assert point >= safety


@given(
    available=st.integers(0, 500),
    sold=st.integers(0, 3_000),
    lead=st.integers(0, 30),
    safety=st.integers(0, 50),
    moq=st.integers(1, 200),
)
def test_suggested_orders_respect_the_moq_and_bring_the_line_above_its_reorder_point(
    available: int, sold: int, lead: int, safety: int, moq: int
) -> None:
    demand = domain.average_daily_demand(sold, 30)
    point = domain.reorder_point(demand, lead, safety)

    quantity = domain.suggested_order(
        available=available, point=point, daily_demand=demand, lead_time_days=lead, min_order_quantity=moq
    )

    if available > point:
        assert quantity == 0
    else:
        assert quantity >= moq
        assert available + quantity >= point


def test_purchase_orders_follow_their_state_machine() -> None:
    draft = PurchaseOrderStatus.DRAFT
    assert domain.po_transition(draft, PurchaseOrderStatus.SUBMITTED) is PurchaseOrderStatus.SUBMITTED
    with pytest.raises(NotPossible) as refused:
        domain.po_transition(PurchaseOrderStatus.RECEIVED, PurchaseOrderStatus.CANCELLED)
    assert refused.value.reason == ErrorCode.INVALID_PO_TRANSITION
    with pytest.raises(NotPossible):
        domain.po_transition(PurchaseOrderStatus.PARTIALLY_RECEIVED, PurchaseOrderStatus.CANCELLED)


def test_receipts_move_the_order_on_and_refuse_more_than_was_ordered() -> None:
    ordered = [OrderedLine("a", 10), OrderedLine("b", 5)]

    status, after = domain.apply_receipt(PurchaseOrderStatus.SUBMITTED, ordered, [ReceivedLine("a", 8, 2)])
    done, _ = domain.apply_receipt(status, after, [ReceivedLine("b", 5, 0)])
    with pytest.raises(ValidationFailed) as over:
        domain.apply_receipt(status, after, [ReceivedLine("b", 6, 0)])

    assert status is PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert done is PurchaseOrderStatus.RECEIVED
    assert over.value.reason == ErrorCode.OVER_RECEIPT


def test_supplier_performance_rates() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    orders = [
        domain.DeliveredOrder(10, 9, 1, start, start + timedelta(days=7), start + timedelta(days=6)),
        domain.DeliveredOrder(10, 5, 0, start, start + timedelta(days=7), start + timedelta(days=10)),
        domain.DeliveredOrder(20, 0, 0, start, start + timedelta(days=7), None),
    ]

    found = domain.supplier_performance(orders)

    assert found.purchase_orders == 3
    assert found.on_time_rate == 0.5
    assert found.fill_rate == pytest.approx(14 / 40)
    assert found.rejection_rate == pytest.approx(1 / 15)
    assert found.average_lead_time_days == pytest.approx(8.0)


@given(st.uuids().map(str))
def test_demo_opening_stock_is_deterministic_and_in_range(sku_id: str) -> None:
    assert demo_initial_stock(sku_id) == demo_initial_stock(sku_id)
    assert 20 <= demo_initial_stock(sku_id) <= 200


# --- lots of perishable SKUs ---------------------------------------------------------------------------------

TODAY = datetime(2026, 11, 25, tzinfo=UTC).date()


def _lot(code: str, days: int, on_hand: int, reserved: int = 0) -> domain.Lot:
    return domain.Lot(code, TODAY + timedelta(days=days), on_hand, reserved)


def _by_code(deltas: list[domain.LotDelta]) -> dict[str, tuple[int, int]]:
    return {d.code: (d.on_hand_delta, d.reserved_delta) for d in deltas}


def test_holding_takes_the_earliest_expiring_lots_and_skips_expired_ones() -> None:
    lots = [_lot("LATE", 30, 5), _lot("GONE", -1, 9), _lot("EARLY", 2, 3, reserved=1), _lot("MID", 9, 4)]

    assert _by_code(domain.plan_lot_deltas(lots, 0, 5, TODAY)) == {"EARLY": (0, 2), "MID": (0, 3)}
    with pytest.raises(domain.LotsShort):
        domain.plan_lot_deltas(lots, 0, 12, TODAY)  # 11 sellable: the expired lot's 9 are not


def test_sales_take_held_units_first_expired_first_and_releases_the_latest_first() -> None:
    lots = [_lot("A", 1, 3, reserved=2), _lot("B", 5, 4, reserved=4)]

    assert _by_code(domain.plan_lot_deltas(lots, -3, -3, TODAY)) == {"A": (-2, -2), "B": (-1, -1)}
    assert _by_code(domain.plan_lot_deltas(lots, 0, -5, TODAY)) == {"B": (0, -4), "A": (0, -1)}
    assert _by_code(domain.plan_lot_deltas(lots, -1, 0, TODAY)) == {"A": (-1, 0)}
    with pytest.raises(domain.LotsShort):
        domain.plan_lot_deltas(lots, 2, 0, TODAY)  # arriving units name their lot


def test_expired_lots_are_written_off_but_not_their_held_units() -> None:
    lots = [_lot("OLD", -3, 5, reserved=2), _lot("TODAY", 0, 4), _lot("NEW", 8, 1)]

    assert _by_code(domain.expired_lots_write_off(lots, TODAY)) == {"OLD": (-3, 0)}


@pytest.mark.parametrize(
    ("code", "expiry", "reason", "field"),
    [
        ("", "2026-12-01", ErrorCode.LOT_REQUIRED, "lot_code"),
        ("L1", " ", ErrorCode.LOT_REQUIRED, "expiry_date"),
        ("L1", "2026-11-24", ErrorCode.LOT_EXPIRED, "expiry_date"),
        ("L1", "25/11/2026", ErrorCode.INVALID_LOT, "expiry_date"),
        ("L" * 65, "2026-12-01", ErrorCode.INVALID_LOT, "lot_code"),
    ],
)
def test_arriving_lots_are_checked(code: str, expiry: str, reason: ErrorCode, field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        domain.incoming_lot(code, expiry, TODAY)

    assert (raised.value.reason, raised.value.violations[0].field) == (reason, field)
    assert domain.incoming_lot(" L1 ", "2026-11-25", TODAY) == ("L1", TODAY)


def test_lots_named_in_a_line_of_a_request_report_the_lines_field() -> None:
    with pytest.raises(ValidationFailed) as raised:
        domain.incoming_lot("L1", "2026-11-24", TODAY, "lines[3].")

    assert (raised.value.reason, raised.value.violations[0].field) == (
        ErrorCode.LOT_EXPIRED,
        "lines[3].expiry_date",
    )
    assert domain.lot_identity("L1", "2026-11-24") == ("L1", TODAY - timedelta(days=1))


def test_a_count_sets_one_lot_and_counts_an_expired_lot_down_only() -> None:
    lots = [_lot("A", 5, 4, reserved=1), _lot("OLD", -1, 3)]

    assert domain.lot_count_delta(lots, "A", TODAY + timedelta(days=5), 6, TODAY) == domain.LotDelta(
        "A", TODAY + timedelta(days=5), 2, 0
    )
    assert domain.lot_count_delta(lots, "A", TODAY + timedelta(days=6), 6, TODAY).on_hand_delta == 6  # new
    assert domain.lot_count_delta(lots, "OLD", TODAY - timedelta(days=1), 1, TODAY).on_hand_delta == -2
    with pytest.raises(ValidationFailed) as raised:
        domain.lot_count_delta(lots, "OLD", TODAY - timedelta(days=1), 4, TODAY)
    assert (raised.value.reason, raised.value.violations[0].field) == (ErrorCode.LOT_EXPIRED, "expiry_date")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["in", "hold", "release", "sell", "out"]), st.integers(1, 8), st.integers(-2, 6)
        ),
        max_size=40,
    )
)
def test_planned_lot_movements_keep_the_lots_summing_to_the_line(steps: list[tuple[str, int, int]]) -> None:
    lots: dict[tuple[str, object], list[int]] = {}
    on_hand = reserved = 0
    for kind, units, days in steps:
        current = [domain.Lot(code, expires, oh, rs) for (code, expires), (oh, rs) in lots.items()]
        deltas_of = {"hold": (0, units), "release": (0, -units), "sell": (-units, -units), "out": (-units, 0)}
        try:
            if kind == "in":
                deltas = [domain.LotDelta(f"L{days}", TODAY + timedelta(days=days), units, 0)]
            else:
                deltas = domain.plan_lot_deltas(current, *deltas_of[kind], TODAY)
        except domain.LotsShort:
            continue
        for delta in deltas:
            lot = lots.setdefault((delta.code, delta.expires_on), [0, 0])
            lot[0] += delta.on_hand_delta
            lot[1] += delta.reserved_delta
            assert 0 <= lot[1] <= lot[0]
            if kind == "hold":
                assert delta.expires_on >= TODAY
        on_hand += sum(d.on_hand_delta for d in deltas)
        reserved += sum(d.reserved_delta for d in deltas)
        assert (sum(d.on_hand_delta for d in deltas), sum(d.reserved_delta for d in deltas)) == (
            deltas_of[kind] if kind != "in" else (units, 0)
        )

    assert (sum(lot[0] for lot in lots.values()), sum(lot[1] for lot in lots.values())) == (on_hand, reserved)


def test_every_bad_field_of_a_new_warehouse_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.warehouse_details(kind=None, shop_named=True, name=" ", address="x" * 1_000, city="")

    fields = {violation.field for violation in refused.value.violations}
    assert {"name", "city", "address"} <= fields
    assert refused.value.reason == CommonReason.VALIDATION_FAILED


def test_every_bad_field_of_a_transfer_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.transfer_quantity(from_warehouse_id="w-1", to_warehouse_id="w-1", quantity=0)

    assert [(v.field, v.reason) for v in refused.value.violations] == [
        ("to_warehouse_id", ErrorCode.SAME_WAREHOUSE_TRANSFER),
        ("quantity", ErrorCode.INVALID_QUANTITY),
    ]


@pytest.mark.parametrize("name", ["\u200b\u200c", "\ufeff", "Gudang\u202eAmam"])
def test_a_warehouse_name_of_invisible_or_reordering_characters_is_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        domain.warehouse_details(
            kind=WarehouseKind.SHOP, shop_named=True, name=name, address="", city="Bandung"
        )

    assert [(v.field, v.reason) for v in refused.value.violations] == [
        ("name", ErrorCode.INVALID_WAREHOUSE_NAME)
    ]
