"""The mailbox on its own: what it keeps on disk, in which order, how many, and what it reads out of a message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from toko.platform.clock import Clock
from toko.sandbox.mail.mailbox import Mailbox, find_links, read_contents, split_links


def _raw(subject: str, text: str = "Hello.", html: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = "toko <no-reply@toko.test>"
    message["To"] = "buyer@example.com"
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return bytes(message)


def _files(folder: Path, pattern: str = "*") -> list[str]:
    return sorted(path.name for path in folder.glob(pattern))


def _ticking_clock() -> Clock:
    moments = iter(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=n) for n in range(1000))
    return lambda: next(moments)


async def test_messages_are_listed_newest_first_and_filtered_by_recipient(tmp_path: Path) -> None:
    mailbox = await Mailbox.open(tmp_path, max_messages=10)

    first = await mailbox.deliver(mail_from="a@toko.test", rcpt_tos=["Ann@Example.com"], raw=_raw("one"))
    second = await mailbox.deliver(mail_from="a@toko.test", rcpt_tos=["bob@example.com"], raw=_raw("two"))
    third = await mailbox.deliver(
        mail_from="a@toko.test", rcpt_tos=["bob@example.com", "ann@example.com"], raw=_raw("three")
    )

    assert [s.id for s in mailbox.summaries()] == [third.id, second.id, first.id]
    assert [s.subject for s in mailbox.summaries(to="ann@example.com")] == ["three", "one"]
    assert [s.subject for s in mailbox.summaries(to="BOB@example.com")] == ["three", "two"]
    assert mailbox.summaries(to="nobody@example.com") == []


async def test_a_message_reads_back_as_received(tmp_path: Path) -> None:
    mailbox = await Mailbox.open(tmp_path, max_messages=10, clock=_ticking_clock())
    raw = _raw(
        "Verify your email",
        text="Open https://shop.toko.test/verify?token=abc. Thanks!",
        html='<p><a href="https://shop.toko.test/verify?token=abc">Verify</a></p>',
    )

    summary = await mailbox.deliver(mail_from="no-reply@toko.test", rcpt_tos=["buyer@example.com"], raw=raw)
    message = await mailbox.get(summary.id)

    assert message is not None
    assert message.summary == summary
    assert summary.received_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert summary.size == len(raw)
    assert (tmp_path / f"{summary.id}.eml").read_bytes() == raw
    assert message.contents.text.strip() == "Open https://shop.toko.test/verify?token=abc. Thanks!"
    assert 'href="https://shop.toko.test/verify?token=abc"' in message.contents.html
    assert message.contents.links == ("https://shop.toko.test/verify?token=abc",)
    assert ("Subject", "Verify your email") in message.contents.headers


async def test_the_oldest_messages_are_dropped_beyond_the_cap(tmp_path: Path) -> None:
    mailbox = await Mailbox.open(tmp_path, max_messages=2)

    dropped = await mailbox.deliver(mail_from="", rcpt_tos=["x@example.com"], raw=_raw("1"))
    await mailbox.deliver(mail_from="", rcpt_tos=["x@example.com"], raw=_raw("2"))
    await mailbox.deliver(mail_from="", rcpt_tos=["x@example.com"], raw=_raw("3"))

    assert [s.subject for s in mailbox.summaries()] == ["3", "2"]
    assert await mailbox.get(dropped.id) is None
    assert len(_files(tmp_path, "*.eml")) == 2
    assert len(_files(tmp_path, "*.json")) == 2


async def test_a_reopened_mailbox_has_the_same_messages_and_cap(tmp_path: Path) -> None:
    mailbox = await Mailbox.open(tmp_path, max_messages=5)
    for n in range(4):
        await mailbox.deliver(mail_from="", rcpt_tos=["x@example.com"], raw=_raw(str(n)))

    reopened = await Mailbox.open(tmp_path, max_messages=3)

    assert reopened.summaries() == mailbox.summaries()[:3]
    assert len(_files(tmp_path, "*.eml")) == 3


async def test_reopening_forgets_what_a_crash_left_half_written(tmp_path: Path) -> None:
    mailbox = await Mailbox.open(tmp_path, max_messages=5)
    kept = await mailbox.deliver(mail_from="", rcpt_tos=["x@example.com"], raw=_raw("kept"))
    (tmp_path / "0190aaaa-0000-7000-8000-000000000000.eml").write_bytes(_raw("no summary"))
    (tmp_path / "0190aaaa-0000-7000-8000-000000000001.eml.tmp").write_bytes(b"partial")
    (tmp_path / "0190aaaa-0000-7000-8000-000000000002.json").write_bytes(b"{not json")

    reopened = await Mailbox.open(tmp_path, max_messages=5)

    assert [s.id for s in reopened.summaries()] == [kept.id]
    assert _files(tmp_path, "*.eml*") == [f"{kept.id}.eml"]


async def test_clearing_removes_every_message_and_its_files(tmp_path: Path) -> None:
    mailbox = await Mailbox.open(tmp_path, max_messages=5)
    await mailbox.deliver(mail_from="", rcpt_tos=["x@example.com"], raw=_raw("1"))

    await mailbox.clear()

    assert mailbox.summaries() == []
    assert _files(tmp_path) == []
    assert (await Mailbox.open(tmp_path, max_messages=5)).summaries() == []


def test_links_stop_before_the_punctuation_that_ends_a_sentence() -> None:
    text = "Go to https://a.test/x?y=1. Or (see https://b.test/wiki/A_(b)), or <https://c.test/>; https://d.test!"

    assert find_links(text) == [
        "https://a.test/x?y=1",
        "https://b.test/wiki/A_(b)",
        "https://c.test/",
        "https://d.test",
    ]


def test_split_links_keeps_every_character_of_the_text() -> None:
    text = "Reset: http://127.0.0.1:8080/reset?t=1&u=2\nIgnore javascript:alert(1) and ftp://x.test."

    pieces = split_links(text)

    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, is_link in pieces if is_link] == ["http://127.0.0.1:8080/reset?t=1&u=2"]


def test_a_message_without_parts_of_a_kind_reads_as_empty_text() -> None:
    html_only = EmailMessage()
    html_only["Subject"] = "html only"
    html_only.set_content("<p>Hi</p>", subtype="html")

    contents = read_contents(bytes(html_only))

    assert contents.text == ""
    assert contents.html.strip() == "<p>Hi</p>"
    assert contents.links == ()
