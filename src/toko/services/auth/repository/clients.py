"""The client registry (``ClientRepository``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.auth.domain import Client, ClientType
from toko.services.auth.repository.common import SessionRepository
from toko.services.auth.repository.tables import authorization_codes, clients, consents


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


class ClientRepository(SessionRepository):
    """Registered OAuth clients in one session."""

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
