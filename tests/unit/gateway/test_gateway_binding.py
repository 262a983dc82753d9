"""Binding path, query and body onto request messages; rendering responses as proto3 JSON."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from google.protobuf.descriptor import MethodDescriptor

from toko.gateway.binding import Binding
from toko.gateway.problems import Problem
from toko.gateway.templates import PathTemplate
from toko.product.v1 import product_pb2

SERVICE = product_pb2.DESCRIPTOR.services_by_name["ProductService"]


def _binding(method: str, template: str, body: str = "") -> Binding:
    descriptor: MethodDescriptor = SERVICE.methods_by_name[method]
    return Binding(descriptor, PathTemplate.parse(template), body)


def _problem(call: Callable[[], object]) -> Problem:
    with pytest.raises(Problem) as caught:
        call()
    return caught.value


def test_path_value_goes_straight_to_a_string_field() -> None:
    request = _binding("GetProduct", "/v1/products/{id}").request({("id",): "p1"}, b"", None)
    assert request == product_pb2.GetProductRequest(id="p1")


def test_query_params_fill_fields_by_json_or_proto_name_with_types_checked() -> None:
    binding = _binding("ListProducts", "/v1/products")
    request = binding.request({}, b"pageSize=10&shop_id=s1&status=PRODUCT_STATUS_ACTIVE&minPrice=5", None)
    assert request == product_pb2.ListProductsRequest(
        page_size=10, shop_id="s1", status=product_pb2.PRODUCT_STATUS_ACTIVE, min_price=5
    )


def test_repeated_query_params_collect_in_order() -> None:
    request = _binding("BatchGetSkus", "/v1/skus:batchGet").request({}, b"ids=a&ids=b&ids=c%2Fd", None)
    assert list(request.ids) == ["a", "b", "c/d"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (b"pageSize=abc", "pageSize"),
        (b"pageSize=99999999999", "pageSize"),
        (b"status=NOPE", "status"),
        (b"nope=1", "nope"),
        (b"pageSize=1&pageSize=2", "pageSize"),
    ],
)
def test_bad_query_params_are_400s_naming_the_parameter(query: bytes, field: str) -> None:
    binding = _binding("ListProducts", "/v1/products")
    problem = _problem(lambda: binding.request({}, query, None))
    assert problem.status == 400
    assert [v.field for v in problem.violations] == [field]


def test_an_undecodable_or_overlong_query_string_says_which() -> None:
    binding = _binding("BatchGetSkus", "/v1/skus:batchGet")
    not_utf8 = _problem(lambda: binding.request({}, b"ids=%ff%fe", None))
    too_many = _problem(lambda: binding.request({}, b"&".join([b"ids=a"] * 300), None))
    assert (not_utf8.status, not_utf8.reason) == (400, "INVALID_QUERY")
    assert (too_many.status, too_many.reason) == (400, "TOO_MANY_QUERY_PARAMETERS")
    assert "256" in too_many.detail


def test_query_cannot_rebind_path_fields_or_feed_a_body_star_route() -> None:
    get = _binding("GetProduct", "/v1/products/{id}")
    assert _problem(lambda: get.request({("id",): "p1"}, b"id=p2", None)).reason == "INVALID_QUERY_PARAMETER"
    create = _binding("CreateProduct", "/v1/products", "*")
    assert _problem(lambda: create.request({}, b"title=x", b"{}")).reason == "INVALID_QUERY_PARAMETER"


def test_body_star_maps_the_whole_message_and_path_wins() -> None:
    binding = _binding("ArchiveProduct", "/v1/products/{id}:archive", "*")
    request = binding.request({("id",): "p1"}, b"", b'{"id": "other"}')
    assert request == product_pb2.ArchiveProductRequest(id="p1")


def test_body_field_with_nested_path_variable_and_query() -> None:
    binding = _binding("UpdateProduct", "/v1/products/{product.id}", "product")
    body = orjson.dumps({"title": "Kopi", "weight_grams": 250, "skus": [{"price": {"amount": "15000"}}]})
    request = binding.request({("product", "id"): "p1"}, b"updateMask=title,weightGrams", body)
    assert request.product.id == "p1"  # type: ignore[attr-defined]
    assert request.product.title == "Kopi"  # type: ignore[attr-defined]
    assert request.product.weight_grams == 250  # type: ignore[attr-defined]
    assert request.product.skus[0].price.amount == 15000  # type: ignore[attr-defined]
    assert list(request.update_mask.paths) == ["title", "weight_grams"]  # type: ignore[attr-defined]


def test_malformed_json_and_non_object_bodies() -> None:
    binding = _binding("CreateProduct", "/v1/products", "*")
    assert _problem(lambda: binding.request({}, b"", b"{nope")).reason == "MALFORMED_JSON"
    assert _problem(lambda: binding.request({}, b"", b"[1, 2]")).reason == "BODY_NOT_OBJECT"


def test_empty_body_is_an_empty_message() -> None:
    binding = _binding("CreateProduct", "/v1/products", "*")
    assert binding.request({}, b"", b"") == product_pb2.CreateProductRequest()


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"bogus": 1}, "bogus", "UNKNOWN_FIELD"),
        ({"skus": [{"price": {"amount": 1, "bogus": 2}}]}, "skus[0].price.bogus", "UNKNOWN_FIELD"),
        ({"weightGrams": "heavy"}, "weightGrams", "INVALID_VALUE"),
        ({"weightGrams": 1.5}, "weightGrams", "INVALID_VALUE"),
        ({"title": 5}, "title", "INVALID_VALUE"),
        ({"condition": "SHINY"}, "condition", "INVALID_VALUE"),
        ({"skus": 5}, "skus", "INVALID_VALUE"),
        ({"dimensions": 5}, "dimensions", "INVALID_VALUE"),
        ({"skus": [{"price": {"amount": "x"}}]}, "skus.price.amount", "INVALID_VALUE"),
        ({"condition": 7}, "condition", "INVALID_VALUE"),
        ({"status": 1, "condition": 2}, None, None),
    ],
)
def test_unknown_fields_and_wrong_types_name_the_field(
    body: object, field: str | None, reason: str | None
) -> None:
    binding = _binding("CreateProduct", "/v1/products", "*")
    if field is None:
        binding.request({}, b"", orjson.dumps(body))  # declared enum numbers are fine
        return
    problem = _problem(lambda: binding.request({}, b"", orjson.dumps(body)))
    assert (problem.status, problem.reason) == (400, "INVALID_FIELD")
    assert [(v.field, v.reason) for v in problem.violations] == [(field, reason)]
    assert field in problem.detail


def test_renders_proto3_json_with_camel_case_and_int64_as_string() -> None:
    binding = _binding("GetProduct", "/v1/products/{id}")
    response = product_pb2.GetProductResponse(
        product=product_pb2.Product(
            id="p1", shop_id="s1", status=product_pb2.PRODUCT_STATUS_ACTIVE, version=3, weight_grams=10
        )
    )
    assert orjson.loads(binding.render(response)) == {
        "product": {
            "id": "p1",
            "shopId": "s1",
            "status": "PRODUCT_STATUS_ACTIVE",
            "version": "3",
            "weightGrams": 10,
        }
    }
