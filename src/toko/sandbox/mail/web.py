"""The mailbox over HTTP: pages a person reads mail in, and a JSON API for tests and scripts.

``GET /mailbox`` lists the messages (``?to=`` keeps one recipient's), ``GET /mailbox/{id}`` shows
one; ``/mailbox/api/messages`` lists them as JSON (``GET``, with ``?to=``) or clears the mailbox
(``DELETE``), and ``/mailbox/api/messages/{id}`` is one message as JSON.

A message's HTML part is never put into the page: it is the ``srcdoc`` of a sandboxed frame that
may run no script, and its links open in a new tab (the pages they lead to may refuse to be framed).
Everything a message says is escaped by the templates' autoescaping.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined

from toko.sandbox.asgi import Request, Response, Route
from toko.sandbox.mail.mailbox import Mailbox, Message, split_links
from toko.sandbox.mail.smtp import RecipientFaults

# Links in the HTML part open outside the frame: in a new tab that the frame's sandbox does not confine.
_FRAME_BASE = '<base target="_blank">'


def _templates() -> Environment:
    environment = Environment(
        loader=PackageLoader("toko.sandbox.mail"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    environment.filters["linked"] = split_links
    return environment


def rfc3339(moment: datetime) -> str:
    """``moment`` (UTC) as an RFC 3339 timestamp ending in ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")


def message_document(message: Message) -> dict[str, object]:
    """A message as the JSON API shows it."""
    summary, contents = message.summary, message.contents
    return {
        "id": summary.id,
        "from": summary.mail_from,
        "to": list(summary.rcpt_tos),
        "subject": summary.subject,
        "time": rfc3339(summary.received_at),
        "text": contents.text,
        "html": contents.html,
        "links": list(contents.links),
    }


def mailbox_routes(mailbox: Mailbox, faults: RecipientFaults) -> list[Route]:
    """The mailbox's pages and JSON API, and the SMTP server's faults."""
    templates = _templates()

    async def list_page(request: Request) -> Response:
        to = request.query.get("to", "")
        page = templates.get_template("mailbox.html").render(summaries=mailbox.summaries(to=to), to=to)
        return Response.html(page)

    async def message_page(request: Request) -> Response:
        message = await mailbox.get(request.params["id"])
        if message is None:
            return Response.html(templates.get_template("missing.html").render(), status=404)
        page = templates.get_template("message.html").render(
            message=message, frame=_FRAME_BASE + message.contents.html if message.contents.html else ""
        )
        return Response.html(page)

    async def list_messages(request: Request) -> Response:
        messages = await mailbox.messages(to=request.query.get("to", ""))
        return Response.json({"messages": [message_document(message) for message in messages]})

    async def get_message(request: Request) -> Response:
        message = await mailbox.get(request.params["id"])
        if message is None:
            return Response.json({"error": "no such message"}, status=404)
        return Response.json(message_document(message))

    async def clear_messages(request: Request) -> Response:
        await mailbox.clear()
        return Response(status=204)

    async def add_fault(request: Request) -> Response:
        # ?recipient=a@b&code=451&times=2: the next two messages to a@b are deferred.
        recipient = request.query.get("recipient", "").strip()
        code = request.query.get("code", "")
        times = request.query.get("times", "1")
        if not 0 < len(recipient) <= 254 or not code.isdigit() or not 400 <= int(code) <= 599:
            return Response.json({"error": "recipient (an address) and code (400-599) are required"}, 400)
        if not times.isdigit() or not 1 <= int(times) <= 100:
            return Response.json({"error": "times must be 1 to 100"}, status=400)
        faults.add(recipient, int(code), int(times))
        return Response(status=204)

    async def clear_faults(request: Request) -> Response:
        faults.clear()
        return Response(status=204)

    return [
        Route("POST", "/mailbox/api/faults", add_fault),
        Route("DELETE", "/mailbox/api/faults", clear_faults),
        Route("GET", "/mailbox", list_page),
        Route("GET", "/mailbox/api/messages", list_messages),
        Route("DELETE", "/mailbox/api/messages", clear_messages),
        Route("GET", "/mailbox/api/messages/{id}", get_message),
        Route("GET", "/mailbox/{id}", message_page),
    ]
