"""The first-party OAuth clients: ``python -m toko.services.auth.seed`` (runs after the user seed).

Registers ``storefront`` (public, PKCE, authorization code and refresh token; its
redirect on our origin is the page ``/oauth2/callback-demo``), ``api-docs`` (public,
PKCE, authorization code: the Authorize button of the gateway's ``/docs``) and
``toko-scripts`` (confidential, client credentials, admin role) and merges
them under ``"clients"`` into ``<TOKO_DATA_DIR>/demo-credentials.json`` (mode
0600), the file the user seed writes its demo accounts to. Running it again
changes nothing; a ``toko-scripts`` secret missing from the file (or not
matching) is replaced by a new one, since only its hash is stored.
"""

from __future__ import annotations

from typing import Any

import uvloop

from toko.platform.auth import Principal
from toko.platform.cache import create_valkey
from toko.platform.db import open_service_database
from toko.platform.demo import CREDENTIALS_FILE, read_demo_credentials, update_demo_credentials
from toko.services.auth.accounts import VerifiedAccount
from toko.services.auth.bootstrap import MIGRATIONS, key_ring, lifetimes
from toko.services.auth.domain import OIDC_SCOPES, ClientSpec, ClientType, UserClaims, hash_secret, new_secret
from toko.services.auth.handlers import SOURCE, Provider, clients
from toko.services.auth.http.app import CALLBACK_DEMO_PATH, DEMO_CLIENT_ID
from toko.services.auth.repository.clients import ClientRepository
from toko.services.auth.settings import AuthSettings

SEED_PRINCIPAL = Principal(subject="seed", roles=frozenset({"admin"}))
STOREFRONT = DEMO_CLIENT_ID
SCRIPTS = "toko-scripts"
API_DOCS = "api-docs"
STOREFRONT_SCOPES = (*OIDC_SCOPES, "account", "shop.manage", "catalog.write")
# Swagger UI's redirect page, as the gateway serves it (and configures /docs to use).
DOCS_REDIRECT_PATH = "/docs/oauth2-redirect.html"


def demo_clients(public_base_url: str) -> dict[str, ClientSpec]:
    """The first-party clients, by client id."""
    base = public_base_url.rstrip("/")
    return {
        STOREFRONT: ClientSpec(
            name="toko storefront",
            client_type=ClientType.PUBLIC,
            redirect_uris=(f"{base}{CALLBACK_DEMO_PATH}", "http://localhost:8765/callback"),
            post_logout_redirect_uris=(f"{base}/", "http://localhost:8765/"),
            allowed_scopes=STOREFRONT_SCOPES,
            grant_types=("authorization_code", "refresh_token"),
            first_party=True,
        ),
        API_DOCS: ClientSpec(
            name="toko API docs",
            client_type=ClientType.PUBLIC,
            redirect_uris=(f"{base}{DOCS_REDIRECT_PATH}",),
            # Scopes are what a token may do at most; the roles the account holds still decide.
            allowed_scopes=("openid", "profile", "email", "account", "shop.manage", "catalog.write", "admin"),
            grant_types=("authorization_code",),
            first_party=True,
        ),
        SCRIPTS: ClientSpec(
            name="toko scripts",
            client_type=ClientType.CONFIDENTIAL,
            allowed_scopes=("catalog.write", "shop.manage", "admin"),
            grant_types=("client_credentials",),
            first_party=True,
            roles=("admin",),
        ),
    }


class _NoAccounts:
    """The seed signs nobody in."""

    async def verify_credentials(self, *, email: str, password: str) -> VerifiedAccount:
        """Never called by the seed."""
        raise RuntimeError("the seed does not call the user service")

    async def verify_second_factor(self, *, user_id: str, code: str) -> None:
        """Never called by the seed."""
        raise RuntimeError("the seed does not call the user service")

    async def claims(self, *, user_id: str) -> UserClaims:
        """Never called by the seed."""
        raise RuntimeError("the seed does not call the user service")


async def seed(settings: AuthSettings) -> dict[str, dict[str, Any]]:
    """Register whichever first-party client is missing; return what the credentials file says of them."""
    database = await open_service_database(settings, MIGRATIONS)
    keys = key_ring(settings, database)
    # Registering clients touches no Valkey key; the client connects lazily, so this opens nothing.
    valkey = create_valkey(settings.redis_url)
    provider = Provider(
        database=database,
        keys=keys,
        accounts=_NoAccounts(),
        valkey=valkey,
        issuer=settings.public_base_url.rstrip("/"),
        lifetimes=lifetimes(settings),
    )
    written = read_demo_credentials(settings.data_dir).get("clients", {})
    registered: dict[str, dict[str, Any]] = {}
    try:
        for client_id, spec in demo_clients(settings.public_base_url).items():
            async with database.sessions() as session:
                existing = await ClientRepository(session).get_client(client_id)
            secret = ""
            if existing is None:
                client, secret = await clients.register_client(
                    provider=provider, spec=spec, principal=SEED_PRINCIPAL, client_id=client_id
                )
            else:
                client = existing
                if not client.is_public:
                    secret = str(written.get(client_id, {}).get("client_secret", ""))
                    if not secret or not client.check_secret(secret):
                        secret = new_secret()
                        async with database.unit_of_work(SOURCE) as uow:
                            await ClientRepository(uow.session).set_client_secret(
                                client_id, hash_secret(secret)
                            )
                            await uow.commit()
            entry: dict[str, Any] = {
                "client_id": client.client_id,
                "client_type": client.client_type.value,
                "grant_types": list(client.grant_types),
                "scopes": " ".join(client.allowed_scopes),
            }
            if client.redirect_uris:
                entry["redirect_uris"] = list(client.redirect_uris)
            if secret:
                entry["client_secret"] = secret
            registered[client_id] = entry
    finally:
        await valkey.aclose()
        await database.dispose()
    update_demo_credentials(
        settings.data_dir,
        clients=registered,
        oauth={
            "issuer": provider.issuer,
            "discovery": f"{provider.issuer}/.well-known/openid-configuration",
            "token_endpoint": f"{provider.issuer}/oauth2/token",
        },
    )
    return registered


def main() -> None:
    """Seed the first-party clients and say where their credentials are."""
    settings = AuthSettings()
    seeded = uvloop.run(seed(settings))
    print(
        f"auth seed: clients {', '.join(sorted(seeded))} ready; credentials in "
        f"{settings.data_dir / CREDENTIALS_FILE}"
    )


if __name__ == "__main__":
    main()
