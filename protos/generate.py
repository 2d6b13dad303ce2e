"""Regenerate the Python code of every `.proto` in this folder.

Run `hubbub protos` (or `python -m protos.generate`); `--out DIR` writes elsewhere
(the staleness test generates into a temporary folder and compares).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PROTO_DIR.parent


def proto_files() -> list[str]:
    return sorted(f"protos/{p.name}" for p in PROTO_DIR.glob("*.proto"))


def generate(out_dir: Path) -> None:
    """Write `*_pb2.py`, `*_pb2_grpc.py` and their typed stubs under `out_dir/protos`."""
    (out_dir / "protos").mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    args = [
        "grpc_tools.protoc",
        f"-I{PROJECT_ROOT}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *proto_files(),
    ]
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)
    try:
        status = protoc.main(args)
    finally:
        os.chdir(cwd)
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")


def main(argv: list[str] | None = None, prog: str = "python -m protos.generate") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT, help=f"where protos/ is written (default {PROJECT_ROOT})"
    )
    generate(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
