"""Process-level tuning for long-running hubbub servers.

The cyclic GC's full collections walk every live object: a node holding thousands of
connection objects paused 15-20 ms per gen-2 pass, straight into tail latency.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000


def settle_after_startup() -> None:
    """Call once the servers are up: move start-up objects (modules, stubs, config) out of
    the collector's reach and collect young objects less often (the servers' per-message
    garbage is mostly acyclic and freed by reference counting)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
