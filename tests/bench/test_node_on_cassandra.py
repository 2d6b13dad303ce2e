"""`hubbub bench suite --store cassandra`'s node: `hubbub up` with its log on a local
Cassandra 1.2 started beside it; a tiny W1 step through it loses nothing, and the sampler
reports the node's and Cassandra's CPU apart."""

from __future__ import annotations

from bench.cluster_report import store_section
from bench.cluster_sampler import ClusterSampler
from bench.engine import Engine
from bench.engine_plan import Plan, pairs
from bench.node import NodeOptions, hubbub_node
from bench.stepped import run_steps


def test_a_w1_step_on_the_cassandra_node_is_whole_and_costed_per_process() -> None:
    with hubbub_node(NodeOptions(store="cassandra")) as server:
        assert list(server.companions) == ["cassandra"]
        sampler = ClusterSampler({"node": [server.pid], **server.companions})
        with sampler, Engine(Plan(server.url, pairs("tc", 4)), processes=1, desc="test") as engine:
            (step,) = run_steps(engine, [20.0], seconds=1.0, drain_s=60.0, sampler=sampler, label="w1")
    assert step["received"] == step["expected_deliveries"] == step["acked"] == step["sent"] > 0
    assert (step["lost"], step["duplicated"], step["reordered"], step["errors"]) == (0, 0, 0, 0)
    assert step["roles_cpu_s"]["cassandra"] > 0  # the appends went to Cassandra
    assert step["roles_cpu_s"]["node"] > 0
    report = "\n".join(store_section({"workloads": {"w1": {"steps": [step]}}}))
    assert "| cassandra |" in report and "| node |" in report
