"""edge: the stateful front door. Holds client connections (WebSocket and gRPC Gateway),
authenticates them and keeps one batched bidi stream to each router."""

from edge.config import EdgeConfig
from edge.server import EdgeService, start_edge

__all__ = ["EdgeConfig", "EdgeService", "start_edge"]
