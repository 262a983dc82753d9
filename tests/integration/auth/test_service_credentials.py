"""Service credentials: each service's secret file becomes a client of the auth service with the role
``service``, and ``ServiceTokens`` gets that service's tokens from the real token endpoint."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from auth_testkit import FakeUserService, auth_settings

from toko.infra.servers import InfraEndpoints
from toko.platform.errors import Unavailable
from toko.platform.service_auth import ServiceTokens, ensure_service_secrets, read_service_secret
from toko.services.auth.bootstrap import AuthService
from toko.services.auth.handlers.clients import register_service_clients
from toko.services.auth.settings import AuthSettings


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints,
    fake_users: tuple[FakeUserService, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AuthSettings:
    """Auth's settings, with the secrets of two services written before it starts, as `toko up` does."""
    data_dir = Path(tmp_path_factory.mktemp("auth-data"))
    ensure_service_secrets(data_dir / "service-credentials", ["order", "cart"])
    return auth_settings(
        infrastructure,
        database_name=f"service_credentials_{uuid.uuid4().hex[:8]}",
        data_dir=data_dir,
        user_service=fake_users[1],
    )


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_a_service_gets_a_token_with_the_service_role_from_its_secret(
    settings: AuthSettings, auth: AuthService
) -> None:
    tokens = settings.service_tokens("order")

    token = await tokens.token()

    assert claims(token)["roles"] == ["service"]
    assert claims(token)["client_id"] == "service-order"
    assert await tokens.token() == token  # kept until a minute before it expires
    assert await tokens.metadata() == (("authorization", f"Bearer {token}"),)


async def test_a_wrong_secret_or_a_service_without_one_gets_no_token(
    settings: AuthSettings, auth: AuthService
) -> None:
    forged = ServiceTokens(
        client_id="service-order", secret="not-the-secret", token_url=settings.auth_token_url
    )

    with pytest.raises(Unavailable) as refused:
        await forged.token()
    with pytest.raises(RuntimeError, match="no credentials for payment"):
        settings.service_tokens("payment")

    assert refused.value.reason == "DEPENDENCY_UNAVAILABLE"
    assert "401" in refused.value.message


async def test_a_changed_secret_takes_over_when_auth_registers_the_clients_again(
    settings: AuthSettings, auth: AuthService
) -> None:
    directory = settings.credentials_dir
    old = read_service_secret(directory, "cart")
    (directory / "cart.secret").write_text("a-new-secret-for-the-cart-service")

    changed = await register_service_clients(
        provider=auth.provider, secrets={"cart": "a-new-secret-for-the-cart-service"}
    )
    unchanged = await register_service_clients(
        provider=auth.provider, secrets={"cart": "a-new-secret-for-the-cart-service"}
    )

    assert changed == ["service-cart"]
    assert unchanged == []
    assert claims(await settings.service_tokens("cart").token())["client_id"] == "service-cart"
    stale = ServiceTokens(client_id="service-cart", secret=old or "", token_url=settings.auth_token_url)
    with pytest.raises(Unavailable):
        await stale.token()
