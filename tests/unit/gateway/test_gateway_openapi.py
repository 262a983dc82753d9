"""The OpenAPI document generated from the descriptors."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from toko.gateway.descriptors import load_contracts
from toko.gateway.openapi import build_openapi
from toko.gateway.routes import build_routes
from toko.gateway.templates import PathTemplate

UPSTREAMS = {"toko.echo.v1.EchoService": "127.0.0.1:1", "toko.product.v1.ProductService": "127.0.0.1:1"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    contracts = load_contracts()
    routes = build_routes(contracts, UPSTREAMS, default_timeout=1.0)
    return build_openapi(contracts, routes, public_base_url="https://toko.example/")


def test_validates_as_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def integer_schemas(node: object) -> list[dict[str, Any]]:
    """Every schema of a 32- or 64-bit integer anywhere in the document."""
    if isinstance(node, list):
        return [schema for item in node for schema in integer_schemas(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if str(node.get("format", "")).rstrip("0123456789") in ("int", "uint") else []
    return own + [schema for value in node.values() for schema in integer_schemas(value)]


def test_docs_fill_integers_with_a_positive_example_not_the_types_minimum(document: dict[str, Any]) -> None:
    weight = document["components"]["schemas"]["toko.product.v1.Product"]["properties"]["weightGrams"]
    schemas = integer_schemas(document)

    assert weight["example"] == 1
    assert len(schemas) > 20
    assert [schema for schema in schemas if int(schema.get("example", -1)) < 1] == []


def test_get_product_has_its_comment_parameter_and_response(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/products/{id}"]["get"]
    assert operation["summary"] == "GetProduct returns a product by id."
    assert operation["security"] == []
    assert operation["parameters"] == [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "description": "Product id.",
            "schema": {"type": "string"},
        }
    ]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/toko.product.v1.GetProductResponse"}
    problem = operation["responses"]["404"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}


def test_query_parameters_and_protected_routes(document: dict[str, Any]) -> None:
    listing = document["paths"]["/v1/products"]["get"]
    names = {p["name"]: p for p in listing["parameters"]}
    assert set(names) == {
        "pageSize",
        "pageToken",
        "categoryId",
        "shopId",
        "status",
        "minPrice",
        "maxPrice",
        "orderBy",
        "condition",
    }
    assert names["status"]["schema"] == {"$ref": "#/components/schemas/toko.product.v1.ProductStatus"}
    create = document["paths"]["/v1/products"]["post"]
    assert create["security"] == [{"bearerAuth": []}, {"oauth2": ["catalog.write"]}]
    assert "401" in create["responses"]
    assert listing["security"] == []
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearerAuth"]["description"],
    }
    assert "PKCE" in schemes["oauth2"]["description"]
    assert "public client `api-docs`" in schemes["oauth2"]["description"]
    code_flow = schemes["oauth2"]["flows"]["authorizationCode"]
    assert code_flow["authorizationUrl"] == "https://toko.example/oauth2/authorize"
    assert code_flow["tokenUrl"] == "https://toko.example/oauth2/token"
    assert {"openid", "account", "shop.manage", "catalog.write", "admin"} <= code_flow["scopes"].keys()
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "https://toko.example/oauth2/token"
    batch = {p["name"]: p for p in document["paths"]["/v1/skus:batchGet"]["get"]["parameters"]}
    assert batch["ids"]["required"] is True
    assert batch["ids"]["schema"] == {"type": "array", "items": {"type": "string"}}


def test_schemas_follow_proto3_json(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    product = schemas["toko.product.v1.Product"]["properties"]
    assert product["id"]["readOnly"] is True
    assert product["createTime"]["format"] == "date-time"
    assert product["version"]["type"] == ["string", "integer"]
    assert product["skus"]["items"] == {"$ref": "#/components/schemas/toko.product.v1.Sku"}
    sku = schemas["toko.product.v1.Sku"]["properties"]
    assert sku["optionValues"]["additionalProperties"] == {"type": "string"}
    create = schemas["toko.product.v1.CreateProductRequest"]
    assert set(create["required"]) == {"shopId", "categoryId", "title", "weightGrams", "skus"}
    condition = schemas["toko.product.v1.Condition"]["anyOf"]
    assert condition[0] == {
        "type": "string",
        "enum": ["CONDITION_UNSPECIFIED", "CONDITION_NEW", "CONDITION_USED"],
    }
    assert condition[1] == {"type": "integer", "enum": [0, 1, 2]}
    update = document["paths"]["/v1/products/{id}"]["patch"]
    assert update["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/toko.product.v1.Product"
    }


def test_one_path_per_shape_with_dot_free_parameter_names(document: dict[str, Any]) -> None:
    # GET /v1/products/{id} and PATCH /v1/products/{product.id} are one OpenAPI path.
    assert "/v1/products/{product_id}" not in document["paths"]
    update = document["paths"]["/v1/products/{id}"]["patch"]
    assert update["parameters"][0]["name"] == "id"
    assert "product.id" in update["parameters"][0]["description"]
    templates = [PathTemplate.parse("/v1/{name=shops/*}/x/{a.b}"), PathTemplate.parse("/v1/*/x")]
    assert templates[0].openapi_path() == "/v1/{name}/x/{a_b}"
    assert [t.has_unnamed_wildcards for t in templates] == [False, True]


def test_path_fields_leave_the_body_schema(document: dict[str, Any]) -> None:
    archive = document["paths"]["/v1/products/{id}:archive"]["post"]
    body = archive["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"] == {}


def test_docs_examples_show_a_plausible_weight_not_the_int32_minimum(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    product = next(schema for name, schema in schemas.items() if name.endswith("CreateProductRequest"))
    weight = product["properties"]["weightGrams"]

    assert weight["example"] == 1
    assert weight["minimum"] == -(2**31)  # the wire's range, still declared
