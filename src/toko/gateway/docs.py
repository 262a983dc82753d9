"""Interactive API docs at ``/docs``: Swagger UI from the ``swagger-ui-bundle-v2`` wheel, served locally."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable

ASSETS_PREFIX = "/docs/assets/"
_PACKAGE = "swagger_ui_bundle"
_TYPES = {
    "swagger-ui.css": b"text/css; charset=utf-8",
    "index.css": b"text/css; charset=utf-8",
    "swagger-ui-bundle.js": b"text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": b"text/javascript; charset=utf-8",
    "favicon-32x32.png": b"image/png",
    "favicon-16x16.png": b"image/png",
}
_INITIALIZER = b"""window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
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


@dataclass
class DocsAssets:
    """The docs page and its assets, read from the wheel on first request and kept."""

    _cache: dict[str, Asset] = field(default_factory=dict)

    def page(self) -> Asset:
        """The HTML page of ``/docs``."""
        return self._cached("", lambda: _asset(_PAGE, b"text/html; charset=utf-8"))

    def asset(self, name: str) -> Asset | None:
        """The asset called ``name`` (a bare file name), or None when there is no such asset."""
        if name == "swagger-initializer.js":
            return self._cached(name, lambda: _asset(_INITIALIZER, b"text/javascript; charset=utf-8"))
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
