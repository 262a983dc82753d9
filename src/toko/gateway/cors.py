"""Cross-origin calls (CORS, the Fetch standard): which origins may call the API, and what tells browsers so.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin, for a
method the path serves, is granted that path's methods and those of the requested headers the
gateway forwards; every other answer to an allowed origin exposes ``X-Request-Id``.
"""

from __future__ import annotations

from collections.abc import Iterable

from toko.platform.asgi import Headers

# The request headers the gateway forwards to the services; a preflight may be granted only these.
FORWARDED_HEADERS = frozenset(
    {"authorization", "content-type", "idempotency-key", "traceparent", "tracestate", "x-request-id"}
)


class Cors:
    """The CORS policy of the gateway: its allowed origins (``*`` for any) and how long a preflight holds."""

    def __init__(self, origins: Iterable[str], max_age: int) -> None:
        origins = list(origins)
        self._any_origin = "*" in origins
        self._origins = frozenset(o.encode() for o in origins)
        self._max_age = str(max_age).encode()

    def allows(self, origin: bytes) -> bool:
        """Whether ``origin`` may call the API from a browser."""
        return self._any_origin or origin in self._origins

    def preflight(self, headers: dict[bytes, bytes], methods: list[str], allow: bytes) -> Headers:
        """The headers granting a preflight to a path serving ``methods`` (listed in ``allow``), or none."""
        requested = headers.get(b"access-control-request-method")
        origin = headers.get(b"origin")
        if requested is None or origin is None or not self.allows(origin):
            return []
        if requested.decode("latin-1") not in methods:
            return []
        wanted = headers.get(b"access-control-request-headers", b"").decode("latin-1").lower()
        granted = [h.strip() for h in wanted.split(",") if h.strip() in FORWARDED_HEADERS]
        return [
            (b"access-control-allow-methods", allow),
            (b"access-control-allow-headers", ", ".join(granted).encode()),
            (b"access-control-max-age", self._max_age),
        ]

    def answer_headers(self, origin: bytes | None) -> Headers:
        """The headers every answer to a request from ``origin`` carries; none for a disallowed one."""
        if origin is None or not self.allows(origin):
            return []
        out = [
            (b"access-control-allow-origin", b"*" if self._any_origin else origin),
            (b"access-control-expose-headers", b"x-request-id"),
        ]
        if not self._any_origin:
            out.append((b"vary", b"origin"))
        return out
