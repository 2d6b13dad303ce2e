"""Prometheus metrics: the endpoint every hubbub process serves, the metrics the kernel itself
counts (errors by code), and the small helpers the rooms' metric modules share.

Each room names its metrics in its own `metrics.py` (edge, router, messaging, presence); all
use the process's default registry, which `serve_metrics` exposes on `/metrics`."""

from __future__ import annotations

from typing import Generic, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, start_http_server
from prometheus_client.metrics import MetricWrapperBase

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


ERRORS = Counter("hubbub_errors", "Error frames built for clients, by code, where raised", ["code"])
errors_by_code = ByLabel(ERRORS)


METRICS_KEY = "metrics:"
"""Prefix of a process's metrics URL among a node's addresses (`metrics:edge`, ...)."""


def serve_metrics(host: str, port: int) -> WSGIServer:
    """Serve this process's metrics on http://host:port/metrics from a daemon thread (port 0:
    any free port); `shutdown()` stops it."""
    server, _ = start_http_server(port, addr=host)
    return server


def metrics_url(host: str, server: WSGIServer) -> str:
    return f"http://{host}:{server.server_port}/metrics"
