"""The node registry on ZooKeeper: a registration is the ephemeral znode nodes/<id> (it goes
with the registering process's session), holding every NodeInfo field as JSON, so a field
added to NodeInfo later is stored and read with no change here. The drain mark is the
persistent znode draining/<id>: an operator's decision outlives the node's restarts; so does
the operator's weight, the persistent znode weights/<id> (it wins over the registered one).

Load (connections, msgs/s) is written at most once per `load_update_interval_s` per node; a
change inside the interval is written when it ends, so the latest value always lands.
Watchers are fed by children and data watches (discovery/zk_watched.py), never by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import typing
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from discovery.model import NodeInfo, NodeKind, with_report
from discovery.rules import check_weight
from discovery.zk_client import DISCONNECTED, RenewedSession, ZkSession, check_name, unavailable
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_watched import WatchedChildren, read_children
from kernel.errors import InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)
_KIND_ORDER = {kind: i for i, kind in enumerate(NodeKind)}
_FIELDS = [f for f in dataclasses.fields(NodeInfo) if f.name != "draining"]
_TYPES = typing.get_type_hints(NodeInfo)


def node_data(node: NodeInfo) -> bytes:
    """Every field but `draining` (kept apart), as JSON."""
    values: dict[str, Any] = {}
    for field in _FIELDS:
        value = getattr(node, field.name)
        values[field.name] = list(value) if isinstance(value, tuple) else value
    return json.dumps(values).encode()


def parse_node(data: bytes, draining: bool) -> NodeInfo | None:
    """A node znode's value; fields it lacks take their defaults, fields it has that this
    version does not know are ignored (a newer writer); None if it is not a node at all."""
    try:
        values = json.loads(data)
        known: dict[str, Any] = {}
        for field in _FIELDS:
            if field.name in values:
                kind = _TYPES[field.name]
                raw = values[field.name]
                known[field.name] = tuple(raw) if typing.get_origin(kind) is tuple else kind(raw)
        return NodeInfo(**known, draining=draining)
    except (ValueError, TypeError, KeyError):
        return None


def parse_weight(data: bytes | None) -> float | None:
    """An operator's weight znode; None when absent or not a weight we would have written."""
    try:
        weight = float(data) if data else None
        if weight is not None:
            check_weight(weight)
        return weight
    except (ValueError, InvalidArgument):
        return None


def with_weight(node: NodeInfo, weight: float | None) -> NodeInfo:
    return node if weight is None or weight == node.weight else dataclasses.replace(node, weight=weight)


def sorted_nodes(nodes: list[NodeInfo], kind: NodeKind | None) -> list[NodeInfo]:
    chosen = [n for n in nodes if kind is None or n.kind is kind]
    return sorted(chosen, key=lambda n: (_KIND_ORDER[n.kind], n.node_id))


class ZkRegistry:
    """Implements `discovery.interface.NodeRegistry`. Open with `await ZkRegistry.connect(...)`;
    the nodes this process registers live as long as its session."""

    def __init__(self, settings: ZooKeeperSettings, session: RenewedSession) -> None:
        self.settings = settings
        self._session = session
        zk = session.current
        self._mine: dict[str, NodeInfo] = {}
        """The nodes this process registered, as last updated (written or about to be)."""
        self._written_at: dict[str, float] = {}
        self._flushes: dict[str, asyncio.Task[None]] = {}
        self._nodes = WatchedChildren(zk, settings.nodes, self._changed)
        self._draining = WatchedChildren(zk, settings.draining, self._changed)
        self._weights = WatchedChildren(zk, settings.weights, self._changed)
        self._waiters: set[asyncio.Event] = set()
        self._closed = False
        session.on_renewed.append(self._renewed)

    @classmethod
    async def connect(cls, settings: ZooKeeperSettings, hosts: str | None = None) -> ZkRegistry:
        session = await RenewedSession.open(settings, hosts)
        zk = session.current
        try:
            for path in (settings.nodes, settings.draining, settings.weights):
                await zk.call(zk.client.ensure_path_async(path))
        except DISCONNECTED as error:
            await session.close()
            raise unavailable(error) from error
        return cls(settings, session)

    @property
    def zk(self) -> ZkSession:
        """The session of the moment (a lost one is replaced, and this process's nodes are
        registered again in the new one)."""
        return self._session.current

    @property
    def session(self) -> RenewedSession:
        return self._session

    @property
    def _zk(self) -> ZkSession:
        return self._session.current

    async def _renewed(self, zk: ZkSession) -> None:
        for watched in (self._nodes, self._draining, self._weights):
            await watched.rebind(zk)
        for node_id, node in list(self._mine.items()):
            try:
                await self._put(self.settings.node_of(node_id), node_data(node))
            except (*DISCONNECTED, Unavailable) as error:
                log.warning("%s not registered again: %s", node_id, error)

    # ---------------------------------------------------------------- NodeRegistry
    async def register(self, node: NodeInfo) -> NodeInfo:
        if not node.node_id:
            raise InvalidArgument("node_id is required")
        check_name("node_id", node.node_id)
        path = self.settings.node_of(node.node_id)
        try:
            if node.draining:
                await self._mark_draining(node.node_id, True)
            await self._put(path, node_data(node))
            draining = await self._is_draining(node.node_id)
            weight = await self._weight(node.node_id)
        except DISCONNECTED as error:
            raise unavailable(error) from error
        self._mine[node.node_id] = dataclasses.replace(node, draining=draining)
        self._written_at[node.node_id] = asyncio.get_running_loop().time()
        return dataclasses.replace(node, draining=draining, weight=node.weight if weight is None else weight)

    async def _put(self, path: str, data: bytes) -> None:
        """Create the ephemeral znode, or take it over: ours is rewritten; one left by an
        earlier process under the same id (its session not yet expired) is replaced."""
        zk = self._zk
        for _ in range(10):
            try:
                await zk.call(zk.client.create_async(path, data, ephemeral=True))
                return
            except NodeExistsError:
                pass
            try:
                _, stat = await zk.call(zk.client.get_async(path))
                if stat.ephemeralOwner == zk.session_id:
                    await zk.call(zk.client.set_async(path, data, version=stat.version))
                    return
                await zk.call(zk.client.delete_async(path, version=stat.version))
            except (NoNodeError, BadVersionError):
                continue
        raise unavailable(NodeExistsError(f"{path} keeps changing"))

    async def update(
        self,
        node_id: str,
        *,
        connections: int | None = None,
        msgs_per_second: float | None = None,
        partitions: Sequence[int] | None = None,
        epoch: int | None = None,
    ) -> NodeInfo:
        old = self._mine.get(node_id) or await self._read(node_id)
        new = with_report(
            old, connections=connections, msgs_per_second=msgs_per_second, partitions=partitions, epoch=epoch
        )
        if node_id not in self._mine:  # another process's node: written as it is asked
            await self._write(node_id, new)
            return new
        self._mine[node_id] = new
        load_only = (new.partitions, new.epoch) == (old.partitions, old.epoch)
        loop = asyncio.get_running_loop()
        wait = self._written_at.get(node_id, 0.0) + self.settings.load_update_interval_s - loop.time()
        if load_only and wait > 0:
            if node_id not in self._flushes:
                self._flushes[node_id] = asyncio.create_task(self._flush_later(node_id, wait))
            return new  # no round trip at all: `draining` as last read (the watch has the news)
        await self._write_mine(node_id)
        new = self._mine[node_id] = dataclasses.replace(new, draining=await self._is_draining(node_id))
        return new

    async def _flush_later(self, node_id: str, wait: float) -> None:
        try:
            await asyncio.sleep(wait)  # the rate limit itself, not a wait for an event
            await self._write_mine(node_id)
        except (*DISCONNECTED, NotFound) as error:
            log.warning("load of %s not written: %s", node_id, error)
        finally:
            self._flushes.pop(node_id, None)

    async def _write_mine(self, node_id: str) -> None:
        node = self._mine.get(node_id)
        if node is not None:
            self._written_at[node_id] = asyncio.get_running_loop().time()
            await self._write(node_id, node)

    async def _write(self, node_id: str, node: NodeInfo) -> None:
        zk = self._zk
        try:
            await zk.call(zk.client.set_async(self.settings.node_of(node_id), node_data(node)))
        except NoNodeError as error:
            raise NotFound(f"unknown node {node_id!r}") from error
        except DISCONNECTED as error:
            raise unavailable(error) from error

    async def deregister(self, node_id: str) -> None:
        self._mine.pop(node_id, None)
        flush = self._flushes.pop(node_id, None)
        if flush is not None:
            flush.cancel()
        zk = self._zk
        try:
            paths = self.settings
            for path in (paths.node_of(node_id), paths.draining_of(node_id), paths.weight_of(node_id)):
                with contextlib.suppress(NoNodeError):
                    await zk.call(zk.client.delete_async(path))
        except DISCONNECTED as error:
            raise unavailable(error) from error

    async def list_nodes(self, kind: NodeKind | None = None) -> list[NodeInfo]:
        try:
            nodes, _ = await read_children(self._zk, self.settings.nodes)
            draining, _ = await read_children(self._zk, self.settings.draining)
            weights, _ = await read_children(self._zk, self.settings.weights)
        except DISCONNECTED as error:
            raise unavailable(error) from error
        return self._listing(nodes, set(draining), weights, kind)

    async def set_draining(self, node_id: str, draining: bool) -> NodeInfo:
        node = await self._read(node_id)
        try:
            await self._mark_draining(node_id, draining)
        except DISCONNECTED as error:
            raise unavailable(error) from error
        if node_id in self._mine:
            self._mine[node_id] = dataclasses.replace(self._mine[node_id], draining=draining)
        return dataclasses.replace(node, draining=draining)

    async def set_weight(self, node_id: str, weight: float) -> NodeInfo:
        check_weight(weight)
        node = await self._read(node_id)
        zk, path, data = self._zk, self.settings.weight_of(node_id), repr(float(weight)).encode()
        try:
            try:
                await zk.call(zk.client.create_async(path, data))
            except NodeExistsError:
                await zk.call(zk.client.set_async(path, data))
        except DISCONNECTED as error:
            raise unavailable(error) from error
        return dataclasses.replace(node, weight=weight)

    async def watch(self, kind: NodeKind | None = None) -> AsyncIterator[list[NodeInfo]]:
        watched = (self._nodes, self._draining, self._weights)
        for children in watched:
            children.start()
        event = asyncio.Event()
        self._waiters.add(event)
        try:
            while not self._closed:
                if all(children.version for children in watched):
                    yield self._listing(
                        self._nodes.values, set(self._draining.values), self._weights.values, kind
                    )
                await event.wait()
                event.clear()
        finally:
            self._waiters.discard(event)

    async def close(self) -> None:
        self._closed = True
        self._changed()
        for task in list(self._flushes.values()):
            task.cancel()
        for children in (self._nodes, self._draining, self._weights):
            children.stop()
        await self._session.close()

    # --------------------------------------------------------------------- helpers
    def _changed(self) -> None:
        for event in self._waiters:
            event.set()

    def _listing(
        self, nodes: dict[str, bytes], draining: set[str], weights: dict[str, bytes], kind: NodeKind | None
    ) -> list[NodeInfo]:
        parsed = [parse_node(data, name in draining) for name, data in nodes.items()]
        listed = [with_weight(n, parse_weight(weights.get(n.node_id))) for n in parsed if n is not None]
        return sorted_nodes(listed, kind)

    async def _read(self, node_id: str) -> NodeInfo:
        zk = self._zk
        try:
            check_name("node_id", node_id)
            data, _ = await zk.call(zk.client.get_async(self.settings.node_of(node_id)))
            draining = await self._is_draining(node_id)
            weight = await self._weight(node_id)
        except (NoNodeError, InvalidArgument) as error:
            raise NotFound(f"unknown node {node_id!r}") from error
        except DISCONNECTED as error:
            raise unavailable(error) from error
        node = parse_node(data, draining)
        if node is None:
            raise NotFound(f"node {node_id!r} has no readable registration")
        return with_weight(node, weight)

    async def _weight(self, node_id: str) -> float | None:
        """The operator's weight for the node, None when it has none."""
        zk = self._zk
        try:
            data, _ = await zk.call(zk.client.get_async(self.settings.weight_of(node_id)))
        except NoNodeError:
            return None
        return parse_weight(data)

    async def _is_draining(self, node_id: str) -> bool:
        zk = self._zk
        return await zk.call(zk.client.exists_async(self.settings.draining_of(node_id))) is not None

    async def _mark_draining(self, node_id: str, draining: bool) -> None:
        zk, path = self._zk, self.settings.draining_of(node_id)
        if draining:
            with contextlib.suppress(NodeExistsError):
                await zk.call(zk.client.create_async(path, b""))
        else:
            with contextlib.suppress(NoNodeError):
                await zk.call(zk.client.delete_async(path))
