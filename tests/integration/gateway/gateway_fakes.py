"""In-process gRPC fakes of the echo and product services for the gateway tests, and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_status import rpc_status

from toko.common.v1 import money_pb2
from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.gateway import GatewaySettings
from toko.platform.testing_auth import TEST_ISSUER, mint_token, shared_issuer
from toko.product.v1 import product_pb2, product_pb2_grpc

# An admin with the catalog scope, signed by the shared test key the gateway is told to trust.
# Minted at import; an hour outlives any run of the suite.
ADMIN_TOKEN = mint_token(sub="admin-1", roles=["admin"], scopes=["catalog.write", "admin"], exp_in=3600)
ECHO = "toko.echo.v1.EchoService"
PRODUCTS = "toko.product.v1.ProductService"


@dataclass
class Calls:
    """What the fakes received, for assertions."""

    requests: list[Any] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    # Streams the client went away from, by message: the gateway must cancel the upstream call.
    cancelled_streams: list[str] = field(default_factory=list)

    def record(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.requests.append(request)
        self.metadata.append({k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)})


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any],
    code: int,
    message: str,
    reason: str,
    violations: list[tuple[str, str, str]] | None = None,
) -> None:
    info = AnyMessage()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="toko.fake"))
    details = [info]
    if violations:
        bad = AnyMessage()
        bad.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d, reason=r)
                    for f, d, r in violations
                ]
            )
        )
        details.append(bad)
    await context.abort_with_status(
        rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))
    )


def _product(product_id: str) -> product_pb2.Product:
    return product_pb2.Product(
        id=product_id,
        shop_id="shop-1",
        title="Kopi Gayo 250 g",
        status=product_pb2.PRODUCT_STATUS_ACTIVE,
        version=7,
        skus=[
            product_pb2.Sku(
                id=f"sku-{n}", code=f"K{n}", price=money_pb2.Money(amount=15000 * n, currency="IDR")
            )
            for n in range(1, 3)
        ],
    )


class FakeProducts(product_pb2_grpc.ProductServiceServicer):
    """A product service that answers from constants and records its calls."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def GetProduct(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        if request.id == "missing":
            await _abort(context, code_pb2.NOT_FOUND, f"no product {request.id}", "PRODUCT_NOT_FOUND")
        return product_pb2.GetProductResponse(product=_product(request.id))

    async def ListProducts(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        size = min(request.page_size or 20, 50)
        return product_pb2.ListProductsResponse(
            products=[_product(f"p{n}") for n in range(size)], next_page_token="next"
        )

    async def CreateProduct(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        if len(request.title) < 3:
            await _abort(
                context,
                code_pb2.INVALID_ARGUMENT,
                "invalid request: title: must be 3 to 200 characters",
                "VALIDATION_FAILED",
                [("title", "must be 3 to 200 characters", "TITLE_LENGTH")],
            )
        return product_pb2.CreateProductResponse(product=product_pb2.Product(id="new", title=request.title))

    async def UpdateProduct(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        return product_pb2.UpdateProductResponse(product=request.product)

    async def ArchiveProduct(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        return product_pb2.ArchiveProductResponse(
            product=product_pb2.Product(id=request.id, status=product_pb2.PRODUCT_STATUS_ARCHIVED)
        )

    async def BatchGetSkus(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        return product_pb2.BatchGetSkusResponse(
            skus=[product_pb2.SkuView(sku=product_pb2.Sku(id=i)) for i in request.ids]
        )


class FakeEcho(echo_pb2_grpc.EchoServiceServicer):
    """Echoes; ``slow`` takes a second, ``boom`` fails."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def Echo(self, request: Any, context: Any) -> Any:
        self.calls.record(request, context)
        if request.message == "slow":
            await asyncio.sleep(1.0)
        if request.message == "boom":
            raise RuntimeError("secret internals")
        return echo_pb2.EchoResponse(message=request.message)

    async def EchoStream(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """Streams ``count`` echoes ``interval_ms`` apart; ``boom`` fails after the first,
        ``refused`` before any."""
        self.calls.record(request, context)
        if request.message == "refused":
            await _abort(context, code_pb2.NOT_FOUND, "no such stream", "STREAM_NOT_FOUND")
        try:
            for sent in range(request.count):
                if sent:
                    await asyncio.sleep(request.interval_ms / 1000)
                if sent and request.message == "boom":
                    raise RuntimeError("secret internals")
                yield echo_pb2.EchoStreamResponse(message=request.message)
        except asyncio.CancelledError:
            self.calls.cancelled_streams.append(request.message)
            raise


@dataclass
class Upstream:
    """The running fake server."""

    address: str
    calls: Calls


async def start_upstream() -> tuple[grpc.aio.Server, Upstream]:
    """Fake echo and product services with gRPC health, on a free port."""
    calls = Calls()
    server = grpc.aio.server()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(FakeEcho(calls), server)
    product_pb2_grpc.add_ProductServiceServicer_to_server(FakeProducts(calls), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, Upstream(f"127.0.0.1:{port}", calls)


def settings_for(address: str, **overrides: Any) -> GatewaySettings:
    """Gateway settings sending both services to ``address``, trusting the test key, without rate limits
    and without following revocations (there is no auth service behind these fakes)."""
    values: dict[str, Any] = {
        "upstreams": {ECHO: address, PRODUCTS: address},
        "auth_jwks": shared_issuer().jwks_json,
        "public_base_url": TEST_ISSUER,
        "rate_limit_enabled": False,
        "follow_revocations": False,
        **overrides,
    }
    return GatewaySettings(**values)
