"""The gRPC servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

import grpc

from toko.services.shipping import handlers
from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1.shipping_pb2_grpc import ShippingServiceServicer


class ShippingServicer(ShippingServiceServicer):
    """Couriers, rates, slots and shipments; access rules are enforced by the platform's interceptor."""

    async def ListCouriers(self, request: pb.ListCouriersRequest, context: Any) -> pb.ListCouriersResponse:
        """Every courier and its services."""
        return pb.ListCouriersResponse(couriers=handlers.list_couriers())

    async def QuoteShippingRates(self, request: Any, context: Any) -> Any:
        """Not served yet."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not yet")

    async def GetShippingRate(self, request: Any, context: Any) -> Any:
        """Not served yet."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not yet")

    async def ListDeliverySlots(self, request: Any, context: Any) -> Any:
        """Not served yet."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not yet")

    async def CreateShipment(self, request: Any, context: Any) -> Any:
        """Not served yet."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not yet")

    async def GetShipment(self, request: Any, context: Any) -> Any:
        """Not served yet."""
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not yet")
