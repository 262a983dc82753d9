"""NUL characters in requests: found wherever a string can be, and named by their field path."""

from __future__ import annotations

from typing import Any

from toko.common.v1.money_pb2 import Money
from toko.platform.error_codes import CommonReason
from toko.platform.strings import nul_violations
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
    assert nul_violations(request()) == []


def test_every_kind_of_string_field_is_searched_and_named() -> None:
    dirty = request(
        title="Kaos\x00Polos",
        image_urls=["https://img.toko.test/\x00.jpg"],
        options=[pb.ProductOption(name="Ukuran", values=["M", "L\x00"])],
        skus=[pb.SkuInput(code="KP-M", option_values={"Ukuran": "M\x00", "Wa\x00rna": "Hitam"})],
    )

    violations = nul_violations(dirty)

    assert {v.field for v in violations} == {
        "title",
        "image_urls[1]",
        "options[1].values[1]",
        "skus[1].option_values['Ukuran']",
        "skus[1].option_values['Wa\\x00rna']",
    }
    assert {v.reason for v in violations} == {CommonReason.NUL_CHARACTER}
