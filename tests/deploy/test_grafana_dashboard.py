"""The Grafana dashboard in deploy/ is valid JSON and charts only metrics hubbub defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import edge.metrics
import kernel.metrics
import messaging.metrics
import presence.metrics
import router.metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "hubbub-dashboard.json"
ROOMS = (edge.metrics, kernel.metrics, messaging.metrics, presence.metrics, router.metrics)


SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def defined_series() -> set[str]:
    """Every series name the rooms' metrics expose (a counter's _total, a histogram's _bucket,
    ...), also of labelled metrics that have no series yet."""
    assert ROOMS  # imported for their definitions, which land in the default registry
    return {
        family.name + suffix for family in REGISTRY.collect() for suffix in SUFFIXES.get(family.type, ("",))
    }


def test_every_expression_names_a_defined_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs, "the dashboard charts something"
    named = {name for expr in exprs for name in re.findall(r"\bhubbub_\w+", expr)}
    assert named, "the expressions name hubbub's metrics"
    unknown = named - defined_series()
    assert not unknown, f"the dashboard names metrics nobody defines: {sorted(unknown)}"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
