"""Which rate-limit buckets a request is charged to, from the gateway's settings.

- API calls with a valid token: per client (``client_id`` and subject), ``rate_limit_api_client``;
- API calls without one (or with a bad one) and HTTP-mount pages: per IP, ``rate_limit_api_ip``;
- POSTs to the sign-in and token endpoints and to the account pages (sign-up, password reset…):
  per IP, ``rate_limit_sign_in_ip`` (much stricter).

A token found on the auth service's deny-list is refused; the entry's value says why
(``revocation_cause``), so a client whose roles changed is told to refresh its token.

The IP is the peer's address as the server saw it: the gateway is the edge, so a
client's own ``X-Forwarded-For`` is not trusted.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from toko.auth.v1.events_pb2 import RevocationCause
from toko.gateway.settings import GatewaySettings
from toko.platform.auth import Principal
from toko.platform.ratelimit import Bucket, Decision, RateLimiter, RateLimitPolicy

__all__ = ["REVOKED_PREFIX", "EdgeLimits"]

log = logging.getLogger("toko.gateway")

PREFIX = "toko:gateway:ratelimit:"
# The auth service's denylist of revoked access tokens, by jti, expiring with the token; the value is
# the name of the RevocationCause ("1" in entries written before causes were recorded).
REVOKED_PREFIX = "toko:auth:revoked:"


class EdgeLimits:
    """The gateway's policies over a ``RateLimiter``."""

    def __init__(self, settings: GatewaySettings, limiter: RateLimiter, denylist: Redis) -> None:
        self.limiter = limiter
        self._denylist = denylist
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
        self._sign_in_prefixes = tuple(settings.rate_limit_sign_in_prefixes)

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

    async def aclose(self) -> None:
        """Finish the checks in flight and close the connections to Valkey."""
        await self.limiter.aclose()
        await (
            self._denylist.aclose()
        )  # the limiter's own client, unless one was given: closing twice is harmless

    async def revocation_cause(self, jti: str) -> RevocationCause.ValueType:
        """Why the deny-listed token ``jti`` was revoked; UNSPECIFIED when the entry does not say.

        A second round trip, but only for a token already found revoked.
        """
        try:
            value = await self._denylist.get(REVOKED_PREFIX + jti)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("cannot read why a token was revoked", extra={"error": str(error)})
            return RevocationCause.REVOCATION_CAUSE_UNSPECIFIED
        name = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")
        try:
            return RevocationCause.Value(name)
        except ValueError:  # "1", or a cause this gateway does not know yet
            return RevocationCause.REVOCATION_CAUSE_UNSPECIFIED

    async def page(self, scope: MutableMapping[str, Any], path: str) -> Decision | None:
        """Charge a request to an HTTP mount: strictly for the POSTs of sign-in, tokens and accounts."""
        strict = scope["method"] == "POST" and (
            path.rstrip("/") in self._sign_in_paths or path.startswith(self._sign_in_prefixes)
        )
        policy = self.sign_in_ip if strict else self.api_ip
        return await self.limiter.check((Bucket(f"{PREFIX}{policy.name}:{_peer(scope)}", policy),))


def _peer(scope: MutableMapping[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
