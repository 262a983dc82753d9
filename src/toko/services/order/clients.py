"""The services a checkout calls, over gRPC, and what their refusals become here.

Calls that only services may make (inventory's reservations, promotion's holds, payments) carry the
order service's own token (``TokenSource``: ``toko.platform.service_auth.ServiceTokens`` in
production). Reading the buyer's address book carries the buyer's own token, relayed, since only
its owner may read it. A refusal keeps the other service's reason when it is one a client of a
checkout should branch on (``ErrorCode``), and otherwise becomes CHECKOUT_FAILED naming it; an
outage is UNAVAILABLE, to be retried.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

import grpc

from toko.cart.v1 import cart_pb2_grpc
from toko.inventory.v1 import inventory_pb2_grpc
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from toko.platform.grpc import refusal_of
from toko.product.v1 import product_pb2_grpc
from toko.promotion.v1 import promotion_pb2_grpc
from toko.services.order.error_codes import ErrorCode
from toko.services.order.settings import OrderSettings
from toko.shipping.v1 import shipping_pb2_grpc
from toko.user.v1 import user_pb2_grpc

Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")

_REFUSALS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
}


class TokenSource(Protocol):
    """Where the service's own access token comes from."""

    async def metadata(self) -> Metadata:
        """gRPC call metadata carrying the token."""
        ...


class Peers:
    """Stubs of product, user, cart, inventory, promotion, shipping and payment, on channels made at start."""

    def __init__(self, settings: OrderSettings, tokens: TokenSource) -> None:
        self._tokens = tokens
        self.timeout = settings.call_timeout_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.products: Any = product_pb2_grpc.ProductServiceStub(self._channel(settings.product_address))
        self.users: Any = user_pb2_grpc.UserServiceStub(self._channel(settings.user_address))
        self.carts: Any = cart_pb2_grpc.CartServiceStub(self._channel(settings.cart_address))
        self.inventory: Any = inventory_pb2_grpc.InventoryServiceStub(
            self._channel(settings.inventory_address)
        )
        self.promotions: Any = promotion_pb2_grpc.PromotionServiceStub(
            self._channel(settings.promotion_address)
        )
        self.shipping: Any = shipping_pb2_grpc.ShippingServiceStub(self._channel(settings.shipping_address))
        self.payments: Any = payment_pb2_grpc.PaymentServiceStub(self._channel(settings.payment_address))

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address)
            self._channels[address] = channel
        return channel

    async def as_service(self) -> Metadata:
        """Metadata for a call only services may make."""
        return await self._tokens.metadata()

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels.values():
            await channel.close()


async def call(what: str, reply: Awaitable[T]) -> T:
    """Await another service's answer; its refusal or outage as this service's ``DomainError``."""
    try:
        return await reply
    except grpc.aio.AioRpcError as error:
        raise translated(what, error) from error


def translated(what: str, error: grpc.aio.AioRpcError) -> DomainError:
    """What another service's failed call becomes here."""
    kind = _REFUSALS.get(error.code())
    if kind is None:
        return Unavailable(
            CommonReason.DEPENDENCY_UNAVAILABLE,
            f"{what} is out of reach ({error.code().name.lower()}); retry",
        )
    reason, violations = refusal_of(error)
    try:
        code = ErrorCode(reason)
    except ValueError:
        return FailedPrecondition(
            ErrorCode.CHECKOUT_FAILED,
            f"{what} refused: {error.details() or reason}",
            violations,
            metadata={"cause": reason or error.code().name},
        )
    return kind(code, error.details() or reason, violations)
