"""Who owns which partition: the partition map (a pure value), the rules that balance it, and
the `PartitionOwnership` contract its backends keep (memory in discovery/ for the single node;
ZooKeeper beside it later).

Shaped for ZooKeeper: a router opens one `OwnershipSession` (a ZooKeeper session); its claims
live as long as that session (ephemeral znodes). A claim yields an epoch strictly greater
than every earlier claim of that partition (a persistent per-partition counter), the fencing
token written with every append. A session that is suspended (connection lost, not yet
expired) must stop acking and writing at once; nobody else may claim its partitions until it
has expired. Map changes arrive through a watch, in order, the current map first.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kernel.errors import InvalidArgument
from kernel.partitions import MAX_PARTITIONS


@dataclass(frozen=True, slots=True)
class Owner:
    """One partition's owner: the router's id, where its Link is served, and its epoch."""

    router_id: str
    target: str
    epoch: int


@dataclass(frozen=True, slots=True)
class PartitionMap:
    """Every partition's owner (None = unowned right now), and a version that grows with each
    change: a reader keeps the highest version it has seen."""

    partitions: int
    version: int
    owners: tuple[Owner | None, ...]

    @staticmethod
    def empty(partitions: int) -> PartitionMap:
        check_partitions(partitions)
        return PartitionMap(partitions, 0, (None,) * partitions)

    def owner(self, partition: int) -> Owner | None:
        return self.owners[partition]

    def routers(self) -> dict[str, str]:
        """router id -> Link target of every router that owns something."""
        return {o.router_id: o.target for o in self.owners if o is not None}

    def held_by(self, router_id: str) -> dict[int, int]:
        """partition -> epoch of what one router owns."""
        return {p: o.epoch for p, o in enumerate(self.owners) if o is not None and o.router_id == router_id}

    def with_owner(self, partition: int, owner: Owner | None) -> PartitionMap:
        owners = list(self.owners)
        owners[partition] = owner
        return PartitionMap(self.partitions, self.version + 1, tuple(owners))


def check_partitions(partitions: int) -> None:
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise InvalidArgument(f"partitions must be within 1..{MAX_PARTITIONS}, not {partitions}")


def static_map(partitions: int, targets: Sequence[str]) -> PartitionMap:
    """A fixed map over routers known only by target (no ownership service): balanced by
    `assign`, epoch 0 (unfenced). The edge uses it until a watched map arrives."""
    ids = [f"static-{index}" for index in range(len(targets))]
    by_id = dict(zip(ids, targets, strict=True))
    assignment = assign(partitions, ids)
    owners = tuple(Owner(r, by_id[r], 0) if (r := assignment.get(p)) else None for p in range(partitions))
    return PartitionMap(partitions, 0, owners)


# ------------------------------------------------------------------ balance rules (pure)


@dataclass(frozen=True, slots=True)
class Move:
    """Hand `partition` from `source` (None = it is unowned) to `target`."""

    partition: int
    source: str | None
    target: str


def assign(partitions: int, routers: Sequence[str]) -> dict[int, str]:
    """A balanced assignment of every partition over `routers` (counts differ by at most one)."""
    return apply_moves({}, rebalance(partitions, {}, routers))


def rebalance(partitions: int, current: Mapping[int, str], routers: Sequence[str]) -> list[Move]:
    """The fewest moves that leave every partition owned by one of `routers`, each router with
    floor(P/n) or ceil(P/n) partitions. Partitions of routers not in `routers` (left) and unowned
    ones go to the least loaded; a router above its share gives its highest partitions away.
    Deterministic: every process computes the same moves from the same inputs."""
    check_partitions(partitions)
    live = sorted(set(routers))
    if not live:
        return []
    base, extra = divmod(partitions, len(live))
    held: dict[str, list[int]] = {r: [] for r in live}
    homeless: list[int] = []
    for p in range(partitions):
        owner = current.get(p)
        if owner in held:
            held[owner].append(p)
        else:
            homeless.append(p)
    # The routers already holding most keep the +1 shares: fewer moves.
    by_load = sorted(live, key=lambda r: (-len(held[r]), r))
    quota = {r: base + (1 if i < extra else 0) for i, r in enumerate(by_load)}
    source: dict[int, str | None] = {p: current.get(p) for p in homeless}
    for r in live:
        while len(held[r]) > quota[r]:
            p = held[r].pop()
            homeless.append(p)
            source[p] = r
    moves: list[Move] = []
    homeless.sort()
    for r in live:
        while len(held[r]) < quota[r]:
            p = homeless.pop(0)
            held[r].append(p)
            moves.append(Move(p, source[p], r))
    return sorted(moves, key=lambda m: m.partition)


def rebalance_placed(
    partitions: int, current: Mapping[int, str], routers: Sequence[str], placements: Mapping[int, str]
) -> list[Move]:
    """`rebalance` with an operator's placements (`hubbub admin move`): a partition placed on a
    live router goes there and stays; the others are balanced among themselves as `rebalance`
    does (a placement on a router that is not live is ignored until it is). Deterministic."""
    live = set(routers)
    placed = {p: r for p, r in placements.items() if 0 <= p < partitions and r in live}
    moves = [Move(p, current.get(p), r) for p, r in sorted(placed.items()) if current.get(p) != r]
    free = [p for p in range(partitions) if p not in placed]
    if free:
        dense = {i: current[p] for i, p in enumerate(free) if p in current}
        moves += [Move(free[m.partition], m.source, m.target) for m in rebalance(len(free), dense, routers)]
    return sorted(moves, key=lambda m: m.partition)


def apply_moves(current: Mapping[int, str], moves: Sequence[Move]) -> dict[int, str]:
    result = dict(current)
    for move in moves:
        result[move.partition] = move.target
    return result


def owners_of(partition_map: PartitionMap) -> dict[int, str]:
    """partition -> router id of a map's owned partitions (the input `rebalance` takes)."""
    return {p: o.router_id for p, o in enumerate(partition_map.owners) if o is not None}


# ------------------------------------------------------------------ the contract


class SessionState(enum.Enum):
    CONNECTED = "connected"
    SUSPENDED = "suspended"  # may come back; meanwhile: no acks, no writes
    LOST = "lost"  # expired or closed: every claim of the session is gone


class OwnershipLost(Exception):
    """Raised by a session call once the session is suspended or lost."""


class OwnershipSession(Protocol):
    """One router's session: its claims live as long as it does (ZooKeeper: ephemeral)."""

    @property
    def router_id(self) -> str: ...

    @property
    def state(self) -> SessionState: ...

    async def claim(self, partition: int, above: int = 0) -> int:
        """Own `partition`; returns its new epoch, strictly greater than every earlier claim's
        and than `above` (an epoch the store has sealed: a counter that forgot it, e.g. after
        a restart, must not hand out epochs the store refuses). Conflict if another session
        holds it (even a suspended one: it may still be writing); OwnershipLost if this
        session is not connected. Claiming what it holds already, at an epoch above `above`,
        returns the epoch it holds."""

    async def release(self, partition: int) -> None:
        """Give a partition up (planned handoff: after the in-flight writes are done); idempotent."""

    async def renew(self) -> None:
        """Keep the session alive (ZooKeeper: its client does this by itself); OwnershipLost
        if it is not connected."""

    def state_changes(self) -> AsyncIterator[SessionState]:
        """Each state change from this call on, in order (ZooKeeper: the connection
        listener); ends after LOST."""

    async def close(self) -> None:
        """End the session: every claim goes at once; idempotent."""


class PartitionOwnership(Protocol):
    """The ownership service (one per deployment): sessions, and the map they make."""

    @property
    def partitions(self) -> int: ...

    async def open_session(self, router_id: str, target: str) -> OwnershipSession:
        """A new session for a router whose Link is served at `target`."""

    async def current(self) -> PartitionMap:
        """The map now."""

    def watch(self) -> AsyncIterator[PartitionMap]:
        """The current map, then every later one in version order (a slow reader may skip
        versions, never see them out of order)."""


class MapWatch(Protocol):
    """What an edge needs: a stream of maps (PartitionOwnership is one; so is a remote watch)."""

    def watch(self) -> AsyncIterator[PartitionMap]: ...


__all__ = [
    "MapWatch",
    "Move",
    "Owner",
    "OwnershipLost",
    "OwnershipSession",
    "PartitionMap",
    "PartitionOwnership",
    "SessionState",
    "apply_moves",
    "assign",
    "owners_of",
    "rebalance",
    "rebalance_placed",
    "static_map",
]
