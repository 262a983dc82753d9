"""Fuzz every operation of the gateway's own OpenAPI document: no input may produce a 5xx."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]


@pytest.fixture(scope="session")
def api_schema(platform: Platform) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{platform.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_produces_a_server_error(case: schemathesis.Case, platform: Platform) -> None:
    response = case.call(headers={"Authorization": f"Bearer {platform.admin_token}"}, timeout=15)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    )
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["reason"]
