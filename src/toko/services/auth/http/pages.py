"""Rendering the provider's pages and guarding their forms, shared by the OAuth and the account pages.

Every page is a Jinja template (autoescaped) answered with ``Cache-Control: no-store``.
A page with a form carries the form token of the browser's CSRF cookie, made when the
browser has none; the cookie's path is the area the form posts to (``/oauth2/`` or
``/account/``), so each area keeps its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from toko.services.auth.http.asgi import Request, Response
from toko.services.auth.http.security import CSRF_COOKIE, Signer

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
AUTHORIZE_PATH = "/oauth2/authorize"
OAUTH_COOKIE_PATH = "/oauth2/"


def templates() -> Environment:
    """The Jinja environment of the pages (autoescaped)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def safe_return(return_to: str) -> str:
    """``return_to`` when it leads back to our own authorization endpoint, else "": never an open redirect."""
    return return_to if return_to.startswith(f"{AUTHORIZE_PATH}?") else ""


@dataclass(frozen=True)
class Pages:
    """Renders templates into responses, and issues and checks the form tokens."""

    environment: Environment
    signer: Signer
    secure_cookies: bool

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """The page ``template`` with ``context``."""
        body = self.environment.get_template(template).render(**context).encode()
        return Response(status=status, body=body, headers=[("cache-control", "no-store")])

    def error(self, message: str, status: int = 400) -> Response:
        """The error page saying ``message``."""
        return self.render("error.html", status, message=message)

    def form(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        cookie_path: str = OAUTH_COOKIE_PATH,
        **context: Any,
    ) -> Response:
        """A page with a form: its ``csrf_token``, and the CSRF cookie (for ``cookie_path``) if missing."""
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = not cookie
        if not cookie:
            cookie = token_urlsafe(24)
        response = self.render(template, status, csrf_token=self.signer.csrf_token(cookie), **context)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE, cookie, max_age=None, secure=self.secure_cookies, path=cookie_path
            )
        return response

    def csrf_ok(self, request: Request, form: Mapping[str, str]) -> bool:
        """Whether the form's token belongs to the browser's CSRF cookie."""
        return self.signer.check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf_token"))
