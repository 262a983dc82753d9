"""Service credentials without the auth service: secret files, and how tokens are kept and refreshed."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from toko.platform.errors import Unavailable
from toko.platform.service_auth import (
    ServiceTokens,
    client_id_of,
    ensure_service_secrets,
    read_service_secret,
    read_service_secrets,
)


def test_secrets_are_written_once_private_and_read_back(tmp_path: Path) -> None:
    directory = tmp_path / "service-credentials"

    first = ensure_service_secrets(directory, ["order", "cart"])
    kept = read_service_secret(directory, "order")
    again = ensure_service_secrets(directory, ["order", "payment"])

    assert (first, again) == (["order", "cart"], ["payment"])
    assert read_service_secret(directory, "order") == kept
    assert kept is not None
    assert len(kept) >= 40
    assert stat.S_IMODE((directory / "order.secret").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert set(read_service_secrets(directory)) == {"order", "cart", "payment"}
    assert read_service_secrets(tmp_path / "missing") == {}
    assert client_id_of("order") == "service-order"


class FakeTokenEndpoint:
    """Stands for the auth service's token endpoint: counts requests, answers as told."""

    def __init__(self, status: int = 200, expires_in: int = 900) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.expires_in = expires_in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        return httpx.Response(
            200, json={"access_token": f"token-{len(self.requests)}", "expires_in": self.expires_in}
        )


def tokens(endpoint: FakeTokenEndpoint, now: list[float]) -> ServiceTokens:
    return ServiceTokens(
        client_id="service-order",
        secret="s3cret",
        token_url="http://auth.test/oauth2/token",
        transport=httpx.MockTransport(endpoint),
        clock=lambda: now[0],
    )


async def test_a_token_is_kept_until_a_minute_before_it_expires_then_fetched_again() -> None:
    endpoint, now = FakeTokenEndpoint(expires_in=900), [0.0]
    source = tokens(endpoint, now)

    first = await source.token()
    now[0] = 839.0
    still = await source.token()
    now[0] = 841.0
    fresh = await source.token()

    assert (first, still, fresh) == ("token-1", "token-1", "token-2")
    request = endpoint.requests[0]
    assert request.content == b"grant_type=client_credentials"
    assert request.headers["authorization"].startswith("Basic ")


async def test_a_refused_or_unreachable_token_endpoint_is_a_dependency_outage() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(Unavailable) as refused:
        await tokens(FakeTokenEndpoint(status=401), [0.0]).token()
    with pytest.raises(Unavailable) as down:
        await ServiceTokens(
            client_id="service-order",
            secret="x",
            token_url="http://auth.test/t",
            transport=httpx.MockTransport(unreachable),
        ).token()

    assert refused.value.reason == down.value.reason == "DEPENDENCY_UNAVAILABLE"
    assert "401" in refused.value.message
