"""Tokens: the grants of the token endpoint, revocation, introspection, userinfo, and their end.

Revocation of a grant (a replayed code, a reused refresh token, a revoked
refresh token, a password change) revokes the grant's refresh tokens in the
database and deny-lists its access tokens that are still valid (see
``toko.services.auth.revocations``).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from toko.auth.v1.events_pb2 import RevocationCause
from toko.platform.db import UnitOfWork
from toko.services.auth import domain
from toko.services.auth.accounts import InvalidCredentials
from toko.services.auth.domain import (
    ACCESS_TOKEN_AUDIENCE,
    Client,
    GrantType,
    IssuedTokens,
    RefreshToken,
    UserClaims,
    hash_secret,
    new_secret,
    parse_scope,
    scope_string,
)
from toko.services.auth.handlers.common import SOURCE, OAuthError, Provider, commit_revocation
from toko.services.auth.keys import InvalidToken
from toko.services.auth.pkce import s256_challenge, token_half_hash
from toko.services.auth.repository.authorization_codes import AuthorizationCodeRepository
from toko.services.auth.repository.tokens import TokenRepository
from toko.services.auth.revocations import Cause, announce, deny, is_denied

log = logging.getLogger(__name__)


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
    repository: TokenRepository,
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
        repository = TokenRepository(uow.session)
        codes = AuthorizationCodeRepository(uow.session)
        stored = await codes.consume_code(code_hash, now)
        if stored is None:
            replayed = await codes.get_code(code_hash)
            if replayed is None or replayed.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown authorization code")
            # RFC 6749 §4.1.2 / RFC 9700 §4.5: a second use means the code leaked; revoke its grant.
            live = await repository.revoke_families(now, family_id=replayed.family_id)
            await commit_revocation(provider, uow, live, subject=replayed.family_id)
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
        repository = TokenRepository(uow.session)
        current = await repository.rotate_refresh_token(token_hash, now)
        if current is None:
            known = await repository.get_refresh_token(token_hash)
            if known is None or known.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown refresh token")
            if known.used_at is not None and known.revoked_at is None:
                # RFC 9700 §4.14.2: an old token presented again means one of the two copies was stolen.
                live = await repository.revoke_families(now, family_id=known.family_id)
                await commit_revocation(provider, uow, live, subject=known.family_id)
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
            repository = TokenRepository(uow.session)
            stored = await repository.get_refresh_token(hash_secret(token))
            if stored is not None:
                if stored.client_id != client.client_id:
                    return  # RFC 7009 §2.1: not this client's token; nothing is revealed
                live = await repository.revoke_families(now, family_id=stored.family_id)
                await commit_revocation(provider, uow, live, subject=stored.family_id)
                return
    try:
        claims = await provider.keys.verify_access_token(token, issuer=provider.issuer)
    except InvalidToken:
        return
    if claims.get("client_id") != client.client_id:
        return
    revoked = [(str(claims["jti"]), datetime.fromtimestamp(int(claims["exp"]), UTC))]
    async with provider.database.unit_of_work(SOURCE) as uow:
        await commit_revocation(provider, uow, revoked, subject=str(claims["sub"]))


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
        stored = await TokenRepository(session).get_refresh_token(hash_secret(token))
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


async def revoke_user_tokens(*, provider: Provider, uow: UnitOfWork, user_id: str, cause: Cause) -> None:
    """Revoke every grant of a user (password changed, account deleted), in the caller's transaction."""
    live = await TokenRepository(uow.session).revoke_families(provider.clock(), user_id=user_id)
    announce(uow, live, subject=user_id, cause=cause)
    await deny(provider.valkey, live, cause)


async def end_user_access_tokens(*, provider: Provider, uow: UnitOfWork, user_id: str) -> None:
    """Revoke a user's live access tokens (their roles changed), in the caller's transaction; refresh
    tokens stay, and the next refresh reads the roles as they now are."""
    live = await TokenRepository(uow.session).live_access_tokens(provider.clock(), user_id=user_id)
    roles_changed = RevocationCause.REVOCATION_CAUSE_ROLES_CHANGED
    announce(uow, live, subject=user_id, cause=roles_changed)
    await deny(provider.valkey, live, roles_changed)


async def purge_expired(*, provider: Provider) -> None:
    """Delete codes and tokens past their lifetime."""
    async with provider.database.unit_of_work(SOURCE) as uow:
        await TokenRepository(uow.session).purge_expired(provider.clock())
        await uow.commit()
