"""The first-party clients seed: registered once, written to the demo credentials file, usable."""

from __future__ import annotations

import json
import stat

import httpx

from toko.services.auth.bootstrap import AuthService
from toko.services.auth.seed import CREDENTIALS_FILE, seed
from toko.services.auth.settings import AuthSettings


async def test_seed_is_idempotent_and_its_script_client_gets_tokens(
    settings: AuthSettings, auth: AuthService, browser: httpx.AsyncClient
) -> None:
    path = settings.data_dir / CREDENTIALS_FILE
    path.write_text(json.dumps({"accounts": {"admin": {"email": "admin@toko.test"}}}))

    first = await seed(settings)
    second = await seed(settings)

    assert first == second
    written = json.loads(path.read_text())
    assert written["accounts"] == {"admin": {"email": "admin@toko.test"}}
    assert set(written["clients"]) == {"storefront", "toko-scripts"}
    assert "client_secret" not in written["clients"]["storefront"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    scripts = written["clients"]["toko-scripts"]
    response = await browser.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "catalog.write"},
        auth=(scripts["client_id"], scripts["client_secret"]),
    )
    assert response.status_code == 200
