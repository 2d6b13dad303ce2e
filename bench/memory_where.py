"""Where W3's bytes go (`hubbub bench connections --tracemalloc DIR`): a tracemalloc snapshot
of every process of the node before and after the idle connections open, and per process the
allocation sites that grew, per connection, beside what RSS grew (the rest is outside Python's
allocator: libuv's handles, the C libraries' own mallocs, allocator slack).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

SITE = Path(__file__).parent / "tracemalloc_site"
SNAPSHOT_TIMEOUT_S = 120.0  # a snapshot of a 10,000-connection process takes seconds
TOP = 25


def node_env(folder: Path, frames: int) -> tuple[tuple[str, str], ...]:
    """The environment that makes every process of the node trace (bench/tracemalloc_site)."""
    path = os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH", "")) if p)
    return (
        ("PYTHONPATH", path),
        ("BENCH_TRACEMALLOC_DIR", str(folder)),
        ("BENCH_TRACEMALLOC_FRAMES", str(frames)),
    )


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def role(process: psutil.Process) -> str:
    """The node's parent ("node") or the child's role, from its command line."""
    with contextlib.suppress(psutil.Error):
        if "deploy.child_process" in " ".join(process.cmdline()):
            return f"child {process.pid}"
    return f"node {process.pid}"


@dataclass
class Reading:
    """One process's snapshot file and RSS at one moment."""

    pid: int
    role: str
    rss: int
    path: Path


def take(pid: int, folder: Path) -> list[Reading]:
    """Ask every process of the tree for a snapshot (SIGUSR2); wait until each has written it."""
    readings = []
    for process in tree(pid):
        done = len(list(folder.glob(f"{process.pid}-*.snap")))
        process.send_signal(signal.SIGUSR2)
        path = folder / f"{process.pid}-{done}.snap"
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
        while not path.exists():  # the file appears, renamed, once it is whole
            if time.monotonic() > deadline:
                raise TimeoutError(f"no tracemalloc snapshot from {process.pid}: started without the hook?")
            time.sleep(0.1)  # polling a file another process writes
        readings.append(Reading(process.pid, role(process), process.memory_info().rss, path))
    return readings


@dataclass
class Site:
    where: str
    bytes_per_conn: float
    blocks_per_conn: float


def grown(before: Path, after: Path, connections: int, key: str = "lineno") -> tuple[float, list[Site]]:
    """Traced bytes per connection that the process grew by, and the sites, largest first."""
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = new.filter_traces(ignore).compare_to(old.filter_traces(ignore), key)
    total = sum(s.size_diff for s in stats) / connections
    sites = [
        Site(_where(s.traceback), s.size_diff / connections, s.count_diff / connections)
        for s in stats
        if s.size_diff > 0
    ]
    return total, sites


def _where(traceback: tracemalloc.Traceback) -> str:
    frames = [f"{_short(f.filename)}:{f.lineno}" for f in traceback]
    return " < ".join(frames)


def _short(filename: str) -> str:
    """A site's file without the prefixes every one shares (the venv, the stdlib, the tree)."""
    for marker in ("site-packages/", "/lib/python3.11/"):
        _, sep, tail = filename.partition(marker)
        if sep:
            return tail
    return filename.removeprefix(str(Path.cwd()) + "/")


def report(before: list[Reading], after: list[Reading], connections: int, key: str) -> Iterator[str]:
    """Markdown: per process, RSS and traced growth per connection, then the top sites."""
    by_pid = {r.pid: r for r in before}
    for new in after:
        old = by_pid.get(new.pid)
        if old is None:
            continue
        traced, sites = grown(old.path, new.path, connections, key)
        rss = (new.rss - old.rss) / connections
        yield f"### {new.role}: RSS +{rss:.0f} B/connection, traced +{traced:.0f} B/connection"
        yield f"(untraced: {rss - traced:.0f} B/connection)"
        yield ""
        yield "| bytes/conn | blocks/conn | where |"
        yield "|---:|---:|---|"
        for site in sites[:TOP]:
            yield f"| {site.bytes_per_conn:.0f} | {site.blocks_per_conn:.2f} | `{site.where}` |"
        yield ""
