"""Service credentials: how one service calls another's RPCs that only services may call.

Some RPCs take the role ``service`` (inventory's ``Reserve``, promotion's ``HoldVoucherUsages``…):
a service gets an access token with that role from the auth service by the OAuth 2.0 client
credentials grant, as the confidential client ``service-<name>``.

The secrets live in a directory (``TOKO_SERVICE_CREDENTIALS_DIR``, by default
``<TOKO_DATA_DIR>/service-credentials/``), one file ``<name>.secret`` per service, mode 0600:
``toko up`` writes any that are missing before it starts the processes (``ensure_service_secrets``);
in Kubernetes they are one Secret, all of its files mounted into auth and each service's own file
into that service. At start the auth service registers (or re-keys) a client for every file
(``read_service_secrets``); only the secret's hash is stored there.

``ServiceTokens`` keeps one token per process and fetches a new one a minute before it expires, one
fetch at a time; ``metadata()`` is what a gRPC call to another service carries.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from toko.platform.error_codes import CommonReason
from toko.platform.errors import Unavailable

SECRET_SUFFIX = ".secret"  # noqa: S105 - a file name suffix, not a secret
CLIENT_ID_PREFIX = "service-"
# Refresh this long before the token's expiry, so a call never leaves with a token about to lapse.
REFRESH_MARGIN_SECONDS = 60.0
TOKEN_TIMEOUT_SECONDS = 5.0

Metadata = tuple[tuple[str, str], ...]


def client_id_of(service: str) -> str:
    """The OAuth client id of ``service``'s credentials."""
    return f"{CLIENT_ID_PREFIX}{service}"


def ensure_service_secrets(directory: Path, services: Iterable[str]) -> list[str]:
    """Write a random secret for each of ``services`` that has none; the services written for."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for service in services:
        path = directory / f"{service}{SECRET_SUFFIX}"
        if path.exists():
            continue
        # O_EXCL: two starts racing never overwrite each other's secret.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
        written.append(service)
    return written


def read_service_secret(directory: Path, service: str) -> str | None:
    """``service``'s secret, or None when it has none."""
    try:
        return (directory / f"{service}{SECRET_SUFFIX}").read_text().strip() or None
    except FileNotFoundError:
        return None


def read_service_secrets(directory: Path) -> dict[str, str]:
    """Every service's secret in ``directory``, by service name (none when it does not exist)."""
    if not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.glob(f"*{SECRET_SUFFIX}")):
        secret = path.read_text().strip()
        if secret:
            found[path.name.removesuffix(SECRET_SUFFIX)] = secret
    return found


class ServiceTokens:
    """Access tokens of one service's credentials, fetched by the client credentials grant and kept."""

    def __init__(
        self,
        *,
        client_id: str,
        secret: str,
        token_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self._secret = secret
        self._token_url = token_url
        self._transport = transport
        self._clock = clock
        self._token = ""
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid token with the role ``service``; UNAVAILABLE when the auth service gives none."""
        if self._token and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            if not self._token or self._clock() >= self._refresh_at:
                self._token, lifetime = await self._fetch()
                self._refresh_at = self._clock() + max(lifetime - REFRESH_MARGIN_SECONDS, lifetime / 2)
        return self._token

    async def metadata(self) -> Metadata:
        """gRPC call metadata carrying the token."""
        return (("authorization", f"Bearer {await self.token()}"),)

    async def _fetch(self) -> tuple[str, float]:
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=TOKEN_TIMEOUT_SECONDS) as http:
                answer = await http.post(
                    self._token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self._secret),
                )
        except httpx.HTTPError as error:
            raise Unavailable(
                CommonReason.DEPENDENCY_UNAVAILABLE,
                f"the auth service cannot be reached: {type(error).__name__}",
            ) from error
        document = (
            answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        )
        token = document.get("access_token") if isinstance(document, dict) else None
        if answer.status_code != 200 or not isinstance(token, str):
            # A refused secret is an operator's mistake; callers see it as the dependency failing.
            raise Unavailable(
                CommonReason.DEPENDENCY_UNAVAILABLE,
                f"the auth service refused {self.client_id}'s credentials ({answer.status_code})",
            )
        lifetime = document.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 300.0
