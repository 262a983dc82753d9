"""Per-request context: request id, W3C trace context, deadline and caller.

Held in context variables so that logging, outgoing calls and the outbox pick
them up without threading them through every signature.
"""

from __future__ import annotations

import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass

from toko.platform.auth import ANONYMOUS, Principal

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    """A W3C trace context: the trace this work belongs to and the span that caused it."""

    trace_id: str
    parent_id: str
    flags: str = "01"
    tracestate: str = ""

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` header value."""
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"

    @classmethod
    def parse(cls, traceparent: str | None, tracestate: str | None = None) -> TraceContext | None:
        """Parse a ``traceparent`` header; None when absent or malformed."""
        if not traceparent:
            return None
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
            return None
        return cls(match.group(1), match.group(2), match.group(3), tracestate or "")

    @classmethod
    def new(cls) -> TraceContext:
        """Start a new trace."""
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self) -> TraceContext:
        """The context to send downstream: same trace, a new span id."""
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags, self.tracestate)


request_id_var: ContextVar[str] = ContextVar("toko_request_id", default="")
trace_var: ContextVar[TraceContext | None] = ContextVar("toko_trace", default=None)
principal_var: ContextVar[Principal] = ContextVar("toko_principal", default=ANONYMOUS)
# Monotonic instant by which the current request must be answered, or None.
deadline_var: ContextVar[float | None] = ContextVar("toko_deadline", default=None)
idempotency_key_var: ContextVar[str] = ContextVar("toko_idempotency_key", default="")


def remaining_seconds(default: float | None = None) -> float | None:
    """Seconds left before the current request's deadline, for outgoing calls."""
    deadline = deadline_var.get()
    if deadline is None:
        return default
    return max(deadline - time.monotonic(), 0.0)


def current_principal() -> Principal:
    """The caller of the request being served."""
    return principal_var.get()
