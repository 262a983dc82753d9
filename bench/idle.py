"""Idle CPU: what the platform burns doing nothing, per process, once start-up has settled.

Every server and service is a process tree (PostgreSQL's backends and workers are children of the
postmaster); its CPU is the user and system time of every live process in it plus what its children
that ended meanwhile used (``children_user``/``children_system``), sampled at both ends of the window.
Wake-ups are the context switches of every thread in the tree: a process that sleeps until there is
work has few, a process polling every second has many.

``make bench`` reports the total as "idle platform CPU, % of one core" (target < 1 %). On its own,
``python -m bench.idle [--seconds 60]`` starts what ``make up`` starts (echo too with ``--bench``),
waits until the start-up's events are consumed, measures, and prints the table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.running import RunningPlatform
from toko.infra.services import SERVICES

SUPERVISOR = "toko up"
IDLE_TARGET_PERCENT = 1.0
# Services that only benchmarks run: measured and listed, but not part of the platform's figure.
BENCH_ONLY = frozenset(spec.name for spec in SERVICES if spec.bench_only)


@dataclass(frozen=True)
class Sample:
    """CPU seconds and context switches of one process tree, at one moment."""

    cpu_seconds: float
    switches: int
    processes: int


@dataclass(frozen=True)
class IdleCpu:
    """One process tree over the window: % of one core, wake-ups per second, processes in it."""

    percent: float
    wakeups_per_second: float
    processes: int


def _switches(process: psutil.Process) -> int:
    """Context switches of every thread of ``process`` (``/proc/<pid>/status`` counts the main one only)."""
    total = 0
    for status in Path(f"/proc/{process.pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        # voluntary_ctxt_switches (it slept) and nonvoluntary_ctxt_switches (it was preempted)
        total += sum(int(line.split()[1]) for line in lines if "ctxt_switches:" in line)
    return total


def sample(pid: int, *, with_children: bool = True) -> Sample:
    """The CPU time and context switches of ``pid`` and (with ``with_children``) everything under it."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)] if with_children else [root]
    seconds, switches, counted = 0.0, 0, 0
    for process in processes:
        try:
            times = process.cpu_times()
            switches += _switches(process)
        except psutil.Error:
            continue  # ended between listing and reading: its time reaches its parent's children_*
        seconds += times.user + times.system
        if with_children:
            seconds += times.children_user + times.children_system
        counted += 1
    return Sample(seconds, switches, counted)


def process_trees(state: Mapping[str, Any]) -> dict[str, tuple[int, bool]]:
    """Name -> (pid, whether its children count) of every server, service and the supervisor itself.

    The supervisor's children are the servers and services, measured on their own.
    """
    trees = {
        entry["name"]: (int(entry["pid"]), True)
        for entry in state["servers"] + state["services"]
        if entry.get("pid")
    }
    trees[SUPERVISOR] = (int(state["pid"]), False)
    return trees


def measure(state: Mapping[str, Any], seconds: float) -> dict[str, IdleCpu]:
    """Idle CPU of every process tree over ``seconds``."""
    trees = process_trees(state)
    before = {name: sample(pid, with_children=children) for name, (pid, children) in trees.items()}
    started = time.monotonic()
    time.sleep(seconds)
    after = {name: sample(pid, with_children=children) for name, (pid, children) in trees.items()}
    elapsed = time.monotonic() - started
    return {
        name: IdleCpu(
            percent=round(100 * (after[name].cpu_seconds - before[name].cpu_seconds) / elapsed, 3),
            wakeups_per_second=round((after[name].switches - before[name].switches) / elapsed, 1),
            processes=after[name].processes,
        )
        for name in trees
    }


def total_percent(usage: Mapping[str, IdleCpu]) -> float:
    """The platform's idle CPU, % of one core: every process but the bench-only services."""
    return round(sum(cpu.percent for name, cpu in usage.items() if name not in BENCH_ONLY), 2)


def per_process(usage: Mapping[str, IdleCpu]) -> str:
    """``name percent (wakeups/s)`` of every process tree, busiest first."""
    ranked = sorted(usage.items(), key=lambda item: -item[1].percent)
    return ", ".join(
        f"{name}{' (bench only)' if name in BENCH_ONLY else ''} {cpu.percent:.2f} % ({cpu.wakeups_per_second:.0f}/s)"
        for name, cpu in ranked
    )


def as_json(usage: Mapping[str, IdleCpu]) -> dict[str, dict[str, float]]:
    """For ``bench/results/latest.json``."""
    return {name: asdict(cpu) for name, cpu in usage.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the window measured")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to wait after the events are consumed"
    )
    parser.add_argument("--bench", action="store_true", help="start the bench-only services too (echo)")
    args = parser.parse_args()
    running = RunningPlatform(bench=args.bench)
    try:
        print(f"platform up; all services healthy after {running.wait():.1f} s")
        print(f"events of the start-up consumed after {running.settle():.1f} s more")
        time.sleep(args.settle)
        usage = measure(running.state(), args.seconds)
    finally:
        running.stop()
    print(
        f"idle platform CPU over {args.seconds:.0f} s: {total_percent(usage):.2f} % of one core (target < {IDLE_TARGET_PERCENT:.0f} %)"
    )
    print(f"per process, % of one core (wake-ups per second): {per_process(usage)}")


if __name__ == "__main__":
    main()
