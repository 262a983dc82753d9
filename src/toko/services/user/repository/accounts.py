"""Accounts: profiles, credentials, and deleting an account (``AccountRepository``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.domain import User
from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import (
    account_tokens,
    addresses,
    recovery_codes,
    shop_staff,
    users,
    wishlist_collections,
    wishlist_items,
)


@dataclass(frozen=True)
class Credentials:
    """What sign-in checks of an account."""

    user: User
    password_hash: str | None


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


class AccountRepository(SessionRepository):
    """Accounts in one session; ``get_user(..., for_update=True)`` is the account's lock."""

    async def get_user(self, user_id: str, *, for_update: bool = False) -> User | None:
        """A live (not deleted) account by id."""
        query = select(*_USER_COLUMNS).where(users.c.id == user_id, users.c.deleted_at.is_(None))
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).one_or_none()
        return None if row is None else _user(row)

    async def get_credentials(self, email: str) -> Credentials | None:
        """A live account by email, with its password hash."""
        row = (
            await self._session.execute(
                select(*_USER_COLUMNS, users.c.password_hash).where(
                    users.c.email == email, users.c.deleted_at.is_(None)
                )
            )
        ).one_or_none()
        return None if row is None else Credentials(_user(row), row.password_hash)  # type: ignore[arg-type]

    async def password_hash_of(self, user_id: str) -> str | None:
        """The password hash of a live account."""
        return (
            await self._session.execute(
                select(users.c.password_hash).where(users.c.id == user_id, users.c.deleted_at.is_(None))
            )
        ).scalar_one_or_none()

    async def add_user(self, user: User, password_hash: str) -> bool:
        """Insert an account; False when its email is taken (nothing written)."""
        inserted = await self._session.execute(
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
        await self._session.execute(update(users).where(users.c.id == user_id).values(**values))

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
            await self._session.execute(delete(table).where(table.c.user_id == user_id))
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
