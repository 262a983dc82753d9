"""The README's API examples, sent as written: each reaches its operation with what it shows.

Every ``curl`` in the README's shell blocks is parsed (only ``-s -X -H -d -u`` and a URL; anything else
fails the test, so the examples stay plain), its placeholders (``<shop id>``…) filled with demo
data, ``$TOKEN`` with a token of exactly the scopes the README asks for and ``$BUYER_TOKEN`` with a
demo buyer's, signed in as ``toko token`` does. An example that answered
a shape error (unknown route or field, wrong media type, malformed JSON), a 401 or 403, or a 5xx
would be one a reader cannot use.
"""

from __future__ import annotations

import re
import shlex
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from toko.infra.signin import sign_in

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = pytest.mark.e2e
NEW_KEY = "$(python3 -c 'import uuid; print(uuid.uuid4())')"
README = Path(__file__).resolve().parents[2] / "README.md"
# Answers that say the request itself is wrong, not the state it met.
SHAPE_REASONS = frozenset(
    {
        "ROUTE_NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "UNSUPPORTED_MEDIA_TYPE",
        "MALFORMED_JSON",
        "BODY_NOT_OBJECT",
        "INVALID_FIELD",
        "INVALID_QUERY",
        "INVALID_QUERY_PARAMETER",
        "INVALID_IDEMPOTENCY_KEY",
    }
)


def shell_commands() -> list[str]:
    """The commands of the README's ``sh`` blocks: continuation lines joined, quoted newlines kept."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL):
        pending = ""
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                shlex.split(pending)
            except ValueError:  # a quote still open: the command goes on
                continue
            if pending.strip():
                commands.append(pending)
            pending = ""
    return commands


def token_scope() -> str:
    """The scope the README's client-credentials example asks for."""
    line = next(c for c in shell_commands() if c.startswith("TOKEN=$(curl"))
    match = re.search(r"-d '?scope=([^']+)'?", line)
    assert match, "the README's token example names no scope"
    return match.group(1)


def as_request(command: str, values: dict[str, str]) -> httpx.Request:
    """A ``curl`` command line as the request it sends, placeholders and variables filled in."""
    for name, value in values.items():
        command = command.replace(name, value)
    words = iter(shlex.split(command)[1:])
    method, url, headers, body, auth = "", "", {}, None, None
    for word in words:
        if word == "-s":
            continue
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(words)
        elif word == "-u":
            user, _, password = next(words).partition(":")
            auth = httpx.BasicAuth(user, password)
        elif not word.startswith("-"):
            url = word
        else:
            pytest.fail(f"the README's curl uses {word}, which this test does not understand: {command}")
    request = httpx.Request(
        method or ("POST" if body is not None else "GET"), url, headers=headers, content=body
    )
    if auth is not None:
        request = next(auth.auth_flow(request))
    if body is not None and "content-type" not in request.headers:
        request.headers["content-type"] = "application/x-www-form-urlencoded"  # what curl -d sends
    return request


def test_every_api_example_in_the_readme_reaches_its_operation(platform: Platform) -> None:
    token = platform.scripts_token(token_scope())
    bearer = {"Authorization": f"Bearer {token}"}
    buyer = platform.account("buyer")
    with platform.client() as client:
        # A seeded product deep in the list (newer ones may be other tests'), whose shop has a warehouse;
        # the examples make its first SKU perishable.
        seeded = client.get("/v1/products", params={"page_size": 100}).json()["products"][-1]
        shop_id, category_id = seeded["shopId"], seeded["categoryId"]
        warehouse = client.get("/v1/warehouses", params={"shop_id": shop_id}, headers=bearer)
        # A product of the test's own for the examples that change and archive one.
        mine = client.post(
            "/v1/products",
            headers=bearer,
            json={
                "shopId": shop_id,
                "categoryId": category_id,
                "title": f"Contoh README {uuid.uuid4().hex[:8]}",
                "weightGrams": 100,
                "options": [{"name": "Ukuran", "values": ["M"]}],
                "skus": [{"code": "R-M", "optionValues": {"Ukuran": "M"}, "price": {"amount": "10000"}}],
            },
        ).json()["product"]
        # A guest cart of the test's own, as the README's first cart example makes one.
        guest_cart_id = client.post("/v1/guest-carts", json={}).json()["cart"]["id"]
        values = {
            "http://127.0.0.1:8080": platform.base_url,
            "<shop id>": shop_id,
            "<category id>": category_id,
            "<id>": mine["id"],
            "<slug>": mine["slug"],
            "<sku id>": seeded["skus"][0]["id"],
            "<warehouse id>": warehouse.json()["warehouses"][0]["id"],
            "<guest cart id>": guest_cart_id,
            # Resources no example creates first: their answers are NOT_FOUND, a state, not a shape.
            "<supplier id>": str(uuid.uuid4()),
            "<campaign id>": str(uuid.uuid4()),
            # A fresh key per run, as the shell's substitution gives a person.
            NEW_KEY: str(uuid.uuid4()),
            # The README computes it with python3, as a person's shell would.
            "$IN_30_DAYS": f"{datetime.now(UTC) + timedelta(days=30):%Y-%m-%dT%H:%M:%SZ}",
            "$TOKEN": token,
            # What `toko token --user <a demo buyer>` prints: a buyer's own token.
            "$BUYER_TOKEN": sign_in(platform.base_url, buyer["email"], buyer["password"]).access_token,
        }
        commands = [c for c in shell_commands() if c.startswith("curl ")]
        unusable: list[str] = []
        succeeded = 0
        for command in commands:
            try:
                request = as_request(command, values)
            except UnicodeEncodeError as error:  # a header only a placeholder could fill ("7f1c…")
                unusable.append(f"{command[:120]} -> cannot be sent: {error}")
                continue
            response = client.send(request)
            reason = response.json().get("reason", "") if response.status_code >= 400 else ""
            if response.status_code >= 500 or response.status_code in (401, 403) or reason in SHAPE_REASONS:
                unusable.append(f"{command[:120]} -> {response.status_code} {response.text[:200]}")
            succeeded += response.status_code < 300

    assert len(commands) >= 15
    assert not unusable, "\n".join(unusable)
    assert succeeded >= len(commands) * 2 // 3
