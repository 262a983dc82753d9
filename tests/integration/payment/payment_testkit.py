"""Helpers of the payment service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import uuid
from typing import Any

import grpc

from toko.infra.servers import InfraEndpoints
from toko.platform.grpc import refusal_of
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.services.payment.settings import PaymentSettings

Metadata = tuple[tuple[str, str], ...]
SERVER_KEY = "test-midtrans-server-key"
XENDIT_SECRET_KEY = "test-xendit-secret-key"
CALLBACK_TOKEN = "test-xendit-callback-token"
# The storefront page DANA sends a buyer back to once paid.
SUCCESS_REDIRECT_URL = "https://toko.example/payments/{payment_id}"


def as_user(subject: str = "") -> Metadata:
    """Metadata of a signed-in buyer (a new one unless ``subject`` is given)."""
    token = mint_token(sub=subject or f"user-{uuid.uuid4().hex[:8]}", roles=["buyer"], scopes=["account"])
    return (("authorization", bearer(token)),)


def as_service() -> Metadata:
    """Metadata of the order service's own token."""
    return (("authorization", bearer(mint_token(sub="service-order", roles=["service"]))),)


def payment_settings(infrastructure: InfraEndpoints, database_name: str, **overrides: Any) -> PaymentSettings:
    """Settings pointing at the session's servers and a database of the test's own."""
    return PaymentSettings.model_validate(
        {
            "TOKO_DATABASE_URL": infrastructure.database_url,
            "TOKO_NATS_URL": infrastructure.nats_url,
            "TOKO_REDIS_URL": infrastructure.redis_url,
            **trusting_env(),
            "port": 0,
            "database_name": database_name,
            "db_pool_size": 4,
            **overrides,
        }
    )


async def failure(call: Any) -> tuple[grpc.StatusCode, str]:
    """The status code and reason a call failed with."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), refusal_of(error)[0]
    raise AssertionError("the call succeeded")
