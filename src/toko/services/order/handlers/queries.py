"""Reading checkouts and orders: each to the people it concerns, nobody else learning it exists."""

from __future__ import annotations

from toko.order.v1 import order_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.errors import NotFound, PermissionDenied
from toko.platform.ids import require_id
from toko.platform.pagination import Page, PageSpec, encode_token, id_after
from toko.services.order import domain
from toko.services.order.error_codes import ErrorCode
from toko.services.order.handlers.common import Orders, visible_order
from toko.services.order.mapping import checkout_to_proto, order_to_proto
from toko.services.order.repository import checkouts as checkouts_store
from toko.services.order.repository import orders as orders_store

ORDER_PAGES = PageSpec(default=20, maximum=100)


async def get_checkout(*, orders: Orders, checkout_id: str, principal: Principal) -> pb.Checkout:
    """A checkout, to its buyer and admins."""
    require_id(checkout_id, "id")
    async with orders.database.sessions() as session:
        checkout = await checkouts_store.get_checkout(session, checkout_id)
    if checkout is None or (checkout.buyer_id != principal.subject and not principal.is_admin):
        raise NotFound(ErrorCode.CHECKOUT_NOT_FOUND, f"no checkout {checkout_id}")
    return checkout_to_proto(checkout)


async def get_order(*, orders: Orders, order_id: str, principal: Principal) -> pb.Order:
    """An order with its timeline, to its buyer, its shop's sellers and admins."""
    async with orders.database.sessions() as session:
        order = await visible_order(session, order_id, principal)
    return order_to_proto(order, orders.clock())


async def list_orders(
    *,
    orders: Orders,
    principal: Principal,
    shop_id: str,
    buyer_id: str,
    state: int,
    page_size: int,
    page_token: str,
) -> Page[pb.Order]:
    """The caller's orders; a shop's (its sellers, admins); a buyer's, or all (admins); newest first."""
    size = ORDER_PAGES.size(page_size)
    if shop_id:
        require_id(shop_id, "shop_id")
        if not principal.manages(shop_id):
            # A shop's orders are its own business: a stranger's shop looks empty-handed, not secret.
            raise PermissionDenied(ErrorCode.NOT_THE_SELLER, "only the shop's sellers see its orders")
    if buyer_id and not principal.is_admin:
        raise PermissionDenied(ErrorCode.BUYER_FILTER_ADMIN_ONLY, "only admins list another buyer's orders")
    if buyer_id:
        require_id(buyer_id, "buyer_id")
    wanted_state = domain.OrderState(state) if state else None
    if not shop_id and not buyer_id and not principal.is_admin:
        # A person's own orders; an admin without a filter searches every order.
        buyer_id = principal.subject
    filters = [shop_id, buyer_id, state]
    after = id_after(page_token, filters) or ""
    async with orders.database.sessions() as session:
        found = await orders_store.list_orders(
            session, buyer_id=buyer_id, shop_id=shop_id, state=wanted_state, before_id=after, limit=size + 1
        )
    now = orders.clock()
    items = [order_to_proto(order, now) for order in found[:size]]
    token = encode_token([found[size - 1].id], filters) if len(found) > size else ""
    return Page(items=items, next_page_token=token)
