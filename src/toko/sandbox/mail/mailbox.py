"""The mailbox: every message the SMTP stand-in accepted, kept on disk, newest first, bounded in count.

Each message is two files in the mailbox folder: ``<id>.eml``, the raw RFC 5322
bytes as received, and ``<id>.json``, its envelope and summary. The summary is
written last and removed first, so a summary on disk always has its message;
both are written to a temporary name and renamed, so a crash never leaves half
a file under a real name. Ids are UUIDv7, so their order is arrival order.
The summaries are held in memory; a message's body is read from disk when asked for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

import orjson

from toko.platform.clock import Clock, utcnow
from toko.platform.ids import new_id

log = logging.getLogger(__name__)

# An http(s) URL runs to the first space, quote or angle bracket (RFC 3986 appendix C).
_URL = re.compile(r"https?://[^\s<>\"'\x00-\x1f\x7f]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than the URL it follows.
_TRAILING = ".,;:!?"


@dataclass(frozen=True)
class Summary:
    """What the mailbox knows of a message without reading its body: envelope, subject, time, size."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    size: int

    def is_for(self, recipient: str) -> bool:
        """True when ``recipient`` is one of the envelope's recipients, ignoring case."""
        wanted = recipient.strip().casefold()
        return any(rcpt.casefold() == wanted for rcpt in self.rcpt_tos)

    def to_json(self) -> bytes:
        """The summary as stored beside the message."""
        return orjson.dumps(
            {
                "id": self.id,
                "received_at": self.received_at.isoformat(),
                "mail_from": self.mail_from,
                "rcpt_tos": list(self.rcpt_tos),
                "subject": self.subject,
                "size": self.size,
            }
        )

    @classmethod
    def from_json(cls, document: bytes) -> Summary:
        """A summary as stored by ``to_json``."""
        fields = orjson.loads(document)
        return cls(
            id=str(fields["id"]),
            received_at=datetime.fromisoformat(fields["received_at"]),
            mail_from=str(fields["mail_from"]),
            rcpt_tos=tuple(str(rcpt) for rcpt in fields["rcpt_tos"]),
            subject=str(fields["subject"]),
            size=int(fields["size"]),
        )


@dataclass(frozen=True)
class Contents:
    """A message's headers, its plain-text and HTML parts, and the links found in the text part."""

    headers: tuple[tuple[str, str], ...]
    text: str
    html: str
    links: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    """A message in the mailbox: its summary and what it says."""

    summary: Summary
    contents: Contents


def find_links(text: str) -> list[str]:
    """The http(s) URLs in ``text``, in order, without the punctuation that ends a sentence after them."""
    return [piece for piece, is_link in split_links(text) if is_link]


def split_links(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into pieces that are links and pieces that are not, in order: ``(piece, is_link)``."""
    pieces: list[tuple[str, bool]] = []
    start = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        # A closing parenthesis belongs to the URL only when the URL opened one: "(see https://x/a)".
        while url.endswith(")") and url.count(")") > url.count("("):
            url = url[:-1].rstrip(_TRAILING)
        if match.start() > start:
            pieces.append((text[start : match.start()], False))
        pieces.append((url, True))
        start = match.start() + len(url)
    if start < len(text):
        pieces.append((text[start:], False))
    return pieces


def read_contents(raw: bytes) -> Contents:
    """Parse a message's raw bytes; a part that cannot be decoded reads as its bytes decoded leniently."""
    message = BytesParser(EmailMessage, policy=policy.default).parsebytes(raw)
    text = _body(message, "plain")
    return Contents(
        headers=tuple((name, str(value)) for name, value in message.items()),
        text=text,
        html=_body(message, "html"),
        links=tuple(find_links(text)),
    )


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    try:
        content = str(part.get_content())
    except (LookupError, ValueError):
        # An unknown charset or a broken transfer encoding: show what can be shown.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    # SMTP carries lines ending in CRLF; readers of the text want plain newlines.
    return content.replace("\r\n", "\n")


def _subject(raw: bytes) -> str:
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    return str(headers.get("subject", ""))


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class Mailbox:
    """The messages under one folder, at most ``max_messages`` of them.

    Files are read, written and parsed in worker threads, so a large message does not stall the
    event loop; a lock keeps the in-memory index consistent between those threads and the loop.
    """

    def __init__(self, folder: Path, *, max_messages: int, clock: Clock = utcnow) -> None:
        self.folder = folder
        self.max_messages = max_messages
        self.clock = clock
        self._lock = threading.Lock()
        # Oldest first: ids are time-ordered and a dict keeps insertion order.
        self._summaries: dict[str, Summary] = {}

    @classmethod
    async def open(cls, folder: Path, *, max_messages: int, clock: Clock = utcnow) -> Mailbox:
        """The mailbox kept in ``folder`` (created if missing), with the messages already there."""
        mailbox = cls(folder, max_messages=max_messages, clock=clock)
        await asyncio.to_thread(mailbox._load)
        return mailbox

    async def deliver(self, *, mail_from: str, rcpt_tos: list[str], raw: bytes) -> Summary:
        """Keep a message that arrives now, dropping the oldest beyond ``max_messages``."""
        return await asyncio.to_thread(self._keep, mail_from, tuple(rcpt_tos), raw)

    def summaries(self, *, to: str = "") -> list[Summary]:
        """The messages, newest first; only those for recipient ``to`` when given."""
        with self._lock:
            newest_first = list(reversed(self._summaries.values()))
        return [summary for summary in newest_first if not to or summary.is_for(to)]

    async def get(self, message_id: str) -> Message | None:
        """The message with this id, or None when the mailbox has none such."""
        with self._lock:
            summary = self._summaries.get(message_id)
        if summary is None:
            return None
        return await asyncio.to_thread(self._read, summary)

    async def messages(self, *, to: str = "") -> list[Message]:
        """The messages with what they say, newest first; only those for recipient ``to`` when given."""
        found = [await asyncio.to_thread(self._read, summary) for summary in self.summaries(to=to)]
        return [message for message in found if message is not None]

    async def clear(self) -> None:
        """Remove every message."""
        await asyncio.to_thread(self._clear)

    def _eml(self, message_id: str) -> Path:
        return self.folder / f"{message_id}.eml"

    def _json(self, message_id: str) -> Path:
        return self.folder / f"{message_id}.json"

    def _load(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)
        summaries: list[Summary] = []
        for path in self.folder.glob("*.json"):
            try:
                summaries.append(Summary.from_json(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("unreadable message summary skipped", extra={"path": str(path)})
        kept = {summary.id for summary in summaries}
        # A crash between the two writes leaves a message without its summary: it was never delivered.
        for path in self.folder.glob("*.eml"):
            if path.stem not in kept:
                path.unlink(missing_ok=True)
        summaries.sort(key=lambda summary: summary.id)
        with self._lock:
            self._summaries = {summary.id: summary for summary in summaries}
            dropped = self._over_the_cap()
        self._remove_files(dropped)

    def _keep(self, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> Summary:
        summary = Summary(
            id=new_id(),
            received_at=self.clock(),
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            subject=_subject(raw),
            size=len(raw),
        )
        _write(self._eml(summary.id), raw)
        _write(self._json(summary.id), summary.to_json())
        with self._lock:
            self._summaries[summary.id] = summary
            dropped = self._over_the_cap()
        self._remove_files(dropped)
        return summary

    def _read(self, summary: Summary) -> Message | None:
        try:
            raw = self._eml(summary.id).read_bytes()
        except FileNotFoundError:
            # Dropped or cleared while it was being read.
            return None
        return Message(summary, read_contents(raw))

    def _over_the_cap(self) -> list[str]:
        # Called holding the lock: takes the oldest messages beyond the cap out of the index.
        dropped = list(self._summaries)[: max(0, len(self._summaries) - self.max_messages)]
        for message_id in dropped:
            del self._summaries[message_id]
        return dropped

    def _remove_files(self, message_ids: list[str]) -> None:
        for message_id in message_ids:
            self._json(message_id).unlink(missing_ok=True)
            self._eml(message_id).unlink(missing_ok=True)

    def _clear(self) -> None:
        with self._lock:
            cleared = list(self._summaries)
            self._summaries.clear()
        self._remove_files(cleared)
