"""Helpers of the shipping service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from toko.infra.servers import InfraEndpoints
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.services.shipping.settings import ShippingSettings

Metadata = tuple[tuple[str, str], ...]
# The ``eventually`` fixture: wait until an async condition holds.
Eventually = Callable[..., Awaitable[None]]

# The secret the in-process sandbox signs its courier webhooks with, and the service checks them with.
WEBHOOK_SECRET = "test-courier-webhook-secret"


def as_user(subject: str = "") -> Metadata:
    """Metadata of a signed-in buyer (a new one unless ``subject`` is given)."""
    token = mint_token(sub=subject or f"user-{uuid.uuid4().hex[:8]}", roles=["buyer"], scopes=["account"])
    return (("authorization", bearer(token)),)


def shipping_settings(
    infrastructure: InfraEndpoints, database_name: str, **overrides: Any
) -> ShippingSettings:
    """Settings pointing at the session's servers and a database of the test's own."""
    return ShippingSettings.model_validate(
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


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """The ErrorInfo reason and the BadRequest field paths of a failed call."""
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    reason, fields = "", []
    for detail in status.details:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad_request):
            fields = [v.field for v in bad_request.field_violations]
    return reason, fields


async def failure(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; its status code, reason and fields at fault."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, fields = error_details(caught.value)
    return caught.value.code(), reason, fields


def as_seller(shop_id: str) -> Metadata:
    """Metadata of the seller of ``shop_id``."""
    token = mint_token(sub=f"seller-{shop_id[:8]}", roles=["seller"], scopes=["account"], shop_id=shop_id)
    return (("authorization", bearer(token)),)


def as_admin() -> Metadata:
    """Metadata of an administrator."""
    token = mint_token(sub="admin-1", roles=["admin"], scopes=["account"])
    return (("authorization", bearer(token)),)


def as_service() -> Metadata:
    """Metadata of another toko service (the order service holding a checkout's delivery slot)."""
    return (("authorization", bearer(mint_token(sub="service:order", roles=["service"]))),)
