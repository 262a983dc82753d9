"""The batch worker: full batches run back to back, idle rounds back off, due work and wake-ups cut the wait."""

from __future__ import annotations

import asyncio
import itertools
import time

from toko.platform.workers import batch_worker, unless_stopped


async def run_for(seconds: float, worker_factory: object) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker_factory(stop))  # type: ignore[operator]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)


async def test_full_batches_run_back_to_back_until_one_comes_back_short() -> None:
    backlog = [10, 10, 10, 3]
    rounds: list[float] = []

    async def one_batch(limit: int) -> int:
        rounds.append(time.monotonic())
        return backlog.pop(0) if backlog else 0

    await run_for(0.2, batch_worker(one_batch, what="test", batch_size=10, interval=5.0))

    assert len(rounds) == 4  # the three full batches and the short one, then a wait of 5 s
    assert rounds[-1] - rounds[0] < 1.0


async def test_idle_rounds_back_off_up_to_the_idle_interval() -> None:
    rounds: list[float] = []

    async def one_batch(limit: int) -> int:
        rounds.append(time.monotonic())
        return 0

    await run_for(1.0, batch_worker(one_batch, what="test", batch_size=10, interval=0.05, idle_interval=0.4))

    gaps = [later - earlier for earlier, later in itertools.pairwise(rounds)]
    # Waits of 0.1, 0.2, 0.4, 0.4 … rather than twenty rounds 0.05 s apart.
    assert 3 <= len(rounds) <= 7, rounds
    assert gaps[0] < gaps[-1]
    assert gaps[-1] >= 0.35


async def test_work_known_to_come_due_and_a_wake_up_cut_the_wait_short() -> None:
    rounds: list[float] = []
    wake = asyncio.Event()

    async def one_batch(limit: int) -> int:
        rounds.append(time.monotonic())
        return 0

    async def next_due() -> float | None:
        return 0.1 if len(rounds) == 1 else None

    stop = asyncio.Event()
    worker = batch_worker(
        one_batch, what="test", batch_size=10, interval=30.0, idle_interval=60.0, next_due=next_due, wake=wake
    )
    task = asyncio.create_task(worker(stop))
    await asyncio.sleep(0.6)
    assert len(rounds) == 2  # the first round, then the one due after 0.1 s
    wake.set()
    await asyncio.sleep(0.3)
    assert len(rounds) == 3
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)


async def test_work_due_sooner_than_a_busy_rounds_interval_is_done_on_time() -> None:
    # A busy round (work found) waits the short interval, unless work comes due sooner still: the lots
    # of a date that turns a few seconds after a busy round are written off then, not an interval late.
    rounds: list[float] = []

    async def one_batch(limit: int) -> int:
        rounds.append(time.monotonic())
        return 1 if len(rounds) == 1 else 0

    async def next_due() -> float | None:
        return 0.1 if len(rounds) == 1 else None

    await run_for(0.5, batch_worker(one_batch, what="test", batch_size=10, interval=30.0, next_due=next_due))

    assert len(rounds) == 2
    assert rounds[1] - rounds[0] < 0.4


async def test_a_failing_round_is_retried_and_the_worker_lives_on() -> None:
    calls = 0

    async def one_batch(limit: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database restarting")
        return 0

    await run_for(0.2, batch_worker(one_batch, what="test", batch_size=10, interval=0.05, idle_interval=5.0))

    assert calls >= 2


async def test_a_long_wait_ends_at_once_when_stopped() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()

    finished, result = await unless_stopped(stop, asyncio.sleep(30, result="late"))

    assert (finished, result) == (False, None)
    assert time.monotonic() - started < 1.0
    assert await unless_stopped(asyncio.Event(), asyncio.sleep(0, result="done")) == (True, "done")
