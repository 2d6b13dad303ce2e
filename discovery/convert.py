"""Discovery values to and from protobuf, kept apart so rules and registries never see gRPC."""

from __future__ import annotations

from discovery.model import NodeInfo, NodeKind
from kernel.errors import InvalidArgument
from kernel.ownership import Owner, PartitionMap, check_partitions
from protos import discovery_pb2, router_pb2

KIND_TO_PROTO: dict[NodeKind, discovery_pb2.NodeKind.ValueType] = {
    NodeKind.EDGE: discovery_pb2.NODE_KIND_EDGE,
    NodeKind.ROUTER: discovery_pb2.NODE_KIND_ROUTER,
    NodeKind.MESSAGING: discovery_pb2.NODE_KIND_MESSAGING,
    NodeKind.PRESENCE: discovery_pb2.NODE_KIND_PRESENCE,
}
KIND_FROM_PROTO = {value: kind for kind, value in KIND_TO_PROTO.items()}


def kind_from_proto(value: discovery_pb2.NodeKind.ValueType) -> NodeKind | None:
    """None for UNSPECIFIED (= every kind); InvalidArgument for a value we do not know."""
    if value == discovery_pb2.NODE_KIND_UNSPECIFIED:
        return None
    kind = KIND_FROM_PROTO.get(value)
    if kind is None:
        raise InvalidArgument(f"unknown node kind {value}")
    return kind


def node_to_proto(node: NodeInfo) -> discovery_pb2.Node:
    return discovery_pb2.Node(
        node_id=node.node_id,
        kind=KIND_TO_PROTO[node.kind],
        grpc_target=node.grpc_target,
        ws_url=node.ws_url,
        connections=node.connections,
        draining=node.draining,
        registered_at_ms=node.registered_at_ms,
        partitions=node.partitions,
        epoch=node.epoch,
        zone=node.zone,
        capacity=node.capacity,
        weight=node.weight,
        msgs_per_second=node.msgs_per_second,
    )


def node_from_proto(message: discovery_pb2.Node) -> NodeInfo:
    kind = kind_from_proto(message.kind)
    if kind is None:
        raise InvalidArgument("a node needs a kind")
    return NodeInfo(
        node_id=message.node_id,
        kind=kind,
        grpc_target=message.grpc_target,
        ws_url=message.ws_url,
        connections=message.connections,
        draining=message.draining,
        registered_at_ms=message.registered_at_ms,
        partitions=tuple(message.partitions),
        epoch=message.epoch,
        zone=message.zone,
        capacity=message.capacity,
        weight=message.weight or 1.0,
        msgs_per_second=message.msgs_per_second,
    )


def map_to_proto(partition_map: PartitionMap) -> router_pb2.PartitionMapUpdate:
    update = router_pb2.PartitionMapUpdate(partitions=partition_map.partitions, version=partition_map.version)
    add = update.owners.add
    for partition, owner in enumerate(partition_map.owners):
        if owner is not None:
            add(partition=partition, router_id=owner.router_id, target=owner.target, epoch=owner.epoch)
    return update


def map_from_proto(update: router_pb2.PartitionMapUpdate) -> PartitionMap:
    """InvalidArgument for a map that names a partition outside 0..P-1."""
    check_partitions(update.partitions)
    owners: list[Owner | None] = [None] * update.partitions
    for entry in update.owners:
        if entry.partition >= update.partitions:
            raise InvalidArgument(f"partition {entry.partition} outside a map of {update.partitions}")
        owners[entry.partition] = owner_from_proto(entry)
    return PartitionMap(update.partitions, update.version, tuple(owners))


def owner_from_proto(entry: router_pb2.PartitionOwner) -> Owner:
    return Owner(entry.router_id, entry.target, entry.epoch)
