"""Which rate-limit buckets a request is charged to, from the gateway's settings.

- API calls with a valid token: per client (``client_id`` and subject), ``rate_limit_api_client``;
- API calls without one (or with a bad one) and HTTP-mount pages: per IP, ``rate_limit_api_ip``;
- POSTs to the sign-in and token endpoints: per IP, ``rate_limit_sign_in_ip`` (much stricter).

The IP is the peer's address as the server saw it: the gateway is the edge, so a
client's own ``X-Forwarded-For`` is not trusted.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from toko.gateway.settings import GatewaySettings
from toko.platform.auth import Principal
from toko.platform.ratelimit import Bucket, Decision, RateLimiter, RateLimitPolicy

__all__ = ["REVOKED_PREFIX", "EdgeLimits"]

PREFIX = "toko:gateway:ratelimit:"
# The auth service's denylist of revoked access tokens, by jti (value "1", expiring with the token).
REVOKED_PREFIX = "toko:auth:revoked:"


class EdgeLimits:
    """The gateway's policies over a ``RateLimiter``."""

    def __init__(self, settings: GatewaySettings, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.api_ip = RateLimitPolicy(
            "api-ip", settings.rate_limit_api_ip.limit, settings.rate_limit_api_ip.window
        )
        self.api_client = RateLimitPolicy(
            "api-client", settings.rate_limit_api_client.limit, settings.rate_limit_api_client.window
        )
        self.sign_in_ip = RateLimitPolicy(
            "sign-in-ip", settings.rate_limit_sign_in_ip.limit, settings.rate_limit_sign_in_ip.window
        )
        self._sign_in_paths = frozenset(path.rstrip("/") for path in settings.rate_limit_sign_in_paths)

    async def api(
        self, scope: MutableMapping[str, Any], principal: Principal, *, revoked: str = ""
    ) -> Decision | None:
        """Charge an API call; with ``revoked`` (a jti), also learn whether that token is revoked."""
        if principal.is_anonymous:
            bucket = Bucket(f"{PREFIX}{self.api_ip.name}:{_peer(scope)}", self.api_ip)
        else:
            bucket = Bucket(
                f"{PREFIX}{self.api_client.name}:{principal.client_id}:{principal.subject}", self.api_client
            )
        return await self.limiter.check((bucket,), exists=REVOKED_PREFIX + revoked if revoked else None)

    async def page(self, scope: MutableMapping[str, Any], path: str) -> Decision | None:
        """Charge a request to an HTTP mount: strictly for sign-in and token POSTs."""
        policy = (
            self.sign_in_ip
            if scope["method"] == "POST" and path.rstrip("/") in self._sign_in_paths
            else self.api_ip
        )
        return await self.limiter.check((Bucket(f"{PREFIX}{policy.name}:{_peer(scope)}", policy),))


def _peer(scope: MutableMapping[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
