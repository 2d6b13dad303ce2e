"""The open-file limit of the bench's processes: 100,000 connections need 100,000 descriptors in
the server and as many across the generator's processes, past the usual soft limit. Raised in
the bench's own process before it starts any other; children inherit it. Past the hard limit
only a process with CAP_SYS_RESOURCE may go (a container's `--ulimit nofile=...` sets it)."""

from __future__ import annotations

import resource
from pathlib import Path

WANTED = 262_144
"""Enough for W3's 100,000 connections in one process with room for the rest."""


def kernel_ceiling() -> int:
    """fs.nr_open: no process may hold more descriptors, whatever its limits say."""
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return WANTED


def raise_open_files(wanted: int = WANTED) -> int:
    """Raise RLIMIT_NOFILE to `wanted` (the hard limit too, where this process may: root), else
    as far as the hard limit allows. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, kernel_ceiling())
    if soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):  # not allowed past the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


SPARE = 1000
"""Descriptors a process keeps for everything but client connections (store, gRPC, logs)."""


def connections_allowed() -> int:
    """How many connections one process can hold under the limit in force (after raising it)."""
    return raise_open_files() - SPARE
