"""The provider's use cases: one function per command or query, one transaction each.

Each use case takes keyword-only arguments and runs in one unit of work. The
HTTP layer (``toko.services.auth.http``) turns protocol requests into calls
here and ``OAuthError``s into protocol error responses; the gRPC servicer does
the same for the admin API with ``DomainError``s. Grouped by aggregate:

- ``clients``: the client registry (admin API) and client authentication
- ``authorization``: the authorization endpoint, consent and codes
- ``tokens``: the token grants, revocation, introspection, userinfo
- ``signing_keys``: rotation on request
- ``sign_ins``: the notice of a sign-in from a new browser
"""

from toko.services.auth.handlers.common import SOURCE, Lifetimes, OAuthError, Provider

__all__ = ["SOURCE", "Lifetimes", "OAuthError", "Provider"]
