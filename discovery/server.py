"""Runs the Discovery service: its gRPC server and its HTTP endpoint for browsers, over a given
registry (the registry is the caller's: it outlives the server and is closed by whoever made it)."""

from __future__ import annotations

from dataclasses import dataclass

from discovery.assignment import assign_edge
from discovery.config import DiscoveryConfig
from discovery.http_server import HttpService, start_http
from discovery.interface import ListPartitions, NodeRegistry
from discovery.model import NodeInfo
from discovery.servicer import DiscoveryServicer, MovePartition
from kernel.grpc_server import GrpcService, start_grpc_server
from protos import discovery_pb2, discovery_pb2_grpc

CLIENT_METHODS = frozenset({"/hubbub.v1.Discovery/AssignEdge"})


@dataclass
class DiscoveryService:
    grpc: GrpcService
    http: HttpService | None

    @property
    def target(self) -> str:
        """host:port of the gRPC server (the admin CLI's and the SDK's)."""
        return self.grpc.target

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP endpoint ("" when switched off)."""
        return self.http.url if self.http is not None else ""

    async def stop(self, grace: float = 1.0) -> None:
        if self.http is not None:
            await self.http.stop()
        await self.grpc.stop(grace)


async def start_discovery(
    config: DiscoveryConfig,
    registry: NodeRegistry,
    move_partition: MovePartition | None = None,
    list_partitions: ListPartitions | None = None,
) -> DiscoveryService:
    servicer = DiscoveryServicer(registry, move_partition, config.default_edge_capacity, list_partitions)
    grpc_service = await start_grpc_server(
        "discovery",
        lambda server: discovery_pb2_grpc.add_DiscoveryServicer_to_server(servicer, server),
        config.host,
        config.port,
        internal_secret=config.internal_secret,
        open_methods=CLIENT_METHODS,
    )
    if config.http_port < 0:
        return DiscoveryService(grpc_service, None)

    async def assign(request: discovery_pb2.AssignEdgeRequest) -> NodeInfo:
        return await assign_edge(registry, request, config.default_edge_capacity)

    try:
        http = await start_http(config.host, config.http_port, assign, config.http_max_connections)
    except BaseException:
        await grpc_service.stop(0)
        raise
    return DiscoveryService(grpc_service, http)
