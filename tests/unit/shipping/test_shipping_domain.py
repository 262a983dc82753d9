"""The shipping service's rules, without I/O."""

from __future__ import annotations

from toko.services.shipping.domain import COURIERS, Level


def test_every_slotted_service_is_instant_or_same_day() -> None:
    slotted = {(c.code, s.code) for c in COURIERS for s in c.services if s.slotted}

    assert slotted == {("gosend", "INSTANT"), ("gosend", "SAMEDAY")}
    assert all(s.level in (Level.INSTANT, Level.SAME_DAY) for c in COURIERS for s in c.services if s.slotted)
