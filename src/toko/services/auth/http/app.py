"""The provider's HTTP endpoints: discovery, JWKS, authorize with its pages, token, revoke, introspect,
and the account pages (``account``).

Served on the gateway's origin (the gateway forwards ``/oauth2/``, ``/account/`` and
``/.well-known/`` unchanged), so links between pages are absolute paths and
every URL printed for clients starts with the issuer.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from jinja2 import Environment

from toko.platform.asgi import (
    BodyTooLarge,
    ClientGone,
    InvalidContentLength,
    Receive,
    Scope,
    Send,
    routing_method,
)
from toko.platform.inputs import NUL
from toko.services.auth.accounts import (
    AccountsUnavailable,
    InvalidCredentials,
    InvalidSecondFactor,
    Registration,
)
from toko.services.auth.domain import (
    KNOWN_SCOPES,
    SCOPE_CLAIMS,
    SCOPE_DESCRIPTIONS,
    SIGNING_ALGORITHM,
    GrantType,
)
from toko.services.auth.handlers import OAuthError, Provider, clients, tokens
from toko.services.auth.handlers.authorization import (
    AuthorizationRefused,
    AuthorizationRequest,
    InvalidRedirect,
    check_authorization_request,
    grant_consent,
    issue_code,
    needs_consent,
)
from toko.services.auth.handlers.clients import ClientCredentials
from toko.services.auth.handlers.sign_ins import NewBrowserSignIn, signed_in_from_new_browser
from toko.services.auth.http.account import AccountPages
from toko.services.auth.http.asgi import (
    Endpoint,
    NulInParameters,
    Request,
    Response,
    parse_parameters,
    single,
)
from toko.services.auth.http.pages import AUTHORIZE_PATH, Pages, safe_return
from toko.services.auth.http.security import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_SECONDS,
    SESSION_COOKIE,
    KnownBrowsers,
    LoginSession,
    LoginThrottle,
    Sessions,
    Signer,
    SignIn,
)
from toko.services.auth.keys import InvalidToken
from toko.services.auth.pkce import basic_credentials
from toko.services.auth.repository.clients import ClientRepository

log = logging.getLogger(__name__)

# The seeded storefront's redirect URI on the provider's own origin: a page that shows the code.
CALLBACK_DEMO_PATH = "/oauth2/callback-demo"
DEMO_CLIENT_ID = "storefront"
# What the provider issues as codes (new_secret: 32 random bytes, base64url); nothing else is echoed into a
# command a person may paste into a shell.
_CODE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")

TOO_MANY_ATTEMPTS = "Terlalu banyak percobaan, coba lagi nanti. (Too many attempts, try again later.)"
BAD_CREDENTIALS = "Email atau kata sandi salah. (Wrong email or password.)"
BAD_CODE = "Kode salah atau sudah dipakai. (Wrong or already used code.)"
FORM_EXPIRED = "Formulir kedaluwarsa; muat ulang halaman dan coba lagi. (The form expired; reload and retry.)"


@dataclass
class OAuthApp:
    """The ASGI application of the provider's protocol endpoints and pages."""

    provider: Provider
    sessions: Sessions
    throttle: LoginThrottle
    signer: Signer
    pages: Environment
    # Signs up, verifies addresses and resets passwords on the account pages (none without it).
    registration: Registration | None = None

    def __post_init__(self) -> None:
        self.secure_cookies = self.provider.issuer.startswith("https://")
        self.view = Pages(self.pages, self.signer, self.secure_cookies)
        self.browsers = KnownBrowsers(self.signer)
        self.routes: dict[tuple[str, str], Endpoint] = {
            ("GET", "/.well-known/openid-configuration"): self.discovery,
            ("GET", "/.well-known/oauth-authorization-server"): self.discovery,
            ("GET", "/oauth2/jwks"): self.jwks,
            ("GET", AUTHORIZE_PATH): self.authorize,
            ("POST", AUTHORIZE_PATH): self.authorize,
            ("GET", "/oauth2/login"): self.login_page,
            ("POST", "/oauth2/login"): self.login,
            ("POST", "/oauth2/login/totp"): self.login_totp,
            ("POST", "/oauth2/consent"): self.consent,
            ("POST", "/oauth2/token"): self.token,
            ("POST", "/oauth2/revoke"): self.revoke,
            ("POST", "/oauth2/introspect"): self.introspect,
            ("GET", "/oauth2/userinfo"): self.userinfo,
            ("POST", "/oauth2/userinfo"): self.userinfo,
            ("GET", "/oauth2/logout"): self.logout,
            ("POST", "/oauth2/logout"): self.logout,
            ("GET", CALLBACK_DEMO_PATH): self.callback_demo,
        }
        if self.registration is not None:
            self.routes |= AccountPages(self.registration, self.view, self.throttle).routes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            return
        request = Request.of(scope, receive)
        request.method, head = routing_method(request.method)
        endpoint = self.routes.get((request.method, request.path))
        try:
            if endpoint is None:
                known = any(path == request.path for _, path in self.routes)
                response = (
                    Response.json({"error": "method_not_allowed"}, 405)
                    if known
                    else Response.json({"error": "not_found"}, 404)
                )
            else:
                response = await endpoint(request)
        except ClientGone:
            return
        except BodyTooLarge:
            response = Response.json({"error": "invalid_request", "error_description": "body too large"}, 413)
        except InvalidContentLength:
            description = "Content-Length must be a non-negative integer"
            response = Response.json({"error": "invalid_request", "error_description": description}, 400)
        except NulInParameters:
            description = "parameters must not contain the NUL character (U+0000)"
            response = Response.json({"error": "invalid_request", "error_description": description}, 400)
        except AccountsUnavailable:
            log.exception("the user service is unavailable")
            response = self.view.error("Layanan sedang tidak tersedia. (Service unavailable, retry.)", 503)
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            response = Response.json({"error": "server_error"}, 500)
        await response.send(send, head=head, unread=request.body_unread)

    # --- helpers --------------------------------------------------------------------------------------------

    async def _session(self, request: Request) -> LoginSession | None:
        signed = request.cookies.get(SESSION_COOKIE)
        if not signed:
            return None
        sid = self.signer.unsign("session", signed)
        return await self.sessions.get(sid) if sid else None

    async def _signed_in(self, request: Request, sign_in: SignIn, return_to: str) -> Response:
        session = await self.sessions.create(sign_in.user_id)
        target = safe_return(return_to)
        response = (
            Response.redirect(target, 303)
            if target
            else self.view.render("error.html", 200, message="Anda sudah masuk. (You are signed in.)")
        )
        response.set_cookie(
            SESSION_COOKIE,
            self.signer.sign("session", session.sid),
            max_age=self.sessions.lifetime_seconds,
            secure=self.secure_cookies,
        )
        device = request.cookies.get(DEVICE_COOKIE)
        if self.browsers.knows(device, sign_in.user_id) or await self._tell_new_browser(
            request, sign_in, target
        ):
            response.set_cookie(
                DEVICE_COOKIE,
                self.browsers.remember(device, sign_in.user_id),
                max_age=DEVICE_COOKIE_SECONDS,
                secure=self.secure_cookies,
            )
        return response

    async def _tell_new_browser(self, request: Request, sign_in: SignIn, return_to: str) -> bool:
        """Raise the new sign-in notice; whether it was raised (if not, the browser stays new)."""
        client_id = parse_qs(urlsplit(return_to).query).get("client_id", [""])[0]
        try:
            await signed_in_from_new_browser(
                provider=self.provider,
                sign_in=NewBrowserSignIn(
                    user_id=sign_in.user_id,
                    email=sign_in.email,
                    language=sign_in.language,
                    client_id=client_id,
                    ip_address=request.client_ip,
                    user_agent=request.headers.get("user-agent", ""),
                ),
            )
        except Exception:
            # The notice must not cost the person the sign-in they just completed.
            log.exception("the notice of a sign-in from a new browser was not raised")
            return False
        return True

    # --- discovery and keys ---------------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        """OpenID Provider Metadata (OIDC Discovery 1.0, RFC 8414)."""
        issuer = self.provider.issuer
        claims = sorted(
            {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp"}
            | {claim for names in SCOPE_CLAIMS.values() for claim in names}
        )
        document = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}{AUTHORIZE_PATH}",
            "token_endpoint": f"{issuer}/oauth2/token",
            "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
            "jwks_uri": f"{issuer}/oauth2/jwks",
            "revocation_endpoint": f"{issuer}/oauth2/revoke",
            "introspection_endpoint": f"{issuer}/oauth2/introspect",
            "end_session_endpoint": f"{issuer}/oauth2/logout",
            "scopes_supported": sorted(KNOWN_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [g.value for g in GrantType],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": claims,
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
        }
        response = Response.json(document)
        response.headers.append(("cache-control", "public, max-age=300"))
        return response

    async def jwks(self, request: Request) -> Response:
        """The published signing keys."""
        response = Response.json(await self.provider.keys.jwks())
        # Short: a verifier meeting an unknown kid refetches anyway, but rotation should spread quickly.
        response.headers.append(("cache-control", "public, max-age=60"))
        return response

    # --- authorization, sign-in and consent -----------------------------------------------------------------

    async def _authorization_request(
        self, pairs: list[tuple[str, str]]
    ) -> tuple[AuthorizationRequest | None, Response | None]:
        params, repeated = single(pairs)
        if repeated:
            return None, self.view.error(
                f"Parameter diulang (repeated parameter): {', '.join(sorted(repeated))}"
            )
        try:
            return await check_authorization_request(provider=self.provider, params=params), None
        except InvalidRedirect as error:
            return None, self.view.error(f"Permintaan otorisasi tidak sah: {error}")
        except AuthorizationRefused as refused:
            return None, Response.redirect(refused.location)

    async def authorize(self, request: Request) -> Response:
        """The authorization endpoint: sign in, consent, then a code for the client."""
        pairs = request.query_pairs() if request.method == "GET" else await request.form_pairs()
        authorization, refusal = await self._authorization_request(pairs)
        if authorization is None:
            assert refusal is not None
            return refusal
        session = await self._session(request)
        if session is None or authorization.prompt == "login":
            if authorization.prompt == "none":
                return Response.redirect(authorization.error_redirect("login_required", "sign-in required"))
            # Come back here without prompt=login, or the login page would loop.
            again = urlencode([(k, v) for k, v in pairs if k != "prompt"])
            return self.view.form(
                request,
                "login.html",
                client_name=authorization.client.name,
                return_to=f"{AUTHORIZE_PATH}?{again}",
                email="",
            )
        return await self._after_sign_in(request, authorization, session, pairs)

    async def _after_sign_in(
        self,
        request: Request,
        authorization: AuthorizationRequest,
        session: LoginSession,
        pairs: list[tuple[str, str]],
    ) -> Response:
        if await needs_consent(provider=self.provider, request=authorization, user_id=session.user_id):
            if authorization.prompt == "none":
                return Response.redirect(authorization.error_redirect("consent_required", "consent required"))
            return self.view.form(
                request,
                "consent.html",
                client_name=authorization.client.name,
                scopes=[
                    {"name": s, "description": SCOPE_DESCRIPTIONS.get(s, s)} for s in authorization.scope
                ],
                request_query=urlencode([(k, v) for k, v in pairs if k != "prompt"]),
            )
        location = await issue_code(
            provider=self.provider,
            request=authorization,
            user_id=session.user_id,
            auth_time=session.auth_time,
        )
        return Response.redirect(location)

    async def login_page(self, request: Request) -> Response:
        """The sign-in form on its own."""
        params, _ = single(request.query_pairs())
        return self.view.form(
            request,
            "login.html",
            client_name="",
            return_to=safe_return(params.get("return_to", "")),
            email="",
        )

    async def login(self, request: Request) -> Response:
        """Check email and password; then the TOTP step, or back to the authorization request."""
        form, _ = single(await request.form_pairs())
        return_to = safe_return(form.get("return_to", ""))
        email = form.get("email", "").strip()[:320]
        if not self.view.csrf_ok(request, form):
            return self.view.form(
                request, "login.html", 403, error=FORM_EXPIRED, return_to=return_to, email=email
            )
        account_key = self.throttle.account_key(email)
        if await self.throttle.blocked(account_key=account_key, ip=request.client_ip):
            return self.view.form(
                request, "login.html", 429, error=TOO_MANY_ATTEMPTS, return_to=return_to, email=email
            )
        try:
            account = await self.provider.accounts.verify_credentials(
                email=email, password=form.get("password", "")[:1024]
            )
        except InvalidCredentials:
            await self.throttle.failed(account_key=account_key, ip=request.client_ip)
            # One answer whether the email is unknown or the password wrong.
            return self.view.form(
                request, "login.html", 401, error=BAD_CREDENTIALS, return_to=return_to, email=email
            )
        await self.throttle.succeeded(account_key=account_key)
        sign_in = SignIn(user_id=account.user_id, email=account.email, language=account.language)
        if account.totp_required:
            pending = await self.sessions.hold_pending(sign_in)
            return self.view.form(
                request, "totp.html", pending=self.signer.sign("pending", pending), return_to=return_to
            )
        return await self._signed_in(request, sign_in, return_to)

    async def login_totp(self, request: Request) -> Response:
        """The second factor of a sign-in whose password was right."""
        form, _ = single(await request.form_pairs())
        return_to = safe_return(form.get("return_to", ""))
        signed_pending = form.get("pending", "")
        if not self.view.csrf_ok(request, form):
            return self.view.form(
                request, "totp.html", 403, error=FORM_EXPIRED, pending=signed_pending, return_to=return_to
            )
        pending = self.signer.unsign("pending", signed_pending)
        sign_in = await self.sessions.pending_sign_in(pending) if pending else None
        if pending is None or sign_in is None:
            return self.view.form(
                request, "login.html", 400, error=FORM_EXPIRED, return_to=return_to, email=""
            )
        user_id = sign_in.user_id
        user_key = self.throttle.user_key(user_id)
        if await self.throttle.blocked(account_key=user_key, ip=request.client_ip):
            return self.view.form(
                request,
                "totp.html",
                429,
                error=TOO_MANY_ATTEMPTS,
                pending=signed_pending,
                return_to=return_to,
            )
        try:
            await self.provider.accounts.verify_second_factor(user_id=user_id, code=form.get("code", "")[:64])
        except InvalidSecondFactor:
            await self.throttle.failed(account_key=user_key, ip=request.client_ip)
            return self.view.form(
                request, "totp.html", 401, error=BAD_CODE, pending=signed_pending, return_to=return_to
            )
        if not await self.sessions.finish_pending(pending):
            return self.view.form(
                request, "login.html", 400, error=FORM_EXPIRED, return_to=return_to, email=""
            )
        await self.throttle.succeeded(account_key=user_key)
        return await self._signed_in(request, sign_in, return_to)

    async def consent(self, request: Request) -> Response:
        """The user's answer on the consent page."""
        form, _ = single(await request.form_pairs())
        if not self.view.csrf_ok(request, form):
            return self.view.error(FORM_EXPIRED, 403)
        pairs = parse_parameters(form.get("request", ""))
        authorization, refusal = await self._authorization_request(pairs)
        if authorization is None:
            assert refusal is not None
            return refusal
        session = await self._session(request)
        if session is None:
            return Response.redirect(f"{AUTHORIZE_PATH}?{urlencode(pairs)}", 303)
        if form.get("decision") != "allow":
            return Response.redirect(
                authorization.error_redirect("access_denied", "the user denied the request")
            )
        await grant_consent(provider=self.provider, request=authorization, user_id=session.user_id)
        location = await issue_code(
            provider=self.provider,
            request=authorization,
            user_id=session.user_id,
            auth_time=session.auth_time,
        )
        return Response.redirect(location)

    # --- token, revocation, introspection, userinfo ---------------------------------------------------------

    @staticmethod
    def _client_credentials(request: Request, form: Mapping[str, str]) -> ClientCredentials | None:
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                client_id, secret = basic_credentials({"Authorization": authorization})
            except (UnicodeDecodeError, ValueError):
                client_id, secret = None, None
            if NUL in f"{client_id}{secret}":
                raise NulInParameters
            if not client_id or "client_secret" in form:
                raise OAuthError("invalid_request", "use one client authentication method")
            return ClientCredentials(client_id=client_id, client_secret=secret, method="client_secret_basic")
        client_id = form.get("client_id", "")
        if not client_id:
            return None
        secret = form.get("client_secret")
        return ClientCredentials(
            client_id=client_id,
            client_secret=secret,
            method="client_secret_post" if secret else "none",
        )

    @staticmethod
    def _oauth_error(error: OAuthError, request: Request) -> Response:
        response = Response.json(error.as_response(), error.status, no_store=True)
        if error.status == 401:
            scheme = (
                "Basic" if request.headers.get("authorization", "").lower().startswith("basic") else "Bearer"
            )
            response.headers.append(("www-authenticate", f'{scheme} error="{error.error}"'))
        return response

    async def _client_form(self, request: Request) -> tuple[dict[str, str], Any]:
        pairs = await request.form_pairs()
        form, repeated = single(pairs)
        if repeated:
            raise OAuthError("invalid_request", f"repeated parameters: {', '.join(sorted(repeated))}")
        client = await clients.authenticate_client(
            provider=self.provider, credentials=self._client_credentials(request, form)
        )
        return form, client

    async def token(self, request: Request) -> Response:
        """The token endpoint (RFC 6749 §3.2)."""
        try:
            form, client = await self._client_form(request)
            grant_type = form.get("grant_type", "")
            if grant_type == GrantType.AUTHORIZATION_CODE:
                issued = await tokens.exchange_code(
                    provider=self.provider,
                    client=client,
                    code=form.get("code", ""),
                    redirect_uri=form.get("redirect_uri", ""),
                    code_verifier=form.get("code_verifier", ""),
                )
            elif grant_type == GrantType.REFRESH_TOKEN:
                issued = await tokens.refresh(
                    provider=self.provider,
                    client=client,
                    refresh_token=form.get("refresh_token", ""),
                    scope=form.get("scope", ""),
                )
            elif grant_type == GrantType.CLIENT_CREDENTIALS:
                issued = await tokens.client_credentials(
                    provider=self.provider, client=client, scope=form.get("scope", "")
                )
            else:
                raise OAuthError(
                    "unsupported_grant_type",
                    "grant types: authorization_code, refresh_token, client_credentials",
                )
        except OAuthError as error:
            return self._oauth_error(error, request)
        return Response.json(issued.as_response(), no_store=True)

    async def revoke(self, request: Request) -> Response:
        """Token revocation (RFC 7009): 200 whether or not the token was known."""
        try:
            form, client = await self._client_form(request)
            await tokens.revoke(
                provider=self.provider,
                client=client,
                token=form.get("token", ""),
                token_type_hint=form.get("token_type_hint", ""),
            )
        except OAuthError as error:
            return self._oauth_error(error, request)
        return Response.json({}, no_store=True)

    async def introspect(self, request: Request) -> Response:
        """Token introspection (RFC 7662), for confidential clients."""
        try:
            form, client = await self._client_form(request)
            result = await tokens.introspect(
                provider=self.provider, client=client, token=form.get("token", "")
            )
        except OAuthError as error:
            return self._oauth_error(error, request)
        return Response.json(result, no_store=True)

    async def userinfo(self, request: Request) -> Response:
        """OIDC userinfo, for a bearer access token with the openid scope."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise OAuthError("invalid_token", "a bearer access token is required", 401)
            claims = await tokens.userinfo(provider=self.provider, access_token=token.strip())
        except OAuthError as error:
            response = Response.json(error.as_response(), error.status, no_store=True)
            response.headers.append(("www-authenticate", f'Bearer error="{error.error}"'))
            return response
        return Response.json(claims, no_store=True)

    # --- the demo client's redirect -------------------------------------------------------------------------

    async def callback_demo(self, request: Request) -> Response:
        """Where the storefront's authorization ends in a browser: the code, and how to exchange it."""
        params, _ = single(request.query_pairs())
        error = params.get("error", "")
        if error:
            description = params.get("error_description", "")
            message = f"{error}: {description}" if description else error
            return self.view.render(
                "callback_demo.html", 400, error=message[:500], state=params.get("state", "")
            )
        code = params.get("code", "")
        curl = ""
        if _CODE.fullmatch(code):
            issuer = self.provider.issuer
            form = [
                ("grant_type", "authorization_code"),
                ("client_id", DEMO_CLIENT_ID),
                ("redirect_uri", f"{issuer}{CALLBACK_DEMO_PATH}"),
                ("code", code),
            ]
            lines = [f"curl -X POST {shlex.quote(issuer + '/oauth2/token')}"]
            lines += [f"  -d {shlex.quote(f'{name}={value}')}" for name, value in form]
            lines.append("  -d code_verifier=YOUR_CODE_VERIFIER")
            curl = " \\\n".join(lines)
        return self.view.render(
            "callback_demo.html",
            code=code if curl else "",
            curl=curl,
            state=params.get("state", "")[:500],
            code_seconds=int(self.provider.lifetimes.authorization_code.total_seconds()),
        )

    # --- logout ---------------------------------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        """RP-initiated logout (OIDC RP-Initiated Logout 1.0): confirm, end the session, go back."""
        pairs = request.query_pairs() if request.method == "GET" else await request.form_pairs()
        params, _ = single(pairs)
        client_id = params.get("client_id", "")
        hint = params.get("id_token_hint", "")
        if hint:
            try:
                claims = await self.provider.keys.verify(
                    hint, issuer=self.provider.issuer, typ=None, audience=None, check_expiry=False
                )
            except InvalidToken:
                return self.view.error("id_token_hint tidak sah (invalid id_token_hint)")
            audience = str(claims.get("aud", ""))
            if client_id and client_id != audience:
                return self.view.error("client_id tidak cocok dengan id_token_hint")
            client_id = audience
        target = params.get("post_logout_redirect_uri", "")
        client_name = ""
        if client_id:
            async with self.provider.database.sessions() as db:
                client = await ClientRepository(db).get_client(client_id)
            if client is None:
                return self.view.error("Aplikasi tidak dikenal (unknown client)")
            client_name = client.name
            if target and target not in client.post_logout_redirect_uris:
                return self.view.error("post_logout_redirect_uri tidak terdaftar (not registered)")
        elif target:
            return self.view.error("post_logout_redirect_uri perlu client_id atau id_token_hint")
        state = params.get("state", "")
        session = await self._session(request)
        if request.method == "GET" and session is not None:
            return self.view.form(
                request,
                "logout.html",
                done=False,
                client_name=client_name,
                client_id=client_id,
                post_logout_redirect_uri=target,
                state=state,
            )
        if request.method == "POST" and not self.view.csrf_ok(request, params):
            return self.view.error(FORM_EXPIRED, 403)
        if session is not None:
            await self.sessions.end(session)
        response = (
            Response.redirect(
                f"{target}{'&' if '?' in target else '?'}{urlencode({'state': state})}" if state else target,
                303,
            )
            if target
            else self.view.render("logout.html", done=True)
        )
        response.delete_cookie(SESSION_COOKIE, secure=self.secure_cookies)
        return response
