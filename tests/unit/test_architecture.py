"""The import contracts of DESIGN.md §4: services never import one another, the domain stays pure."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_every_service_is_named_in_the_independence_contract() -> None:
    services = sorted(p.name for p in (ROOT / "src/toko/services").iterdir() if (p / "__init__.py").exists())
    contracts = (ROOT / "pyproject.toml").read_text()
    for service in services:
        assert f'"toko.services.{service}"' in contracts, f"{service} is missing from the import contracts"
