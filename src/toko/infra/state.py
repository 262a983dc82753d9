"""The state file (`<data_dir>/run/state.json`): what runs where, for `toko status` in another process."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessEntry:
    """One server or service: how to reach it and which process serves it."""

    name: str
    kind: str  # postgres | nats | valkey | grpc | http
    address: str
    pid: int | None = None
    url: str | None = None
    managed: bool = True  # False: an external server we only connect to


@dataclass(frozen=True)
class RunState:
    """Snapshot of a running toko."""

    pid: int
    data_dir: str
    endpoints: dict[str, Any]
    servers: list[ProcessEntry] = field(default_factory=list)
    services: list[ProcessEntry] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunState:
        """Deserialise."""
        raw = json.loads(text)
        return cls(
            pid=int(raw["pid"]),
            data_dir=str(raw["data_dir"]),
            endpoints=dict(raw["endpoints"]),
            servers=[ProcessEntry(**entry) for entry in raw.get("servers", [])],
            services=[ProcessEntry(**entry) for entry in raw.get("services", [])],
        )


def write_state(path: Path, state: RunState) -> None:
    """Write atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def read_state(path: Path) -> RunState | None:
    """The last written state, or None."""
    try:
        return RunState.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_state(path: Path) -> None:
    """Forget the state (on clean shutdown)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
