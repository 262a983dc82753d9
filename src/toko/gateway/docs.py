"""Interactive API docs at ``/docs``: Swagger UI from the ``swagger-ui-bundle-v2`` wheel, served locally.

Its Authorize button signs in with the authorization code flow and PKCE as the public client
``docs_client_id`` (the auth seed registers ``api-docs``): the provider sends the browser back to
Swagger UI's own ``oauth2-redirect.html``, served from the same wheel at ``/docs/oauth2-redirect.html``
(where Swagger UI looks for it beside ``/docs/``), which hands the code to the docs page.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable

ASSETS_PREFIX = "/docs/assets/"
REDIRECT_PAGE = "/docs/oauth2-redirect.html"
# The page loads its script by a relative path: beside it.
REDIRECT_SCRIPT = "/docs/oauth2-redirect.js"
_PACKAGE = "swagger_ui_bundle"
_TYPES = {
    "swagger-ui.css": b"text/css; charset=utf-8",
    "index.css": b"text/css; charset=utf-8",
    "swagger-ui-bundle.js": b"text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": b"text/javascript; charset=utf-8",
    "favicon-32x32.png": b"image/png",
    "favicon-16x16.png": b"image/png",
    "oauth2-redirect.html": b"text/html; charset=utf-8",
    "oauth2-redirect.js": b"text/javascript; charset=utf-8",
}
_INITIALIZER = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    oauth2RedirectUrl: %(redirect_url)s,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
  window.ui.initOAuth({
    clientId: %(client_id)s,
    usePkceWithAuthorizationCodeGrant: true,
    scopes: "openid account"
  });
};
"""
_PAGE = b"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>toko API</title>
    <link rel="stylesheet" type="text/css" href="/docs/assets/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="/docs/assets/index.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/docs/assets/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="/docs/assets/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    """A static file: its bytes, their gzip form and its media type."""

    body: bytes
    gzipped: bytes
    content_type: bytes


def _vendor_dir() -> Traversable:
    # The wheel names its folder after the Swagger UI version; take whichever it ships.
    vendor = resources.files(_PACKAGE).joinpath("vendor")
    for entry in vendor.iterdir():
        if entry.name.startswith("swagger-ui-") and entry.is_dir():
            return entry
    raise FileNotFoundError("swagger-ui-bundle ships no swagger-ui folder")


def _asset(body: bytes, content_type: bytes) -> Asset:
    return Asset(body, zlib.compress(body, 9, wbits=31), content_type)


def initializer(*, client_id: str, redirect_url: str) -> bytes:
    """The script that starts Swagger UI on ``/openapi.json``, its Authorize button set up for PKCE."""
    return (
        _INITIALIZER % {"client_id": json.dumps(client_id), "redirect_url": json.dumps(redirect_url)}
    ).encode()


@dataclass
class DocsAssets:
    """The docs page and its assets, read from the wheel on first request and kept.

    ``client_id`` is the public OAuth client of the Authorize button; the provider sends the browser
    back to ``redirect_url`` (``REDIRECT_PAGE`` on the public origin).
    """

    client_id: str = "api-docs"
    redirect_url: str = f"http://127.0.0.1:8080{REDIRECT_PAGE}"
    _cache: dict[str, Asset] = field(default_factory=dict)

    def page(self) -> Asset:
        """The HTML page of ``/docs``."""
        return self._cached("", lambda: _asset(_PAGE, b"text/html; charset=utf-8"))

    def asset(self, name: str) -> Asset | None:
        """The asset called ``name`` (a bare file name), or None when there is no such asset."""
        if name == "swagger-initializer.js":
            script = initializer(client_id=self.client_id, redirect_url=self.redirect_url)
            return self._cached(name, lambda: _asset(script, b"text/javascript; charset=utf-8"))
        content_type = _TYPES.get(name)
        if content_type is None:
            return None
        return self._cached(name, lambda: _asset(_vendor_dir().joinpath(name).read_bytes(), content_type))

    def _cached(self, name: str, load: Callable[[], Asset]) -> Asset:
        found = self._cache.get(name)
        if found is None:
            found = load()
            self._cache[name] = found
        return found
