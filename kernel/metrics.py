"""Prometheus metrics: the endpoint every hubbub process serves, the metrics the kernel itself
counts (errors by code), and the small helpers the rooms' metric modules share.

Each room names its metrics in its own `metrics.py` (edge, router, messaging, presence); all
use the process's default registry, which `serve_metrics` exposes on `/metrics`."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar, cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.utils import floatToGoString

_bound_text = cast(Callable[[float], str], floatToGoString)  # `le` as the library writes it (untyped there)

M = TypeVar("M", bound=MetricWrapperBase)

METRICS_OFF = -1
"""`metrics_port` that serves no endpoint."""

# Latencies from well under a millisecond (a batch commit) to seconds (an overloaded node).
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Counts per batch or per fan-out: 1 to a 500-member group's sessions and beyond.
SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)


class ByLabel(Generic[M]):
    """A metric's child per label value, looked up once: `.labels()` takes a lock and builds a
    tuple on every call, too dear for a per-frame counter."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._children: dict[str, M] = {}

    def __call__(self, value: str) -> M:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = self._metric.labels(value)
        return child


class Count:
    """One counter's value, a plain int: bumping it takes no lock (`Counter.inc` takes one per
    call). Bumped from the event loop's thread; a scrape only reads it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class IntCounter:
    """A Prometheus counter with one label, counted in plain ints on the hot path and exported
    by a collector at scrape time (`hubbub_<name>_total{label=...}`), as `Counter` would."""

    def __init__(
        self, name: str, documentation: str, label: str, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self._name, self._documentation, self._label = name, documentation, label
        self._children: dict[str, Count] = {}
        registry.register(self)

    def __call__(self, value: str) -> Count:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = Count()
        return child

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, child in list(self._children.items()):
            family.add_metric([value], child.value)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, labels=[self._label])


class IntHistogram:
    """A Prometheus histogram kept as plain per-bucket counts (`Histogram.observe` takes a
    lock per bucket it walks), cumulated into `_bucket{le=...}` series at scrape time."""

    __slots__ = ("_bounds", "_counts", "_documentation", "_name", "_sum")

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry = REGISTRY
    ) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = tuple(float(bound) for bound in buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one: above every bound (+Inf)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterator[Metric]:
        counts, total = list(self._counts), 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
            total += count
            buckets.append((_bound_text(bound), total))
        family = HistogramMetricFamily(self._name, self._documentation)
        family.add_metric([], buckets, self._sum)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(self._name, self._documentation)


errors_by_code = IntCounter("hubbub_errors", "Error frames built for clients, by code, where raised", "code")


METRICS_KEY = "metrics:"
"""Prefix of a process's metrics URL among a node's addresses (`metrics:edge`, ...)."""


def serve_metrics(host: str, port: int) -> WSGIServer:
    """Serve this process's metrics on http://host:port/metrics from a daemon thread (port 0:
    any free port); `shutdown()` stops it."""
    server, _ = start_http_server(port, addr=host)
    return server


def metrics_url(host: str, server: WSGIServer) -> str:
    return f"http://{host}:{server.server_port}/metrics"
