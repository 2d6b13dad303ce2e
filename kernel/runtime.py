"""Process-level tuning for long-running hubbub servers.

The cyclic GC's full collections walk every live object: a node holding thousands of
connection objects paused 15-20 ms per gen-2 pass, straight into tail latency.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

GEN0_THRESHOLD = 10_000


def settle_after_startup() -> None:
    """Call once the servers are up: move start-up objects (modules, stubs, config) out of
    the collector's reach and collect young objects less often (the servers' per-message
    garbage is mostly acyclic and freed by reference counting)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a process's main coroutine on uvloop (less CPU per socket operation and timer than
    asyncio's own loop), or on asyncio's where uvloop is not installed: the one place every
    hubbub process (single node, its children, cluster processes) chooses its loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
