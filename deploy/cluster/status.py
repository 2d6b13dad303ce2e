"""`hubbub cluster status`: the nodes a running cluster registered in ZooKeeper (with their
load) and who owns which partitions, read from ZooKeeper itself (not from the launcher), with
the addresses `hubbub cluster up` left in its cluster.json."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from deploy.cluster.launcher import STATE_FILE
from discovery.model import NodeInfo
from discovery.zk_ownership import ZkOwnership
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_registry import ZkRegistry
from kernel.errors import NotFound
from kernel.ownership import PartitionMap


def read_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / STATE_FILE
    if not path.exists():
        raise NotFound(
            f"no cluster runs from {data_dir} (no {STATE_FILE}; start one with `hubbub cluster up`)"
        )
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def partition_ranges(partitions: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2,5,7-8": a share of 1024 partitions on one line."""
    runs: list[list[int]] = []
    for p in sorted(partitions):
        if runs and runs[-1][1] == p - 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def render(state: dict[str, Any], nodes: list[NodeInfo], current: PartitionMap) -> str:
    lines = [f"ZooKeeper {state['zookeeper_hosts']} (root {state['zookeeper_root']})"]
    if state.get("redis_url"):
        lines.append(f"Redis     {state['redis_url']}")
    pids = {p["name"]: p["pid"] for p in state["processes"]}
    lines.append("nodes:")
    for node in nodes:
        load = f"connections {node.connections}, {node.msgs_per_second:.1f} msg/s"
        flags = " DRAINING" if node.draining else ""
        address = node.ws_url or node.grpc_target
        pid = pids.get(node.node_id)
        lines.append(
            f"  {node.kind.value:<7} {node.node_id:<10} {address:<24} {load}{flags}"
            + (f" (pid {pid})" if pid else "")
        )
    for process in state["processes"]:
        if process["role"] in ("messaging", "presence", "discovery"):
            target = process[f"{process['role']}_target"]
            lines.append(f"  {process['role']:<18} {target:<24} (pid {process['pid']})")
    held: dict[str, list[int]] = defaultdict(list)
    for partition, owner in enumerate(current.owners):
        held[owner.router_id if owner is not None else "(nobody)"].append(partition)
    lines.append(f"partitions ({current.partitions}, map version {current.version}):")
    for router_id in sorted(held):
        epochs = [o.epoch for o in current.owners if o is not None and o.router_id == router_id]
        top = f", epochs up to {max(epochs)}" if epochs else ""
        lines.append(f"  {router_id:<10} {len(held[router_id]):>5}{top}: {partition_ranges(held[router_id])}")
    return "\n".join(lines)


async def cluster_status(data_dir: Path) -> str:
    state = read_state(data_dir)
    settings = ZooKeeperSettings(hosts=state["zookeeper_hosts"], root=state["zookeeper_root"])
    registry = await ZkRegistry.connect(settings)
    try:
        nodes = await registry.list_nodes()
    finally:
        await registry.close()
    ownership = await ZkOwnership.connect(settings, int(state["partitions"]))
    try:
        current = await ownership.current()
    finally:
        await ownership.close()
    return render(state, nodes, current)
