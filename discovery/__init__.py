"""Discovery: which nodes exist, which edge a client should use, who is draining.
Other rooms use the gRPC contract; deploy uses this face (and `admin_cli.main`)."""

from discovery.config import DiscoveryConfig
from discovery.interface import NodeRegistry
from discovery.model import NodeInfo, NodeKind
from discovery.rules import choose_edge
from discovery.server import DiscoveryService, start_discovery
from discovery.static import StaticRegistry

__all__ = [
    "DiscoveryConfig",
    "DiscoveryService",
    "NodeInfo",
    "NodeKind",
    "NodeRegistry",
    "StaticRegistry",
    "choose_edge",
    "start_discovery",
]
