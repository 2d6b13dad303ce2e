"""The capacity plan's arithmetic: measured µs per message times the peak, over a core."""

from __future__ import annotations

from typing import Any

from bench.capacity import Load, Sizing, plan


def test_each_role_is_sized_from_its_cost_per_message_and_per_extra_delivery() -> None:
    results: dict[str, Any] = {
        "workloads": {"w3": {"kib_per_conn": 10.0}},
        "cluster": {
            "roles_us": {
                # W1: a send and its one delivery; W2: each further delivery.
                "w1": {"us": {}, "us_above_idle": {"edge": 100.0, "router": 50.0, "redis": 10.0}},
                "w2": {"us": {}, "us_above_idle": {"edge": 10.0, "router": 5.0, "redis": 1.0}},
                "w3": {"us": {}, "us_above_idle": {"discovery": 500.0}},
            },
            "redis_ops": {"w1": {"per_unit": 2.0}, "w2": {"per_unit": 0.5}},
        },
    }
    load = Load(users=1_000_000, msgs_per_s=100_000, deliveries_per_msg=3, connects_per_s=1000)
    rows = plan(results, load, Sizing(cpu_utilisation=0.5, edge_memory_gib=1.0))["rows"]
    # edge: 100,000 x (100 + 2 x 10) µs = 12 cores, at 50% = 24 processes; memory alone: 10 GB / 1 GiB.
    assert rows["edge"] == {"cores": 12.0, "count": 24, "by_memory": 10, "connections_each": 41667}
    assert rows["router"] == {"cores": 6.0, "count": 12}
    assert rows["discovery"] == {"cores": 0.5, "count": 2}
    # Redis: 2 + 2 x 0.5 = 3 commands a message, 300,000/s over 100,000 a shard.
    assert rows["redis"]["ops_per_s"] == 300_000 and rows["redis"]["count"] == 3
    assert rows["zookeeper"] == {"writes_per_s": 36, "count": 5}  # one load report per node per second
    assert rows["scylladb"]["count"] % 3 == 0 and rows["cassandra"]["count"] >= rows["scylladb"]["count"]
