"""The README's API examples, sent as written, in order: each one works for a person who follows them.

Every ``curl`` in the README's shell blocks is parsed (only ``-s -X -H -d -u`` and a URL; anything else
fails the test, so the examples stay plain). Its placeholders are filled as a person would fill them:
``<shop id>``, ``<id>``, ``<sku id>``… with demo data until an example creates its own, then with
what the creating answer said (``<warehouse id>`` from ``{"warehouse": {"id": …}}``, ``<KP-M sku id>``
from the product's SKU coded ``KP-M``); ``$TOKEN`` with a token of exactly the scopes the README asks
for, ``$BUYER_TOKEN`` with a demo buyer's, signed in as ``toko token`` does, and ``$START``/``$END``
with what the README's lines compute, ``$SELLER_TOKEN`` with the token of the seller of the shop
bought from; the buying examples' placeholders (``<address id>``, ``<rate id>``, ``<payment id>``…)
with what the answers before them said, GET or POST. Every example must answer 2xx.
"""

from __future__ import annotations

import re
import shlex
import time
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
        if word in ("-s", "-N"):
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


def learned(response: httpx.Response) -> dict[str, str]:
    """The placeholders a person fills from a creating answer: ``<warehouse id>`` from ``{"warehouse": …}``,
    ``<id>`` and ``<KP-M sku id>`` from a product."""
    body = response.json()
    found: dict[str, str] = {}
    for name, resource in body.items() if isinstance(body, dict) else ():
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            found[f"<{name} id>"] = resource["id"]
            for sku in resource.get("skus", []):
                if "code" in sku and "id" in sku:  # a product's SKUs (a campaign's name theirs by skuId)
                    found[f"<{sku['code']} sku id>"] = sku["id"]
    if "<product id>" in found:
        found["<id>"] = found["<product id>"]
    return found | _buying_facts(body)


def _buying_facts(body: object) -> dict[str, str]:
    """What a person reads off the buying examples' answers: their address, the shop's city, a rate,
    the checkout's payment and order, the order's courier and waybill."""
    if not isinstance(body, dict):
        return {}
    found: dict[str, str] = {}
    if body.get("addresses"):
        address = body["addresses"][0]
        found |= {"<address id>": address["id"], "<province>": address["province"], "<city>": address["city"]}
        found["<district>"] = address["district"]
    if isinstance(body.get("shop"), dict) and body["shop"].get("originCity"):
        found["<shop city>"] = body["shop"]["originCity"]
    rates = [rate for rate in body.get("rates", []) if not rate.get("slotted")]
    if rates:
        found |= {"<rate id>": rates[0]["id"], "<courier>": rates[0]["courier"]}
    checkout = body.get("checkout")
    if isinstance(checkout, dict) and checkout.get("payment"):
        found |= {"<payment id>": checkout["payment"]["id"], "<order id>": checkout["orderIds"][0]}
    order = body.get("order")
    if isinstance(order, dict) and order.get("waybill"):
        found["<waybill>"] = order["waybill"]
    return found


def sent(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """The answer to ``request``; a read of something an event is still setting up (a flash sale's
    quota after its campaign took a SKU) is tried again for a while, as a person would."""
    for _ in range(120):
        response = client.send(request)
        if request.method == "GET" and response.status_code == 404:
            time.sleep(0.25)
        elif response.status_code == 400 and "ORDER_STATE_CONFLICT" in response.text:
            # An order one step behind its event (paid, delivered): a person looks again a moment later.
            time.sleep(0.25)
        else:
            break
    return response


def test_every_idempotency_key_in_the_readme_is_a_fresh_one() -> None:
    # A fixed key, copied twice, would replay the first answer to a different request.
    text = README.read_text()
    keys = [
        text[match.end() :].removeprefix(" ")[: len(NEW_KEY)]
        for match in re.finditer("Idempotency-Key:", text)
    ]

    assert len(keys) >= 3
    assert set(keys) == {NEW_KEY}


def test_every_api_example_in_the_readme_works_as_written(platform: Platform) -> None:
    token = platform.scripts_token(token_scope())
    buyer = platform.account("buyer")
    with platform.client() as client:
        # A seeded product deep in the list (newer ones may be other tests'), for the catalog reads.
        seeded = client.get("/v1/products", params={"page_size": 100}).json()["products"][-1]
        seller = next(a for a in platform.credentials["accounts"] if a.get("shop_id") == seeded["shopId"])
        # The demo's opening stock follows the catalog's events: wait until it reached the SKU bought below.
        stock_url = f"/v1/skus/{seeded['skus'][0]['id']}/stock"
        for _ in range(240):
            if client.get(stock_url, headers={"Authorization": f"Bearer {token}"}).json().get("available"):
                break
            time.sleep(0.5)
        now = datetime.now(UTC)
        values = {
            "http://127.0.0.1:8080": platform.base_url,
            "<shop id>": seeded["shopId"],
            "<category id>": seeded["categoryId"],
            "<id>": seeded["id"],
            "<slug>": seeded["slug"],
            "<sku id>": seeded["skus"][0]["id"],
            # What the README's shell lines compute.
            "$START": now.isoformat(timespec="seconds"),
            "$END": (now + timedelta(hours=2)).isoformat(timespec="seconds"),
            "$TOKEN": token,
            "<yesterday>": (now - timedelta(days=1)).date().isoformat(),
            # What `toko token --user <a demo buyer>` prints: a buyer's own token.
            "$BUYER_TOKEN": sign_in(platform.base_url, buyer["email"], buyer["password"]).access_token,
            # And the seller of the shop bought from, signed in the same way.
            "$SELLER_TOKEN": sign_in(platform.base_url, seller["email"], seller["password"]).access_token,
            "http://127.0.0.1:8025": f"http://127.0.0.1:{platform.env['TOKO_SANDBOX_PORT']}",
        }
        commands = [c for c in shell_commands() if c.startswith("curl ")]
        failed: list[str] = []
        for written in commands:
            # A fresh key for every command, as the shell's substitution gives a person.
            command = written.replace(NEW_KEY, str(uuid.uuid4()))
            try:
                request = as_request(command, values)
            except UnicodeEncodeError as error:  # a header only a placeholder could fill ("7f1c…")
                failed.append(f"{command[:120]} -> cannot be sent: {error}")
                continue
            response = sent(client, request)
            if response.is_success:
                if response.headers.get("content-type", "").startswith("application/json"):
                    values |= (
                        learned(response) if request.method == "POST" else _buying_facts(response.json())
                    )
            else:
                failed.append(f"{command[:160]} -> {response.status_code} {response.text[:300]}")

    assert len(commands) >= 20
    assert not failed, "\n".join(failed)
