"""The authorization endpoint: checking a request, consent, and issuing the code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from toko.platform.ids import new_id
from toko.services.auth import domain
from toko.services.auth.domain import (
    AuthorizationCode,
    Client,
    GrantType,
    hash_secret,
    new_secret,
    parse_scope,
)
from toko.services.auth.handlers.common import SOURCE, Provider
from toko.services.auth.repository.authorization_codes import AuthorizationCodeRepository
from toko.services.auth.repository.clients import ClientRepository
from toko.services.auth.repository.consents import ConsentRepository


class InvalidRedirect(Exception):
    """The client or redirect URI of an authorization request cannot be trusted: show an error page."""


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
        client = await ClientRepository(session).get_client(client_id) if client_id else None
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
        remembered = await ConsentRepository(session).get_consent(user_id, request.client.client_id)
    return not domain.consent_covers(remembered, request.scope)


async def grant_consent(*, provider: Provider, request: AuthorizationRequest, user_id: str) -> None:
    """Remember that the user granted the client these scopes."""
    async with provider.database.unit_of_work(SOURCE) as uow:
        await ConsentRepository(uow.session).remember_consent(
            user_id, request.client.client_id, request.scope
        )
        await uow.commit()


async def issue_code(
    *, provider: Provider, request: AuthorizationRequest, user_id: str, auth_time: datetime
) -> str:
    """Issue a single-use authorization code; return the redirect carrying it."""
    code = new_secret()
    now = provider.clock()
    async with provider.database.unit_of_work(SOURCE) as uow:
        await AuthorizationCodeRepository(uow.session).add_code(
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
