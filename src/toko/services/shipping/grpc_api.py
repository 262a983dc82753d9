"""The gRPC servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from functools import partial
from typing import Any

from toko.platform.context import current_principal
from toko.platform.validation import ruled
from toko.services.shipping import domain
from toko.services.shipping.handlers import rates, shipments, slots
from toko.services.shipping.handlers.common import Shipping
from toko.services.shipping.mapping import (
    contact_from_proto,
    item_from_proto,
    place_from_proto,
    slot_to_proto,
)
from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1.shipping_pb2_grpc import ShippingServiceServicer


class ShippingServicer(ShippingServiceServicer):
    """Couriers, rates, slots and shipments; access rules are enforced by the platform's interceptor."""

    def __init__(self, shipping: Shipping) -> None:
        self._shipping = shipping

    async def ListCouriers(self, request: pb.ListCouriersRequest, context: Any) -> pb.ListCouriersResponse:
        """Every courier and its services."""
        return pb.ListCouriersResponse(couriers=rates.list_couriers())

    async def QuoteShippingRates(
        self, request: pb.QuoteShippingRatesRequest, context: Any
    ) -> pb.QuoteShippingRatesResponse:
        """Every courier's rates for a parcel on a route."""
        query = ruled(
            partial(
                domain.rate_query,
                origin=place_from_proto(request.origin),
                destination=place_from_proto(request.destination),
                items=[item_from_proto(item) for item in request.items],
                cod=request.cod,
                couriers=list(request.couriers),
            )
        )
        return await rates.quote_rates(shipping=self._shipping, query=query)

    async def GetShippingRate(
        self, request: pb.GetShippingRateRequest, context: Any
    ) -> pb.GetShippingRateResponse:
        """A quoted rate while it holds."""
        return pb.GetShippingRateResponse(
            rate=await rates.get_rate(shipping=self._shipping, rate_id=request.rate_id)
        )

    async def ListDeliverySlots(
        self, request: pb.ListDeliverySlotsRequest, context: Any
    ) -> pb.ListDeliverySlotsResponse:
        """A slotted service's windows on a day."""
        found = await slots.list_slots(
            shipping=self._shipping,
            courier_code=request.courier,
            service_code=request.service,
            city=request.city,
            day=request.date,
        )
        return pb.ListDeliverySlotsResponse(slots=found)

    async def GetDeliverySlot(
        self, request: pb.GetDeliverySlotRequest, context: Any
    ) -> pb.GetDeliverySlotResponse:
        """A slot offered before, with its capacity left."""
        found = await slots.get_slot(shipping=self._shipping, slot_id=request.id)
        return pb.GetDeliverySlotResponse(
            slot=slot_to_proto(found), courier=found.courier, service=found.service, city=found.city
        )

    async def HoldDeliverySlot(
        self, request: pb.HoldDeliverySlotRequest, context: Any
    ) -> pb.HoldDeliverySlotResponse:
        """Keep a slot's place for a checkout."""
        hold = await slots.hold_slot(
            shipping=self._shipping,
            reference=request.reference,
            slot_id=request.slot_id,
            ttl_seconds=request.ttl_seconds,
        )
        return pb.HoldDeliverySlotResponse(hold=hold)

    async def ReleaseDeliverySlot(
        self, request: pb.ReleaseDeliverySlotRequest, context: Any
    ) -> pb.ReleaseDeliverySlotResponse:
        """Give a held place back."""
        hold = await slots.release_slot(shipping=self._shipping, reference=request.reference)
        return pb.ReleaseDeliverySlotResponse(hold=hold)

    async def CreateShipment(
        self, request: pb.CreateShipmentRequest, context: Any
    ) -> pb.CreateShipmentResponse:
        """Book an order's shipment."""
        command = shipments.CreateShipment(
            order_id=request.order_id,
            shop_id=request.shop_id,
            buyer_id=request.buyer_id,
            rate_id=request.rate_id,
            sender=contact_from_proto(request.sender),
            recipient=contact_from_proto(request.recipient),
            cod_amount=request.cod_amount.amount,
            cod_currency=request.cod_amount.currency,
            slot_id=request.slot_id,
            slot_hold_reference=request.slot_hold_reference,
        )
        shipment = await shipments.create_shipment(
            shipping=self._shipping, command=command, principal=current_principal()
        )
        return pb.CreateShipmentResponse(shipment=shipment)

    async def RescheduleShipment(
        self, request: pb.RescheduleShipmentRequest, context: Any
    ) -> pb.RescheduleShipmentResponse:
        """Move a shipment to another delivery slot."""
        shipment = await shipments.reschedule_shipment(
            shipping=self._shipping,
            shipment_id=request.id,
            slot_id=request.slot_id,
            principal=current_principal(),
        )
        return pb.RescheduleShipmentResponse(shipment=shipment)

    async def GetShipment(self, request: pb.GetShipmentRequest, context: Any) -> pb.GetShipmentResponse:
        """A shipment and its tracking."""
        shipment = await shipments.get_shipment(
            shipping=self._shipping, shipment_id=request.id, principal=current_principal()
        )
        return pb.GetShipmentResponse(shipment=shipment)
