"""The gRPC servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.cart.v1 import cart_pb2 as pb
from toko.cart.v1.cart_pb2_grpc import CartServiceServicer
from toko.platform.context import current_principal, idempotency_key_var
from toko.services.cart import handlers
from toko.services.cart.handlers import Carts
from toko.services.cart.mapping import cart_to_proto


class CartServicer(CartServiceServicer):
    """Serves carts over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, carts: Carts) -> None:
        self._carts = carts

    async def CreateGuestCart(
        self, request: pb.CreateGuestCartRequest, context: Any
    ) -> pb.CreateGuestCartResponse:
        """Start a guest cart."""
        cart = await handlers.create_guest_cart(carts=self._carts)
        return pb.CreateGuestCartResponse(cart=cart_to_proto(cart))

    async def GetCart(self, request: pb.GetCartRequest, context: Any) -> pb.GetCartResponse:
        """Return a cart, repriced."""
        cart = await handlers.get_cart(
            carts=self._carts, cart_id=request.cart_id, principal=current_principal()
        )
        return pb.GetCartResponse(cart=cart_to_proto(cart))

    async def AddCartLine(self, request: pb.AddCartLineRequest, context: Any) -> pb.AddCartLineResponse:
        """Put a SKU in a cart."""
        cart = await handlers.add_cart_line(
            carts=self._carts,
            cart_id=request.cart_id,
            principal=current_principal(),
            sku_id=request.sku_id,
            quantity=request.quantity,
            note=request.note,
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.AddCartLineResponse(cart=cart_to_proto(cart))

    async def UpdateCartLine(
        self, request: pb.UpdateCartLineRequest, context: Any
    ) -> pb.UpdateCartLineResponse:
        """Change a line."""
        cart = await handlers.update_cart_line(
            carts=self._carts,
            cart_id=request.cart_id,
            principal=current_principal(),
            sku_id=request.sku_id,
            quantity=request.quantity if request.HasField("quantity") else None,
            note=request.note if request.HasField("note") else None,
            selected=request.selected if request.HasField("selected") else None,
        )
        return pb.UpdateCartLineResponse(cart=cart_to_proto(cart))

    async def RemoveCartLine(
        self, request: pb.RemoveCartLineRequest, context: Any
    ) -> pb.RemoveCartLineResponse:
        """Take a SKU out of a cart."""
        cart = await handlers.remove_cart_line(
            carts=self._carts, cart_id=request.cart_id, principal=current_principal(), sku_id=request.sku_id
        )
        return pb.RemoveCartLineResponse(cart=cart_to_proto(cart))

    async def SelectCartLines(
        self, request: pb.SelectCartLinesRequest, context: Any
    ) -> pb.SelectCartLinesResponse:
        """Select or unselect lines for checkout."""
        cart = await handlers.select_cart_lines(
            carts=self._carts,
            cart_id=request.cart_id,
            principal=current_principal(),
            selected=request.selected,
            sku_ids=list(request.sku_ids),
            shop_id=request.shop_id,
        )
        return pb.SelectCartLinesResponse(cart=cart_to_proto(cart))

    async def AcknowledgeCartChanges(
        self, request: pb.AcknowledgeCartChangesRequest, context: Any
    ) -> pb.AcknowledgeCartChangesResponse:
        """Record that the buyer saw the cart's changes."""
        cart = await handlers.acknowledge_cart_changes(
            carts=self._carts, cart_id=request.cart_id, principal=current_principal()
        )
        return pb.AcknowledgeCartChangesResponse(cart=cart_to_proto(cart))

    async def MergeGuestCart(
        self, request: pb.MergeGuestCartRequest, context: Any
    ) -> pb.MergeGuestCartResponse:
        """Merge a guest cart into the caller's."""
        cart = await handlers.merge_guest_cart(
            carts=self._carts, principal=current_principal(), guest_cart_id=request.guest_cart_id
        )
        return pb.MergeGuestCartResponse(cart=cart_to_proto(cart))
