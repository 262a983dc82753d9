"""scripts/new_service.py, run on a copy of the checkout: its skeleton passes every check with no hand edit.

The copy holds the checkout's files (tracked, and new ones git would track) and is checked with this
environment's tools, ``PYTHONPATH`` pointing at the copy's ``src`` (ahead of the editable install).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from toko.infra.services import SERVICES

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
NAME = "sample"


def _checkout_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


def _run(copy: Path, *command: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKO_")} | {
        "PYTHONPATH": str(copy / "src")
    }
    return subprocess.run(
        command, cwd=copy, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the checkout with the skeleton of a service called "sample" written into it."""
    copy = tmp_path_factory.mktemp("checkout")
    for name in _checkout_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    if (ROOT / ".mypy_cache").is_dir():
        # Only to save time: mypy checks again whatever differs from what the cache knows.
        shutil.copytree(ROOT / ".mypy_cache", copy / ".mypy_cache")
    generated = _run(copy, sys.executable, "scripts/new_service.py", NAME)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    yield copy
    shutil.rmtree(copy, ignore_errors=True)


def test_the_skeleton_is_complete_and_registered(copy: Path) -> None:
    package = copy / "src/toko/services" / NAME
    for module in ("domain", "handlers", "repository", "grpc_api", "mapping", "consumers", "bootstrap"):
        assert (package / f"{module}.py").is_file(), module
    assert (package / "migrations/versions/0001_notes.py").is_file()
    assert (copy / f"src/toko/{NAME}/v1/{NAME}_pb2_grpc.py").is_file()  # the code generation ran
    registry = (copy / "src/toko/infra/services.py").read_text()
    assert registry.index(f'"toko.services.{NAME}"') < registry.index('ServiceSpec("gateway"')
    highest = max(port for spec in SERVICES for port in (spec.port, spec.http_port) if port and port >= 50060)
    assert f"        {highest + 1},\n" in registry  # the port after the highest one taken
    assert not (ROOT / "src/toko/services" / NAME).exists()  # the checkout itself is untouched


@pytest.mark.parametrize(
    "check",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
        ("lint-imports",),
        ("buf", "lint", "src/toko/descriptors.binpb#format=binpb", "--path", "toko", "--config", "buf.yaml"),
    ],
    ids=["ruff", "ruff-format", "mypy", "lint-imports", "buf-lint"],
)
def test_the_skeleton_passes_the_checks(copy: Path, check: tuple[str, ...]) -> None:
    result = _run(copy, str(BIN / check[0]), *check[1:])

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_code_is_current(copy: Path) -> None:
    result = _run(copy, sys.executable, "scripts/protogen.py", "--check")

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_skeleton_tests_and_the_architecture_test_pass(copy: Path) -> None:
    result = _run(
        copy,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"tests/unit/{NAME}",
        f"tests/integration/{NAME}",
        "tests/unit/test_architecture.py",
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Notes", "is not a lowercase identifier"),
        ("2fa", "is not a lowercase identifier"),
        ("flash-sale", "is not a lowercase identifier"),
        ("import", "is a Python keyword"),
        ("product", "is already a service"),
        (NAME, "is already a service"),
        ("platform", "is taken: src/toko/platform exists"),
        ("cli", "is taken: src/toko/cli.py exists"),
        ("flash__sale", "is not a lowercase identifier"),
        ("sale_", "is not a lowercase identifier"),
    ],
)
def test_a_bad_name_is_refused_in_one_line_and_nothing_is_written(copy: Path, name: str, why: str) -> None:
    before = _files(copy)

    result = _run(copy, sys.executable, "scripts/new_service.py", name)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert why in result.stderr
    assert _files(copy) == before


def _files(copy: Path) -> list[str]:
    """The copy's files, but caches (Python writes bytecode on import)."""
    caches = {".mypy_cache", "__pycache__", ".ruff_cache"}
    return sorted(str(path.relative_to(copy)) for path in copy.rglob("*") if not caches & set(path.parts))


def test_a_shared_file_not_as_expected_stops_it_before_anything_is_written(copy: Path) -> None:
    readme = copy / "README.md"
    original = readme.read_text()
    readme.write_text(original.replace("| PostgreSQL 18 |", "| PostgreSQL |"))
    try:
        before = _files(copy)

        result = _run(copy, sys.executable, "scripts/new_service.py", "other")

        assert result.returncode == 1
        assert result.stderr.strip() == (
            "new_service: README.md's service map is not as expected: it has no '| PostgreSQL 18 |'"
        )
        assert _files(copy) == before
    finally:
        readme.write_text(original)
