"""Persistence of accounts, addresses, wishlists, shops and product summaries (SQLAlchemy Core, asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The
repository reads and writes in the caller's session and never commits; the unit
of work does. All row locking of the service is here: a use case that enforces
a per-account cap or the one-default-address rule first locks the account's row
(``get_user(..., for_update=True)``), so concurrent requests of one account queue
up instead of both passing the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    PrimaryKeyConstraint,
    Row,
    Table,
    Text,
    Uuid,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.user.domain import (
    Address,
    AddressFields,
    MapPin,
    Shop,
    ShopStatus,
    User,
)
from toko.services.user.tokens import TokenPurpose

metadata = MetaData()
_UUID = Uuid(as_uuid=False)
_TZ = DateTime(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("email_verified", Boolean, nullable=False),
    Column("name", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("avatar_url", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("is_admin", Boolean, nullable=False),
    Column("shop_id", _UUID, nullable=True),
    Column("totp_secret", Text, nullable=True),
    Column("totp_enabled", Boolean, nullable=False),
    Column("totp_last_step", BigInteger, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
    Column("deleted_at", _TZ, nullable=True),
)

account_tokens = Table(
    "account_tokens",
    metadata,
    Column("digest", Text, primary_key=True),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("expires_at", _TZ, nullable=False),
    Column("used_at", _TZ, nullable=True),
    Column("created_at", _TZ, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("digest", Text, nullable=False),
    Column("used_at", _TZ, nullable=True),
    PrimaryKeyConstraint("user_id", "digest", name="recovery_codes_pkey"),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("label", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("province", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("district", Text, nullable=False),
    Column("sub_district", Text, nullable=False),
    Column("postal_code", Text, nullable=False),
    Column("street", Text, nullable=False),
    Column("latitude", Double, nullable=True),
    Column("longitude", Double, nullable=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

wishlist_items = Table(
    "wishlist_items",
    metadata,
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("product_id", _UUID, nullable=False),
    Column("created_at", _TZ, nullable=False),
    PrimaryKeyConstraint("user_id", "product_id", name="wishlist_items_pkey"),
)

wishlist_collections = Table(
    "wishlist_collections",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", _TZ, nullable=False),
)

wishlist_collection_items = Table(
    "wishlist_collection_items",
    metadata,
    Column("collection_id", _UUID, ForeignKey("wishlist_collections.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", _UUID, nullable=False),
    Column("product_id", _UUID, nullable=False),
    PrimaryKeyConstraint("collection_id", "product_id", name="wishlist_collection_items_pkey"),
    ForeignKeyConstraint(
        ["user_id", "product_id"],
        ["wishlist_items.user_id", "wishlist_items.product_id"],
        ondelete="CASCADE",
    ),
)

shops = Table(
    "shops",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("owner_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("domain", Text, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("origin_city", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

shop_staff = Table(
    "shop_staff",
    metadata,
    Column("shop_id", _UUID, ForeignKey("shops.id"), nullable=False),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False, unique=True),
    Column("created_at", _TZ, nullable=False),
    PrimaryKeyConstraint("shop_id", "user_id", name="shop_staff_pkey"),
)


@dataclass(frozen=True)
class Credentials:
    """What sign-in checks of an account."""

    user: User
    password_hash: str | None


@dataclass(frozen=True)
class TotpState:
    """An account's second factor: its secret (pending or enabled) and the last time step used."""

    secret: str | None
    enabled: bool
    last_step: int


@dataclass(frozen=True)
class StaffMember:
    """An account working for a shop."""

    user_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class CollectionRow:
    """A wishlist collection with its item count."""

    id: str
    name: str
    item_count: int
    created_at: datetime


@dataclass(frozen=True)
class WishlistRow:
    """A wishlist item with the collections it is in."""

    product_id: str
    collection_ids: tuple[str, ...]
    created_at: datetime


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=row.email,
        email_verified=row.email_verified,
        name=row.name,
        phone=row.phone,
        birth_date=row.birth_date,
        avatar_url=row.avatar_url,
        is_admin=row.is_admin,
        shop_id=row.shop_id,
        totp_enabled=row.totp_enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
        language=row.language,
        deleted=row.deleted_at is not None,
    )


_USER_COLUMNS = [c for c in users.c if c.name not in ("password_hash", "totp_secret", "totp_last_step")]


def _address(row: Row[Any]) -> Address:
    pin = None if row.latitude is None else MapPin(row.latitude, row.longitude)
    return Address(
        id=row.id,
        user_id=row.user_id,
        fields=AddressFields(
            label=row.label,
            recipient=row.recipient,
            phone=row.phone,
            province=row.province,
            city=row.city,
            district=row.district,
            sub_district=row.sub_district,
            postal_code=row.postal_code,
            street=row.street,
            pin=pin,
        ),
        is_default=row.is_default,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _address_values(fields: AddressFields) -> dict[str, Any]:
    return {
        "label": fields.label,
        "recipient": fields.recipient,
        "phone": fields.phone,
        "province": fields.province,
        "city": fields.city,
        "district": fields.district,
        "sub_district": fields.sub_district,
        "postal_code": fields.postal_code,
        "street": fields.street,
        "latitude": fields.pin.latitude if fields.pin else None,
        "longitude": fields.pin.longitude if fields.pin else None,
    }


def _shop(row: Row[Any]) -> Shop:
    return Shop(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        domain=row.domain,
        description=row.description,
        origin_city=row.origin_city,
        status=ShopStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class UserRepository:
    """Reads and writes of the user service in one session; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- accounts ---------------------------------------------------------------------------------------

    async def get_user(self, user_id: str, *, for_update: bool = False) -> User | None:
        """A live (not deleted) account by id."""
        query = select(*_USER_COLUMNS).where(users.c.id == user_id, users.c.deleted_at.is_(None))
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else _user(row)

    async def get_credentials(self, email: str) -> Credentials | None:
        """A live account by email, with its password hash."""
        row = (
            await self.session.execute(
                select(*_USER_COLUMNS, users.c.password_hash).where(
                    users.c.email == email, users.c.deleted_at.is_(None)
                )
            )
        ).one_or_none()
        return None if row is None else Credentials(_user(row), row.password_hash)  # type: ignore[arg-type]

    async def password_hash_of(self, user_id: str) -> str | None:
        """The password hash of a live account."""
        return (
            await self.session.execute(
                select(users.c.password_hash).where(users.c.id == user_id, users.c.deleted_at.is_(None))
            )
        ).scalar_one_or_none()

    async def add_user(self, user: User, password_hash: str) -> bool:
        """Insert an account; False when its email is taken (nothing written)."""
        inserted = await self.session.execute(
            insert(users)
            .values(
                id=user.id,
                email=user.email,
                email_verified=user.email_verified,
                name=user.name,
                phone=user.phone,
                birth_date=user.birth_date,
                avatar_url=user.avatar_url,
                language=user.language,
                password_hash=password_hash,
                is_admin=user.is_admin,
                shop_id=user.shop_id,
                totp_enabled=False,
                totp_last_step=0,
                created_at=user.created_at,
                updated_at=user.updated_at,
            )
            .on_conflict_do_nothing(index_elements=[users.c.email])
            .returning(users.c.id)
        )
        return inserted.first() is not None

    async def update_user(self, user_id: str, **values: Any) -> None:
        """Set columns of an account."""
        await self.session.execute(update(users).where(users.c.id == user_id).values(**values))

    async def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        """Replace an account's password hash."""
        await self.update_user(user_id, password_hash=password_hash, updated_at=now)

    async def anonymise_user(self, user_id: str, now: datetime) -> None:
        """Wipe an account's personal data, keeping its id (order history refers to it)."""
        for table in (
            addresses,
            wishlist_items,
            wishlist_collections,
            recovery_codes,
            account_tokens,
            shop_staff,
        ):
            await self.session.execute(delete(table).where(table.c.user_id == user_id))
        await self.update_user(
            user_id,
            email=f"deleted-{user_id}@invalid",
            email_verified=False,
            name="",
            phone="",
            birth_date=None,
            avatar_url="",
            password_hash=None,
            is_admin=False,
            shop_id=None,
            totp_secret=None,
            totp_enabled=False,
            updated_at=now,
            deleted_at=now,
        )

    # --- single-use tokens ------------------------------------------------------------------------------

    async def add_token(
        self, *, digest: str, user_id: str, purpose: TokenPurpose, expires_at: datetime, now: datetime
    ) -> None:
        """Store a token's digest."""
        await self.session.execute(
            insert(account_tokens).values(
                digest=digest, user_id=user_id, purpose=purpose.value, expires_at=expires_at, created_at=now
            )
        )

    async def use_token(self, *, digest: str, purpose: TokenPurpose, now: datetime) -> str | None:
        """Consume an unused, unexpired token; the account it belongs to, or None."""
        used = await self.session.execute(
            update(account_tokens)
            .where(
                account_tokens.c.digest == digest,
                account_tokens.c.purpose == purpose.value,
                account_tokens.c.used_at.is_(None),
                account_tokens.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(account_tokens.c.user_id)
        )
        owner: str | None = used.scalar_one_or_none()
        return owner

    async def used_token_owner(self, *, digest: str, purpose: TokenPurpose, now: datetime) -> str | None:
        """The account of a token that was used (or voided) and has not expired yet, or None."""
        found = await self.session.execute(
            select(account_tokens.c.user_id).where(
                account_tokens.c.digest == digest,
                account_tokens.c.purpose == purpose.value,
                account_tokens.c.used_at.is_not(None),
                account_tokens.c.expires_at > now,
            )
        )
        owner: str | None = found.scalar_one_or_none()
        return owner

    async def void_tokens(self, *, user_id: str, purpose: TokenPurpose, now: datetime) -> None:
        """Make every outstanding token of ``purpose`` of an account unusable."""
        await self.session.execute(
            update(account_tokens)
            .where(
                account_tokens.c.user_id == user_id,
                account_tokens.c.purpose == purpose.value,
                account_tokens.c.used_at.is_(None),
            )
            .values(used_at=now)
        )

    # --- TOTP -------------------------------------------------------------------------------------------

    async def totp_state(self, user_id: str, *, for_update: bool = False) -> TotpState | None:
        """A live account's second factor."""
        query = select(users.c.totp_secret, users.c.totp_enabled, users.c.totp_last_step).where(
            users.c.id == user_id, users.c.deleted_at.is_(None)
        )
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else TotpState(row.totp_secret, row.totp_enabled, row.totp_last_step)

    async def unsealed_totp_secrets(self, sealed_prefix: str) -> list[tuple[str, str]]:
        """(user id, secret) of the TOTP secrets not stored sealed, locked for sealing them."""
        query = (
            select(users.c.id, users.c.totp_secret)
            .where(
                users.c.totp_secret.is_not(None),
                ~users.c.totp_secret.startswith(sealed_prefix, autoescape=True),
            )
            .with_for_update()
        )
        return [(str(row.id), row.totp_secret) for row in await self.session.execute(query)]

    async def replace_recovery_codes(self, user_id: str, digests: Sequence[str]) -> None:
        """Forget an account's recovery codes and store these."""
        await self.session.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        if digests:
            await self.session.execute(
                insert(recovery_codes), [{"user_id": user_id, "digest": d} for d in digests]
            )

    async def use_recovery_code(self, user_id: str, digest: str, now: datetime) -> bool:
        """Consume an unused recovery code; whether there was one."""
        used = await self.session.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.digest == digest,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(recovery_codes.c.digest)
        )
        return used.first() is not None

    # --- addresses --------------------------------------------------------------------------------------

    async def count_addresses(self, user_id: str) -> int:
        """How many addresses an account has."""
        return int(
            (
                await self.session.execute(
                    select(func.count()).select_from(addresses).where(addresses.c.user_id == user_id)
                )
            ).scalar_one()
        )

    async def add_address(self, address: Address) -> None:
        """Insert an address."""
        await self.session.execute(
            insert(addresses).values(
                id=address.id,
                user_id=address.user_id,
                is_default=address.is_default,
                created_at=address.created_at,
                updated_at=address.updated_at,
                **_address_values(address.fields),
            )
        )

    async def get_address(self, user_id: str, address_id: str) -> Address | None:
        """An address of an account."""
        row = (
            await self.session.execute(
                select(addresses).where(addresses.c.id == address_id, addresses.c.user_id == user_id)
            )
        ).one_or_none()
        return None if row is None else _address(row)

    async def list_addresses(
        self, user_id: str, *, after: tuple[int, str] | None, limit: int
    ) -> list[Address]:
        """Addresses, the default first, then newest; ``after`` is the (rank, id) of the last one seen."""
        rank = case((addresses.c.is_default, 0), else_=1)
        query = select(addresses).where(addresses.c.user_id == user_id)
        if after is not None:
            query = query.where(or_(rank > after[0], and_(rank == after[0], addresses.c.id < after[1])))
        rows = (await self.session.execute(query.order_by(rank, addresses.c.id.desc()).limit(limit))).all()
        return [_address(row) for row in rows]

    async def save_address(self, address: Address) -> None:
        """Store an address's fields."""
        await self.session.execute(
            update(addresses)
            .where(addresses.c.id == address.id)
            .values(updated_at=address.updated_at, **_address_values(address.fields))
        )

    async def delete_address(self, user_id: str, address_id: str) -> Address | None:
        """Delete an address; the deleted one, or None when there was none."""
        row = (
            await self.session.execute(
                delete(addresses)
                .where(addresses.c.id == address_id, addresses.c.user_id == user_id)
                .returning(*addresses.c)
            )
        ).one_or_none()
        return None if row is None else _address(row)

    async def set_default_address(self, user_id: str, address_id: str | None) -> None:
        """Make ``address_id`` the one default address (None: the newest one)."""
        if address_id is None:
            address_id = (
                await self.session.execute(
                    select(addresses.c.id)
                    .where(addresses.c.user_id == user_id)
                    .order_by(addresses.c.created_at.desc(), addresses.c.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if address_id is None:
                return
        # Unset first: the partial unique index is checked row by row and must never see two defaults.
        await self.session.execute(
            update(addresses)
            .where(addresses.c.user_id == user_id, addresses.c.is_default)
            .values(is_default=False)
        )
        await self.session.execute(
            update(addresses).where(addresses.c.id == address_id).values(is_default=True)
        )

    # --- wishlists --------------------------------------------------------------------------------------

    async def has_wishlist_item(self, user_id: str, product_id: str) -> bool:
        """Whether the product is on the wishlist."""
        return (
            await self.session.execute(
                select(wishlist_items.c.product_id).where(
                    wishlist_items.c.user_id == user_id, wishlist_items.c.product_id == product_id
                )
            )
        ).first() is not None

    async def count_wishlist_items(self, user_id: str) -> int:
        """How many products are on the wishlist."""
        return int(
            (
                await self.session.execute(
                    select(func.count())
                    .select_from(wishlist_items)
                    .where(wishlist_items.c.user_id == user_id)
                )
            ).scalar_one()
        )

    async def add_wishlist_item(self, user_id: str, product_id: str, now: datetime) -> None:
        """Put a product on the wishlist (no-op when it is there)."""
        await self.session.execute(
            insert(wishlist_items)
            .values(user_id=user_id, product_id=product_id, created_at=now)
            .on_conflict_do_nothing()
        )

    async def add_to_collection(self, user_id: str, collection_id: str, product_id: str) -> None:
        """Put a wishlist item into a collection (no-op when it is there)."""
        await self.session.execute(
            insert(wishlist_collection_items)
            .values(collection_id=collection_id, user_id=user_id, product_id=product_id)
            .on_conflict_do_nothing()
        )

    async def remove_wishlist_item(self, user_id: str, product_id: str, collection_id: str | None) -> None:
        """Take a product off the wishlist, or out of one collection; no-op when absent."""
        if collection_id is None:
            table = wishlist_items
            query = delete(table).where(table.c.user_id == user_id, table.c.product_id == product_id)
        else:
            table = wishlist_collection_items
            query = delete(table).where(
                table.c.user_id == user_id,
                table.c.collection_id == collection_id,
                table.c.product_id == product_id,
            )
        await self.session.execute(query)

    async def get_wishlist_item(self, user_id: str, product_id: str) -> WishlistRow | None:
        """A wishlist item with its collections."""
        found = await self._wishlist_rows(
            select(wishlist_items).where(
                wishlist_items.c.user_id == user_id, wishlist_items.c.product_id == product_id
            )
        )
        return found[0] if found else None

    async def list_wishlist_items(
        self, user_id: str, *, collection_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[WishlistRow]:
        """Wishlist items, newest first; ``after`` is the (created_at, product_id) of the last one seen."""
        query = select(wishlist_items).where(wishlist_items.c.user_id == user_id)
        if collection_id is not None:
            query = query.where(
                select(wishlist_collection_items.c.product_id)
                .where(
                    wishlist_collection_items.c.collection_id == collection_id,
                    wishlist_collection_items.c.product_id == wishlist_items.c.product_id,
                )
                .exists()
            )
        if after is not None:
            moment, product_id = after
            query = query.where(
                or_(
                    wishlist_items.c.created_at < moment,
                    and_(wishlist_items.c.created_at == moment, wishlist_items.c.product_id < product_id),
                )
            )
        query = query.order_by(wishlist_items.c.created_at.desc(), wishlist_items.c.product_id.desc()).limit(
            limit
        )
        return await self._wishlist_rows(query)

    async def _wishlist_rows(self, query: Any) -> list[WishlistRow]:
        rows = (await self.session.execute(query)).all()
        if not rows:
            return []
        memberships = (
            await self.session.execute(
                select(wishlist_collection_items.c.product_id, wishlist_collection_items.c.collection_id)
                .where(
                    wishlist_collection_items.c.user_id == rows[0].user_id,
                    wishlist_collection_items.c.product_id.in_([row.product_id for row in rows]),
                )
                .order_by(wishlist_collection_items.c.collection_id)
            )
        ).all()
        collections: dict[str, list[str]] = {}
        for product_id, collection_id in memberships:
            collections.setdefault(product_id, []).append(collection_id)
        return [
            WishlistRow(row.product_id, tuple(collections.get(row.product_id, ())), row.created_at)
            for row in rows
        ]

    async def count_collections(self, user_id: str) -> int:
        """How many named collections the wishlist has."""
        return int(
            (
                await self.session.execute(
                    select(func.count())
                    .select_from(wishlist_collections)
                    .where(wishlist_collections.c.user_id == user_id)
                )
            ).scalar_one()
        )

    async def add_collection(self, *, collection_id: str, user_id: str, name: str, now: datetime) -> bool:
        """Insert a collection; False when the name is taken (case-insensitively)."""
        inserted = await self.session.execute(
            insert(wishlist_collections)
            .values(id=collection_id, user_id=user_id, name=name, created_at=now)
            .on_conflict_do_nothing()
            .returning(wishlist_collections.c.id)
        )
        return inserted.first() is not None

    async def list_collections(self, user_id: str, *, after: str | None, limit: int) -> list[CollectionRow]:
        """Collections with their item counts, oldest first."""
        count = (
            select(func.count())
            .where(wishlist_collection_items.c.collection_id == wishlist_collections.c.id)
            .scalar_subquery()
        )
        query = select(wishlist_collections, count.label("item_count")).where(
            wishlist_collections.c.user_id == user_id
        )
        if after is not None:
            query = query.where(wishlist_collections.c.id > after)
        if limit:
            query = query.limit(limit)
        rows = (await self.session.execute(query.order_by(wishlist_collections.c.id))).all()
        return [CollectionRow(row.id, row.name, int(row.item_count), row.created_at) for row in rows]

    async def get_collection(self, user_id: str, collection_id: str) -> CollectionRow | None:
        """A collection of the wishlist."""
        found = [
            c for c in await self.list_collections(user_id, after=None, limit=0) if c.id == collection_id
        ]
        return found[0] if found else None

    async def delete_collection(self, user_id: str, collection_id: str) -> bool:
        """Delete a collection (its items stay on the wishlist); whether there was one."""
        deleted = await self.session.execute(
            delete(wishlist_collections)
            .where(wishlist_collections.c.id == collection_id, wishlist_collections.c.user_id == user_id)
            .returning(wishlist_collections.c.id)
        )
        return deleted.first() is not None

    # --- shops ------------------------------------------------------------------------------------------

    async def add_shop(self, shop: Shop) -> bool:
        """Insert a shop; False when its domain is taken (nothing written)."""
        inserted = await self.session.execute(
            insert(shops)
            .values(
                id=shop.id,
                owner_id=shop.owner_id,
                name=shop.name,
                domain=shop.domain,
                description=shop.description,
                origin_city=shop.origin_city,
                status=shop.status.value,
                created_at=shop.created_at,
                updated_at=shop.updated_at,
            )
            .on_conflict_do_nothing()
            .returning(shops.c.id)
        )
        return inserted.first() is not None

    async def get_shop(self, shop_id: str, *, for_update: bool = False) -> Shop | None:
        """A shop by id."""
        query = select(shops).where(shops.c.id == shop_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else _shop(row)

    async def get_shop_by_domain(self, domain: str) -> Shop | None:
        """A shop by its storefront domain."""
        row = (await self.session.execute(select(shops).where(shops.c.domain == domain))).one_or_none()
        return None if row is None else _shop(row)

    async def list_active_shops(self, *, after: str | None, limit: int) -> list[Shop]:
        """Active shops, oldest first."""
        query = select(shops).where(shops.c.status == ShopStatus.ACTIVE.value)
        if after is not None:
            query = query.where(shops.c.id > after)
        rows = (await self.session.execute(query.order_by(shops.c.id).limit(limit))).all()
        return [_shop(row) for row in rows]

    async def save_shop(self, shop: Shop) -> None:
        """Store a shop's changeable fields."""
        await self.session.execute(
            update(shops)
            .where(shops.c.id == shop.id)
            .values(
                owner_id=shop.owner_id,
                name=shop.name,
                description=shop.description,
                origin_city=shop.origin_city,
                status=shop.status.value,
                updated_at=shop.updated_at,
            )
        )

    async def staff_of(self, shop_id: str) -> list[str]:
        """Ids of the accounts working for a shop."""
        return list(
            (await self.session.execute(select(shop_staff.c.user_id).where(shop_staff.c.shop_id == shop_id)))
            .scalars()
            .all()
        )

    async def list_staff(self, shop_id: str, *, after: str | None, limit: int) -> list[StaffMember]:
        """Staff of a shop in the order they joined."""
        query = (
            select(shop_staff.c.user_id, users.c.name, shop_staff.c.created_at)
            .join(users, users.c.id == shop_staff.c.user_id)
            .where(shop_staff.c.shop_id == shop_id)
        )
        if after is not None:
            query = query.where(shop_staff.c.user_id > after)
        rows = (await self.session.execute(query.order_by(shop_staff.c.user_id).limit(limit))).all()
        return [StaffMember(row.user_id, row.name, row.created_at) for row in rows]

    async def add_staff(self, shop_id: str, user_id: str, now: datetime) -> None:
        """Record that an account works for a shop."""
        await self.session.execute(
            insert(shop_staff).values(shop_id=shop_id, user_id=user_id, created_at=now)
        )

    async def remove_staff(self, shop_id: str, user_id: str) -> bool:
        """Forget that an account works for a shop; whether it did."""
        deleted = await self.session.execute(
            delete(shop_staff)
            .where(shop_staff.c.shop_id == shop_id, shop_staff.c.user_id == user_id)
            .returning(shop_staff.c.user_id)
        )
        return deleted.first() is not None


# --- product summaries: the wishlist's read model of the catalog and the stock -----------------------------

product_summaries = Table(
    "product_summaries",
    metadata,
    Column("product_id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("title", Text, nullable=False),
    Column("image_url", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("sku_ids", ARRAY(_UUID), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

product_summary_skus = Table(
    "product_summary_skus",
    metadata,
    Column("sku_id", _UUID, primary_key=True),
    Column("price_amount", BigInteger, nullable=True),
    Column("currency", Text, nullable=True),
    Column("price_changed_at", _TZ, nullable=True),
    Column("price_change_id", _UUID, nullable=True),
    Column("in_stock", Boolean, nullable=True),
    Column("availability_version", BigInteger, nullable=False, server_default="0"),
)


class ListingStatus(StrEnum):
    """Whether a product is on sale, as the catalog last said."""

    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class Price:
    """A price of one unit: minor units of its currency (empty means IDR, as on the wire)."""

    amount: int
    currency: str


@dataclass(frozen=True)
class ProductFacts:
    """What a product event says of a product: its summary as of ``version`` and its SKUs' base prices."""

    product_id: str
    shop_id: str
    title: str
    image_url: str
    status: ListingStatus
    # SKU id to base price, in the product's order.
    base_prices: dict[str, Price]
    version: int


@dataclass(frozen=True)
class ProductSummary:
    """What a wishlist shows of a product: its title, cover image, status, lowest price and any stock."""

    product_id: str
    title: str
    image_url: str
    status: ListingStatus
    price: Price | None
    in_stock: bool


class ProductSummaryRepository:
    """The product summaries: written by the event consumers, read by the wishlist.

    Every write keeps the newest fact: a product's version, a price change's time (then id), an
    availability version. An event that arrives late or twice is ignored, whatever the order.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_product(self, facts: ProductFacts, now: datetime) -> bool:
        """Store a product unless a newer version is stored; whether it was. Archiving is for good."""
        values = insert(product_summaries).values(
            product_id=facts.product_id,
            shop_id=facts.shop_id,
            title=facts.title,
            image_url=facts.image_url,
            status=facts.status.value,
            sku_ids=list(facts.base_prices),
            version=facts.version,
            updated_at=now,
        )
        stored = product_summaries.c
        upsert = values.on_conflict_do_update(
            index_elements=[stored.product_id],
            set_={
                "shop_id": values.excluded.shop_id,
                "title": values.excluded.title,
                "image_url": values.excluded.image_url,
                "status": case(
                    (stored.status == ListingStatus.ARCHIVED.value, stored.status),
                    else_=values.excluded.status,
                ),
                "sku_ids": values.excluded.sku_ids,
                "version": values.excluded.version,
                "updated_at": values.excluded.updated_at,
            },
            where=stored.version < values.excluded.version,
        ).returning(stored.product_id)
        if (await self.session.execute(upsert)).first() is None:
            return False
        if facts.base_prices:
            prices = insert(product_summary_skus).values(
                [
                    {"sku_id": sku_id, "price_amount": price.amount, "currency": price.currency}
                    for sku_id, price in facts.base_prices.items()
                ]
            )
            # The base price stands in until the SKU's first price change, which may be lower (a campaign).
            await self.session.execute(
                prices.on_conflict_do_update(
                    index_elements=[product_summary_skus.c.sku_id],
                    set_={"price_amount": prices.excluded.price_amount, "currency": prices.excluded.currency},
                    where=product_summary_skus.c.price_changed_at.is_(None),
                )
            )
        return True

    async def archive_product(self, product_id: str, shop_id: str, now: datetime) -> None:
        """Mark a product archived, known or not (its other facts may come later)."""
        values = insert(product_summaries).values(
            product_id=product_id,
            shop_id=shop_id,
            title="",
            image_url="",
            status=ListingStatus.ARCHIVED.value,
            sku_ids=[],
            version=0,
            updated_at=now,
        )
        await self.session.execute(
            values.on_conflict_do_update(
                index_elements=[product_summaries.c.product_id],
                set_={"status": ListingStatus.ARCHIVED.value, "updated_at": now},
            )
        )

    async def record_price(self, sku_id: str, price: Price, *, changed_at: datetime, change_id: str) -> None:
        """Store a SKU's price of one unit unless a later change is stored."""
        values = insert(product_summary_skus).values(
            sku_id=sku_id,
            price_amount=price.amount,
            currency=price.currency,
            price_changed_at=changed_at,
            price_change_id=change_id,
        )
        stored = product_summary_skus.c
        await self.session.execute(
            values.on_conflict_do_update(
                index_elements=[stored.sku_id],
                set_={
                    "price_amount": values.excluded.price_amount,
                    "currency": values.excluded.currency,
                    "price_changed_at": values.excluded.price_changed_at,
                    "price_change_id": values.excluded.price_change_id,
                },
                where=or_(
                    stored.price_changed_at.is_(None),
                    tuple_(stored.price_changed_at, stored.price_change_id)
                    < tuple_(values.excluded.price_changed_at, values.excluded.price_change_id),
                ),
            )
        )

    async def record_availability(self, sku_id: str, *, in_stock: bool, version: int) -> None:
        """Store whether a SKU has stock unless a later version is stored."""
        values = insert(product_summary_skus).values(
            sku_id=sku_id, in_stock=in_stock, availability_version=version
        )
        stored = product_summary_skus.c
        await self.session.execute(
            values.on_conflict_do_update(
                index_elements=[stored.sku_id],
                set_={
                    "in_stock": values.excluded.in_stock,
                    "availability_version": values.excluded.availability_version,
                },
                where=stored.availability_version < values.excluded.availability_version,
            )
        )

    async def summaries(self, product_ids: Iterable[str]) -> dict[str, ProductSummary]:
        """The summaries of the products known, by product id."""
        wanted = list(product_ids)
        if not wanted:
            return {}
        products = (
            await self.session.execute(
                select(product_summaries).where(product_summaries.c.product_id.in_(wanted))
            )
        ).all()
        sku_ids = {sku_id for row in products for sku_id in row.sku_ids}
        skus = {
            row.sku_id: row
            for row in (
                await self.session.execute(
                    select(product_summary_skus).where(product_summary_skus.c.sku_id.in_(sku_ids))
                )
            ).all()
        }
        return {
            row.product_id: _summary(row, [skus[s] for s in row.sku_ids if s in skus]) for row in products
        }


def _summary(product: Row[Any], skus: Sequence[Row[Any]]) -> ProductSummary:
    # A SKU the inventory never announced has never had stock: it starts at none, unannounced.
    prices = [Price(sku.price_amount, sku.currency) for sku in skus if sku.price_amount is not None]
    return ProductSummary(
        product_id=product.product_id,
        title=product.title,
        image_url=product.image_url,
        status=ListingStatus(product.status),
        price=min(prices, key=lambda price: price.amount, default=None),
        in_stock=any(sku.in_stock for sku in skus),
    )
