"""Access control at the edge: who the caller is, and whether the route's rule lets them in.

The authenticator is a small protocol so the identity service's JWT verification
can replace the development token check without touching the gateway.
"""

from __future__ import annotations

from typing import Protocol

from toko.gateway.problems import from_domain_error
from toko.platform.auth import AccessRule, Principal
from toko.platform.errors import DomainError, Unauthenticated

_CHALLENGE = b'Bearer realm="toko"'
_INVALID_TOKEN_CHALLENGE = b'Bearer realm="toko", error="invalid_token"'


class Authenticator(Protocol):
    """Turns an ``Authorization`` header into a principal."""

    def authenticate(self, authorization: str | None) -> Principal:
        """Return the caller (anonymous without a header); raise ``Unauthenticated`` on a bad one."""
        ...


def header_text(value: bytes | None) -> str | None:
    """A header value fit to travel as gRPC metadata (printable ASCII), or None."""
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    return text if text.isascii() and text.isprintable() else None


def authorize(authenticator: Authenticator, rule: AccessRule, header: bytes | None) -> str | None:
    """The ``Authorization`` value to forward once ``rule`` admits the caller; else a 401 or 403 ``Problem``.

    The header is checked even on public routes, so a bad token is always told apart from none.
    """
    authorization = header_text(header)
    try:
        if header is not None and authorization is None:
            raise Unauthenticated("INVALID_AUTHORIZATION", "the Authorization header is not printable ASCII")
        rule.check(authenticator.authenticate(authorization))
    except Unauthenticated as error:
        problem = from_domain_error(error)
        challenge = _INVALID_TOKEN_CHALLENGE if header else _CHALLENGE
        problem.headers.append((b"www-authenticate", challenge))
        raise problem from error
    except DomainError as error:
        raise from_domain_error(error) from error
    return authorization
