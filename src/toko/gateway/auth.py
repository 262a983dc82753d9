"""Access control at the edge: who the caller is, and whether the route's rule lets them in.

Failures become problems with the RFC 6750 challenge: 401 ``WWW-Authenticate: Bearer
realm="toko"`` without a token, with ``error="invalid_token"`` and a description for a
bad one; 403 with ``error="insufficient_scope"`` and the scopes the route needs.
"""

from __future__ import annotations

from toko.auth.v1.events_pb2 import RevocationCause
from toko.gateway.problems import Problem, from_domain_error
from toko.platform.auth import AccessRule, Authenticator, Principal, authenticate, revoked_token
from toko.platform.error_codes import CommonReason, ReasonCode
from toko.platform.errors import DomainError, Unauthenticated, Unavailable

__all__ = ["Authenticator", "admit", "header_text", "identify", "revoked"]

_REALM = 'Bearer realm="toko"'
_ERROR_OF_REASON: dict[ReasonCode, str] = {
    CommonReason.INVALID_TOKEN: "invalid_token",
    CommonReason.TOKEN_ROLES_CHANGED: "invalid_token",
    CommonReason.INVALID_AUTHORIZATION: "invalid_request",
}


def header_text(value: bytes | None) -> str | None:
    """A header value fit to travel as gRPC metadata (printable ASCII), or None."""
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    return text if text.isascii() and text.isprintable() else None


async def identify(authenticator: Authenticator, header: bytes | None) -> Principal:
    """The caller the ``Authorization`` header names (anonymous without one); a 401 ``Problem`` if bad."""
    if header is None:
        return authenticator.authenticate(None)
    authorization = header_text(header)
    try:
        if authorization is None:
            raise Unauthenticated(
                CommonReason.INVALID_AUTHORIZATION, "the Authorization header is not printable ASCII"
            )
        return await authenticate(authenticator, authorization)
    except Unauthenticated as error:
        raise _unauthorized(error) from None
    except Unavailable as error:
        # The signing keys could not be fetched: the token may be good, so a 503 to retry, not a 401.
        raise from_domain_error(error) from None


def admit(rule: AccessRule, principal: Principal) -> None:
    """Raise the 401 or 403 ``Problem`` of a caller the rule does not let in."""
    try:
        rule.check(principal)
    except Unauthenticated as error:
        raise _unauthorized(error) from None
    except DomainError as error:
        problem = from_domain_error(error)
        if error.reason == CommonReason.SCOPE_REQUIRED:
            scope = " ".join(sorted(rule.scopes))
            challenge = f'{_REALM}, error="insufficient_scope", scope="{scope}"'
            problem.headers.append((b"www-authenticate", challenge.encode()))
        raise problem from None


def revoked(cause: RevocationCause.ValueType) -> Problem:
    """The 401 of a revoked token: TOKEN_ROLES_CHANGED, saying to refresh it, when the account's roles
    changed; INVALID_TOKEN otherwise."""
    return _unauthorized(revoked_token(cause))


def _unauthorized(error: Unauthenticated) -> Problem:
    problem = from_domain_error(error)
    code = _ERROR_OF_REASON.get(error.reason)
    challenge = _REALM
    if code is not None:
        # A quoted-string may not hold quotes or backslashes (RFC 9110 §5.6.4).
        description = error.message.replace("\\", "").replace('"', "'")
        challenge += f', error="{code}", error_description="{description}"'
    problem.headers.append((b"www-authenticate", challenge.encode("latin-1", "replace")))
    return problem
