"""OAuth clients: the registry (the admin API) and client authentication at the token endpoints."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from toko.platform.auth import Principal
from toko.platform.error_codes import CommonReason
from toko.platform.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from toko.platform.ids import new_id
from toko.platform.pagination import Page, PageSpec, bad_page_token, decode_token, encode_token
from toko.platform.rules import ValidationFailed, Violation
from toko.platform.service_auth import client_id_of
from toko.services.auth import domain
from toko.services.auth.domain import Client, ClientSpec, hash_secret, new_secret
from toko.services.auth.error_codes import ErrorCode
from toko.services.auth.handlers.common import SOURCE, OAuthError, Provider, commit_revocation, require_admin
from toko.services.auth.repository.clients import ClientRepository
from toko.services.auth.repository.tokens import TokenRepository

log = logging.getLogger(__name__)

CLIENT_PAGES = PageSpec(default=50, maximum=200)


async def register_client(
    *, provider: Provider, spec: ClientSpec, principal: Principal, client_id: str = ""
) -> tuple[Client, str]:
    """Register a client; return it with its secret (empty for a public client), shown only now."""
    require_admin(principal)
    try:
        valid = domain.validate_client(spec)
    except ValidationFailed as error:
        raise _refused_registration(error.violations) from error
    client_type = valid.client_type
    assert client_type is not None  # validate_client refuses a registration without one
    secret = "" if client_type is domain.ClientType.PUBLIC else new_secret()
    client = Client(
        client_id=client_id or new_id(),
        name=valid.name,
        client_type=client_type,
        secret_hash=hash_secret(secret) if secret else None,
        redirect_uris=valid.redirect_uris,
        post_logout_redirect_uris=valid.post_logout_redirect_uris,
        allowed_scopes=valid.allowed_scopes,
        grant_types=valid.grant_types,
        first_party=valid.first_party,
        roles=valid.roles,
        created_at=provider.clock(),
    )
    async with provider.database.unit_of_work(SOURCE) as uow:
        if not await ClientRepository(uow.session).add_client(client):
            raise AlreadyExists(ErrorCode.CLIENT_EXISTS, f"client {client.client_id!r} is already registered")
        await uow.commit()
    log.info("client registered", extra={"client_id": client.client_id})
    return client, secret


async def get_client(*, provider: Provider, client_id: str, principal: Principal) -> Client:
    """A registered client."""
    require_admin(principal)
    async with provider.database.sessions() as session:
        client = await ClientRepository(session).get_client(client_id)
    if client is None:
        raise NotFound(ErrorCode.CLIENT_NOT_FOUND, f"no client {client_id!r}")
    return client


async def list_clients(
    *, provider: Provider, page_size: int, page_token: str, principal: Principal
) -> Page[Client]:
    """A page of clients, oldest first."""
    require_admin(principal)
    size = CLIENT_PAGES.size(page_size)
    after = decode_token(page_token, ["clients"], 2)
    position = _position(after) if after else None
    async with provider.database.sessions() as session:
        found = await ClientRepository(session).list_clients(after=position, limit=size + 1)
    page = found[:size]
    token = (
        encode_token([page[-1].created_at.isoformat(), page[-1].client_id], ["clients"])
        if len(found) > size
        else ""
    )
    return Page(page, token)


async def delete_client(*, provider: Provider, client_id: str, principal: Principal) -> None:
    """Remove a client and revoke every token issued to it."""
    require_admin(principal)
    now = provider.clock()
    async with provider.database.unit_of_work(SOURCE) as uow:
        if not await ClientRepository(uow.session).delete_client(client_id):
            raise NotFound(ErrorCode.CLIENT_NOT_FOUND, f"no client {client_id!r}")
        live = await TokenRepository(uow.session).revoke_families(now, client_id=client_id)
        await commit_revocation(provider, uow, live, subject=client_id)


@dataclass(frozen=True)
class ClientCredentials:
    """How a client identified itself on a request (RFC 6749 §2.3)."""

    client_id: str
    client_secret: str | None
    method: str  # client_secret_basic, client_secret_post or none


async def authenticate_client(*, provider: Provider, credentials: ClientCredentials | None) -> Client:
    """The client the request comes from; raise ``invalid_client`` (401) otherwise."""
    if credentials is None or not credentials.client_id:
        raise OAuthError("invalid_client", "client authentication is required", 401)
    async with provider.database.sessions() as session:
        client = await ClientRepository(session).get_client(credentials.client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
    if client.is_public:
        if credentials.client_secret:
            raise OAuthError("invalid_client", "a public client has no secret", 401)
        return client
    if not credentials.client_secret or not client.check_secret(credentials.client_secret):
        raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
    return client


def _position(key: list[object]) -> tuple[datetime, str]:
    """The (creation time, client id) a page token continues after; INVALID_PAGE_TOKEN when not one."""
    try:
        created = datetime.fromisoformat(str(key[0]))
    except ValueError as exc:
        raise bad_page_token() from exc
    return created, str(key[1])


def _refused_registration(violations: Sequence[Violation]) -> InvalidArgument:
    """One INVALID_ARGUMENT naming every broken rule of a registration.

    Not ``toko.platform.validation.invalid``: the admin API has always answered a broken registration
    with VALIDATION_FAILED, even when one rule alone was broken, and an unknown client type alone
    with INVALID_CLIENT_TYPE (it used to be refused before the other rules ran); clients branch on both.
    """
    only_the_type = {v.reason for v in violations} == {ErrorCode.INVALID_CLIENT_TYPE}
    return InvalidArgument.of(
        (FieldViolation(v.field, v.description, v.reason) for v in violations),
        reason=ErrorCode.INVALID_CLIENT_TYPE if only_the_type else CommonReason.VALIDATION_FAILED,
    )


async def register_service_clients(*, provider: Provider, secrets: Mapping[str, str]) -> list[str]:
    """Register, or re-key, the confidential client ``service-<name>`` of each service's secret.

    These clients carry the role ``service`` that no client registered through the API may have
    (``domain.validate_client`` refuses it): only whoever holds the platform's service-credentials
    directory can make one. Returns the client ids registered or re-keyed.
    """
    changed = []
    for service, secret in sorted(secrets.items()):
        client_id = client_id_of(service)
        async with provider.database.unit_of_work(SOURCE) as uow:
            repository = ClientRepository(uow.session)
            existing = await repository.get_client(client_id)
            if existing is None:
                await repository.add_client(
                    Client(
                        client_id=client_id,
                        name=f"toko {service} service",
                        client_type=domain.ClientType.CONFIDENTIAL,
                        secret_hash=hash_secret(secret),
                        redirect_uris=(),
                        post_logout_redirect_uris=(),
                        allowed_scopes=(),
                        grant_types=("client_credentials",),
                        first_party=True,
                        roles=("service",),
                        created_at=provider.clock(),
                    )
                )
            elif not existing.check_secret(secret):
                await repository.set_client_secret(client_id, hash_secret(secret))
            else:
                continue
            await uow.commit()
        changed.append(client_id)
    return changed
