"""What `toko up` prints: a person's view of the platform, or every log line with --json."""

from __future__ import annotations

import re
import time

import orjson

from toko.infra.console import Console

# 2026-12-03 09:05:07 in the machine's own time zone, whatever it is.
MORNING = time.mktime((2026, 12, 3, 9, 5, 7, 0, 0, -1))


def log_line(level: str, message: str, **extra: object) -> str:
    """A line as a service's JSON log writes it."""
    entry = {"time": "2026-12-03T09:05:07.000Z", "level": level, "service": "product", "message": message}
    return orjson.dumps(entry | extra).decode()


def console(*, stream: bool = False, colour: bool = False) -> tuple[Console, list[str]]:
    lines: list[str] = []
    return Console(lines.append, stream=stream, colour=colour, clock=lambda: MORNING), lines


def test_a_person_sees_warnings_and_errors_of_services_not_their_request_lines() -> None:
    shown, lines = console()

    shown.output("gateway", log_line("info", "http request", route="/v1/products", status=200))
    shown.output("gateway", "[INFO] Listening at: http://127.0.0.1:8080")
    shown.output("inventory", log_line("warning", "campaign c1: quota refused", reason="QUOTA_ABOVE_STOCK"))
    shown.output("product", log_line("error", "relay failed", exception="Traceback…\nOSError: gone"))
    shown.output("gateway", "[WARNING] worker-1 exited")

    assert lines == [
        "09:05:07 inventory WARNING campaign c1: quota refused (reason QUOTA_ABOVE_STOCK)",
        "09:05:07 product ERROR relay failed: OSError: gone",
        "09:05:07 gateway WARNING worker-1 exited",
    ]


def test_a_line_without_a_level_is_shown_as_it_is_a_crash_before_logging_is_set_up() -> None:
    shown, lines = console()

    shown.output("user", "Traceback (most recent call last):\n")
    shown.output("user", "ModuleNotFoundError: No module named 'argon2'")
    shown.output("user", "")

    assert lines == [
        "09:05:07 user Traceback (most recent call last):",
        "09:05:07 user ModuleNotFoundError: No module named 'argon2'",
    ]


def test_the_supervisors_news_is_one_line_each() -> None:
    shown, lines = console()

    shown.news("servers ready, starting 6 services")
    shown.news("started (pid 41)", name="product")
    shown.news("exited with code 3 after 0.4s; restarting in 0.5s", name="product", level="warning")

    assert lines == [
        "09:05:07 toko servers ready, starting 6 services",
        "09:05:07 product started (pid 41)",
        "09:05:07 product WARNING exited with code 3 after 0.4s; restarting in 0.5s",
    ]


def test_json_keeps_every_line_of_every_service_and_the_supervisors_own() -> None:
    streamed, lines = console(stream=True)
    request = log_line("info", "http request", route="/v1/products")

    streamed.output("gateway", request + "\n")
    streamed.news("healthy after 3.1s", name="gateway")
    streamed.news("stopping")

    assert lines == [f"  gateway | {request}", "toko: gateway healthy after 3.1s", "toko: stopping"]


def test_colour_only_when_asked_and_the_words_stay_the_same() -> None:
    plain, plain_lines = console()
    coloured, coloured_lines = console(colour=True)

    for view in (plain, coloured):
        view.output("product", log_line("error", "relay failed"))
        view.news("healthy after 3.1s", name="product", good=True)

    assert all("\033[" not in line for line in plain_lines)
    assert all("\033[" in line for line in coloured_lines)
    assert [strip_colour(line) for line in coloured_lines] == plain_lines


def strip_colour(line: str) -> str:
    """The line as a terminal shows its words."""
    return re.sub(r"\033\[[0-9;]*m", "", line)
