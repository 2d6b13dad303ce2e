"""The discovery admin CLI (`hubbub admin ...`, also `hubbub discovery ...`): list nodes, see
where a user would land, drain, undrain and weigh nodes, list the partitions and move one,
against a running Discovery service (a single node's or a cluster's) over gRPC."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from discovery.convert import KIND_TO_PROTO
from discovery.model import NodeKind
from discovery.rules import MAX_WEIGHT
from kernel.config import default_data_dir
from kernel.errors import ErrorCode, HubbubError, InvalidArgument, Unavailable
from kernel.grpc_boundary import call
from kernel.grpc_server import insecure_channel
from protos import discovery_pb2, discovery_pb2_grpc, router_pb2

TARGET_ENV = "HUBBUB_DISCOVERY_TARGET"
SECRET_ENV = "HUBBUB_INTERNAL_SECRET"
SECRET_FILE = "internal_secret"  # left in the data dir by `hubbub up` (0600)
DEFAULT_TARGET = "127.0.0.1:8767"  # `hubbub up` binds discovery here (deploy NodeConfig)
CALL_TIMEOUT_S = 10.0
MOVE_TIMEOUT_S = 60.0  # a handoff waits for the partition's in-flight sends
COLUMNS = (
    "NODE", "KIND", "GRPC", "WS", "CONNS", "CAPACITY", "WEIGHT",
    "DRAINING", "PARTITIONS", "EPOCH", "MSG/S", "ZONE",
)  # fmt: skip
PARTITION_COLUMNS = ("PARTITION", "OWNER", "TARGET", "EPOCH", "PLACED")
_KIND_NAME = {value: kind.value for kind, value in KIND_TO_PROTO.items()}


def build_parser(prog: str = "hubbub discovery") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument(
        "--target",
        default=os.environ.get(TARGET_ENV, DEFAULT_TARGET),
        help=f"discovery host:port (default: ${TARGET_ENV} or {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("HUBBUB_DATA_DIR") or str(default_data_dir()),
        help=f"where `hubbub up` left the internal secret (default: $HUBBUB_DATA_DIR or "
        f"{default_data_dir()}; ${SECRET_ENV} wins)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    nodes = commands.add_parser("nodes", help="list registered nodes")
    nodes.add_argument("--kind", choices=[k.value for k in NodeKind], help="only nodes of this kind")
    assign = commands.add_parser("assign", help="the edge a user would be sent to now")
    assign.add_argument("user", help="user id to place")
    drain = commands.add_parser(
        "drain",
        help="stop assigning a node to new clients; a drained edge tells its clients to move "
        "(see the note it prints)",
    )
    drain.add_argument("node_id", help="node to drain (see `nodes`)")
    undrain = commands.add_parser("undrain", help="let a drained node take new clients again")
    undrain.add_argument("node_id", help="node to undrain (see `nodes`)")
    weight = commands.add_parser(
        "weight",
        help="set an operator's weight for a node: discovery sends an edge clients in proportion "
        "to capacity x weight (1.0 = normal; kept in ZooKeeper on a cluster, it outlives restarts)",
    )
    weight.add_argument("node_id", help="node to weigh (see `nodes`)")
    weight.add_argument("weight", type=float, help=f"above 0, at most {MAX_WEIGHT:g}")
    commands.add_parser("partitions", help="each partition's owner and epoch (and placement)")
    move = commands.add_parser(
        "move",
        aliases=["move-partition"],
        help="hand one partition to another router (planned: the old owner finishes its in-flight "
        "sends; refused ones are re-sent by the edges). On a cluster the partition stays placed there",
    )
    move.add_argument("partition", type=int, help="partition number, 0..P-1")
    move.add_argument("router_id", help="the new owner (router-1, router-2, ...)")
    return parser


def format_table(nodes: Sequence[discovery_pb2.Node]) -> str:
    rows = [COLUMNS] + [
        (
            n.node_id,
            _KIND_NAME.get(n.kind, str(n.kind)),
            n.grpc_target or "-",
            n.ws_url or "-",
            str(n.connections),
            str(n.capacity) if n.capacity else "-",
            f"{n.weight or 1.0:g}",
            "yes" if n.draining else "no",
            partition_ranges(n.partitions),
            str(n.epoch),
            f"{n.msgs_per_second:.1f}",
            n.zone or "-",
        )
        for n in nodes
    ]
    return aligned(rows)


def aligned(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def format_partitions(listing: discovery_pb2.PartitionList) -> str:
    """One row per partition, unowned ones included (OWNER "-": between two owners)."""
    owners = {o.partition: o for o in listing.map.owners}
    placed = {p.partition: p.router_id for p in listing.placements}
    rows: list[Sequence[str]] = [PARTITION_COLUMNS]
    for partition in range(listing.map.partitions):
        owner = owners.get(partition)
        rows.append(
            (
                str(partition),
                owner.router_id if owner else "-",
                owner.target if owner else "-",
                str(owner.epoch) if owner else "-",
                placed.get(partition, "-"),
            )
        )
    return aligned(rows)


def partition_ranges(partitions: Sequence[int]) -> str:
    """0,1,2,3,7 -> "0-3,7" (a router of a 1024-partition node owns hundreds); "-" for none."""
    spans: list[str] = []
    ordered = sorted(partitions)
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            first, last = ordered[start], ordered[i - 1]
            spans.append(str(first) if first == last else f"{first}-{last}")
            start = i
    return ",".join(spans) or "-"


def drain_note(node: discovery_pb2.Node, edges: Sequence[discovery_pb2.Node]) -> str:
    """What draining does, said where the operator looks."""
    if not node.draining:
        return f"note: discovery assigns {node.node_id} to new clients again; it tells nobody more to move."
    if node.kind != discovery_pb2.NODE_KIND_EDGE:
        return f"note: discovery no longer assigns {node.node_id} anything new."
    note = (
        f"note: discovery no longer assigns {node.node_id} to new clients, and {node.node_id} tells "
        "its clients to reconnect elsewhere (a Reconnect frame, spread over its drain_period_ms; "
        "those still there drain_close_after_ms later are closed with 4010)."
    )
    if not [e for e in edges if e.node_id != node.node_id and not e.draining]:
        note += (
            f" No other edge takes clients: they come back to {node.node_id} until one does "
            f"(`undrain {node.node_id}`, or `hubbub up --edges 2`), and `assign` answers UNAVAILABLE."
        )
    return note


def _why_no_edge(edges: Sequence[discovery_pb2.Node]) -> str:
    if not edges:
        return "no edge is registered"
    draining = [e.node_id for e in edges if e.draining]
    if len(draining) == len(edges):
        return (
            f"every edge is draining ({', '.join(draining)}); `hubbub discovery undrain NODE` lets one "
            "take new clients again"
        )
    return "no edge can take new clients"


async def _list(
    stub: discovery_pb2_grpc.DiscoveryAsyncStub, kind: discovery_pb2.NodeKind.ValueType
) -> Sequence[discovery_pb2.Node]:
    request = discovery_pb2.ListNodesRequest(kind=kind)
    listing: discovery_pb2.NodeList = await call(stub.ListNodes(request, timeout=CALL_TIMEOUT_S))
    return listing.nodes


def internal_secret(data_dir: str) -> str:
    """Listing and draining need the deployment's internal secret: from the environment, or
    the file `hubbub up` keeps in its data dir (never a flag: argv is public)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = Path(data_dir) / SECRET_FILE
    try:
        return path.read_text().strip()
    except OSError:
        return ""


async def run(args: argparse.Namespace) -> str:
    """The command's output; raises HubbubError for anything the server refused."""
    async with insecure_channel(args.target, internal_secret(args.data_dir)) as channel:
        stub = discovery_pb2_grpc.DiscoveryStub(channel)
        if args.command == "nodes":
            kind = KIND_TO_PROTO[NodeKind(args.kind)] if args.kind else discovery_pb2.NODE_KIND_UNSPECIFIED
            return format_table(await _list(stub, kind))
        if args.command == "assign":
            request = discovery_pb2.AssignEdgeRequest(user_id=args.user)
            try:
                assignment = await call(stub.AssignEdge(request, timeout=CALL_TIMEOUT_S))
            except HubbubError as exc:
                if exc.code is not ErrorCode.UNAVAILABLE:
                    raise
                edges = await _list(stub, discovery_pb2.NODE_KIND_EDGE)
                raise Unavailable(f"{exc.message}: {_why_no_edge(edges)}") from exc
            return format_table([assignment.edge])
        if args.command == "partitions":
            request_list = discovery_pb2.ListPartitionsRequest()
            return format_partitions(await call(stub.ListPartitions(request_list, timeout=CALL_TIMEOUT_S)))
        if args.command == "weight":
            request_weight = discovery_pb2.SetWeightRequest(node_id=args.node_id, weight=args.weight)
            return format_table([await call(stub.SetWeight(request_weight, timeout=CALL_TIMEOUT_S))])
        if args.command in ("move", "move-partition"):
            if args.partition < 0:
                raise InvalidArgument("partition must be 0 or more")
            request_move = router_pb2.MovePartitionRequest(partition=args.partition, router_id=args.router_id)
            owner = await call(stub.MovePartition(request_move, timeout=MOVE_TIMEOUT_S))
            return (
                f"partition {owner.partition}: owner {owner.router_id} ({owner.target}) epoch {owner.epoch}"
            )
        draining = args.command == "drain"
        request_drain = discovery_pb2.SetDrainingRequest(node_id=args.node_id, draining=draining)
        node = await call(stub.SetDraining(request_drain, timeout=CALL_TIMEOUT_S))
        print(drain_note(node, await _list(stub, discovery_pb2.NODE_KIND_EDGE)), file=sys.stderr)
        return format_table([node])


def main(argv: list[str] | None = None, prog: str = "hubbub discovery") -> int:
    """0 on success, 1 when the service refused or could not be reached, 2 on bad usage."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad usage
        return exc.code if isinstance(exc.code, int) else 2
    try:
        output = asyncio.run(run(args))
    except HubbubError as exc:
        print(f"error: {exc.code.value}: {exc.message} (discovery at {args.target})", file=sys.stderr)
        return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
