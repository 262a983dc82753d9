"""What the sandbox's integration tests share besides fixtures: settings for a sandbox on free ports."""

from __future__ import annotations

from pathlib import Path

from toko.sandbox.settings import SandboxSettings


def sandbox_settings(data_dir: Path, **overrides: object) -> SandboxSettings:
    """Settings for a sandbox on free ports keeping its state in ``data_dir``."""
    return SandboxSettings.model_validate(
        {"port": 0, "smtp_port": 0, "data_dir": data_dir, "shutdown_grace_seconds": 1.0, **overrides}
    )
