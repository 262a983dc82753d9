"""Helpers of the user service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Awaitable, Iterable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from toko.infra.servers import InfraEndpoints
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.services.user.settings import UserSettings

Metadata = tuple[tuple[str, str], ...]
ACCOUNT_SCOPES = ("openid", "account", "shop.manage")
ADMIN_ID = "00000000-0000-7000-8000-000000000001"
# Names that would show as a blank, or display as something they are not (the platform's text rule).
UNSEEN_OR_REORDERED_NAMES = {
    "zero-width-space": "\u200b",
    "joiners-and-word-joiner": "\u200c\u200d\u2060",
    "byte-order-mark-and-space": "\ufeff \u200b",
    "right-to-left-override": "Budi \u202eotnasS",
    "isolates": "\u2066Budi\u2069",
}


def user_settings(infrastructure: InfraEndpoints, database_name: str, **overrides: Any) -> UserSettings:
    """Settings pointing at the session's servers, a database and data directory (master secret) of the
    test's own, trusting the test key."""
    return UserSettings.model_validate(
        {
            "TOKO_DATA_DIR": tempfile.mkdtemp(prefix="toko-user-test-"),
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


def as_user(
    user_id: str,
    *,
    roles: Iterable[str] = ("buyer",),
    scopes: Iterable[str] = ACCOUNT_SCOPES,
    shop_id: str = "",
) -> Metadata:
    """Metadata of a call made with an access token of ``user_id``."""
    token = mint_token(
        sub=user_id, roles=list(roles), scopes=list(scopes), shop_id=shop_id, client_id="storefront"
    )
    return (("authorization", bearer(token)),)


def as_admin() -> Metadata:
    """Metadata of a call made by an admin."""
    return as_user(ADMIN_ID, roles=("buyer", "admin"), scopes=(*ACCOUNT_SCOPES, "admin"))


def as_service() -> Metadata:
    """Metadata of a call made by the auth service with its own service token."""
    token = mint_token(sub="service:auth", roles=["service"], client_id="auth")
    return (("authorization", bearer(token)),)


def unique_email(prefix: str = "budi") -> str:
    """An email address nobody else uses."""
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


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


def metadata_of(user: Any) -> Metadata:
    """Call as this account (a ``toko.user.v1.User``) with the roles and shop it has now."""
    return as_user(user.id, roles=list(user.roles), shop_id=user.shop_id)
