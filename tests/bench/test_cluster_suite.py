"""`hubbub bench suite --quick --cluster`, tiny: a real local cluster (Redis, a 3-node
ZooKeeper ensemble, 2 edges, 2 routers, messaging, presence, discovery) started for the run,
clients sent to their edges by discovery; nothing lost, and every role's cost reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cluster_costs import TOTAL
from bench.cluster_report import PLOT
from bench.cluster_sampler import ROLES
from bench.suite import SuiteConfig, run_suite


@pytest.mark.parametrize("store", ["sqlite", "cassandra"])
def test_quick_cluster_suite_reports_each_roles_cpu_per_message(tmp_path: Path, store: str) -> None:
    """With --store cassandra the cluster's messaging keeps its log on a local Cassandra 1.2,
    sampled as a role of its own (and only W1 runs: the path is what is checked)."""
    roles = ROLES if store == "cassandra" else tuple(r for r in ROLES if r != "cassandra")
    config = SuiteConfig.quick_config(
        store=store,
        workloads=("w1", "w3") if store == "sqlite" else ("w1",),
        w1_users=8,
        w1_rates=(20.0, 40.0),
        w1_seconds=1.0,
        drain_s=30.0,
        w3_connections=20,
        processes=1,
        cluster=(2, 2),
    )
    directory = run_suite(config, tmp_path, notes=["test"])
    results = json.loads((directory / "results.json").read_text())
    assert results["errors"] == {}
    cluster = results["cluster"]
    assert cluster["layout"]["processes"] == {
        "edge": 2, "router": 2, "messaging": 1, "presence": 1, "discovery": 1, "media": 1, "redis": 1,
        "zookeeper": 3,
        **({"cassandra": 1} if store == "cassandra" else {}),
    }  # fmt: skip
    for step in cluster["workloads"]["w1"]["steps"]:
        assert step["status"] == "ok"
        assert step["received"] == step["expected_deliveries"] == step["sent"] > 0
        assert (step["lost"], step["duplicated"], step["reordered"]) == (0, 0, 0)
    if store == "sqlite":
        assert cluster["workloads"]["w3"]["connected"] == 20
    w1_costs = cluster["roles_us"]["w1"]
    assert w1_costs["unit"] == "message"
    assert set(w1_costs["us"]) == {*roles, TOTAL}
    crossed = ("edge", "router", "messaging", *(("cassandra",) if store == "cassandra" else ()))
    for role in crossed:  # every message crosses these processes
        assert w1_costs["us"][role] > 0
    assert set(cluster["idle_cpu_pct"]) == set(roles)
    assert cluster["redis_ops"]["w1"]["commands"] > 0  # the edges register their sessions there
    report = (directory / "report.md").read_text()
    assert "## Cluster: CPU µs per unit of work, by role" in report
    for role in roles:
        assert f"| {role} |" in report
    assert "| single node (same run) |" in report
    assert (directory / PLOT).is_file()
