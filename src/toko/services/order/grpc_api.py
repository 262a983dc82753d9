"""The order servicer: request → use case → response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.order.v1 import order_pb2 as pb
from toko.order.v1.order_pb2_grpc import OrderServiceServicer
from toko.platform.context import current_principal, idempotency_key_var
from toko.services.order.handlers import Orders, checkouts, orders, queries, quotes


def _authorization(context: Any) -> str:
    """The caller's own bearer token, to relay where only its owner may read (the address book)."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return ""


class OrderServicer(OrderServiceServicer):
    """Checkouts and orders."""

    def __init__(self, service: Orders) -> None:
        self._orders = service

    async def QuoteCheckout(self, request: pb.QuoteCheckoutRequest, context: Any) -> pb.QuoteCheckoutResponse:
        """Price a checkout."""
        priced = await quotes.quote_checkout(
            orders=self._orders,
            request=request,
            principal=current_principal(),
            authorization=_authorization(context),
        )
        return pb.QuoteCheckoutResponse(quote=priced.quote, shipping_options=priced.shipping_options)

    async def PlaceCheckout(self, request: pb.PlaceCheckoutRequest, context: Any) -> pb.PlaceCheckoutResponse:
        """Place a quoted checkout."""
        checkout = await checkouts.place_checkout(
            orders=self._orders,
            quote_id=request.quote_id,
            principal=current_principal(),
            authorization=_authorization(context),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.PlaceCheckoutResponse(checkout=checkout)

    async def GetCheckout(self, request: pb.GetCheckoutRequest, context: Any) -> pb.GetCheckoutResponse:
        """A checkout."""
        checkout = await queries.get_checkout(
            orders=self._orders, checkout_id=request.id, principal=current_principal()
        )
        return pb.GetCheckoutResponse(checkout=checkout)

    async def GetOrder(self, request: pb.GetOrderRequest, context: Any) -> pb.GetOrderResponse:
        """An order."""
        order = await queries.get_order(
            orders=self._orders, order_id=request.id, principal=current_principal()
        )
        return pb.GetOrderResponse(order=order)

    async def ListOrders(self, request: pb.ListOrdersRequest, context: Any) -> pb.ListOrdersResponse:
        """Orders, newest first."""
        page = await queries.list_orders(
            orders=self._orders,
            principal=current_principal(),
            shop_id=request.shop_id,
            buyer_id=request.buyer_id,
            state=request.state,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListOrdersResponse(orders=page.items, next_page_token=page.next_page_token)

    async def AcceptOrder(self, request: pb.AcceptOrderRequest, context: Any) -> pb.AcceptOrderResponse:
        """The seller accepts an order."""
        order = await orders.accept_order(
            orders=self._orders, order_id=request.id, principal=current_principal()
        )
        return pb.AcceptOrderResponse(order=order)

    async def ShipOrder(self, request: pb.ShipOrderRequest, context: Any) -> pb.ShipOrderResponse:
        """The seller ships an order."""
        order = await orders.ship_order(
            orders=self._orders,
            order_id=request.id,
            pickup_street=request.pickup_street,
            pickup_phone=request.pickup_phone,
            principal=current_principal(),
        )
        return pb.ShipOrderResponse(order=order)

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Any) -> pb.CancelOrderResponse:
        """Cancel an order."""
        order = await orders.cancel_order(
            orders=self._orders, order_id=request.id, reason=request.reason, principal=current_principal()
        )
        return pb.CancelOrderResponse(order=order)

    async def CompleteOrder(self, request: pb.CompleteOrderRequest, context: Any) -> pb.CompleteOrderResponse:
        """The buyer confirms an order arrived."""
        order = await orders.complete_order(
            orders=self._orders, order_id=request.id, principal=current_principal()
        )
        return pb.CompleteOrderResponse(order=order)
