"""The rules of asking for a delivery slot hold, without I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from toko.platform.rules import ValidationFailed
from toko.services.shipping.domain import HoldState, hold_reference, hold_request
from toko.shipping.v1 import shipping_pb2 as pb


def test_a_hold_request_is_stripped_and_lasts_a_day_unless_told_otherwise() -> None:
    request = hold_request(reference=" checkout-1/shop-1 ", slot_id=" SAMEDAY-bandung-1 ", ttl_seconds=0)

    assert (request.reference, request.slot_id, request.ttl) == (
        "checkout-1/shop-1",
        "SAMEDAY-bandung-1",
        timedelta(days=1),
    )
    assert hold_request(reference="r", slot_id="s", ttl_seconds=600).ttl == timedelta(minutes=10)


@pytest.mark.parametrize("ttl_seconds", [60, 3_600, 604_800])
def test_a_hold_lasts_from_a_minute_to_a_week(ttl_seconds: int) -> None:
    assert hold_request(reference="r", slot_id="s", ttl_seconds=ttl_seconds).ttl == timedelta(
        seconds=ttl_seconds
    )


@pytest.mark.parametrize("ttl_seconds", [-1, 1, 59, 604_801])
def test_a_hold_shorter_than_a_minute_or_longer_than_a_week_is_refused(ttl_seconds: int) -> None:
    with pytest.raises(ValidationFailed) as failed:
        hold_request(reference="r", slot_id="s", ttl_seconds=ttl_seconds)

    assert [(v.field, v.reason) for v in failed.value.violations] == [("ttl_seconds", "INVALID_HOLD")]


def test_every_bad_field_of_a_hold_request_is_named_at_once() -> None:
    with pytest.raises(ValidationFailed) as failed:
        hold_request(reference="x" * 201, slot_id=" ", ttl_seconds=30)

    assert [(v.field, v.reason) for v in failed.value.violations] == [
        ("reference", "INVALID_HOLD"),
        ("slot_id", "SLOT_NOT_FOUND"),
        ("ttl_seconds", "INVALID_HOLD"),
    ]
    assert hold_request(reference="x" * 200, slot_id="s" * 200, ttl_seconds=0).reference == "x" * 200


def test_a_hold_reference_is_required_where_held_and_optional_where_cited() -> None:
    assert hold_reference("  ")[1][0].field == "reference"
    assert hold_reference("", "slot_hold_reference", required=False) == ("", [])
    assert (
        hold_reference("x" * 201, "slot_hold_reference", required=False)[1][0].field == "slot_hold_reference"
    )


def test_hold_states_are_numbered_as_on_the_wire() -> None:
    on_the_wire = {
        name.removeprefix("SLOT_HOLD_STATE_"): number for name, number in pb.SlotHoldState.items() if number
    }

    assert {state.name: state.value for state in HoldState} == on_the_wire
