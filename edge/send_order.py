"""One client's sends keep their order per partition across a refusal: the bookkeeping for
edge/router_link.py, with no I/O and no clock of its own (sans-I/O: the caller says what
happened and asks what may go now). "Send" here is any frame that writes a conversation's log:
a send or a deletion (edge.routing.log_write_partition).

Per (session, partition) a gate counts the sends still unanswered at each router, and holds,
in order, what may not go yet: a send refused STALE_OWNER (until the map names an owner other
than the one that refused it), one whose partition has no owner, and every later send of the
same session and partition. A send may go only to the router every earlier unanswered send
went to: so a send B never reaches a new owner while an earlier A may still come back refused
from the old one. Sends without a `ref` cannot be matched to their answer: nothing waits for them.
An answer that never comes (a router that dropped it, a stream that broke) stops holding
anything once its wait is over (`sent(..., until_ms)`), or at once when its link goes down.

Each send is answered at most once: a send the edge answered UNAVAILABLE itself is remembered
(`gave_up`, bounded), and an answer to it that still comes from the router it went to (a
frozen router that thaws and refuses it, or answers it) is late: dropped, not passed on or
re-sent (`late`). The client's retry of it, with the same ref, is a new send, answered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kernel.ownership import Owner
from protos.router_pb2 import EdgeItem


@dataclass(slots=True)
class Held:
    item: EdgeItem  # carries reroutes and reroute_deadline_ms (ms of the caller's clock)
    refused_by: Owner | None = None  # the map's owner when it was refused: wait for another
    size: int = 0  # its bytes, counted in SendOrder.held_bytes while held


@dataclass(frozen=True, slots=True)
class Unanswered:
    """A send whose answer is no longer awaited: its session, ref, partition and the router it
    went to last."""

    session_id: int
    ref: int
    partition: int
    target: str


@dataclass(slots=True)
class _Gate:
    flying: dict[str, int] = field(default_factory=dict)  # target -> unanswered sends
    until: dict[str, int] = field(default_factory=dict)  # target -> when its answers stop counting
    held: list[Held] = field(default_factory=list)  # in the client's order
    refused: int = 0  # how many of `held` (at the front) came back refused

    def idle(self) -> bool:
        return not self.flying and not self.held

    def elsewhere(self, target: str, now_ms: int) -> bool:
        """Sends still awaited at another router than `target`?"""
        return any(t != target and self.until[t] > now_ms for t in self.flying)

    def land(self, target: str) -> None:
        left = self.flying[target] - 1
        if left:
            self.flying[target] = left
        else:
            del self.flying[target], self.until[target]


class SendOrder:
    def __init__(self, max_given_up: int = 10_000) -> None:
        self._gates: dict[int, dict[int, _Gate]] = {}  # session -> partition -> gate
        # session -> ref -> (partition, target, until_ms) of each unanswered send, oldest first
        self._answers: dict[int, dict[int, deque[tuple[int, str, int]]]] = {}
        # (session, ref) -> target of sends answered UNAVAILABLE by the edge, oldest first
        self._given_up: dict[tuple[int, int], str] = {}
        self._given_up_sessions: dict[int, set[int]] = {}  # session -> its refs in _given_up
        self._max_given_up = max_given_up
        self.held = 0  # sends held now
        self.held_bytes = 0  # and their bytes

    def waiting(self) -> int:
        """Sends held now (observability)."""
        return self.held

    def awaits_answers(self, session_id: int) -> bool:
        """Might an answer to this session be one to a send (awaited, or late)?"""
        return session_id in self._answers or session_id in self._given_up_sessions

    def gave_up(self, session_id: int, ref: int, target: str) -> None:
        """The edge answered a send UNAVAILABLE in its router's stead: a later answer from
        `target` is late. Beyond `max_given_up` the oldest is forgotten (its late answer, if
        one ever comes, reaches the client: the same seq as its retry's)."""
        key = (session_id, ref)
        if key in self._given_up:
            del self._given_up[key]  # re-inserted below: it is the newest now
        elif len(self._given_up) >= self._max_given_up:
            oldest = next(iter(self._given_up))
            del self._given_up[oldest]
            self._untrack(*oldest)
        self._given_up[key] = target
        self._given_up_sessions.setdefault(session_id, set()).add(ref)

    def late(self, session_id: int, ref: int, source: str) -> bool:
        """Is an answer from `source` that answered() did not expect one to a send given up
        there? (Kept until the session ends or a frame other than a send reuses the ref: a
        retry to the same router is answered by the first answer, a surplus one is late.)"""
        return self._given_up.get((session_id, ref)) == source

    def reused(self, session_id: int, ref: int) -> None:
        """The client sent a frame other than a send with this ref: answers to it are its own."""
        if self._given_up.pop((session_id, ref), None) is not None:
            self._untrack(session_id, ref)

    def _untrack(self, session_id: int, ref: int) -> None:
        refs = self._given_up_sessions[session_id]
        refs.discard(ref)
        if not refs:
            del self._given_up_sessions[session_id]

    def blocked(self, session_id: int, partition: int, target: str | None, now_ms: int) -> bool:
        """May a new send of this session and partition not go to `target` now?"""
        if target is None:
            return True
        gate = self._gates.get(session_id, {}).get(partition)
        if gate is None:
            return False
        return bool(gate.held) or gate.elsewhere(target, now_ms)

    def sent(self, session_id: int, partition: int, ref: int, target: str, until_ms: int) -> None:
        """A send was queued for `target`: unanswered until answered() (or refused) says so,
        or until `until_ms`, after which its answer is not waited for."""
        if not ref:
            return
        gate = self._gate(session_id, partition)
        gate.flying[target] = gate.flying.get(target, 0) + 1
        gate.until[target] = max(gate.until.get(target, 0), until_ms)
        entry = (partition, target, until_ms)
        answers = self._answers.get(session_id)
        if answers is None:
            answers = self._answers[session_id] = {}
        waiting = answers.get(ref)
        if waiting is None:
            waiting = answers[ref] = deque()
        waiting.append(entry)

    def answered(self, session_id: int, ref: int, source: str) -> int | None:
        """`source` answered (or refused) a send with `ref`: the partition whose gate may now
        let held sends go, or None if no such send was unanswered there."""
        refs = self._answers.get(session_id)
        pending = refs.get(ref) if refs is not None else None
        if refs is None or pending is None:
            return None
        index = next((i for i, (_, target, _) in enumerate(pending) if target == source), None)
        if index is None:
            return None
        partition, target, _ = pending[index]
        del pending[index]
        if not pending:
            del refs[ref]
            if not refs:
                del self._answers[session_id]
        gate = self._gates[session_id][partition]
        gate.land(target)
        self._tidy(session_id, partition, gate)
        return partition

    def forget(self, now_ms: int, target: str | None = None) -> list[Unanswered]:
        """Stop waiting for answers past their wait (or, given `target`, for every answer of
        that router: its link went down, and answers come only on the stream a send went by).
        Returns the sends no longer awaited anywhere, for the caller to answer or not."""
        out: list[Unanswered] = []
        for session_id, refs in list(self._answers.items()):
            for ref, pending in list(refs.items()):
                for entry in [e for e in pending if e[2] <= now_ms or e[1] == target]:
                    pending.remove(entry)
                    gate = self._gates[session_id][entry[0]]
                    gate.land(entry[1])
                    self._tidy(session_id, entry[0], gate)
                    if not pending:
                        out.append(Unanswered(session_id, ref, entry[0], entry[1]))
                if not pending:
                    del refs[ref]
            if not refs:
                del self._answers[session_id]
        return out

    def hold(self, session_id: int, partition: int, held: Held, *, refused: bool) -> None:
        """Hold a send: a refused one goes ahead of the sends that were held after it was sent
        (they are all later in the client's order), behind those refused before it."""
        gate = self._gate(session_id, partition)
        held.size = held.item.ByteSize()
        self.held += 1
        self.held_bytes += held.size
        if refused:
            gate.held.insert(gate.refused, held)
            gate.refused += 1
        else:
            gate.held.append(held)

    def release(self, session_id: int, partition: int, owner: Owner | None, now_ms: int) -> Held | None:
        """The next held send that may go to `owner` now (the caller sends it and calls sent()),
        or None: no owner, the owner that refused it, or earlier sends unanswered elsewhere."""
        gate = self._gates.get(session_id, {}).get(partition)
        if gate is None or not gate.held or owner is None:
            return None
        front = gate.held[0]
        if front.refused_by is not None and front.refused_by == owner:
            return None
        if gate.elsewhere(owner.target, now_ms):
            return None
        gate.held.pop(0)
        self._unheld(front)
        gate.refused = max(0, gate.refused - 1)
        self._tidy(session_id, partition, gate)
        return front

    def held_partitions(self) -> list[tuple[int, int]]:
        """(session, partition) of every gate holding sends (to retry on a new map)."""
        return [(s, p) for s, gates in self._gates.items() for p, g in gates.items() if g.held]

    def expired(self, now_ms: int) -> list[tuple[int, Held]]:
        """Remove and return the held sends whose deadline has passed, with their session."""
        out: list[tuple[int, Held]] = []
        for session_id, gates in list(self._gates.items()):
            for partition, gate in list(gates.items()):
                keep: list[Held] = []
                refused = 0
                for index, held in enumerate(gate.held):
                    if held.item.reroute_deadline_ms <= now_ms:
                        out.append((session_id, held))
                        self._unheld(held)
                    else:
                        keep.append(held)
                        refused += index < gate.refused
                gate.held, gate.refused = keep, refused
                self._tidy(session_id, partition, gate)
        return out

    def next_deadline_ms(self) -> int | None:
        """The earliest deadline of a held send or of the wait for an answer."""
        deadlines = [
            h.item.reroute_deadline_ms
            for gates in self._gates.values()
            for g in gates.values()
            for h in g.held
        ]
        deadlines += [e[2] for refs in self._answers.values() for pending in refs.values() for e in pending]
        return min(deadlines) if deadlines else None

    def drop_session(self, session_id: int) -> None:
        for gate in self._gates.pop(session_id, {}).values():
            for held in gate.held:
                self._unheld(held)
        self._answers.pop(session_id, None)
        for ref in self._given_up_sessions.pop(session_id, ()):  # its own entries, not all of them
            del self._given_up[(session_id, ref)]

    def _gate(self, session_id: int, partition: int) -> _Gate:
        """The gate of (session, partition), made on first use (not built and dropped per send
        as `setdefault(..., _Gate())` would)."""
        gates = self._gates.get(session_id)
        if gates is None:
            gates = self._gates[session_id] = {}
        gate = gates.get(partition)
        if gate is None:
            gate = gates[partition] = _Gate()
        return gate

    def _unheld(self, held: Held) -> None:
        self.held -= 1
        self.held_bytes -= held.size

    def _tidy(self, session_id: int, partition: int, gate: _Gate) -> None:
        if gate.idle():
            gates = self._gates[session_id]
            del gates[partition]
            if not gates:
                del self._gates[session_id]
