"""Pictures for the demo catalogue, drawn from their file name: nothing stored, nothing downloaded.

The demo products (``toko.services.product.seed``) point their images at
``/static/demo/<slug>[-<n>].svg`` on the gateway. ``demo_image`` draws that picture: a tile in a
colour derived from the slug, with the product's name (the slug's words) written on it and the
image's number, the same bytes for the same name every time. A name that is not a slug is not
drawn (404), so the route serves nothing a caller could shape beyond lowercase words.
"""

from __future__ import annotations

import hashlib
import re
import textwrap

DEMO_IMAGES_PREFIX = "/static/demo/"
_NAME = re.compile(r"^(?P<slug>[a-z0-9]+(?:-[a-z0-9]+){0,20})\.svg$")
_NUMBERED = re.compile(r"^(?P<slug>.+)-(?P<n>[2-9])$")
_MAX_NAME = 160
DEMO_IMAGE_POLICY = b"default-src 'none'; style-src 'unsafe-inline'"


def demo_image(name: str) -> bytes | None:
    """The SVG picture called ``name`` (``kaos-polos-hitam-2.svg``), or None when it is not one."""
    match = _NAME.match(name) if len(name) <= _MAX_NAME else None
    if match is None:
        return None
    slug, number = match["slug"], 1
    numbered = _NUMBERED.match(slug)
    if numbered is not None:
        slug, number = numbered["slug"], int(numbered["n"])
    digest = hashlib.blake2s(slug.encode(), digest_size=4).digest()
    hue = int.from_bytes(digest[:2]) % 360
    shade = 40 + digest[2] % 20
    words = " ".join(word.capitalize() for word in slug.split("-"))
    lines = textwrap.wrap(words, width=16)[:4]
    text = "".join(
        f'<text x="200" y="{200 - 22 * (len(lines) - 1) + 44 * i}">{line}</text>'
        for i, line in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">'
        f'<rect width="400" height="400" fill="hsl({hue},55%,{shade}%)"/>'
        f'<circle cx="340" cy="60" r="{24 + 8 * number}" opacity=".5" '
        f'fill="hsl({(hue + 40) % 360},70%,80%)"/>'
        '<g fill="#fff" font-family="sans-serif" font-size="32" font-weight="600" text-anchor="middle">'
        f"{text}</g>"
        '<text x="380" y="385" fill="#fff" font-family="sans-serif" font-size="18" text-anchor="end">'
        f"{number}</text>"
        "</svg>"
    ).encode()
