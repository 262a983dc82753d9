"""The gateway's health: ``/livez`` (the process answers) and ``/healthz`` (what it depends on).

``/healthz`` asks every service behind the gateway at once (gRPC health, within a deadline)
and reports, beside them, the HTTP mounts, the state of rate limiting (failing open while
Valkey is out of reach) and of the revocations followed; it is 503 unless every service
serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from toko.gateway.limits import EdgeLimits
from toko.gateway.mounts import HttpMounts
from toko.gateway.upstream import Upstreams
from toko.platform.revocation import RevokedTokens

LIVE = b'{"status":"SERVING"}'


@dataclass(frozen=True)
class Health:
    """What ``/healthz`` reports on."""

    upstreams: Upstreams
    mounts: HttpMounts
    limits: EdgeLimits | None
    revocations: RevokedTokens | None
    # How long the services may take to answer their health check.
    timeout: float

    async def report(self) -> tuple[int, bytes]:
        """The status and JSON body of ``/healthz``."""
        services = await self.upstreams.health(self.timeout)
        serving = all(status == "SERVING" for status in services.values())
        if self.limits is None:
            limiting: dict[str, str | int] = {"state": "DISABLED"}
        else:
            limiter = self.limits.limiter
            limiting = {
                "state": "FAILING_OPEN" if limiter.failing_open else "ACTIVE",
                "failedOpenRequests": limiter.failed_open,
            }
        body = orjson.dumps(
            {
                "status": "SERVING" if serving else "NOT_SERVING",
                "services": services,
                "mounts": self.mounts.prefixes,
                "rateLimiting": limiting,
                "revocations": {
                    "state": self.revocations.state if self.revocations is not None else "DISABLED",
                    "revokedTokens": len(self.revocations) if self.revocations is not None else 0,
                },
            }
        )
        return (200 if serving else 503), body
