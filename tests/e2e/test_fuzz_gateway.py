"""Fuzz every operation of the gateway's own OpenAPI document: no input may produce a 5xx."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]
EXAMPLES_PER_OPERATION = 40


def test_no_request_produces_a_server_error(platform: Platform) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {platform.admin_token}"}
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
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
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
