"""CPU of a local cluster by role (edge, router, messaging, presence, discovery, media, Redis,
ZooKeeper): each role's processes sampled as bench/sampler.py samples a node's tree, so a
workload's step says what each role cost per message."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.sampler import ResourceSampler, TreeCounter

ROLES = ("edge", "router", "messaging", "presence", "discovery", "media", "redis", "zookeeper", "cassandra")
"""In the order the report lists them: the client-facing hop first, the servers last (Cassandra
only with `--store cassandra`)."""


@dataclass
class RoleCounter:
    """The processes of every role, read together; `read` is the whole cluster's (what the
    sampler calls the server), and remembers each role's share of it."""

    pids: Mapping[str, Sequence[int]]
    last: dict[str, float] = field(default_factory=dict)
    _trees: dict[str, list[TreeCounter]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._trees = {role: [TreeCounter(pid) for pid in pids] for role, pids in self.pids.items()}

    def read(self) -> tuple[float, int]:
        cpu = rss = 0.0
        for role, trees in self._trees.items():
            readings = [tree.read() for tree in trees]
            self.last[role] = sum(r[0] for r in readings)
            cpu += self.last[role]
            rss += sum(r[1] for r in readings)
        return cpu, int(rss)

    def all_pids(self) -> tuple[int, ...]:
        return tuple(pid for pids in self.pids.values() for pid in pids)


class ClusterSampler(ResourceSampler):
    """A ResourceSampler whose server is a whole cluster, with each sample's CPU split by role."""

    def __init__(
        self,
        pids: Mapping[str, Sequence[int]],
        start: float | None = None,
        sink: list[dict[str, Any]] | None = None,
    ) -> None:
        counter = RoleCounter(pids)
        counter.read()
        first = counter.all_pids()[0]
        super().__init__(first, start=start, sink=sink)
        self.server = counter
        self.roles = counter
        self.generator = TreeCounter(os.getpid(), exclude_root_pid=first, also_exclude=counter.all_pids())
        self._previous = dict(counter.last)

    def roles_cpu_s(self) -> dict[str, float]:
        now = dict(self.roles.last)
        delta = {role: round(cpu - self._previous.get(role, cpu), 4) for role, cpu in now.items()}
        self._previous = now
        return delta

    def window(self, label: str) -> dict[str, Any]:
        """The sampler's window, with `roles_cpu_s`: each role's CPU seconds over it."""
        tagged = [s for s in self.samples if s.label == label]
        roles = {role: round(sum(s.roles_cpu_s.get(role, 0.0) for s in tagged), 4)
                 for role in self.roles.pids}  # fmt: skip
        return {
            **super().window(label),
            "roles_cpu_s": roles,
            "window_s": round(len(tagged) * self.every_s, 2),
        }


def per_unit_us(roles_cpu_s: Mapping[str, float], units: float) -> dict[str, float]:
    """Each role's CPU µs per unit of work (a message sent, a delivery, a connection)."""
    if units <= 0:
        return {}
    return {role: round(cpu * 1e6 / units, 1) for role, cpu in roles_cpu_s.items()}
