"""Who is calling, and whether they may call what they call.

Access rules are declared on each RPC with the ``toko.options.v1.access`` method
option. The gateway checks them at the edge and the service checks them again
(``toko.platform.grpc`` does it in an interceptor), so a call that bypasses the
gateway meets the same rule.

Until the identity service lands, the only credential is the development admin
token that ``make up`` generates and prints: presenting it as a bearer token
makes the caller an admin. Everything else is anonymous.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from google.protobuf.descriptor import MethodDescriptor

from toko.options.v1 import access_pb2
from toko.platform.errors import PermissionDenied, Unauthenticated

ANONYMOUS_SUBJECT = ""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    shop_id: str = ""

    @property
    def is_anonymous(self) -> bool:
        """True when no credential was presented."""
        return self.subject == ANONYMOUS_SUBJECT

    @property
    def is_admin(self) -> bool:
        """True for platform administrators."""
        return "admin" in self.roles


ANONYMOUS = Principal(subject=ANONYMOUS_SUBJECT)
# The development admin holds every scope a first-party admin client would.
DEV_ADMIN_SCOPES = frozenset({"catalog.write"})


@dataclass(frozen=True)
class AccessRule:
    """The access option of one RPC, read from its descriptor."""

    public: bool
    scopes: frozenset[str]
    roles: frozenset[str]

    @classmethod
    def of(cls, method: MethodDescriptor) -> AccessRule:
        """Read the rule declared on an RPC; without one, only admins may call it."""
        options = method.GetOptions()
        if not options.HasExtension(access_pb2.access):
            return cls(public=False, scopes=frozenset(), roles=frozenset({"admin"}))
        declared = options.Extensions[access_pb2.access]
        return cls(public=declared.public, scopes=frozenset(declared.scopes), roles=frozenset(declared.roles))

    def check(self, principal: Principal) -> None:
        """Raise unless ``principal`` may call the RPC."""
        if self.public:
            return
        if principal.is_anonymous:
            raise Unauthenticated("AUTHENTICATION_REQUIRED", "this operation needs a bearer token")
        if self.roles and not (self.roles & principal.roles):
            raise PermissionDenied(
                "ROLE_REQUIRED",
                f"this operation needs one of the roles: {', '.join(sorted(self.roles))}",
            )
        missing = self.scopes - principal.scopes
        if missing:
            raise PermissionDenied(
                "SCOPE_REQUIRED", f"the token lacks the scopes: {', '.join(sorted(missing))}"
            )


@dataclass(frozen=True)
class DevTokenAuthenticator:
    """Turns an ``Authorization`` header into a principal, knowing only the dev admin token."""

    dev_admin_token: str

    def authenticate(self, authorization: str | None) -> Principal:
        """Return the caller, anonymous without a header; raise on a bad credential."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("INVALID_AUTHORIZATION", "expected 'Authorization: Bearer <token>'")
        if self.dev_admin_token and hmac.compare_digest(token.strip(), self.dev_admin_token):
            return Principal(subject="dev-admin", roles=frozenset({"admin"}), scopes=DEV_ADMIN_SCOPES)
        raise Unauthenticated("INVALID_TOKEN", "the bearer token is not valid")
