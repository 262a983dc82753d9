"""Where things live inside the data directory (`.toko/` by default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "TOKO_DATA_DIR"


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return `$TOKO_DATA_DIR`, else `.toko/` in the checkout (or the working directory when installed)."""
    env = os.environ if environ is None else environ
    if override := env.get(DATA_DIR_ENV):
        return Path(override).expanduser().resolve()
    # src/toko/infra/layout.py -> the checkout root holds pyproject.toml; an installed wheel has none.
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        return checkout / ".toko"
    return Path.cwd().resolve() / ".toko"


@dataclass(frozen=True)
class DataLayout:
    """Paths of the files and folders toko keeps under one data directory."""

    root: Path

    @property
    def run_dir(self) -> Path:
        """Runtime files that only make sense while toko runs."""
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        """One log file per server and service."""
        return self.root / "logs"

    @property
    def lock_file(self) -> Path:
        """Flocked by the running instance; holds its pid."""
        return self.run_dir / "toko.lock"

    @property
    def state_file(self) -> Path:
        """Servers and services of the running instance, for `toko status` in another process."""
        return self.run_dir / "state.json"

    @property
    def credentials_file(self) -> Path:
        """The demo accounts and OAuth clients the seeds made, with their passwords (mode 0600)."""
        return self.root / "demo-credentials.json"

    @property
    def seed_file(self) -> Path:
        """Which seed hooks already ran, so restarts do not reseed."""
        return self.root / "seeded.json"

    @property
    def nats_dir(self) -> Path:
        """JetStream file storage."""
        return self.root / "nats"

    @property
    def valkey_dir(self) -> Path:
        """Valkey's working directory (nothing is persisted)."""
        return self.root / "valkey"

    def log_file(self, name: str) -> Path:
        """Log file of one server or service."""
        return self.logs_dir / f"{name}.log"

    def ensure(self) -> None:
        """Create the folders toko writes to."""
        for folder in (self.root, self.run_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
