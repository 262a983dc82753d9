"""The address book of an account (``AddressRepository``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.domain import Address, AddressFields, MapPin
from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import addresses


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


class AddressRepository(SessionRepository):
    """Addresses in one session; the caller locks the account first (see the package's docstring)."""

    async def count_addresses(self, user_id: str) -> int:
        """How many addresses an account has."""
        return int(
            (
                await self._session.execute(
                    select(func.count()).select_from(addresses).where(addresses.c.user_id == user_id)
                )
            ).scalar_one()
        )

    async def add_address(self, address: Address) -> None:
        """Insert an address."""
        await self._session.execute(
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
            await self._session.execute(
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
        rows = (await self._session.execute(query.order_by(rank, addresses.c.id.desc()).limit(limit))).all()
        return [_address(row) for row in rows]

    async def save_address(self, address: Address) -> None:
        """Store an address's fields."""
        await self._session.execute(
            update(addresses)
            .where(addresses.c.id == address.id)
            .values(updated_at=address.updated_at, **_address_values(address.fields))
        )

    async def delete_address(self, user_id: str, address_id: str) -> Address | None:
        """Delete an address; the deleted one, or None when there was none."""
        row = (
            await self._session.execute(
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
                await self._session.execute(
                    select(addresses.c.id)
                    .where(addresses.c.user_id == user_id)
                    .order_by(addresses.c.created_at.desc(), addresses.c.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if address_id is None:
                return
        # Unset first: the partial unique index is checked row by row and must never see two defaults.
        await self._session.execute(
            update(addresses)
            .where(addresses.c.user_id == user_id, addresses.c.is_default)
            .values(is_default=False)
        )
        await self._session.execute(
            update(addresses).where(addresses.c.id == address_id).values(is_default=True)
        )
