"""A tiny real HTTP server standing in for the auth service's pages behind the gateway's HTTP mounts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    """Requests the server received: method, path with query, headers (lower-cased), body."""

    requests: list[dict[str, Any]] = field(default_factory=list)


def _handler(seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(errors="replace"),
            }
            seen.requests.append(request)
            if self.path.startswith("/oauth2/authorize"):
                # A login redirect with a session cookie, as the provider answers.
                self._send(
                    302,
                    b"",
                    [
                        ("Location", "/oauth2/login?next=%2Foauth2%2Fauthorize"),
                        ("Set-Cookie", "toko_session=abc123; Path=/oauth2/; HttpOnly; SameSite=Lax"),
                        ("Set-Cookie", "toko_csrf=xyz; Path=/oauth2/; HttpOnly"),
                    ],
                )
            elif self.path.startswith("/oauth2/login"):
                page = b"<!doctype html><title>Masuk</title><form method=post>...</form>"
                self._send(200, page, [("Content-Type", "text/html; charset=utf-8")])
            else:
                echo = json.dumps(request).encode()
                self._send(200, echo, [("Content-Type", "application/json"), ("X-Upstream", "yes")])

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "keep-alive")
            self.send_header("Keep-Alive", "timeout=5")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    return Handler


@contextmanager
def http_upstream() -> Iterator[tuple[str, Seen]]:
    """Serve on a free port in a thread; the base URL and what it saw."""
    seen = Seen()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(seen))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
