"""Generate Python code, mypy stubs and the descriptor set from proto/.

Usage: python scripts/protogen.py [--check]

With --check, generate into a temporary folder and fail if anything differs
from what is committed (CI's drift check).
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
SRC = ROOT / "src"
DESCRIPTOR_SET = "toko/descriptors.binpb"


def generated_files(out: Path) -> list[Path]:
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    return [f for f in files if "_pb2" in f.name or f.name == "descriptors.binpb" or _is_contract_init(f)]


def _is_contract_init(path: Path) -> bool:
    # The packages of generated code: toko/<service>/__init__.py and toko/<service>/v1/__init__.py.
    if path.name != "__init__.py":
        return False
    version_package = len(path.parts) == 4 and path.parts[2] == "v1"
    service_package = len(path.parts) == 3 and (PROTO / path.parent).is_dir()
    return version_package or service_package


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    googleapis = Path(annotations_pb2.__file__).resolve().parent.parent.parent
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    (out / "toko").mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{googleapis}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={Path(sys.executable).parent / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={Path(sys.executable).parent / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        f"--descriptor_set_out={out / DESCRIPTOR_SET}",
        "--include_imports",
        "--include_source_info",
        *protos,
    ]
    # protoc-gen-mypy announces every file it writes on stderr; show the output only on failure.
    result = subprocess.run(command, check=False, cwd=PROTO, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.returncode)
    for proto in protos:
        package_dir = out / Path(proto).parent
        for folder in (package_dir, package_dir.parent):
            init = folder / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated from proto/; do not edit."""\n')


def main() -> int:
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        produced = generated_files(out)
        if check:
            drift = [
                str(f)
                for f in produced
                if not (SRC / f).exists() or not filecmp.cmp(out / f, SRC / f, shallow=False)
            ]
            stale = [
                str(f.relative_to(SRC))
                for f in SRC.rglob("*_pb2*.py*")
                if f.relative_to(SRC) not in set(produced)
            ]
            if drift or stale:
                print("generated code is out of date; run `make proto`:", *drift, *stale, sep="\n  ")
                return 1
            print(f"generated code is current ({len(produced)} files)")
            return 0
        for stale_file in SRC.rglob("*_pb2*.py*"):
            if stale_file.relative_to(SRC) not in set(produced):
                stale_file.unlink()
        for f in produced:
            (SRC / f).parent.mkdir(parents=True, exist_ok=True)
            if f.name == "__init__.py" and (SRC / f).exists():
                continue
            shutil.copyfile(out / f, SRC / f)
        print(f"generated {len(produced)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
