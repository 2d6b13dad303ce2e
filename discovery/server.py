"""Runs the Discovery service: its config and its gRPC server over a given registry
(the registry is the caller's: it outlives the server and is closed by whoever made it)."""

from __future__ import annotations

from dataclasses import dataclass

from discovery.interface import NodeRegistry
from discovery.servicer import DiscoveryServicer
from kernel.grpc_server import GrpcService, start_grpc_server
from protos import discovery_pb2_grpc

CLIENT_METHODS = frozenset({"/hubbub.v1.Discovery/AssignEdge"})


@dataclass(frozen=True)
class DiscoveryConfig:
    """host/port: where the gRPC server listens (port 0 = any free port).
    internal_secret: required of every call but AssignEdge, which clients make (listing the
    nodes and draining them are for the deployment and its admins); empty = open (tests)."""

    host: str = "127.0.0.1"
    port: int = 0
    internal_secret: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535")


async def start_discovery(config: DiscoveryConfig, registry: NodeRegistry) -> GrpcService:
    servicer = DiscoveryServicer(registry)
    return await start_grpc_server(
        "discovery",
        lambda server: discovery_pb2_grpc.add_DiscoveryServicer_to_server(servicer, server),
        config.host,
        config.port,
        internal_secret=config.internal_secret,
        open_methods=CLIENT_METHODS,
    )
