"""CPU and RSS of process trees over time, sampled from a thread of the bench's parent: the
server's tree (the node and every child it spawns) and the generator's (this process and its
children, less the server's), so the report shows what each side cost.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil

SAMPLE_EVERY_S = 0.25
TREE_EVERY_READS = 8
"""Who is in a tree is looked up again every 8th reading (2 s), not at each: the lookup reads
every process's /proc entry on the machine, and it cost the bench's parent (counted as the
generator) ~6% of a core. A child is found at most that late; its CPU is cumulative, so none
of it is lost, only counted in a later sample."""


class Counter(Protocol):
    def read(self) -> tuple[float, int]:
        """(CPU seconds so far, RSS bytes now) of what is sampled as the server."""
        ...


@dataclass
class TreeCounter:
    """Cumulative CPU seconds and current RSS of a process tree. CPU of children that have
    exited is kept (their last reading), so the total never goes backwards."""

    root_pid: int
    exclude_root_pid: int | None = None
    also_exclude: tuple[int, ...] = ()
    """More trees left out (a cluster's processes, children of the bench like the generator)."""
    _cpu_by_pid: dict[int, float] = field(default_factory=dict)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    _members: list[psutil.Process] = field(default_factory=list)
    _reads: int = 0

    def _cached_tree(self) -> list[psutil.Process]:
        if self._reads % TREE_EVERY_READS == 0 or not self._members:
            self._members = self._tree()
        self._reads += 1
        return self._members

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        roots = [pid for pid in (self.exclude_root_pid, *self.also_exclude) if pid is not None]
        if roots:
            excluded = set(roots)
            for pid in roots:
                with contextlib.suppress(psutil.NoSuchProcess):
                    excluded |= {p.pid for p in psutil.Process(pid).children(recursive=True)}
            procs = [p for p in procs if p.pid not in excluded]
        # Reuse Process objects: psutil tells a reused pid from the original by its start time.
        return [self._procs.setdefault(p.pid, p) for p in procs]

    def read(self) -> tuple[float, int]:
        """(CPU seconds so far, RSS bytes now)."""
        rss = 0
        for proc in self._cached_tree():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    self._cpu_by_pid[proc.pid] = times.user + times.system
                    rss += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return sum(self._cpu_by_pid.values()), rss


@dataclass
class Sample:
    t_s: float  # since the sampler started
    server_cpu_pct: float  # 100 = one core busy
    server_cpu_s: float  # CPU seconds the server's tree used in this interval
    server_rss_mib: float
    generator_cpu_pct: float
    label: str
    generator_cpu_s: float = 0.0  # CPU seconds the generator's side used in this interval
    roles_cpu_s: dict[str, float] = field(default_factory=dict)  # per role, on a cluster


class ResourceSampler:
    """Samples the server's and the generator's trees every `every_s` on a daemon thread;
    `label` tags samples with the workload/step running at the time."""

    def __init__(
        self,
        server_pid: int,
        every_s: float = SAMPLE_EVERY_S,
        start: float | None = None,
        sink: list[dict[str, Any]] | None = None,
    ) -> None:
        self.sink = sink  # where the samples go on exit (a suite's timeline across servers)
        self.server: Counter = TreeCounter(server_pid)
        self.generator = TreeCounter(os.getpid(), exclude_root_pid=server_pid)
        self.every_s = every_s
        self.label = ""
        self.samples: list[Sample] = []
        self._t0 = time.monotonic() if start is None else start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.sink is not None:
            self.sink.extend(self.as_list())

    def _run(self) -> None:
        last_t = time.monotonic()
        last_server, _ = self.server.read()
        last_generator, _ = self.generator.read()
        while not self._stop.wait(self.every_s):
            now = time.monotonic()
            server_cpu, server_rss = self.server.read()
            generator_cpu, _ = self.generator.read()
            wall = max(1e-6, now - last_t)
            self.samples.append(
                Sample(
                    t_s=round(now - self._t0, 3),
                    server_cpu_pct=round(100 * (server_cpu - last_server) / wall, 1),
                    server_cpu_s=round(server_cpu - last_server, 4),
                    server_rss_mib=round(server_rss / 2**20, 2),
                    generator_cpu_pct=round(100 * (generator_cpu - last_generator) / wall, 1),
                    label=self.label,
                    generator_cpu_s=round(generator_cpu - last_generator, 4),
                    roles_cpu_s=self.roles_cpu_s(),
                )
            )
            last_t, last_server, last_generator = now, server_cpu, generator_cpu

    def roles_cpu_s(self) -> dict[str, float]:
        """CPU seconds per role since the last sample (none for one server; bench/cluster_sampler.py)."""
        return {}

    def server_rss_bytes(self) -> int:
        """A fresh reading, for before/after figures (W3)."""
        return self.server.read()[1]

    def window(self, label: str) -> dict[str, float]:
        """Mean CPU of both sides and peak server RSS over the samples tagged `label`."""
        tagged = [s for s in self.samples if s.label == label]
        return cpu_window(tagged)

    def as_list(self) -> list[dict[str, Any]]:
        return [s.__dict__ for s in self.samples]


def cpu_window(samples: list[Sample]) -> dict[str, float]:
    """Mean CPU % of both sides, each side's CPU seconds in all, and the server's peak RSS."""
    if not samples:
        keys = ("server_cpu_pct", "server_cpu_s", "generator_cpu_pct", "generator_cpu_s")
        return {**dict.fromkeys(keys, 0.0), "server_rss_mib_max": 0.0}
    n = len(samples)
    return {
        "server_cpu_pct": round(sum(s.server_cpu_pct for s in samples) / n, 1),
        "server_cpu_s": round(sum(s.server_cpu_s for s in samples), 3),
        "generator_cpu_pct": round(sum(s.generator_cpu_pct for s in samples) / n, 1),
        "generator_cpu_s": round(sum(s.generator_cpu_s for s in samples), 3),
        "server_rss_mib_max": max(s.server_rss_mib for s in samples),
    }
