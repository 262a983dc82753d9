"""Seed hooks: modules run once (`python -m <module>`) after the platform is healthy for the first time."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from toko.infra.procs import die_with_parent, kill_group
from toko.infra.services import ServiceSpec

Outcome = Literal["ran", "failed", "missing", "done-before"]


@dataclass(frozen=True)
class SeedResult:
    """What happened to one hook."""

    service: str
    module: str
    outcome: Outcome
    detail: str = ""


def hook_available(module: str) -> bool:
    """Whether the hook module exists yet (services add theirs over time)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def load_seeded(path: Path) -> dict[str, str]:
    """Hook module -> when it last ran successfully."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def mark_seeded(path: Path, module: str) -> None:
    """Record a successful hook run."""
    done = load_seeded(path) | {module: datetime.now(UTC).isoformat()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(done, indent=2))
    tmp.replace(path)


async def run_seed_hooks(
    specs: Sequence[ServiceSpec],
    env_for: Callable[[ServiceSpec], dict[str, str]],
    seed_file: Path,
    echo: Callable[[str], None],
    *,
    output: Callable[[str], None] | None = None,
    force: bool = False,
    seconds: float = 300.0,
) -> list[SeedResult]:
    """Run every service's hooks, the services' at once and each one's in order; skip missing ones and,
    unless forced, finished ones. Results come in registry order.

    ``echo`` gets what happens to each hook ("running …", "… failed …"), ``output`` each line a hook
    prints (by default ``echo``ed as ``    seed | line``).
    """
    show = output or (lambda line: echo(f"    seed | {line}"))

    async def run_hooks_of(spec: ServiceSpec) -> list[SeedResult]:
        results: list[SeedResult] = []
        for module in spec.seed:
            if not force and module in load_seeded(seed_file):
                results.append(SeedResult(spec.name, module, "done-before"))
            elif not hook_available(module):
                echo(f"{module} does not exist yet, skipped")
                results.append(SeedResult(spec.name, module, "missing"))
            else:
                echo(f"running {module}")
                code = await _run_hook(module, env_for(spec), echo, show, seconds)
                if code == 0:
                    mark_seeded(seed_file, module)
                    results.append(SeedResult(spec.name, module, "ran"))
                else:
                    echo(f"{module} failed with exit code {code}; it will run again next start")
                    results.append(SeedResult(spec.name, module, "failed", f"exit code {code}"))
        return results

    # Services' seeds at once: each writes only its own service's database (through its own
    # use cases), and the first start spent most of its time in them one after another.
    per_service = await asyncio.gather(*(run_hooks_of(spec) for spec in specs))
    return [result for results in per_service for result in results]


async def _run_hook(
    module: str, env: dict[str, str], echo: Callable[[str], None], show: Callable[[str], None], seconds: float
) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    assert proc.stdout is not None

    async def pump() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            show(line.decode(errors="replace").rstrip())

    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(pump(), proc.wait())
    except TimeoutError:
        echo(f"{module} timed out after {seconds:.0f}s")
    finally:
        if proc.returncode is None:
            kill_group(proc.pid)
            await proc.wait()
        with contextlib.suppress(ProcessLookupError):
            kill_group(proc.pid)
    return proc.returncode if proc.returncode is not None else -1
