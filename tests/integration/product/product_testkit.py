"""Helpers of the product service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import nats
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.product.v1 import product_pb2 as pb
from toko.services.product.settings import ProductSettings

Metadata = tuple[tuple[str, str], ...]

# An admin of the first-party scripts client, as the auth service would issue; minted at import, so
# valid for an hour to outlive any run of the suite.
ADMIN: Metadata = (
    (
        "authorization",
        bearer(mint_token(sub="admin-1", roles=["admin"], scopes=["catalog.write", "admin"], exp_in=3600)),
    ),
)


def as_seller(shop_id: str, *, scopes: tuple[str, ...] = ("catalog.write",)) -> Metadata:
    """Metadata of a seller owning ``shop_id``."""
    token = mint_token(
        sub=f"seller-{uuid.uuid4().hex[:8]}", roles=["buyer", "seller"], scopes=scopes, shop_id=shop_id
    )
    return (("authorization", bearer(token)),)


def as_buyer() -> Metadata:
    """Metadata of a buyer (no shop), even one whose token holds the catalog scope."""
    token = mint_token(
        sub=f"buyer-{uuid.uuid4().hex[:8]}", roles=["buyer"], scopes=["catalog.write", "account"]
    )
    return (("authorization", bearer(token)),)


def new_shop() -> str:
    """A shop id nobody else uses."""
    return str(uuid.uuid4())


def product_settings(infrastructure: InfraEndpoints, database_name: str, **overrides: Any) -> ProductSettings:
    """Settings pointing at the session's servers and a database of the test's own."""
    return ProductSettings.model_validate(
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


def new_product_request(
    shop_id: str, category_id: str, *, title: str = "Kaos Polos Cotton Combed 30s", **fields: Any
) -> pb.CreateProductRequest:
    """A valid two-option product (Warna x Ukuran, four SKUs), with ``fields`` overridden."""
    request = pb.CreateProductRequest(
        shop_id=shop_id,
        category_id=category_id,
        title=title,
        description="Bahan katun combed 30s, adem dan nyaman.",
        status=pb.PRODUCT_STATUS_ACTIVE,
        attributes=[pb.Attribute(name="Bahan", value="Cotton Combed 30s")],
        image_urls=["https://img.example.com/kaos.jpg"],
        weight_grams=200,
        dimensions=pb.Dimensions(length_mm=300, width_mm=250, height_mm=20),
        options=[
            pb.ProductOption(name="Warna", values=["Hitam", "Putih"]),
            pb.ProductOption(name="Ukuran", values=["M", "L"]),
        ],
        skus=[
            pb.SkuInput(
                code=f"KAOS-{color[:3].upper()}-{size}",
                option_values={"Warna": color, "Ukuran": size},
                price={"amount": 45_000 + (5_000 if size == "L" else 0), "currency": "IDR"},
            )
            for color in ("Hitam", "Putih")
            for size in ("M", "L")
        ],
    )
    for name, value in fields.items():
        if isinstance(value, list):
            request.ClearField(name)  # type: ignore[arg-type]
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    return request


async def publish_inventory_event(nats_url: str, message: Message, *, event_id: str = "") -> str:
    """Publish ``message`` to JetStream as the inventory service's relay would; returns the event id."""
    envelope = EventEnvelope(
        id=event_id or str(uuid.uuid4()),
        type=message.DESCRIPTOR.full_name,
        source="inventory",
        subject=getattr(message, "sku_id", ""),
    )
    envelope.time.GetCurrentTime()
    envelope.payload.Pack(message)
    connection = await nats.connect(nats_url)
    try:
        await connection.jetstream().publish(
            f"toko.inventory.{message.DESCRIPTOR.name}",
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": envelope.id},
        )
    finally:
        await connection.drain()
    return envelope.id
