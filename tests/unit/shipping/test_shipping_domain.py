"""The shipping service's rules, without I/O: chargeable weight, status tables and moves, couriers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.services.shipping.domain import (
    COURIERS,
    Item,
    Level,
    Parcel,
    Status,
    WeightRounding,
    find_courier,
    next_status,
)


def test_every_slotted_service_is_instant_or_same_day() -> None:
    slotted = {(c.code, s.code) for c in COURIERS for s in c.services if s.slotted}

    assert slotted == {("gosend", "INSTANT"), ("gosend", "SAMEDAY")}
    assert all(s.level in (Level.INSTANT, Level.SAME_DAY) for c in COURIERS for s in c.services if s.slotted)


@pytest.mark.parametrize(
    ("grams", "tolerant", "rounded_up"),
    [(1, 1000, 1000), (1000, 1000, 1000), (1300, 1000, 2000), (1310, 2000, 2000), (2301, 3000, 3000)],
)
def test_jne_drops_up_to_three_tenths_of_a_kilogram_and_anteraja_none(
    grams: int, tolerant: int, rounded_up: int
) -> None:
    assert WeightRounding.WHOLE_KG_WITH_TOLERANCE.charged_grams(grams) == tolerant
    assert WeightRounding.WHOLE_KG_UP.charged_grams(grams) == rounded_up


@given(grams=st.integers(min_value=1, max_value=5_000_000))
def test_a_charged_weight_is_whole_kilograms_never_below_one_nor_far_from_the_weight(grams: int) -> None:
    for rule in WeightRounding:
        charged = rule.charged_grams(grams)
        assert charged % 1000 == 0
        assert charged >= 1000
        assert grams - 300 <= charged < grams + 1000


@given(
    weight=st.integers(1, 50_000),
    sides=st.tuples(st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 2000)),
    quantity=st.integers(1, 999),
)
def test_the_chargeable_weight_is_the_larger_of_actual_and_volumetric(
    weight: int, sides: tuple[int, int, int], quantity: int
) -> None:
    parcel = Parcel((Item(weight, *sides, quantity=quantity),))
    jne = find_courier("jne")
    assert jne is not None

    heavier = max(parcel.actual_grams, parcel.volumetric_grams)
    assert parcel.chargeable_grams(jne) == WeightRounding.WHOLE_KG_WITH_TOLERANCE.charged_grams(heavier)
    assert parcel.volumetric_grams * 6000 >= sides[0] * sides[1] * sides[2] * quantity


def test_a_30_cm_cube_of_one_kilogram_is_charged_for_its_volume() -> None:
    parcel = Parcel((Item(1000, 300, 300, 300, quantity=1),))
    jne = find_courier("jne")
    assert jne is not None

    assert (parcel.actual_grams, parcel.volumetric_grams, parcel.chargeable_grams(jne)) == (1000, 4500, 5000)


@pytest.mark.parametrize(
    ("courier", "word", "status"),
    [
        ("jne", "WITH DELIVERY COURIER", Status.OUT_FOR_DELIVERY),
        ("jne", "delivered", Status.DELIVERED),
        ("jnt", "Arrival", Status.IN_TRANSIT),
        ("sicepat", "ANT", Status.OUT_FOR_DELIVERY),
        ("sicepat", "RETUR  PUSAT", Status.RETURNED_TO_SENDER),
        ("anteraja", "600", Status.FAILED_ATTEMPT),
        ("gosend", "picked", Status.PICKED_UP),
    ],
)
def test_each_couriers_words_mean_one_status(courier: str, word: str, status: Status) -> None:
    found = find_courier(courier)
    assert found is not None

    assert found.status_of(word) == status
    assert found.status_of("SOMETHING ELSE") is None


def test_every_courier_names_every_status() -> None:
    for courier in COURIERS:
        assert set(courier.statuses.values()) == set(Status), courier.code


@pytest.mark.parametrize(
    ("current", "reported", "moved"),
    [
        (Status.BOOKED, Status.IN_TRANSIT, Status.IN_TRANSIT),
        (Status.OUT_FOR_DELIVERY, Status.IN_TRANSIT, None),
        (Status.OUT_FOR_DELIVERY, Status.FAILED_ATTEMPT, Status.FAILED_ATTEMPT),
        (Status.FAILED_ATTEMPT, Status.OUT_FOR_DELIVERY, Status.OUT_FOR_DELIVERY),
        (Status.FAILED_ATTEMPT, Status.PICKED_UP, None),
        (Status.IN_TRANSIT, Status.RETURNED_TO_SENDER, Status.RETURNED_TO_SENDER),
        (Status.DELIVERED, Status.RETURNED_TO_SENDER, None),
        (Status.DELIVERED, Status.DELIVERED, None),
    ],
)
def test_a_shipment_only_moves_forward_and_never_leaves_delivered_or_returned(
    current: Status, reported: Status, moved: Status | None
) -> None:
    assert next_status(current, reported) == moved
