"""Helpers of the cart service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from toko.cart.v1 import cart_pb2 as pb
from toko.cart.v1 import cart_pb2_grpc
from toko.infra.servers import InfraEndpoints
from toko.platform.grpc import refusal_of
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.product.v1 import pricing_pb2, product_pb2_grpc
from toko.product.v1 import product_pb2 as ppb
from toko.services.cart.settings import CartSettings
from toko.services.product.settings import ProductSettings

Metadata = tuple[tuple[str, str], ...]
Stub = cart_pb2_grpc.CartServiceStub
Products = product_pb2_grpc.ProductServiceStub

# An admin, as the auth service would issue; minted at import, valid for an hour to outlive the run.
ADMIN: Metadata = (
    (
        "authorization",
        bearer(mint_token(sub="admin-1", roles=["admin"], scopes=["catalog.write"], exp_in=3600)),
    ),
)


def as_user(subject: str = "") -> Metadata:
    """Metadata of a signed-in buyer (a new one unless ``subject`` is given)."""
    token = mint_token(sub=subject or f"user-{uuid.uuid4().hex[:8]}", roles=["buyer"], scopes=["account"])
    return (("authorization", bearer(token)),)


def _infra(infrastructure: InfraEndpoints, database_name: str) -> dict[str, Any]:
    return {
        "TOKO_DATABASE_URL": infrastructure.database_url,
        "TOKO_NATS_URL": infrastructure.nats_url,
        "TOKO_REDIS_URL": infrastructure.redis_url,
        **trusting_env(),
        "port": 0,
        "database_name": database_name,
        "db_pool_size": 4,
    }


def cart_settings(
    infrastructure: InfraEndpoints, database_name: str, product_address: str, **overrides: Any
) -> CartSettings:
    """Settings pointing at the session's servers, a database of the test's own and a product service."""
    return CartSettings.model_validate(
        {
            **_infra(infrastructure, database_name),
            "TOKO_CART_PRODUCT_SERVICE_ADDRESS": product_address,
            **overrides,
        }
    )


def product_settings(infrastructure: InfraEndpoints, database_name: str) -> ProductSettings:
    """The product service's settings, on a database of its own."""
    return ProductSettings.model_validate(_infra(infrastructure, database_name))


async def failure(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; its status code, reason and fields at fault."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, violations = refusal_of(caught.value)
    return caught.value.code(), reason, [v.field for v in violations]


async def new_product(
    products: Products, category_id: str, *, shop_id: str = "", skus: int = 2, price: int = 45_000
) -> ppb.Product:
    """An active product of a shop (a new one unless given) with ``skus`` SKUs (at most 110), each at ``price``."""
    shop_id = shop_id or str(uuid.uuid4())
    sizes = [f"S{i}" for i in range(min(skus, 10))]
    colors = [f"C{i}" for i in range((skus + 9) // 10)]
    combos = [(c, s) for c in colors for s in sizes][:skus]
    request = ppb.CreateProductRequest(
        shop_id=shop_id,
        category_id=category_id,
        title=f"Kaos Polos {uuid.uuid4().hex[:6]}",
        status=ppb.PRODUCT_STATUS_ACTIVE,
        image_urls=["https://img.example.com/kaos.jpg"],
        weight_grams=200,
        options=[
            ppb.ProductOption(name="Warna", values=sorted({c for c, _ in combos})),
            ppb.ProductOption(name="Ukuran", values=sorted({s for _, s in combos})),
        ],
        skus=[
            ppb.SkuInput(
                code=f"K-{c}-{s}",
                option_values={"Warna": c, "Ukuran": s},
                price={"amount": price, "currency": "IDR"},
            )
            for c, s in combos
        ],
    )
    return (await products.CreateProduct(request, metadata=ADMIN)).product


async def reprice(products: Products, product: ppb.Product, sku_id: str, amount: int) -> None:
    """Set one SKU's base price, as its seller would."""
    changed = ppb.Product(id=product.id)
    for sku in product.skus:
        new_price = amount if sku.id == sku_id else sku.price.amount
        changed.skus.add(
            code=sku.code, option_values=sku.option_values, price={"amount": new_price, "currency": "IDR"}
        )
    request = ppb.UpdateProductRequest(product=changed, update_mask=FieldMask(paths=["skus"]))
    await products.UpdateProduct(request, metadata=ADMIN)


async def set_tiers(products: Products, sku_id: str, tiers: list[tuple[int, int]]) -> None:
    """Replace one SKU's wholesale tiers, ``(min_quantity, unit_price)`` each, as its seller would."""
    request = pricing_pb2.SetQuantityTiersRequest(
        sku_id=sku_id,
        tiers=[
            pricing_pb2.QuantityTier(min_quantity=q, unit_price={"amount": p, "currency": "IDR"})
            for q, p in tiers
        ],
    )
    await products.SetQuantityTiers(request, metadata=ADMIN)


async def archive(products: Products, product: ppb.Product) -> None:
    """Take a product off sale for good."""
    await products.ArchiveProduct(ppb.ArchiveProductRequest(id=product.id), metadata=ADMIN)


async def new_guest_cart(stub: Stub) -> str:
    """A new guest cart's id."""
    return (await stub.CreateGuestCart(pb.CreateGuestCartRequest())).cart.id


def lines(cart: pb.Cart) -> dict[str, pb.CartLine]:
    """A cart's lines by SKU, whatever their shop."""
    return {line.sku_id: line for shop in cart.shops for line in shop.lines}
