"""Persistence of clients, signing keys, codes, refresh tokens and consents (SQLAlchemy 2.0 Core).

The repository reads and writes in the caller's session and never commits; the
unit of work does. Single use is enforced by the database, not by reading
first: a code or a refresh token is consumed by a conditional ``UPDATE … WHERE
used_at IS NULL``, so of two concurrent uses exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Row,
    Table,
    Text,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.auth.domain import AuthorizationCode, Client, ClientType, RefreshToken

metadata = MetaData()
_TIME = DateTime(timezone=True)

clients = Table(
    "clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("client_type", Text, nullable=False),
    Column("secret_hash", Text),
    Column("redirect_uris", JSONB, nullable=False),
    Column("post_logout_redirect_uris", JSONB, nullable=False),
    Column("allowed_scopes", JSONB, nullable=False),
    Column("grant_types", JSONB, nullable=False),
    Column("first_party", Boolean, nullable=False),
    Column("roles", JSONB, nullable=False),
    Column("created_at", _TIME, nullable=False),
)
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_key", LargeBinary, nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", _TIME, nullable=False),
    Column("signs_from", _TIME, nullable=False),
    Column("retired_at", _TIME),
    Column("expires_at", _TIME),
)
authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", ARRAY(Text), nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_challenge", Text, nullable=False),
    Column("auth_time", _TIME, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("family_id", Text, nullable=False),
    Column("used_at", _TIME),
)
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("family_id", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("scope", ARRAY(Text), nullable=False),
    Column("auth_time", _TIME, nullable=False),
    Column("created_at", _TIME, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("used_at", _TIME),
    Column("revoked_at", _TIME),
)
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("family_id", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("expires_at", _TIME, nullable=False),
)
consents = Table(
    "consents",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("client_id", Text, primary_key=True),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("updated_at", _TIME, nullable=False),
)

# Serialises key rotation across replicas, for the length of one transaction.
_ROTATION_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('toko.auth.signing-key-rotation'))")


def _client(row: Row[Any]) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        client_type=ClientType(row.client_type),
        secret_hash=row.secret_hash,
        redirect_uris=tuple(row.redirect_uris),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        allowed_scopes=tuple(row.allowed_scopes),
        grant_types=tuple(row.grant_types),
        first_party=row.first_party,
        roles=tuple(row.roles),
        created_at=row.created_at,
    )


def _code(row: Row[Any]) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=row.code_hash,
        client_id=row.client_id,
        user_id=row.user_id,
        redirect_uri=row.redirect_uri,
        scope=tuple(row.scope),
        nonce=row.nonce,
        code_challenge=row.code_challenge,
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        family_id=row.family_id,
        used_at=row.used_at,
    )


def _refresh(row: Row[Any]) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash,
        family_id=row.family_id,
        client_id=row.client_id,
        user_id=row.user_id,
        scope=tuple(row.scope),
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


class AuthRepository:
    """Reads and writes of the provider's tables in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- clients --------------------------------------------------------------------------------------------

    async def add_client(self, client: Client) -> bool:
        """Insert a client; False when its id is taken."""
        result = await self._session.execute(
            insert(clients)
            .values(
                client_id=client.client_id,
                name=client.name,
                client_type=client.client_type.value,
                secret_hash=client.secret_hash,
                redirect_uris=list(client.redirect_uris),
                post_logout_redirect_uris=list(client.post_logout_redirect_uris),
                allowed_scopes=list(client.allowed_scopes),
                grant_types=list(client.grant_types),
                first_party=client.first_party,
                roles=list(client.roles),
                created_at=client.created_at,
            )
            .on_conflict_do_nothing()
            .returning(clients.c.client_id)
        )
        return result.first() is not None

    async def set_client_secret(self, client_id: str, secret_hash: str) -> None:
        """Replace a confidential client's secret."""
        await self._session.execute(
            update(clients).where(clients.c.client_id == client_id).values(secret_hash=secret_hash)
        )

    async def get_client(self, client_id: str) -> Client | None:
        """The client, or None."""
        row = (await self._session.execute(select(clients).where(clients.c.client_id == client_id))).first()
        return _client(row) if row else None

    async def list_clients(self, *, after: tuple[datetime, str] | None, limit: int) -> list[Client]:
        """Clients oldest first, after a (created_at, client_id) position."""
        query = select(clients).order_by(clients.c.created_at, clients.c.client_id).limit(limit)
        if after is not None:
            query = query.where(tuple_(clients.c.created_at, clients.c.client_id) > tuple_(*after))
        return [_client(row) for row in await self._session.execute(query)]

    async def delete_client(self, client_id: str) -> bool:
        """Delete a client with its codes and consents; False when there was none."""
        result = await self._session.execute(
            delete(clients).where(clients.c.client_id == client_id).returning(clients.c.client_id)
        )
        if result.first() is None:
            return False
        await self._session.execute(
            delete(authorization_codes).where(authorization_codes.c.client_id == client_id)
        )
        await self._session.execute(delete(consents).where(consents.c.client_id == client_id))
        return True

    # --- signing keys ---------------------------------------------------------------------------------------

    async def lock_key_rotation(self) -> None:
        """Hold the rotation lock until the transaction ends (one rotation at a time, across replicas)."""
        await self._session.execute(_ROTATION_LOCK)

    async def signing_key_rows(self, now: datetime) -> list[Row[Any]]:
        """Every key still published (or still signing), newest first."""
        query = (
            select(signing_keys)
            .where((signing_keys.c.expires_at.is_(None)) | (signing_keys.c.expires_at > now))
            .order_by(signing_keys.c.created_at.desc())
        )
        return list(await self._session.execute(query))

    async def add_signing_key(
        self,
        *,
        kid: str,
        private_key: bytes,
        public_jwk: dict[str, str],
        created_at: datetime,
        signs_from: datetime,
    ) -> None:
        """Store a new key."""
        await self._session.execute(
            signing_keys.insert().values(
                kid=kid,
                private_key=private_key,
                public_jwk=public_jwk,
                created_at=created_at,
                signs_from=signs_from,
            )
        )

    async def retire_signing_keys(
        self, *, except_kid: str, retired_at: datetime, expires_at: datetime
    ) -> None:
        """Every other key stops signing at ``retired_at`` and stays published until ``expires_at``."""
        await self._session.execute(
            update(signing_keys)
            .where(
                signing_keys.c.kid != except_kid,
                (signing_keys.c.retired_at.is_(None)) | (signing_keys.c.retired_at > retired_at),
            )
            .values(retired_at=retired_at, expires_at=expires_at)
        )

    async def purge_expired_keys(self, now: datetime) -> None:
        """Forget keys nobody can need any more."""
        await self._session.execute(delete(signing_keys).where(signing_keys.c.expires_at <= now))

    # --- authorization codes --------------------------------------------------------------------------------

    async def add_code(self, code: AuthorizationCode) -> None:
        """Store an issued code."""
        await self._session.execute(
            authorization_codes.insert().values(
                code_hash=code.code_hash,
                client_id=code.client_id,
                user_id=code.user_id,
                redirect_uri=code.redirect_uri,
                scope=list(code.scope),
                nonce=code.nonce,
                code_challenge=code.code_challenge,
                auth_time=code.auth_time,
                expires_at=code.expires_at,
                family_id=code.family_id,
            )
        )

    async def consume_code(self, code_hash: str, now: datetime) -> AuthorizationCode | None:
        """Mark the code used and return it; None when unknown or already used (see ``get_code``)."""
        row = (
            await self._session.execute(
                update(authorization_codes)
                .where(authorization_codes.c.code_hash == code_hash, authorization_codes.c.used_at.is_(None))
                .values(used_at=now)
                .returning(*authorization_codes.c)
            )
        ).first()
        return _code(row) if row else None

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        """A code whatever its state."""
        row = (
            await self._session.execute(
                select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
            )
        ).first()
        return _code(row) if row else None

    # --- refresh and access tokens --------------------------------------------------------------------------

    async def add_refresh_token(self, token: RefreshToken) -> None:
        """Store an issued refresh token."""
        await self._session.execute(
            refresh_tokens.insert().values(
                token_hash=token.token_hash,
                family_id=token.family_id,
                client_id=token.client_id,
                user_id=token.user_id,
                scope=list(token.scope),
                auth_time=token.auth_time,
                created_at=func.now(),
                expires_at=token.expires_at,
            )
        )

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """A refresh token whatever its state."""
        row = (
            await self._session.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
            )
        ).first()
        return _refresh(row) if row else None

    async def rotate_refresh_token(self, token_hash: str, now: datetime) -> RefreshToken | None:
        """Mark a usable token used and return it; None when it was not usable (reuse, revoked, expired)."""
        row = (
            await self._session.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.token_hash == token_hash,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                    refresh_tokens.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(*refresh_tokens.c)
            )
        ).first()
        return _refresh(row) if row else None

    async def record_access_token(
        self, *, jti: str, family_id: str, client_id: str, user_id: str, expires_at: datetime
    ) -> None:
        """Remember an access token of a user grant, so revoking the grant can deny-list it."""
        await self._session.execute(
            access_tokens.insert().values(
                jti=jti, family_id=family_id, client_id=client_id, user_id=user_id, expires_at=expires_at
            )
        )

    async def revoke_families(
        self,
        now: datetime,
        *,
        family_id: str | None = None,
        user_id: str | None = None,
        client_id: str | None = None,
    ) -> list[tuple[str, datetime]]:
        """Revoke the refresh tokens of a family, a user or a client; return their live access tokens."""
        tokens = update(refresh_tokens).where(refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
        live = select(access_tokens.c.jti, access_tokens.c.expires_at).where(access_tokens.c.expires_at > now)
        if family_id is not None:
            tokens = tokens.where(refresh_tokens.c.family_id == family_id)
            live = live.where(access_tokens.c.family_id == family_id)
        elif user_id is not None:
            tokens = tokens.where(refresh_tokens.c.user_id == user_id)
            live = live.where(access_tokens.c.user_id == user_id)
        elif client_id is not None:
            tokens = tokens.where(refresh_tokens.c.client_id == client_id)
            live = live.where(access_tokens.c.client_id == client_id)
        else:
            raise ValueError("name a family, a user or a client")
        await self._session.execute(tokens)
        return [(row.jti, row.expires_at) for row in await self._session.execute(live)]

    async def live_access_tokens(self, now: datetime, *, user_id: str) -> list[tuple[str, datetime]]:
        """The access tokens of a user that have not expired yet, as ``(jti, expires_at)``."""
        result = await self._session.execute(
            select(access_tokens.c.jti, access_tokens.c.expires_at).where(
                access_tokens.c.user_id == user_id, access_tokens.c.expires_at > now
            )
        )
        return [(row.jti, row.expires_at) for row in result]

    async def purge_expired(self, now: datetime) -> None:
        """Delete codes, refresh tokens and access-token records past their lifetime."""
        await self._session.execute(delete(authorization_codes).where(authorization_codes.c.expires_at < now))
        await self._session.execute(delete(refresh_tokens).where(refresh_tokens.c.expires_at < now))
        await self._session.execute(delete(access_tokens).where(access_tokens.c.expires_at < now))

    # --- consents -------------------------------------------------------------------------------------------

    async def get_consent(self, user_id: str, client_id: str) -> tuple[str, ...]:
        """The scopes the user already granted the client (empty when none)."""
        row = (
            await self._session.execute(
                select(consents.c.scopes).where(
                    consents.c.user_id == user_id, consents.c.client_id == client_id
                )
            )
        ).first()
        return tuple(row.scopes) if row else ()

    async def remember_consent(self, user_id: str, client_id: str, scopes: Sequence[str]) -> None:
        """Remember (adding to what was granted before) the scopes the user granted the client."""
        statement = insert(consents).values(
            user_id=user_id, client_id=client_id, scopes=sorted(set(scopes)), updated_at=func.now()
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[consents.c.user_id, consents.c.client_id],
                set_={
                    "scopes": text(
                        "ARRAY(SELECT DISTINCT unnest(consents.scopes || excluded.scopes) ORDER BY 1)"
                    ),
                    "updated_at": func.now(),
                },
            )
        )
