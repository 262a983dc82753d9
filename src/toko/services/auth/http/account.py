"""The account pages under ``/account/``: sign up, verify an address, ask for a new verification link,
forget a password and set a new one.

Server-rendered forms that need no script, in Indonesian or English (``texts``), on the gateway's
origin like the sign-in page. Each form carries the token of the browser's CSRF cookie (path
``/account/``). The user service decides everything: these pages carry a form to it and bring its
refusals back next to the fields they name, the form refilled (never with a password). Typing a
password here (to ask for a new verification link) counts against the same failure limits as the
sign-in page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlencode

from toko.services.auth.accounts import AccountRefused, InvalidCredentials, Registration
from toko.services.auth.http.asgi import Endpoint, Request, Response, single
from toko.services.auth.http.pages import Pages, safe_return
from toko.services.auth.http.security import LoginThrottle
from toko.services.auth.http.texts import LANGUAGES, TEXTS, pick_language, reason_text

ACCOUNT_PATH = "/account/"
SIGN_IN_PATH = "/oauth2/login"
# Bounds on what a form may carry to the user service, which applies its own rules to the rest.
EMAIL_MAX, NAME_MAX, PASSWORD_MAX, TOKEN_MAX, ATTEMPT_MAX = 320, 300, 1024, 512, 64
# The user service's field paths, as the forms name them.
_SIGN_UP_FIELDS = {"email": "email", "name": "name", "password": "password", "language": "language"}
_RESET_FIELDS = {"new_password": "password"}
# Where a person whose emailed link did not work gets a new one, and what the way is called.
NEW_VERIFICATION_LINK = ("/account/resend-verification", "new_verification_link")
NEW_RESET_LINK = ("/account/forgot-password", "new_reset_link")


def _field_errors(
    refused: AccountRefused, language: str, fields: Mapping[str, str]
) -> tuple[dict[str, str], str]:
    """What to say next to each field of the form, and above it for everything else."""
    errors: dict[str, str] = {}
    rest: list[str] = []
    for problem in refused.problems:
        message = reason_text(problem.reason, language) or problem.description
        name = fields.get(problem.field)
        if name is None:
            rest.append(message)
        else:
            errors.setdefault(name, message)
    if not refused.problems:
        rest.append(reason_text(refused.reason, language) or refused.reason)
    return errors, " ".join(rest) or TEXTS[language]["check_fields"]


@dataclass(frozen=True)
class AccountPages:
    """The endpoints of the account pages."""

    registration: Registration
    view: Pages
    throttle: LoginThrottle

    def routes(self) -> dict[tuple[str, str], Endpoint]:
        """Method and path of each endpoint."""
        return {
            ("GET", "/account/signup"): self.signup_page,
            ("POST", "/account/signup"): self.signup,
            ("GET", "/account/verify-email"): self.verify_email,
            ("GET", "/account/resend-verification"): self.resend_page,
            ("POST", "/account/resend-verification"): self.resend,
            ("GET", "/account/forgot-password"): self.forgot_page,
            ("POST", "/account/forgot-password"): self.forgot,
            ("GET", "/account/reset-password"): self.reset_page,
            ("POST", "/account/reset-password"): self.reset,
        }

    # --- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _query(request: Request) -> dict[str, str]:
        return single(request.query_pairs())[0]

    def _language(self, request: Request) -> str:
        return pick_language(self._query(request).get("lang", ""), request.headers.get("accept-language", ""))

    def _words(self, request: Request, language: str) -> dict[str, Any]:
        """What every account page shows: its language, its words, and (on a GET) a link to the other one."""
        context: dict[str, Any] = {"lang": language, "t": TEXTS[language]}
        if request.method == "GET":
            other = next(code for code in LANGUAGES if code != language)
            query = [(k, v) for k, v in request.query_pairs() if k != "lang"] + [("lang", other)]
            context |= {"switch_url": f"{request.path}?{urlencode(query)}", "other_lang": other}
        return context

    def _form(
        self, request: Request, template: str, language: str, status: int = 200, **context: Any
    ) -> Response:
        return self.view.form(
            request, template, status, cookie_path=ACCOUNT_PATH, **self._words(request, language), **context
        )

    def _message(
        self,
        request: Request,
        language: str,
        heading: str,
        message: str,
        status: int = 200,
        *,
        links: tuple[tuple[str, str], ...] = (),
        kind: str = "done",
        email: str = "",
    ) -> Response:
        texts = TEXTS[language]
        return self.view.render(
            "account_message.html",
            status,
            heading=texts[heading],
            message=texts[message].format(email=email),
            kind=kind,
            links=[{"href": href, "text": texts[text]} for href, text in links],
            **self._words(request, language),
        )

    def _dead_link(self, request: Request, language: str, page: str, way: tuple[str, str]) -> Response:
        """The page of an emailed link that does not work (used, expired, unknown): the way to a new one."""
        path, text = way
        return self._message(
            request,
            language,
            f"{page}_failed_title",
            f"{page}_failed",
            400,
            kind="error",
            links=((f"{path}?lang={language}", text),),
        )

    async def _form_values(self, request: Request) -> dict[str, str]:
        return single(await request.form_pairs())[0]

    # --- sign-up and verification ---------------------------------------------------------------------------

    def _signup_form(
        self,
        request: Request,
        language: str,
        status: int = 200,
        *,
        values: Mapping[str, str],
        errors: Mapping[str, str] | None = None,
        error: str = "",
    ) -> Response:
        return_to = safe_return(values.get("return_to", ""))
        return self._form(
            request,
            "account_signup.html",
            language,
            status,
            values=values,
            return_to=return_to,
            # A new key per form shown: a double submission creates one account, a corrected one is new.
            attempt=token_urlsafe(16),
            sign_in_url=return_to or SIGN_IN_PATH,
            errors=errors or {},
            error=error,
        )

    async def signup_page(self, request: Request) -> Response:
        """The sign-up form."""
        language = self._language(request)
        return_to = self._query(request).get("return_to", "")
        values = {"email": "", "name": "", "language": language, "return_to": return_to}
        return self._signup_form(request, language, values=values)

    async def signup(self, request: Request) -> Response:
        """Create the account; a page saying its verification email is on its way, or the form again."""
        form = await self._form_values(request)
        language = self._language(request)
        texts = TEXTS[language]
        values = {
            "email": form.get("email", "").strip()[:EMAIL_MAX],
            "name": form.get("name", "")[:NAME_MAX],
            "language": form.get("language", language)[:8],
            "return_to": safe_return(form.get("return_to", "")),
        }
        if not self.view.csrf_ok(request, form):
            return self._signup_form(request, language, 403, values=values, error=texts["form_expired"])
        try:
            await self.registration.sign_up(
                email=values["email"],
                name=values["name"],
                password=form.get("password", "")[:PASSWORD_MAX],
                language=values["language"],
                attempt=form.get("attempt", "")[:ATTEMPT_MAX],
            )
        except AccountRefused as refused:
            errors, message = _field_errors(refused, language, _SIGN_UP_FIELDS)
            return self._signup_form(request, language, 400, values=values, errors=errors, error=message)
        back = ((values["return_to"], "continue"),) if values["return_to"] else ()
        return self._message(
            request, language, "signup_done_title", "signup_done", links=back, email=values["email"]
        )

    async def verify_email(self, request: Request) -> Response:
        """The emailed link: the address is verified (on a second click too), or the way to a new link."""
        language = self._language(request)
        token = self._query(request).get("token", "")[:TOKEN_MAX]
        try:
            email = await self.registration.verify_email(token=token) if token else None
        except AccountRefused:
            email = None
        if email is None:
            return self._dead_link(request, language, "verify", NEW_VERIFICATION_LINK)
        return self._message(request, language, "verified_title", "verified", email=email)

    async def resend_page(self, request: Request) -> Response:
        """The form asking for a new verification link."""
        language = self._language(request)
        return self._form(request, "account_resend.html", language, values={"email": ""}, errors={})

    async def resend(self, request: Request) -> Response:
        """Mail a new verification link to the account whose email and password were given."""
        form = await self._form_values(request)
        language = self._language(request)
        texts = TEXTS[language]
        email = form.get("email", "").strip()[:EMAIL_MAX]

        def again(status: int, error: str) -> Response:
            return self._form(
                request,
                "account_resend.html",
                language,
                status,
                values={"email": email},
                errors={},
                error=error,
            )

        if not self.view.csrf_ok(request, form):
            return again(403, texts["form_expired"])
        account_key = self.throttle.account_key(email)
        if await self.throttle.blocked(account_key=account_key, ip=request.client_ip):
            return again(429, texts["too_many_attempts"])
        try:
            account = await self.registration.verify_credentials(
                email=email, password=form.get("password", "")[:PASSWORD_MAX]
            )
        except InvalidCredentials:
            await self.throttle.failed(account_key=account_key, ip=request.client_ip)
            return again(401, texts["bad_credentials"])
        await self.throttle.succeeded(account_key=account_key)
        address = account.email or email
        if not account.email_verified:
            try:
                await self.registration.resend_verification(user_id=account.user_id)
            except AccountRefused as refused:
                if refused.reason != "EMAIL_ALREADY_VERIFIED":
                    return again(400, _field_errors(refused, language, {})[1])
            else:
                return self._message(request, language, "resend_title", "resend_done", email=address)
        return self._message(request, language, "verified_title", "already_verified", email=address)

    # --- passwords ------------------------------------------------------------------------------------------

    async def forgot_page(self, request: Request) -> Response:
        """The form asking for a password reset link."""
        language = self._language(request)
        return_to = safe_return(self._query(request).get("return_to", ""))
        return self._form(
            request, "account_forgot.html", language, values={"email": ""}, errors={}, return_to=return_to
        )

    async def forgot(self, request: Request) -> Response:
        """Ask for a reset link; the same answer whether or not an account has the address."""
        form = await self._form_values(request)
        language = self._language(request)
        email = form.get("email", "").strip()[:EMAIL_MAX]
        return_to = safe_return(form.get("return_to", ""))

        def again(status: int, **context: Any) -> Response:
            return self._form(
                request,
                "account_forgot.html",
                language,
                status,
                values={"email": email},
                return_to=return_to,
                **context,
            )

        if not self.view.csrf_ok(request, form):
            return again(403, errors={}, error=TEXTS[language]["form_expired"])
        try:
            await self.registration.request_password_reset(email=email)
        except AccountRefused as refused:
            errors, message = _field_errors(refused, language, {"email": "email"})
            return again(400, errors=errors, error=message)
        back = ((return_to, "continue"),) if return_to else ()
        return self._message(request, language, "forgot_done_title", "forgot_done", links=back, email=email)

    async def reset_page(self, request: Request) -> Response:
        """The form setting a new password, for the emailed link's token."""
        language = self._language(request)
        token = self._query(request).get("token", "")[:TOKEN_MAX]
        if not token:
            return self._dead_link(request, language, "reset", NEW_RESET_LINK)
        return self._form(request, "account_reset.html", language, token=token, errors={})

    async def reset(self, request: Request) -> Response:
        """Set the new password given twice; the account is signed out everywhere."""
        form = await self._form_values(request)
        language = self._language(request)
        texts = TEXTS[language]
        token = form.get("token", "")[:TOKEN_MAX]
        password = form.get("password", "")[:PASSWORD_MAX]

        def again(status: int, errors: dict[str, str], error: str) -> Response:
            return self._form(
                request, "account_reset.html", language, status, token=token, errors=errors, error=error
            )

        if not self.view.csrf_ok(request, form):
            return again(403, {}, texts["form_expired"])
        if password != form.get("confirm", "")[:PASSWORD_MAX]:
            return again(400, {"confirm": texts["passwords_differ"]}, texts["check_fields"])
        try:
            await self.registration.reset_password(token=token, new_password=password)
        except AccountRefused as refused:
            if refused.reason == "INVALID_TOKEN" or any(p.field == "token" for p in refused.problems):
                return self._dead_link(request, language, "reset", NEW_RESET_LINK)
            errors, message = _field_errors(refused, language, _RESET_FIELDS)
            return again(400, errors, message)
        return self._message(request, language, "reset_done_title", "reset_done")
