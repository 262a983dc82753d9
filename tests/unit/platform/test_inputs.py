"""Values no store takes (NUL characters, timestamps at the ends of their range): found wherever they can
be in a request, and named by their field path."""

from __future__ import annotations

from typing import Any

from toko.common.v1.money_pb2 import Money
from toko.platform.error_codes import CommonReason
from toko.platform.inputs import request_violations
from toko.product.v1 import product_pb2 as pb


def request(**fields: Any) -> pb.CreateProductRequest:
    base = pb.CreateProductRequest(
        title="Kaos Polos",
        image_urls=["https://img.toko.test/1.jpg"],
        options=[pb.ProductOption(name="Warna", values=["Hitam", "Putih"])],
        skus=[pb.SkuInput(code="KP-H", option_values={"Warna": "Hitam"}, price=Money(amount=45_000))],
    )
    base.MergeFrom(pb.CreateProductRequest(**fields))
    return base


def test_a_clean_request_has_no_violation() -> None:
    assert request_violations(request()) == []


def test_every_kind_of_string_field_is_searched_and_named() -> None:
    dirty = request(
        title="Kaos\x00Polos",
        image_urls=["https://img.toko.test/\x00.jpg"],
        options=[pb.ProductOption(name="Ukuran", values=["M", "L\x00"])],
        skus=[pb.SkuInput(code="KP-M", option_values={"Ukuran": "M\x00", "Wa\x00rna": "Hitam"})],
    )

    violations = request_violations(dirty)

    assert {v.field for v in violations} == {
        "title",
        "image_urls[1]",
        "options[1].values[1]",
        "skus[1].option_values['Ukuran']",
        "skus[1].option_values['Wa\\x00rna']",
    }
    assert {v.reason for v in violations} == {CommonReason.NUL_CHARACTER}


def timestamp(seconds: int) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    return Timestamp(seconds=seconds)


def test_timestamps_at_either_end_of_their_range_are_named() -> None:
    from toko.product.v1 import pricing_pb2

    year_9999 = 253402300799  # 9999-12-31T23:59:59Z
    year_1 = -62135596800  # 0001-01-01T00:00:00Z
    quote = pricing_pb2.QuotePricesRequest(at=timestamp(year_9999))
    schedule = pricing_pb2.CreatePriceScheduleRequest(
        start_time=timestamp(year_1), end_time=timestamp(1_800_000_000)
    )

    assert [(v.field, v.reason) for v in request_violations(quote)] == [
        ("at", CommonReason.TIMESTAMP_OUT_OF_RANGE)
    ]
    assert [v.field for v in request_violations(schedule)] == ["start_time"]


def test_every_date_a_marketplace_deals_in_is_accepted() -> None:
    from toko.product.v1 import pricing_pb2

    for seconds in (-2208988800, 0, 1_800_000_000, 32503593599):  # 1900-01-01 … 2999-12-31T23:59:59
        assert request_violations(pricing_pb2.QuotePricesRequest(at=timestamp(seconds))) == []
