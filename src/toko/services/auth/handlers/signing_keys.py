"""Signing keys: rotation on an admin's request (the key ring rotates on its own schedule too)."""

from __future__ import annotations

from toko.platform.auth import Principal
from toko.services.auth.handlers.common import Provider, require_admin


async def rotate_signing_key(*, provider: Provider, principal: Principal) -> tuple[str, list[str]]:
    """Start signing with a new key now; return its kid and the kids still published."""
    require_admin(principal)
    kid = await provider.keys.ensure_current(force=True)
    return kid, await provider.keys.published_kids()
