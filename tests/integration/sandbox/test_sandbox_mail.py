"""The mail stand-in end to end: mail sent over real SMTP is read back through the JSON API and the pages."""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from sandbox_testkit import sandbox_settings

from toko.sandbox.app import RunningSandbox, start_sandbox
from toko.sandbox.settings import SandboxSettings

VERIFY_URL = "http://127.0.0.1:8080/verify-email?token=abc123&user=42"


def _mail(to: str, subject: str, text: str, html_part: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "toko <no-reply@toko.test>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html_part:
        message.add_alternative(html_part, subtype="html")
    return message


async def _send(sandbox: RunningSandbox, message: EmailMessage, **options: Any) -> None:
    await aiosmtplib.send(message, hostname="127.0.0.1", port=sandbox.smtp_port, **options)


async def test_a_sent_message_reads_back_through_the_json_api(
    sandbox: RunningSandbox, web: httpx.AsyncClient
) -> None:
    await _send(
        sandbox,
        _mail(
            "buyer@example.com",
            "Verify your email",
            f"Welcome! Verify your address: {VERIFY_URL}.",
            f'<p>Welcome! <a href="{html.escape(VERIFY_URL)}">Verify</a></p>',
        ),
    )

    listing = (await web.get("/mailbox/api/messages", params={"to": "buyer@example.com"})).json()

    [message] = listing["messages"]
    assert message["from"] == "no-reply@toko.test"
    assert message["to"] == ["buyer@example.com"]
    assert message["subject"] == "Verify your email"
    assert message["time"].endswith("Z")
    assert VERIFY_URL in message["text"]
    assert 'href="http://127.0.0.1:8080/verify-email?token=abc123&amp;user=42"' in message["html"]
    assert message["links"] == [VERIFY_URL]
    one = await web.get(f"/mailbox/api/messages/{message['id']}")
    assert one.status_code == 200
    assert one.json() == message


async def test_the_listing_is_newest_first_and_filters_by_recipient(
    sandbox: RunningSandbox, web: httpx.AsyncClient
) -> None:
    await _send(sandbox, _mail("ann@example.com", "first", "1"))
    await _send(sandbox, _mail("bob@example.com", "second", "2"))
    await _send(
        sandbox, _mail("ann@example.com", "third", "3"), recipients=["ann@example.com", "cc@example.com"]
    )

    everything = (await web.get("/mailbox/api/messages")).json()["messages"]
    for_ann = (await web.get("/mailbox/api/messages", params={"to": "ANN@example.com"})).json()["messages"]
    page = (await web.get("/mailbox", params={"to": "bob@example.com"})).text

    assert [m["subject"] for m in everything] == ["third", "second", "first"]
    assert [m["subject"] for m in for_ann] == ["third", "first"]
    assert ">second</a>" in page
    assert ">first</a>" not in page
    assert ">third</a>" not in page


async def test_any_credentials_are_accepted_when_the_client_logs_in(
    sandbox: RunningSandbox, web: httpx.AsyncClient
) -> None:
    await _send(
        sandbox, _mail("buyer@example.com", "with login", "hi"), username="apikey", password="anything"
    )

    [message] = (await web.get("/mailbox/api/messages")).json()["messages"]
    assert message["subject"] == "with login"


async def test_the_pages_list_a_message_and_show_its_parts_with_working_links(
    sandbox: RunningSandbox, web: httpx.AsyncClient
) -> None:
    await _send(
        sandbox,
        _mail(
            "buyer@example.com",
            "Reset your password",
            f"Reset it here: {VERIFY_URL}",
            f'<p><a href="{html.escape(VERIFY_URL)}">Reset</a></p>',
        ),
    )
    [message] = (await web.get("/mailbox/api/messages")).json()["messages"]

    listing = await web.get("/mailbox")
    shown = await web.get(f"/mailbox/{message['id']}")

    assert listing.status_code == 200
    assert f'<a href="/mailbox/{message["id"]}">Reset your password</a>' in listing.text
    assert "buyer@example.com" in listing.text
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<a href="{html.escape(VERIFY_URL)}" target="_blank"' in shown.text
    [frame] = re.findall(r"<iframe [^>]*>", shown.text)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame
    assert "allow-same-origin" not in frame
    srcdoc_attribute = re.search(r'srcdoc="([^"]*)"', frame)
    assert srcdoc_attribute is not None
    srcdoc = html.unescape(srcdoc_attribute.group(1))
    assert srcdoc.startswith('<base target="_blank">')
    assert f'<a href="{html.escape(VERIFY_URL)}">Reset</a>' in srcdoc


async def test_a_script_in_a_message_never_reaches_the_page_as_markup(
    sandbox: RunningSandbox, web: httpx.AsyncClient
) -> None:
    attack = '<script>alert("owned")</script>'
    await _send(
        sandbox,
        _mail(
            "buyer@example.com",
            f"Hi {attack}",
            f"text {attack}",
            f'<p>html</p>{attack}<img src=x onerror="alert(1)">',
        ),
    )
    [message] = (await web.get("/mailbox/api/messages")).json()["messages"]

    listing = (await web.get("/mailbox")).text
    shown = await web.get(f"/mailbox/{message['id']}")

    for page in (listing, shown.text):
        assert "<script" not in page.lower()
        assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in shown.text
    policy = shown.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy


async def test_an_oversize_message_is_refused_and_not_kept(
    sandbox: RunningSandbox, web: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    too_big = _mail(
        "buyer@example.com", "too big", "x" * 70 + ("\n" + "y" * 70) * (settings.mail_max_message_bytes // 70)
    )

    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await _send(sandbox, too_big)

    assert refused.value.code == 552
    assert (await web.get("/mailbox/api/messages")).json() == {"messages": []}
    await _send(sandbox, _mail("buyer@example.com", "small", "still accepted"))
    assert [m["subject"] for m in (await web.get("/mailbox/api/messages")).json()["messages"]] == ["small"]


async def test_clearing_empties_the_mailbox(sandbox: RunningSandbox, web: httpx.AsyncClient) -> None:
    await _send(sandbox, _mail("buyer@example.com", "to clear", "x"))
    [message] = (await web.get("/mailbox/api/messages")).json()["messages"]

    cleared = await web.delete("/mailbox/api/messages")

    assert cleared.status_code == 204
    assert (await web.get("/mailbox/api/messages")).json() == {"messages": []}
    assert (await web.get(f"/mailbox/api/messages/{message['id']}")).status_code == 404
    assert (await web.get(f"/mailbox/{message['id']}")).status_code == 404


async def test_unknown_paths_and_methods_are_refused_and_health_is_reported(web: httpx.AsyncClient) -> None:
    assert (await web.get("/healthz")).status_code == 200
    assert (await web.get("/mailbox/api/messages/not-an-id")).status_code == 404
    assert (await web.get("/nowhere")).status_code == 404
    assert (await web.post("/mailbox/api/messages")).status_code == 405


async def test_the_mailbox_survives_a_restart(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path)
    first = await start_sandbox(settings)
    try:
        await _send(first, _mail("buyer@example.com", "kept across restarts", f"Verify: {VERIFY_URL}"))
    finally:
        await first.stop()

    second = await start_sandbox(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second.http_port}") as web:
            [message] = (await web.get("/mailbox/api/messages")).json()["messages"]
    finally:
        await second.stop()

    assert message["subject"] == "kept across restarts"
    assert message["links"] == [VERIFY_URL]
    assert list((tmp_path / "sandbox" / "mail").glob("*.eml"))


async def test_a_fault_defers_or_bounces_the_next_messages_to_one_address_then_mail_flows_again(
    sandbox: RunningSandbox, web: httpx.AsyncClient
) -> None:
    deferred = await web.post(
        "/mailbox/api/faults", params={"recipient": "Later@Example.com", "code": 451, "times": 2}
    )
    bounced = await web.post("/mailbox/api/faults", params={"recipient": "gone@example.com", "code": 550})
    assert (deferred.status_code, bounced.status_code) == (204, 204)

    replies = []
    for to in ["later@example.com", "later@example.com", "gone@example.com", "later@example.com"]:
        try:
            await _send(sandbox, _mail(to, "Halo", "Halo"))
            replies.append(250)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            replies.append(refused.recipients[0].code)

    assert replies == [451, 451, 550, 250]
    assert (
        len((await web.get("/mailbox/api/messages", params={"to": "later@example.com"})).json()["messages"])
        == 1
    )


@pytest.mark.parametrize(
    "params",
    [{"code": 451}, {"recipient": "a@b.c", "code": 250}, {"recipient": "a@b.c", "code": 451, "times": 0}],
)
async def test_a_fault_without_an_address_or_with_a_reply_that_is_no_refusal_is_refused(
    web: httpx.AsyncClient, params: dict[str, object]
) -> None:
    answer = await web.post("/mailbox/api/faults", params=params)  # type: ignore[arg-type]

    assert answer.status_code == 400
    assert "error" in answer.json()
