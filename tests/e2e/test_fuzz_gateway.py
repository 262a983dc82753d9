"""Fuzz every operation of the gateway's own OpenAPI document: no input may produce a 5xx.

Random path parameters mostly meet "not found" before any use case runs, so half of the cases name
resources that exist instead: a shop, product, SKU and warehouse made for the fuzzer alone (it may
change or archive them without touching the demo data other tests read).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]
EXAMPLES_PER_OPERATION = 40


def fuzzer_resources(platform: Platform) -> tuple[dict[str, str], dict[str, str]]:
    """Ids of resources made for the fuzzer: by path parameter name, and for ``{id}`` by path prefix."""
    headers = {"Authorization": f"Bearer {platform.scripts_token('catalog.write shop.manage admin')}"}
    shop_id = str(uuid.uuid4())
    with platform.client(headers=headers) as client:
        category_id = client.get("/v1/categories").json()["categories"][0]["id"]
        product = client.post(
            "/v1/products",
            json={
                "shopId": shop_id,
                "categoryId": category_id,
                "title": "Barang Uji Fuzz",
                "weightGrams": 100,
                "options": [{"name": "Warna", "values": ["Merah"]}],
                "skus": [{"code": "F-1", "optionValues": {"Warna": "Merah"}, "price": {"amount": "10000"}}],
            },
        ).json()["product"]
        warehouse = client.post(
            "/v1/warehouses", json={"shopId": shop_id, "name": "Gudang Fuzz", "city": "Depok"}
        ).json()["warehouse"]
    by_name = {
        "shop_id": shop_id,
        "product_id": product["id"],
        "sku_id": product["skus"][0]["id"],
        "warehouse_id": warehouse["id"],
        "slug": product["slug"],
    }
    by_prefix = {
        "/v1/products/": product["id"],
        "/v1/warehouses/": warehouse["id"],
        "/v1/categories/": category_id,
    }
    return by_name, by_prefix


def test_no_request_produces_a_server_error(platform: Platform) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.base_url}/openapi.json")
    by_name, by_prefix = fuzzer_resources(platform)
    headers = {"Authorization": f"Bearer {platform.scripts_token('catalog.write shop.manage admin')}"}
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy(), existing=st.booleans())
        def fuzz(case: schemathesis.Case, existing: bool) -> None:
            if existing:
                for name in case.path_parameters or {}:
                    found = by_name.get(name) or (
                        next((v for p, v in by_prefix.items() if case.path.startswith(p)), None)
                        if name == "id"
                        else None
                    )
                    if found is not None:
                        case.path_parameters[name] = found
            response = case.call(headers=headers, timeout=15)
            statuses.append(response.status_code)
            summary = f"{case.method} {case.formatted_path} {case.query or ''} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{summary}: {response.text[:300]}")
            elif response.status_code >= 400 and not (
                response.headers.get("content-type", [""])[0].startswith("application/problem+json")
                and response.json().get("reason")
            ):
                failures.append(f"{summary}: not a problem document with a reason")

        fuzz()
    assert operations >= 10
    assert len(statuses) >= operations * 10, "the fuzzer sent too few requests to mean anything"
    assert any(status < 300 for status in statuses)
    assert any(400 <= status < 500 for status in statuses)
    print(
        f"{len(statuses)} requests: " + ", ".join(f"{s}: {statuses.count(s)}" for s in sorted(set(statuses)))
    )
    assert not failures, "\n".join(failures[:20])
