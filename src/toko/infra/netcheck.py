"""Small blocking network checks used while servers start (no client libraries needed)."""

from __future__ import annotations

import contextlib
import http.client
import socket

_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now and not handed out before by this process.

    The kernel may give the same ephemeral port to two binds in a row once the first socket is
    closed, so two servers configured from two calls could collide; remembering what was handed out
    keeps one process's picks distinct (another process may still take a port).
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_status(host: str, port: int, path: str, timeout: float = 1.0) -> int | None:
    """HTTP GET status code, or None when the server cannot be reached."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def resp_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis-protocol server answers PING (an auth error still proves it is up)."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = sock.recv(64)
        return reply.startswith((b"+PONG", b"-NOAUTH"))
    return False


def nats_info(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a NATS server greets us with its INFO line."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout) as sock:
        return sock.recv(7).startswith(b"INFO")
    return False
