"""Client credentials, introspection, discovery, JWKS rotation, the admin API and third-party consent."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest
from auth_testkit import FakeAccount, hidden, pkce_pair, query_of, sign_in
from google.rpc import error_details_pb2, status_pb2
from joserfc import jwt
from joserfc.jwk import KeySet

from toko.auth.v1 import auth_pb2 as pb
from toko.auth.v1 import auth_pb2_grpc
from toko.platform.auth import JwtAuthenticator
from toko.platform.grpc import STATUS_DETAILS_KEY
from toko.platform.jwks import RemoteJwks
from toko.platform.pagination import encode_token
from toko.services.auth.bootstrap import AuthService
from toko.services.auth.revocations import revoked_key


async def scripts_token(
    browser: httpx.AsyncClient, scripts: tuple[str, str], scope: str = ""
) -> httpx.Response:
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    return await browser.post("/oauth2/token", data=form, auth=scripts)


async def test_discovery_document(browser: httpx.AsyncClient, base_url: str) -> None:
    document = (await browser.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == base_url
    assert document["token_endpoint"] == f"{base_url}/oauth2/token"
    assert document["jwks_uri"] == f"{base_url}/oauth2/jwks"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert {"openid", "offline_access", "catalog.write", "admin"} <= set(document["scopes_supported"])
    assert (await browser.get("/.well-known/oauth-authorization-server")).json() == document


async def test_head_of_discovery_and_keys_answers_like_get_without_a_body(browser: httpx.AsyncClient) -> None:
    for path in ("/.well-known/openid-configuration", "/oauth2/jwks"):
        get = await browser.get(path)
        head = await browser.head(path)

        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(get.content))


async def test_client_credentials_for_scripts(browser: httpx.AsyncClient, scripts: tuple[str, str]) -> None:
    response = await scripts_token(browser, scripts, "catalog.write")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert "refresh_token" not in body
    keys = KeySet.import_key_set((await browser.get("/oauth2/jwks")).json())
    claims = jwt.decode(body["access_token"], keys, algorithms=["ES256"]).claims
    assert claims["sub"] == "client:toko-scripts"
    assert claims["roles"] == ["admin"]
    assert claims["scope"] == "catalog.write"


async def test_client_credentials_refusals(
    browser: httpx.AsyncClient, scripts: tuple[str, str], storefront: str
) -> None:
    wrong_secret = await browser.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(scripts[0], "nope")
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    too_wide = await scripts_token(browser, scripts, "catalog.write account")
    assert too_wide.json()["error"] == "invalid_scope"
    public = await browser.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "storefront"}
    )
    assert public.json()["error"] == "unauthorized_client"
    password_grant = await browser.post(
        "/oauth2/token", data={"grant_type": "password", "username": "a", "password": "b"}, auth=scripts
    )
    assert password_grant.json()["error"] == "unsupported_grant_type"


async def test_introspection(
    browser: httpx.AsyncClient, scripts: tuple[str, str], storefront: str, auth: AuthService
) -> None:
    token = (await scripts_token(browser, scripts)).json()["access_token"]
    active = (await browser.post("/oauth2/introspect", data={"token": token}, auth=scripts)).json()
    assert active["active"] is True
    assert active["client_id"] == "toko-scripts"
    assert (await browser.post("/oauth2/introspect", data={"token": "garbage"}, auth=scripts)).json() == {
        "active": False
    }
    public = await browser.post("/oauth2/introspect", data={"token": token, "client_id": "storefront"})
    assert public.status_code == 401

    await browser.post(
        "/oauth2/revoke", data={"token": token, "token_type_hint": "access_token"}, auth=scripts
    )
    assert (await browser.post("/oauth2/introspect", data={"token": token}, auth=scripts)).json()[
        "active"
    ] is False
    jti = jwt.decode(token, KeySet.import_key_set((await browser.get("/oauth2/jwks")).json())).claims["jti"]
    assert await auth.provider.valkey.get(revoked_key(jti)) == b"REVOCATION_CAUSE_GRANT_REVOKED"


async def test_rotation_publishes_ahead_and_keeps_the_old_key_until_its_tokens_expire(
    browser: httpx.AsyncClient, scripts: tuple[str, str], auth: AuthService
) -> None:
    def kid_of(token: str) -> str:
        return str(jwt.decode(token, keys).header["kid"])

    old_token = (await scripts_token(browser, scripts)).json()["access_token"]
    keys = KeySet.import_key_set((await browser.get("/oauth2/jwks")).json())
    old_kid = kid_of(old_token)

    ring = auth.provider.keys
    new_kid = await ring.ensure_current(force=True)
    keys = KeySet.import_key_set((await browser.get("/oauth2/jwks")).json())
    assert new_kid != old_kid
    assert {old_kid, new_kid} <= {key.kid for key in keys}
    # Published first; the old key keeps signing until verifiers had time to fetch the new one.
    assert kid_of((await scripts_token(browser, scripts)).json()["access_token"]) == old_kid

    real_clock = ring.clock
    start = real_clock()
    try:
        ring.clock = lambda: start + ring.policy.publish_ahead
        await ring.reload()
        assert kid_of((await scripts_token(browser, scripts)).json()["access_token"]) == new_kid
        assert jwt.decode(old_token, keys).claims["sub"] == "client:toko-scripts"
        assert old_kid in await ring.published_kids()

        # Once every token the old key signed has expired, it is no longer published.
        ring.clock = lambda: (
            start + ring.policy.publish_ahead + ring.policy.longest_token + ring.policy.leeway
        )
        await ring.reload()
        assert old_kid not in await ring.published_kids()
        assert new_kid in await ring.published_kids()
    finally:
        ring.clock = real_clock
        await ring.reload()


async def test_tokens_are_accepted_by_the_platform_verifier(
    browser: httpx.AsyncClient, scripts: tuple[str, str], base_url: str
) -> None:
    token = (await scripts_token(browser, scripts, "admin")).json()["access_token"]
    keys = RemoteJwks(f"{base_url}/oauth2/jwks")
    await keys.refresh()
    principal, expires = JwtAuthenticator(keys, issuer=base_url).verify(token)
    assert principal.subject == "client:toko-scripts"
    assert principal.roles == frozenset({"admin"})
    assert "admin" in principal.scopes
    assert expires > time.time()


async def test_admin_api_registers_third_party_apps(
    browser: httpx.AsyncClient, scripts: tuple[str, str], grpc_address: str
) -> None:
    token = (await scripts_token(browser, scripts, "admin")).json()["access_token"]
    admin = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        registered = await stub.RegisterClient(
            pb.RegisterClientRequest(
                client=pb.OAuthClient(
                    name="Aplikasi Kasir",
                    client_type=pb.CLIENT_TYPE_CONFIDENTIAL,
                    redirect_uris=["https://kasir.example/callback"],
                    allowed_scopes=["openid", "catalog.write"],
                    grant_types=["authorization_code"],
                )
            ),
            metadata=admin,
        )
        assert registered.client_secret
        assert registered.client.client_id
        fetched = await stub.GetClient(
            pb.GetClientRequest(client_id=registered.client.client_id), metadata=admin
        )
        assert fetched.client.redirect_uris == ["https://kasir.example/callback"]
        listed = await stub.ListClients(pb.ListClientsRequest(page_size=1), metadata=admin)
        assert len(listed.clients) == 1
        assert listed.next_page_token
        # A token of the right shape whose time is not a time is refused, not a 500.
        forged = encode_token(["not-a-time", "x"], ["clients"])
        with pytest.raises(grpc.aio.AioRpcError) as forged_page:
            await stub.ListClients(pb.ListClientsRequest(page_token=forged), metadata=admin)
        assert forged_page.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (forged_page.value.details() or "")

        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.RegisterClient(
                pb.RegisterClientRequest(
                    client=pb.OAuthClient(
                        name="Jahat",
                        client_type=pb.CLIENT_TYPE_PUBLIC,
                        redirect_uris=["http://evil.example/cb"],
                        allowed_scopes=["superpower"],
                        grant_types=["implicit"],
                    )
                ),
                metadata=admin,
            )
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT

        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.ListClients(pb.ListClientsRequest())
        assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED

        await stub.DeleteClient(pb.DeleteClientRequest(client_id=registered.client.client_id), metadata=admin)
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.GetClient(pb.GetClientRequest(client_id=registered.client.client_id), metadata=admin)
        assert gone.value.code() is grpc.StatusCode.NOT_FOUND

        rotated = await stub.RotateSigningKey(pb.RotateSigningKeyRequest(), metadata=admin)
        assert rotated.kid in rotated.published_kids


def _refusal(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """The reason of a refused call, and the reason of each field it names."""
    status = status_pb2.Status.FromString(dict(error.trailing_metadata() or ())[STATUS_DETAILS_KEY])
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    for detail in status.details:
        if not detail.Unpack(info):
            detail.Unpack(bad_request)
    return info.reason, {v.field: v.reason for v in bad_request.field_violations}


@pytest.mark.parametrize(
    ("client_type", "redirect_uri", "reason", "violations"),
    [
        pytest.param(
            99,
            "http://evil.example/cb",
            "VALIDATION_FAILED",
            {"client.client_type": "INVALID_CLIENT_TYPE", "client.redirect_uris[0]": "INVALID_REDIRECT_URI"},
            id="an unknown type and a bad redirect URI",
        ),
        pytest.param(
            pb.CLIENT_TYPE_UNSPECIFIED,
            "https://kasir.example/callback",
            "INVALID_CLIENT_TYPE",
            {"client.client_type": "INVALID_CLIENT_TYPE"},
            id="no type, nothing else wrong",
        ),
    ],
)
async def test_a_broken_registration_names_every_broken_rule_in_one_answer(
    browser: httpx.AsyncClient,
    scripts: tuple[str, str],
    grpc_address: str,
    client_type: int,
    redirect_uri: str,
    reason: str,
    violations: dict[str, str],
) -> None:
    token = (await scripts_token(browser, scripts, "admin")).json()["access_token"]
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.RegisterClient(
                pb.RegisterClientRequest(
                    client=pb.OAuthClient(
                        name="Aplikasi Kasir",
                        client_type=client_type,  # type: ignore[arg-type]
                        redirect_uris=[redirect_uri],
                        grant_types=["authorization_code"],
                    )
                ),
                metadata=(("authorization", f"Bearer {token}"),),
            )
        listed = await stub.ListClients(
            pb.ListClientsRequest(), metadata=(("authorization", f"Bearer {token}"),)
        )

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _refusal(refused.value) == (reason, violations)
    assert "Aplikasi Kasir" not in {client.name for client in listed.clients}


async def test_a_third_party_app_asks_for_consent_once(
    browser: httpx.AsyncClient,
    scripts: tuple[str, str],
    grpc_address: str,
    storefront: str,
    buyer: FakeAccount,
) -> None:
    token = (await scripts_token(browser, scripts, "admin")).json()["access_token"]
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        app = await auth_pb2_grpc.AuthServiceStub(channel).RegisterClient(
            pb.RegisterClientRequest(
                client=pb.OAuthClient(
                    name="Aplikasi Ongkir",
                    client_type=pb.CLIENT_TYPE_PUBLIC,
                    redirect_uris=["http://localhost:9000/cb"],
                    allowed_scopes=["openid", "email"],
                    grant_types=["authorization_code"],
                )
            ),
            metadata=(("authorization", f"Bearer {token}"),),
        )
    client_id = app.client.client_id

    def url() -> str:
        return (
            f"/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri=http://localhost:9000/cb"
            f"&scope=openid+email&state=q&code_challenge={pkce_pair()[1]}&code_challenge_method=S256"
        )

    consent = await sign_in(browser, url(), email=buyer.email)
    page = await browser.get(consent.headers["location"])
    assert page.status_code == 200
    assert "Aplikasi Ongkir" in page.text
    form = {"csrf_token": hidden(page.text, "csrf_token"), "request": hidden(page.text, "request")}
    denied = await browser.post("/oauth2/consent", data={**form, "decision": "deny"})
    assert query_of(denied.headers["location"])["error"] == "access_denied"
    allowed = await browser.post("/oauth2/consent", data={**form, "decision": "allow"})
    assert "code" in query_of(allowed.headers["location"])

    remembered = await browser.get(url())
    assert remembered.status_code == 302
    assert "code" in query_of(remembered.headers["location"])
