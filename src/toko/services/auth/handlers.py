"""The provider's use cases: client registry, authorization codes, the token grants, revocation.

Each use case takes keyword-only arguments and runs in one unit of work. The
HTTP layer (``toko.services.auth.http``) turns protocol requests into calls
here and ``OAuthError``s into protocol error responses; the gRPC servicer does
the same for the admin API with ``DomainError``s.

Revocation of a grant (a replayed code, a reused refresh token, a revoked
refresh token, a password change) revokes the grant's refresh tokens in the
database and deny-lists its access tokens that are still valid (see
``revocations``).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from redis.asyncio import Redis

from toko.platform.auth import Principal
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, PermissionDenied
from toko.platform.ids import new_id
from toko.platform.pagination import PageSpec, decode_token, encode_token
from toko.platform.rules import ValidationFailed
from toko.services.auth import domain
from toko.services.auth.accounts import Accounts, InvalidCredentials
from toko.services.auth.domain import (
    ACCESS_TOKEN_AUDIENCE,
    AuthorizationCode,
    Client,
    ClientSpec,
    GrantType,
    IssuedTokens,
    RefreshToken,
    UserClaims,
    hash_secret,
    new_secret,
    parse_scope,
    scope_string,
)
from toko.services.auth.error_codes import ErrorCode
from toko.services.auth.keys import InvalidToken, KeyRing
from toko.services.auth.pkce import s256_challenge, token_half_hash
from toko.services.auth.repository import AuthRepository
from toko.services.auth.revocations import announce, deny, is_denied

log = logging.getLogger(__name__)

SOURCE = "auth"
CLIENT_PAGES = PageSpec(default=50, maximum=200)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lifetimes:
    """How long what the provider issues lives."""

    access_token: timedelta = timedelta(minutes=15)
    id_token: timedelta = timedelta(minutes=15)
    refresh_token: timedelta = timedelta(days=30)
    authorization_code: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Provider:
    """What the use cases work with."""

    database: Database
    keys: KeyRing
    accounts: Accounts
    valkey: Redis
    issuer: str
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    clock: Callable[[], datetime] = field(default=_utcnow)


class OAuthError(Exception):
    """A protocol error (RFC 6749 §4.1.2.1, §5.2): ``error`` code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def as_response(self) -> dict[str, str]:
        """The JSON body of the error."""
        return {"error": self.error, "error_description": self.description}


class InvalidRedirect(Exception):
    """The client or redirect URI of an authorization request cannot be trusted: show an error page."""


# --- client registry (admin API) ----------------------------------------------------------------------------


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins manage OAuth clients")


async def register_client(
    *, provider: Provider, spec: ClientSpec, principal: Principal, client_id: str = ""
) -> tuple[Client, str]:
    """Register a client; return it with its secret (empty for a public client), shown only now."""
    _require_admin(principal)
    try:
        valid = domain.validate_client(spec)
    except ValidationFailed as error:
        # Not ``toko.platform.validation.invalid``: the admin API has always answered a broken
        # registration with VALIDATION_FAILED, even when one rule alone was broken.
        raise InvalidArgument.of(
            FieldViolation(v.field, v.description, v.reason) for v in error.violations
        ) from error
    secret = "" if valid.client_type is domain.ClientType.PUBLIC else new_secret()
    client = Client(
        client_id=client_id or new_id(),
        name=valid.name,
        client_type=valid.client_type,
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
        if not await AuthRepository(uow.session).add_client(client):
            raise AlreadyExists(ErrorCode.CLIENT_EXISTS, f"client {client.client_id!r} is already registered")
        await uow.commit()
    log.info("client registered", extra={"client_id": client.client_id})
    return client, secret


async def get_client(*, provider: Provider, client_id: str, principal: Principal) -> Client:
    """A registered client."""
    _require_admin(principal)
    async with provider.database.sessions() as session:
        client = await AuthRepository(session).get_client(client_id)
    if client is None:
        raise NotFound(ErrorCode.CLIENT_NOT_FOUND, f"no client {client_id!r}")
    return client


async def list_clients(
    *, provider: Provider, page_size: int, page_token: str, principal: Principal
) -> tuple[list[Client], str]:
    """A page of clients, oldest first, and the next page's token."""
    _require_admin(principal)
    size = CLIENT_PAGES.size(page_size)
    after = decode_token(page_token, ["clients"], 2)
    position = (datetime.fromisoformat(str(after[0])), str(after[1])) if after else None
    async with provider.database.sessions() as session:
        found = await AuthRepository(session).list_clients(after=position, limit=size + 1)
    page = found[:size]
    token = (
        encode_token([page[-1].created_at.isoformat(), page[-1].client_id], ["clients"])
        if len(found) > size
        else ""
    )
    return page, token


async def delete_client(*, provider: Provider, client_id: str, principal: Principal) -> None:
    """Remove a client and revoke every token issued to it."""
    _require_admin(principal)
    now = provider.clock()
    async with provider.database.unit_of_work(SOURCE) as uow:
        repository = AuthRepository(uow.session)
        if not await repository.delete_client(client_id):
            raise NotFound(ErrorCode.CLIENT_NOT_FOUND, f"no client {client_id!r}")
        live = await repository.revoke_families(now, client_id=client_id)
        await _commit_revocation(provider, uow, live, subject=client_id)


async def rotate_signing_key(*, provider: Provider, principal: Principal) -> tuple[str, list[str]]:
    """Start signing with a new key now; return its kid and the kids still published."""
    _require_admin(principal)
    kid = await provider.keys.ensure_current(force=True)
    return kid, await provider.keys.published_kids()


# --- the authorization endpoint -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request, waiting for the user to sign in and consent."""

    client: Client
    redirect_uri: str
    scope: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str
    prompt: str = ""

    def error_redirect(self, error: str, description: str) -> str:
        """Where to send the browser to tell the client the request failed."""
        return _with_query(
            self.redirect_uri, {"error": error, "error_description": description, "state": self.state}
        )


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    present = {k: v for k, v in params.items() if v}
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(present)}"


class AuthorizationRefused(Exception):
    """The request is invalid but the redirect URI is trusted: tell the client by redirecting."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


async def check_authorization_request(
    *, provider: Provider, params: Mapping[str, str]
) -> AuthorizationRequest:
    """Validate an authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1)."""
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    async with provider.database.sessions() as session:
        client = await AuthRepository(session).get_client(client_id) if client_id else None
    # Until client and redirect URI are known good, nothing may be sent to the redirect URI.
    if client is None:
        raise InvalidRedirect("unknown client")
    if not client.allows_grant(GrantType.AUTHORIZATION_CODE):
        raise InvalidRedirect("this client cannot use the authorization code flow")
    if not redirect_uri or not domain.redirect_uri_registered(client, redirect_uri):
        raise InvalidRedirect("the redirect_uri is not registered for this client")
    state = params.get("state", "")

    def refuse(error: str, description: str) -> AuthorizationRefused:
        return AuthorizationRefused(
            _with_query(redirect_uri, {"error": error, "error_description": description, "state": state})
        )

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    requested = parse_scope(params.get("scope", ""))
    if not requested:
        raise refuse("invalid_scope", "no scope requested")
    scope = domain.granted_scopes(requested, client.allowed_scopes)
    if scope is None:
        raise refuse("invalid_scope", "a requested scope is not allowed for this client")
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "")
    # OAuth 2.1: PKCE for every client, S256 only (plain would let an eavesdropper redeem the code).
    if not challenge:
        raise refuse("invalid_request", "code_challenge is required (PKCE, S256)")
    if method != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256")
    if not domain.valid_code_challenge(challenge):
        raise refuse("invalid_request", "code_challenge is malformed")
    prompt = params.get("prompt", "")
    if prompt not in ("", "none", "login", "consent"):
        raise refuse("invalid_request", "unsupported prompt value")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=params.get("nonce", "")[:256],
        code_challenge=challenge,
        prompt=prompt,
    )


async def needs_consent(*, provider: Provider, request: AuthorizationRequest, user_id: str) -> bool:
    """True when the user must be asked before the client gets what it requested."""
    if request.prompt == "consent":
        return True
    if request.client.first_party:
        return False
    async with provider.database.sessions() as session:
        remembered = await AuthRepository(session).get_consent(user_id, request.client.client_id)
    return not domain.consent_covers(remembered, request.scope)


async def grant_consent(*, provider: Provider, request: AuthorizationRequest, user_id: str) -> None:
    """Remember that the user granted the client these scopes."""
    async with provider.database.unit_of_work(SOURCE) as uow:
        await AuthRepository(uow.session).remember_consent(user_id, request.client.client_id, request.scope)
        await uow.commit()


async def issue_code(
    *, provider: Provider, request: AuthorizationRequest, user_id: str, auth_time: datetime
) -> str:
    """Issue a single-use authorization code; return the redirect carrying it."""
    code = new_secret()
    now = provider.clock()
    async with provider.database.unit_of_work(SOURCE) as uow:
        await AuthRepository(uow.session).add_code(
            AuthorizationCode(
                code_hash=hash_secret(code),
                client_id=request.client.client_id,
                user_id=user_id,
                redirect_uri=request.redirect_uri,
                scope=request.scope,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                auth_time=auth_time,
                expires_at=now + provider.lifetimes.authorization_code,
                family_id=new_id(),
            )
        )
        await uow.commit()
    return _with_query(request.redirect_uri, {"code": code, "state": request.state, "iss": provider.issuer})


# --- client authentication at the token, revocation and introspection endpoints ----------------------------


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
        client = await AuthRepository(session).get_client(credentials.client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
    if client.is_public:
        if credentials.client_secret:
            raise OAuthError("invalid_client", "a public client has no secret", 401)
        return client
    if not credentials.client_secret or not client.check_secret(credentials.client_secret):
        raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
    return client


# --- the token endpoint -------------------------------------------------------------------------------------


async def _mint_access_token(
    provider: Provider,
    *,
    subject: str,
    client_id: str,
    scope: tuple[str, ...],
    roles: tuple[str, ...],
    shop_id: str,
) -> tuple[str, str, datetime]:
    now = provider.clock()
    expires = now + provider.lifetimes.access_token
    jti = str(uuid.uuid4())
    token = await provider.keys.sign(
        {"typ": "at+jwt"},
        {
            "iss": provider.issuer,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "sub": subject,
            "client_id": client_id,
            "scope": scope_string(scope),
            "roles": sorted(set(roles)),
            "shop_id": shop_id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": jti,
        },
    )
    return token, jti, expires


async def _mint_id_token(
    provider: Provider,
    *,
    client_id: str,
    claims: UserClaims,
    scope: tuple[str, ...],
    auth_time: datetime,
    nonce: str,
    access_token: str,
) -> str:
    now = provider.clock()
    body: dict[str, Any] = {
        **claims.released(scope),
        "iss": provider.issuer,
        "aud": client_id,
        "azp": client_id,
        "iat": int(now.timestamp()),
        "exp": int((now + provider.lifetimes.id_token).timestamp()),
        "auth_time": int(auth_time.timestamp()),
        "at_hash": token_half_hash(access_token),
    }
    if nonce:
        body["nonce"] = nonce
    return await provider.keys.sign({"typ": "JWT"}, body)


async def _issue_for_user(
    provider: Provider,
    *,
    client: Client,
    user_id: str,
    scope: tuple[str, ...],
    auth_time: datetime,
    family_id: str,
    nonce: str,
    repository: AuthRepository,
    grant_scope: tuple[str, ...] | None = None,
) -> IssuedTokens:
    """Access (and ID, and refresh) tokens for a user grant, recorded in the caller's transaction.

    ``scope`` is what the access token carries; ``grant_scope`` (default the same) what the grant holds,
    which the rotated refresh token keeps even when a refresh asked for a narrower access token.
    """
    grant_scope = grant_scope or scope
    try:
        claims = await provider.accounts.claims(user_id=user_id)
    except InvalidCredentials as exc:
        raise OAuthError("invalid_grant", "the account no longer exists") from exc
    access, jti, expires = await _mint_access_token(
        provider,
        subject=user_id,
        client_id=client.client_id,
        scope=scope,
        roles=claims.roles,
        shop_id=claims.shop_id,
    )
    await repository.record_access_token(
        jti=jti, family_id=family_id, client_id=client.client_id, user_id=user_id, expires_at=expires
    )
    refresh = ""
    if "offline_access" in grant_scope and client.allows_grant(GrantType.REFRESH_TOKEN):
        refresh = new_secret()
        await repository.add_refresh_token(
            RefreshToken(
                token_hash=hash_secret(refresh),
                family_id=family_id,
                client_id=client.client_id,
                user_id=user_id,
                scope=grant_scope,
                auth_time=auth_time,
                expires_at=provider.clock() + provider.lifetimes.refresh_token,
            )
        )
    id_token = ""
    if "openid" in scope:
        id_token = await _mint_id_token(
            provider,
            client_id=client.client_id,
            claims=claims,
            scope=scope,
            auth_time=auth_time,
            nonce=nonce,
            access_token=access,
        )
    return IssuedTokens(
        access_token=access,
        expires_in=int(provider.lifetimes.access_token.total_seconds()),
        scope=scope,
        refresh_token=refresh,
        id_token=id_token,
    )


async def exchange_code(
    *, provider: Provider, client: Client, code: str, redirect_uri: str, code_verifier: str
) -> IssuedTokens:
    """The authorization_code grant with PKCE; a replayed code revokes what it issued."""
    if not client.allows_grant(GrantType.AUTHORIZATION_CODE):
        raise OAuthError("unauthorized_client", "this client cannot use the authorization_code grant")
    if not code:
        raise OAuthError("invalid_request", "code is required")
    now = provider.clock()
    code_hash = hash_secret(code)
    async with provider.database.unit_of_work(SOURCE) as uow:
        repository = AuthRepository(uow.session)
        stored = await repository.consume_code(code_hash, now)
        if stored is None:
            replayed = await repository.get_code(code_hash)
            if replayed is None or replayed.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown authorization code")
            # RFC 6749 §4.1.2 / RFC 9700 §4.5: a second use means the code leaked; revoke its grant.
            live = await repository.revoke_families(now, family_id=replayed.family_id)
            await _commit_revocation(provider, uow, live, subject=replayed.family_id)
            log.warning("authorization code replayed", extra={"client_id": client.client_id})
            raise OAuthError("invalid_grant", "the authorization code was already used")
        if stored.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if stored.expired(now):
            raise OAuthError("invalid_grant", "the authorization code expired")
        if redirect_uri != stored.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        if not code_verifier or not domain.valid_code_verifier(code_verifier):
            raise OAuthError("invalid_grant", "a valid code_verifier is required")
        if not secrets.compare_digest(s256_challenge(code_verifier), stored.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        issued = await _issue_for_user(
            provider,
            client=client,
            user_id=stored.user_id,
            scope=stored.scope,
            auth_time=stored.auth_time,
            family_id=stored.family_id,
            nonce=stored.nonce,
            repository=repository,
        )
        await uow.commit()
    return issued


async def refresh(*, provider: Provider, client: Client, refresh_token: str, scope: str) -> IssuedTokens:
    """The refresh_token grant: rotate the token; a reused one revokes its whole family."""
    if not client.allows_grant(GrantType.REFRESH_TOKEN):
        raise OAuthError("unauthorized_client", "this client cannot use the refresh_token grant")
    if not refresh_token:
        raise OAuthError("invalid_request", "refresh_token is required")
    now = provider.clock()
    token_hash = hash_secret(refresh_token)
    async with provider.database.unit_of_work(SOURCE) as uow:
        repository = AuthRepository(uow.session)
        current = await repository.rotate_refresh_token(token_hash, now)
        if current is None:
            known = await repository.get_refresh_token(token_hash)
            if known is None or known.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown refresh token")
            if known.used_at is not None and known.revoked_at is None:
                # RFC 9700 §4.14.2: an old token presented again means one of the two copies was stolen.
                live = await repository.revoke_families(now, family_id=known.family_id)
                await _commit_revocation(provider, uow, live, subject=known.family_id)
                log.warning("refresh token reused; family revoked", extra={"client_id": client.client_id})
            raise OAuthError("invalid_grant", "the refresh token is no longer valid")
        if current.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        narrowed = current.scope
        if scope:
            wanted = parse_scope(scope)
            if not set(wanted) <= set(current.scope):
                raise OAuthError("invalid_scope", "a refresh cannot widen the granted scope")
            narrowed = wanted
        issued = await _issue_for_user(
            provider,
            client=client,
            user_id=current.user_id,
            scope=narrowed,
            grant_scope=current.scope,
            auth_time=current.auth_time,
            family_id=current.family_id,
            nonce="",
            repository=repository,
        )
        await uow.commit()
    return issued


async def client_credentials(*, provider: Provider, client: Client, scope: str) -> IssuedTokens:
    """The client_credentials grant, for confidential clients acting on their own behalf."""
    if client.is_public or not client.allows_grant(GrantType.CLIENT_CREDENTIALS):
        raise OAuthError("unauthorized_client", "this client cannot use the client_credentials grant")
    requested = parse_scope(scope) if scope else client.allowed_scopes
    granted = domain.granted_scopes(requested, client.allowed_scopes)
    if granted is None or set(granted) & {"openid", "offline_access"}:
        raise OAuthError("invalid_scope", "a requested scope is not allowed for this client")
    access, _, _ = await _mint_access_token(
        provider,
        subject=f"client:{client.client_id}",
        client_id=client.client_id,
        scope=granted,
        roles=client.roles,
        shop_id="",
    )
    return IssuedTokens(
        access_token=access, expires_in=int(provider.lifetimes.access_token.total_seconds()), scope=granted
    )


# --- revocation, introspection, userinfo --------------------------------------------------------------------


async def revoke(*, provider: Provider, client: Client, token: str, token_type_hint: str) -> None:
    """RFC 7009: revoke a refresh token (and its grant) or an access token; unknown tokens are ignored."""
    if not token:
        raise OAuthError("invalid_request", "token is required")
    now = provider.clock()
    if token_type_hint != "access_token" or token.count(".") != 2:  # noqa: S105 - a hint name
        async with provider.database.unit_of_work(SOURCE) as uow:
            repository = AuthRepository(uow.session)
            stored = await repository.get_refresh_token(hash_secret(token))
            if stored is not None:
                if stored.client_id != client.client_id:
                    return  # RFC 7009 §2.1: not this client's token; nothing is revealed
                live = await repository.revoke_families(now, family_id=stored.family_id)
                await _commit_revocation(provider, uow, live, subject=stored.family_id)
                return
    try:
        claims = await provider.keys.verify_access_token(token, issuer=provider.issuer)
    except InvalidToken:
        return
    if claims.get("client_id") != client.client_id:
        return
    revoked = [(str(claims["jti"]), datetime.fromtimestamp(int(claims["exp"]), UTC))]
    async with provider.database.unit_of_work(SOURCE) as uow:
        await _commit_revocation(provider, uow, revoked, subject=str(claims["sub"]))


async def introspect(*, provider: Provider, client: Client, token: str) -> dict[str, Any]:
    """RFC 7662: whether a token is active, and what it says; only for confidential clients."""
    if client.is_public:
        raise OAuthError("invalid_client", "introspection is for confidential clients", 401)
    inactive: dict[str, Any] = {"active": False}
    if not token:
        return inactive
    if token.count(".") == 2:
        try:
            claims = await provider.keys.verify_access_token(token, issuer=provider.issuer)
        except InvalidToken:
            return inactive
        if await is_denied(provider.valkey, str(claims.get("jti", ""))):
            return inactive
        return {
            "active": True,
            "token_type": "Bearer",
            **{k: claims[k] for k in ("scope", "client_id", "sub", "exp", "iat", "nbf", "iss", "aud", "jti")},
            "roles": claims.get("roles", []),
            "shop_id": claims.get("shop_id", ""),
        }
    async with provider.database.sessions() as session:
        stored = await AuthRepository(session).get_refresh_token(hash_secret(token))
    if stored is None or not stored.usable(provider.clock()):
        return inactive
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": scope_string(stored.scope),
        "client_id": stored.client_id,
        "sub": stored.user_id,
        "exp": int(stored.expires_at.timestamp()),
        "iss": provider.issuer,
    }


async def userinfo(*, provider: Provider, access_token: str) -> dict[str, object]:
    """OIDC userinfo: the claims the token's scopes release; raise ``invalid_token`` (401)."""
    try:
        claims = await provider.keys.verify_access_token(access_token, issuer=provider.issuer)
    except InvalidToken as exc:
        raise OAuthError("invalid_token", "the access token is not valid", 401) from exc
    if await is_denied(provider.valkey, str(claims.get("jti", ""))):
        raise OAuthError("invalid_token", "the access token was revoked", 401)
    scope = parse_scope(str(claims.get("scope", "")))
    if "openid" not in scope:
        raise OAuthError("insufficient_scope", "the token lacks the openid scope", 403)
    try:
        user = await provider.accounts.claims(user_id=str(claims["sub"]))
    except InvalidCredentials as exc:
        raise OAuthError("invalid_token", "the account no longer exists", 401) from exc
    return user.released(scope)


async def revoke_user_tokens(*, provider: Provider, uow: UnitOfWork, user_id: str) -> None:
    """Revoke every grant of a user (password changed, account deleted), in the caller's transaction."""
    live = await AuthRepository(uow.session).revoke_families(provider.clock(), user_id=user_id)
    announce(uow, live, subject=user_id)
    await deny(provider.valkey, live)


async def end_user_access_tokens(*, provider: Provider, uow: UnitOfWork, user_id: str) -> None:
    """Revoke a user's live access tokens (their roles changed), in the caller's transaction; refresh
    tokens stay, and the next refresh reads the roles as they now are."""
    live = await AuthRepository(uow.session).live_access_tokens(provider.clock(), user_id=user_id)
    announce(uow, live, subject=user_id)
    await deny(provider.valkey, live)


async def _commit_revocation(
    provider: Provider, uow: UnitOfWork, live: list[tuple[str, datetime]], *, subject: str
) -> None:
    """Commit a revocation with its event, then deny-list the tokens in Valkey at once.

    The event is the durable record: were Valkey unreachable or this process killed before the
    deny-list is written, every verifier still learns of the revocation from the event.
    """
    announce(uow, live, subject=subject)
    await uow.commit()
    await deny(provider.valkey, live)


async def purge_expired(*, provider: Provider) -> None:
    """Delete codes and tokens past their lifetime."""
    async with provider.database.unit_of_work(SOURCE) as uow:
        await AuthRepository(uow.session).purge_expired(provider.clock())
        await uow.commit()
