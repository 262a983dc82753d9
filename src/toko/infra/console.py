"""What `toko up` prints while it runs: one line per thing a person wants to see.

Every process's full output goes to its log file (``.toko/logs/<name>.log``) either way. The
console then gets either:

- the person's view (the default): the supervisor's news (a process started, healthy, exited,
  restarted, a seed's result) and the services' warnings and errors, each as
  ``HH:MM:SS name LEVEL message``, coloured only on a terminal; their info lines (two per
  request) stay in the files, so the banner does not scroll away;
- the stream (``toko up --json``): every line of every service prefixed with its name, and the
  supervisor's news as ``toko: …`` lines, for tools that read it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Final

import orjson

SUPERVISOR = "toko"
# Levels of a service's JSON log line worth a person's attention; the rest stay in the file.
_SHOWN_LEVELS: Final = frozenset({"warning", "error", "critical"})
_LEVEL_TAG: Final = re.compile(r"\[(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\]\s*(?P<message>.*)")
_RESET: Final = "\033[0m"
_COLOURS: Final = {
    "time": "\033[2m",  # dim
    "name": "\033[36m",  # cyan
    "warning": "\033[33m",  # yellow
    "error": "\033[31m",  # red
    "critical": "\033[1;31m",  # bold red
    "good": "\033[32m",  # green
}


def print_line(line: str) -> None:
    """Default output: stdout, flushed (the supervisor often runs under a pipe)."""
    print(line, flush=True)


class Console:
    """Turns the supervisor's news and the services' output lines into console lines."""

    def __init__(
        self,
        write: Callable[[str], None] = print_line,
        *,
        stream: bool = False,
        colour: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._write = write
        self._stream = stream
        self._colour = colour
        self._clock = clock

    def news(self, message: str, *, name: str = SUPERVISOR, level: str = "info", good: bool = False) -> None:
        """Something the supervisor saw happen to ``name`` (a service, a seed) or did itself."""
        if self._stream:
            self._write(f"toko: {message}" if name == SUPERVISOR else f"toko: {name} {message}")
        else:
            self._write(self._line(name, level, message, good=good))

    def block(self, text: str) -> None:
        """A block printed as it is (the banner)."""
        self._write(text)

    def output(self, name: str, line: str) -> None:
        """One line a service wrote: all of it in the stream; in the person's view, only its warnings
        and errors, and any line that has no level (a crash's traceback before logging was set up)."""
        line = line.rstrip()
        if self._stream:
            self._write(f"{name:>9} | {line}")
            return
        if not line:
            return
        entry = _json_log_entry(line)
        if entry is not None:
            level, message = str(entry.get("level", "")).lower(), _summary(entry)
        elif tagged := _LEVEL_TAG.match(line):  # granian's own lines: "[INFO] Listening at: …"
            level, message = tagged["level"].lower(), tagged["message"]
        else:
            level, message = "", line
        if level in _SHOWN_LEVELS or not level:
            self._write(self._line(name, level, message))

    def _line(self, name: str, level: str, message: str, *, good: bool = False) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self._clock()))
        shown_level = level.upper() if level in _SHOWN_LEVELS else ""
        if not self._colour:
            return " ".join(part for part in (clock, name, shown_level, message) if part)
        paint = self._paint
        colour = level if shown_level else ("good" if good else "")
        parts = [paint("time", clock), paint("name", name)]
        if shown_level:
            parts.append(paint(level, shown_level))
        parts.append(paint(colour, message) if colour else message)
        return " ".join(parts)

    @staticmethod
    def _paint(what: str, text: str) -> str:
        return f"{_COLOURS[what]}{text}{_RESET}"


def _json_log_entry(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) else None


def _summary(entry: dict[str, object]) -> str:
    """The message, with its reason and the last line of its exception when it carries them."""
    message = str(entry.get("message", ""))
    reason = entry.get("reason")
    if reason:
        message = f"{message} (reason {reason})"
    exception = str(entry.get("exception") or "").strip()
    if exception:
        message = f"{message}: {exception.splitlines()[-1]}"
    return message
