"""`hubbub cluster up` (start a local cluster, print where clients connect, stop it all on
Ctrl-C or SIGTERM) and `hubbub cluster status` (nodes with load, partitions and owners)."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType

from deploy.cluster.config import ENV_PREFIX, ClusterConfig, default_cluster_dir
from deploy.cluster.launcher import RunningCluster, start_cluster
from deploy.local_servers.process import ServerStartError
from kernel.config import add_config_flags, env_names, flag_values, from_env, unknown_env
from kernel.errors import HubbubError, InvalidArgument


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: stop whatever runs."""


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def banner(cluster: RunningCluster) -> str:
    data = cluster.config.data_dir.absolute()
    edges, routers = len(cluster.of_role("edge")), len(cluster.of_role("router"))
    lines = [
        f"hubbub cluster is up ({edges} edges, {routers} routers).",
        f"  discovery (gRPC, AssignEdge):  {cluster.discovery_target}",
    ]
    lines += [
        f"  {p.name} WebSocket:{' ' * (18 - len(p.name))}{p.addresses['ws_url']}"
        for p in cluster.of_role("edge")
    ]
    lines += [
        f"  blob server (attachments):     {cluster.process('media').addresses['media_url']}",
        f"  ZooKeeper:                     {cluster.zookeeper_hosts}",
        f"  Redis:                         {cluster.redis.url if cluster.redis else '(not started)'}",
        f"  Cassandra (messages):          {cluster.cassandra_hosts or '(not started: SQLite)'}",
        f"  data and logs:                 {data}",
        f"Status: hubbub cluster status --data-dir {shlex.quote(str(data))}",
        f"Chat:   hubbub chat --url {cluster.ws_urls[0]} --user alice --to bob",
        "Ctrl-C stops it all.",
    ]
    return "\n".join(lines)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="a local multi-process cluster (docs/cluster.md)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser(
        "up",
        help="start ZooKeeper, Redis and every service as its own process",
        description="Start on this machine a ZooKeeper ensemble, a Redis server, messaging, presence, "
        "N routers, M edges, the blob server and discovery, each its own process; Ctrl-C stops them all.",
    )
    add_config_flags(up, ClusterConfig, prefix=ENV_PREFIX, hidden_defaults=("data_dir",))
    status = sub.add_parser("status", help="nodes with their load, partitions and their owners")
    status.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"the cluster's data dir (default {default_cluster_dir()})",
    )
    return parser


def _up(args: argparse.Namespace, prog: str) -> int:
    unknown = unknown_env(env_names(ClusterConfig, ENV_PREFIX), prefix=ENV_PREFIX)
    try:
        if unknown is not None:
            raise unknown
        config = from_env(ClusterConfig, prefix=ENV_PREFIX, **flag_values(args, ClusterConfig))
    except InvalidArgument as exc:
        print(f"{prog} up: {exc.message}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, _stop_on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    cluster: RunningCluster | None = None
    try:
        print(f"starting a cluster in {config.data_dir.absolute()} ...", file=sys.stderr, flush=True)
        cluster = start_cluster(config)
        print(banner(cluster), flush=True)
        while True:
            signal.pause()
    except Stopped:
        return 0
    except (ServerStartError, HubbubError, OSError) as exc:
        print(f"{prog} up: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        # Ignore further signals while stopping: a second Ctrl-C must not leave orphans.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        if cluster is not None:
            cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _status(args: argparse.Namespace, prog: str) -> int:
    from deploy.cluster.status import cluster_status

    try:
        print(asyncio.run(cluster_status(args.data_dir or default_cluster_dir())))
    except HubbubError as exc:
        print(f"{prog} status: {exc.message}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str], prog: str = "hubbub cluster") -> int:
    args = _parser(prog).parse_args(argv)
    if args.command == "up":
        return _up(args, prog)
    return _status(args, prog)
