"""Loaded by every Python process of a node the W3 bench starts with `--tracemalloc` (this
folder goes on PYTHONPATH): traces allocations and writes a snapshot on each SIGUSR2.

Not part of hubbub: without BENCH_TRACEMALLOC_DIR it does nothing (bench/memory_where.py).
"""

from __future__ import annotations

import os
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

_DIR = os.environ.get("BENCH_TRACEMALLOC_DIR", "")


def _dump(signum: int, frame: FrameType | None) -> None:
    """Snapshot to <dir>/<pid>-<n>.snap; written under a temporary name, then renamed, so a
    reader that sees the name sees the whole file."""
    folder = Path(_DIR)
    n = len(list(folder.glob(f"{os.getpid()}-*.snap")))
    path = folder / f"{os.getpid()}-{n}.snap"
    snapshot = tracemalloc.take_snapshot()
    snapshot.dump(str(path) + ".part")
    os.replace(str(path) + ".part", path)


if _DIR:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))
    signal.signal(signal.SIGUSR2, _dump)
