"""Background workers that do a batch of work at a time: the one loop every service's periodic work runs in.

A worker (``BackgroundWorker``) is a coroutine function taking the service's stop event;
``toko.platform.service`` starts each one as a task and sets the event on shutdown.

``batch_worker`` repeats ``one_batch(batch_size)`` while batches come back full, then waits:
``interval`` after a round that found work, and after rounds that found none a wait that
doubles up to ``idle_interval``, so an idle platform does not wake every second in every
service. The wait is cut short when work is known to come due (``next_due``, seconds, asked after every
round), when
the process itself makes work (``wake``, an event its use cases set), or on stop. A failed
round is logged and retried after ``interval``: a worker never dies of a dependency outage.
Every replica may run the same worker when ``one_batch`` claims its rows with
``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

BackgroundWorker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
T = TypeVar("T")


async def wait_any(*events: asyncio.Event, seconds: float) -> None:
    """Sleep until any of ``events`` is set, or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter


async def sleep_until(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Wait ``seconds``, or less when ``stop`` or ``wake`` is set first (``wake`` is then cleared)."""
    await wait_any(stop, *([wake] if wake is not None else []), seconds=seconds)
    if wake is not None:
        wake.clear()


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> tuple[bool, T | None]:
    """Await ``work`` unless ``stop`` is set first (``work`` is then cancelled): ``(finished, result)``.

    Lets a worker block on a long wait for events (a JetStream fetch, a Valkey subscription) and
    still stop at once, instead of waking every second to look at the stop event.
    """
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if task.cancelled():
        return False, None
    return True, task.result()


def batch_worker(
    one_batch: Callable[[int], Awaitable[int]],
    *,
    what: str,
    batch_size: int,
    interval: float,
    idle_interval: float | None = None,
    next_due: Callable[[], Awaitable[float | None]] | None = None,
    wake: asyncio.Event | None = None,
) -> BackgroundWorker:
    """A worker running ``one_batch(batch_size)`` (which returns how much it did) as described above.

    ``idle_interval`` defaults to ``interval`` (no back-off); ``next_due`` is asked after each round
    and returns the seconds until work is known to come due, or None when none is.
    """
    longest = max(interval, idle_interval or interval)

    async def run(stop: asyncio.Event) -> None:
        backoff = interval  # the idle wait, doubling; what work known to come due shortens is one wait
        while not stop.is_set():
            try:
                done = 0
                while not stop.is_set():
                    found = await one_batch(batch_size)
                    done += found
                    if found < batch_size:
                        break
                backoff = interval if done else min(backoff * 2, longest)
                wait = backoff
                # Asked after a busy round too: work due within the round's interval (a date turning at
                # midnight) is done on time, not up to one interval late.
                if next_due is not None:
                    due = await next_due()
                    if due is not None:
                        wait = min(wait, due)
            except Exception:
                log.warning("%s failed; retrying", what, exc_info=True)
                backoff = wait = interval
            await sleep_until(stop, wait, wake)

    return run
