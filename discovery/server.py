"""Runs the Discovery service: its gRPC server over a given registry
(the registry is the caller's: it outlives the server and is closed by whoever made it)."""

from __future__ import annotations

from discovery.config import DiscoveryConfig
from discovery.interface import NodeRegistry
from discovery.servicer import DiscoveryServicer, MovePartition
from kernel.grpc_server import GrpcService, start_grpc_server
from protos import discovery_pb2_grpc

CLIENT_METHODS = frozenset({"/hubbub.v1.Discovery/AssignEdge"})


async def start_discovery(
    config: DiscoveryConfig, registry: NodeRegistry, move_partition: MovePartition | None = None
) -> GrpcService:
    servicer = DiscoveryServicer(registry, move_partition)
    return await start_grpc_server(
        "discovery",
        lambda server: discovery_pb2_grpc.add_DiscoveryServicer_to_server(servicer, server),
        config.host,
        config.port,
        internal_secret=config.internal_secret,
        open_methods=CLIENT_METHODS,
    )
