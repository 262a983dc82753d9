"""Conversions between the user service's protobuf messages and its domain objects."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money
from toko.services.user.domain import Address, AddressFields, MapPin, Shop, ShopStatus, User
from toko.services.user.repository.product_summaries import ListingStatus, ProductSummary
from toko.services.user.repository.shops import StaffMember
from toko.services.user.repository.wishlists import CollectionRow, WishlistRow
from toko.user.v1 import user_pb2 as pb

SHOP_STATUS_TO_PROTO = {ShopStatus.ACTIVE: pb.SHOP_STATUS_ACTIVE, ShopStatus.CLOSED: pb.SHOP_STATUS_CLOSED}


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def user_to_proto(user: User) -> pb.User:
    """An account on the wire (never its password hash or TOTP secret)."""
    return pb.User(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        phone=user.phone,
        birth_date=user.birth_date.isoformat() if user.birth_date else "",
        avatar_url=user.avatar_url,
        roles=user.roles,
        shop_id=user.shop_id or "",
        totp_enabled=user.totp_enabled,
        create_time=timestamp(user.created_at),
        update_time=timestamp(user.updated_at),
        language=user.language,
    )


def address_fields_from_proto(address: pb.Address) -> AddressFields:
    """The fields an address message carries."""
    return AddressFields(
        label=address.label,
        recipient=address.recipient,
        phone=address.phone,
        province=address.province,
        city=address.city,
        district=address.district,
        sub_district=address.sub_district,
        postal_code=address.postal_code,
        street=address.street,
        pin=MapPin(address.pin.latitude, address.pin.longitude) if address.HasField("pin") else None,
    )


def address_to_proto(address: Address) -> pb.Address:
    """An address on the wire."""
    fields = address.fields
    message = pb.Address(
        id=address.id,
        label=fields.label,
        recipient=fields.recipient,
        phone=fields.phone,
        province=fields.province,
        city=fields.city,
        district=fields.district,
        sub_district=fields.sub_district,
        postal_code=fields.postal_code,
        street=fields.street,
        is_default=address.is_default,
        create_time=timestamp(address.created_at),
        update_time=timestamp(address.updated_at),
    )
    if fields.pin is not None:
        message.pin.CopyFrom(pb.MapPin(latitude=fields.pin.latitude, longitude=fields.pin.longitude))
    return message


def shop_to_proto(shop: Shop) -> pb.Shop:
    """A shop on the wire."""
    return pb.Shop(
        id=shop.id,
        name=shop.name,
        domain=shop.domain,
        description=shop.description,
        origin_city=shop.origin_city,
        status=SHOP_STATUS_TO_PROTO[shop.status],
        owner_id=shop.owner_id,
        create_time=timestamp(shop.created_at),
        update_time=timestamp(shop.updated_at),
    )


def staff_to_proto(member: StaffMember) -> pb.ShopStaffMember:
    """A staff member on the wire."""
    return pb.ShopStaffMember(
        user_id=member.user_id, name=member.name, create_time=timestamp(member.created_at)
    )


def wishlist_item_to_proto(item: WishlistRow, product: ProductSummary | None = None) -> pb.WishlistItem:
    """A wishlist item on the wire, with what is known of its product (ids only when nothing is)."""
    message = pb.WishlistItem(
        product_id=item.product_id, collection_ids=item.collection_ids, create_time=timestamp(item.created_at)
    )
    if product is not None:
        message.title = product.title
        message.image_url = product.image_url
        message.availability = availability(product)
        if product.price is not None:
            message.current_price.CopyFrom(
                Money(amount=product.price.amount, currency=product.price.currency)
            )
    return message


def availability(product: ProductSummary) -> pb.ProductAvailability.ValueType:
    """Whether a product can be bought now: on sale, and with stock in some variant."""
    if product.status is not ListingStatus.ACTIVE:
        return pb.PRODUCT_AVAILABILITY_OFF_SALE
    return pb.PRODUCT_AVAILABILITY_IN_STOCK if product.in_stock else pb.PRODUCT_AVAILABILITY_OUT_OF_STOCK


def collection_to_proto(collection: CollectionRow) -> pb.WishlistCollection:
    """A wishlist collection on the wire."""
    return pb.WishlistCollection(
        id=collection.id,
        name=collection.name,
        item_count=collection.item_count,
        create_time=timestamp(collection.created_at),
    )
