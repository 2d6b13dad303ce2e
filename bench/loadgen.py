"""Reusable pieces of hubbub load generators: lean raw-WebSocket users, hand-encoded send
frames, open-loop pacing, and latency/loss/order accounting that merges across processes.

The hot path avoids the SDK on purpose: one pre-built frame prefix per sender, one protobuf
parse per received frame, no per-message allocation beyond the frame itself (the JSON
subprotocol's counterparts are in bench/json_wire.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench import json_wire
from bench.client_picows import open_picows
from bench.client_socket import DEFAULT_CLIENT, ClientSocket, OnClosed, OnData, Opener, SocketClosed
from bench.client_websockets import open_websockets
from bench.discovered import edge_url
from kernel.protowire import varint
from protos import client_pb2 as pb

SETUP_TIMEOUT_S = 60.0
BINARY_SUBPROTOCOL = "hubbub.v1.proto"

# ------------------------------------------------------------------ hand-encoded frames


def send_prefix(conversation_id: int) -> bytes:
    """SendMessage.conversation_id (field 1), encoded once per sender."""
    return b"\x08" + varint(conversation_id)


def encode_send(ref: int, prefix: bytes, client_msg_id: bytes, body: bytes) -> bytes:
    """ClientFrame{ref, send: SendMessage{conversation_id, client_msg_id, body}} as wire bytes.

    Equal to what protobuf serializes for the same fields, at a fraction of the cost.
    """
    inner = b"".join(
        (prefix, b"\x12", varint(len(client_msg_id)), client_msg_id, b"\x22", varint(len(body)), body)
    )
    return b"".join((b"\x08", varint(ref), b"\x5a", varint(len(inner)), inner))


def stamp(at_ns: int, counter: int) -> bytes:
    """A bench body: when it was due (wall-clock ns, comparable across processes) and the counter."""
    return b"t=%d;n=%d" % (at_ns, counter)


def parse_stamp(body: str) -> tuple[int, int]:
    """(send time ns, counter) of a bench body."""
    t_part, _, n_part = body.partition(";n=")
    return int(t_part[2:]), int(n_part)


# ------------------------------------------------------------------ connections


def subprotocol_of(json: bool) -> str:
    return json_wire.SUBPROTOCOL if json else BINARY_SUBPROTOCOL


async def open_ws(
    url: str, local_addr: tuple[str, int] | None = None, who: str = "", json: bool = False
) -> ClientConnection:
    """A websockets connection, binary protobuf (or JSON), for the idle-connections workload
    (W3), which awaits each reply in line; on a cluster (a `discovery://` URL) to the edge
    discovery assigns `who` (bench/discovered.py)."""
    return await connect(
        await edge_url(url, who),
        subprotocols=[Subprotocol(subprotocol_of(json))],
        compression=None,
        max_size=2**24,
        ping_interval=None,
        open_timeout=SETUP_TIMEOUT_S,
        local_addr=local_addr,
    )


OPENERS: dict[str, Opener] = {"picows": open_picows, "websockets": open_websockets}


async def open_socket(
    url: str,
    subprotocol: str | None,
    on_data: OnData,
    on_closed: OnClosed,
    *,
    client: str = DEFAULT_CLIENT,
    who: str = "",
    local_addr: tuple[str, int] | None = None,
) -> ClientSocket:
    """A connection on the `client` library (bench/client_socket.py), opened the way every bench
    client opens one; the server must choose `subprotocol` (None: ask for none); on a cluster
    to the edge discovery assigns `who`."""
    socket = await OPENERS[client](
        await edge_url(url, who), subprotocol, on_data, on_closed, SETUP_TIMEOUT_S, local_addr
    )
    if socket.subprotocol != subprotocol:
        await socket.close()
        chosen = socket.subprotocol
        raise ConnectionError(f"asked for subprotocol {subprotocol!r}, the server chose {chosen!r}")
    return socket


class PushedMessage(Protocol):
    """What the generator reads of a pushed message: a pb.Message (binary) or a
    json_wire.Pushed (JSON, read without building protobuf objects)."""

    @property
    def conversation_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def sender_id(self) -> str: ...
    @property
    def body(self) -> str: ...


class RawUser:
    """One user on one raw WebSocket, binary (or JSON: `json`). Requests during setup await
    their reply by ref; once `on_frame` is set, every frame that answers no request goes
    straight to it, except pushed messages when `on_message` is set (the hot path: they go to
    it as read, with no ServerFrame built for them over JSON). `connect` opens it."""

    ws: ClientSocket

    def __init__(self, user_id: str, json: bool = False) -> None:
        self.user_id = user_id
        self.json = json
        self.token = ""
        self.on_frame: Callable[[RawUser, pb.ServerFrame], None] | None = None
        self.on_message: Callable[[RawUser, PushedMessage], None] | None = None
        self.acked_seq: dict[int, int] = {}  # conversation -> highest seq acked to the server
        self.seen_seq: dict[int, int] = {}  # conversation -> highest seq received
        self._ref = 0
        self._waiting: dict[int, asyncio.Future[pb.ServerFrame]] = {}
        self.closed = asyncio.Event()
        self._pinger: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        user_id: str,
        json: bool = False,
        local_addr: tuple[str, int] | None = None,
        client: str = DEFAULT_CLIENT,
    ) -> RawUser:
        user = cls(user_id, json)
        user.ws = await open_socket(
            url, subprotocol_of(json), user._on_data, user._on_closed,
            client=client, who=user_id, local_addr=local_addr,
        )  # fmt: skip
        return user

    def next_ref(self) -> int:
        self._ref += 1
        return self._ref

    def wire(self, frame: pb.ClientFrame) -> bytes | str:
        """`frame` as this connection's subprotocol carries it."""
        return json_wire.encode(frame) if self.json else frame.SerializeToString()

    @classmethod
    async def sign_up(
        cls,
        url: str,
        user_id: str,
        password: str,
        device_id: str = "bench",
        json: bool = False,
        client: str = DEFAULT_CLIENT,
    ) -> RawUser:
        hello = pb.Hello(sign_up=pb.Credentials(user_id=user_id, password=password), device_id=device_id)
        return await cls.greeted(url, user_id, hello, json=json, client=client)

    @classmethod
    async def greeted(
        cls,
        url: str,
        user_id: str,
        hello: pb.Hello,
        local_addr: tuple[str, int] | None = None,
        json: bool = False,
        client: str = DEFAULT_CLIENT,
    ) -> RawUser:
        """Connect, say `hello`, and keep the connection alive once welcomed."""
        user = await cls.connect(url, user_id, json, local_addr, client)
        reply = await user.request(pb.ClientFrame(hello=hello))
        if reply.WhichOneof("kind") != "welcome":
            await user.close()
            raise RuntimeError(f"hello of {user_id} refused: {reply.error.code} {reply.error.message}")
        user.token = reply.welcome.token or user.token
        user.keep_alive(reply.welcome.heartbeat_interval_ms / 1000 or 15.0)
        return user

    def keep_alive(self, interval_s: float) -> None:
        """Ping while otherwise idle (a long sign-up phase, an idle-connections workload)."""
        self._pinger = asyncio.create_task(self._ping_every(interval_s * 0.8))

    async def _ping_every(self, interval_s: float) -> None:
        with contextlib.suppress(SocketClosed):
            while True:
                await asyncio.sleep(interval_s)  # a heartbeat timer
                await self.ws.send(self.wire(pb.ClientFrame(ref=self.next_ref(), ping=pb.Ping())))

    async def request(self, frame: pb.ClientFrame) -> pb.ServerFrame:
        frame.ref = self.next_ref()
        future: asyncio.Future[pb.ServerFrame] = asyncio.get_running_loop().create_future()
        self._waiting[frame.ref] = future
        await self.ws.send(self.wire(frame))
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            return await future

    async def open_direct(self, peer_id: str) -> int:
        reply = await self.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id=peer_id)))
        if reply.WhichOneof("kind") != "conversation":
            raise RuntimeError(f"open_direct {self.user_id}->{peer_id}: {reply}")
        return reply.conversation.conversation_id

    def _on_data(self, data: bytes | str) -> None:
        frame: pb.ServerFrame | None = None
        message: PushedMessage | None
        if self.json:
            parsed = json_wire.parse(data)
            message = json_wire.pushed(parsed)
        else:
            frame = pb.ServerFrame.FromString(data if isinstance(data, bytes) else data.encode())
            message = frame.message if frame.WhichOneof("kind") == "message" and not frame.ref else None
        if message is not None:
            conversation_id, seq = message.conversation_id, message.seq
            if seq > self.seen_seq.get(conversation_id, 0):
                self.seen_seq[conversation_id] = seq
            if self.on_message is not None:
                self.on_message(self, message)
                return
        if frame is None:
            frame = json_wire.frame_of(parsed)
        if frame.ref and (waiter := self._waiting.pop(frame.ref, None)) is not None:
            if not waiter.done():
                waiter.set_result(frame)
            return
        if self.on_frame is not None:
            self.on_frame(self, frame)

    def _on_closed(self) -> None:
        self.closed.set()
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"{self.user_id}: connection closed"))

    def ack_frame(self) -> bytes | str | None:
        """One AckDelivered for everything received since the last one (batched, like a real client)."""
        cursors = [
            pb.ConversationCursor(conversation_id=c, seq=s)
            for c, s in self.seen_seq.items()
            if s > self.acked_seq.get(c, 0)
        ]
        if not cursors:
            return None
        for cursor in cursors:
            self.acked_seq[cursor.conversation_id] = cursor.seq
        return self.wire(pb.ClientFrame(ref=self.next_ref(), delivered=pb.AckDelivered(cursors=cursors)))

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        with contextlib.suppress(SocketClosed):
            await self.ws.send(self.wire(pb.ClientFrame(ref=self.next_ref(), goodbye=pb.Goodbye())))
        await self.ws.close()


async def sign_up_many(
    url: str,
    user_ids: Iterable[str],
    password: str,
    concurrency: int,
    json: bool = False,
    client: str = DEFAULT_CLIENT,
) -> list[RawUser]:
    """Sign every user up on its own connection, at most `concurrency` at once (argon2 is costly)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(user_id: str) -> RawUser:
        async with gate:
            return await RawUser.sign_up(url, user_id, password, json=json, client=client)

    tasks = [asyncio.create_task(one(u)) for u in user_ids]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        for task in tasks:
            if not task.cancelled() and task.done() and task.exception() is None:
                await task.result().close()
        raise


async def ack_periodically(users: list[RawUser], every_s: float, stop: asyncio.Event) -> None:
    """Batched delivery acks for every user, the way the SDK sends them."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
        for user in users:
            frame = user.ack_frame()
            if frame is not None:
                with contextlib.suppress(SocketClosed):
                    await user.ws.send(frame)


# ------------------------------------------------------------------ pacing


@dataclass
class Pacer:
    """Open-loop pacing: which sends are due by `now_ns`, whatever the server's speed.

    A slow server makes sends pile up rather than slowing the offered load, and each send is
    stamped with the time it was *due*, so queueing in the generator counts as latency (no
    coordinated omission). Wall-clock ns, so stamps compare across processes.
    """

    rate: float  # sends per second
    start_ns: int
    limit: int | None = None  # sends in the whole run (see `for_window`); None = unbounded
    issued: int = 0

    @classmethod
    def for_window(cls, rate: float, start_ns: int, seconds: float) -> Pacer:
        """A pacer for sends due in [start, start + seconds): ceil(rate x seconds) of them."""
        return cls(rate=rate, start_ns=start_ns, limit=math.ceil(rate * seconds - 1e-9))

    def due(self, now_ns: int) -> range:
        """Sends due by `now_ns`: send i is due at start + i / rate (send 0 at the start)."""
        elapsed_ns = now_ns - self.start_ns
        target = int(elapsed_ns * self.rate / 1e9) + 1 if elapsed_ns >= 0 else 0
        if self.limit is not None:
            target = min(target, self.limit)
        due = range(self.issued, max(self.issued, target))
        self.issued = due.stop
        return due

    def scheduled_ns(self, index: int) -> int:
        return self.start_ns + int(index * 1e9 / self.rate)

    def next_due_ns(self) -> int | None:
        """When the next send not yet issued is due (None once the limit is issued)."""
        if self.limit is not None and self.issued >= self.limit:
            return None
        return self.scheduled_ns(self.issued)


# ------------------------------------------------------------------ accounting


@dataclass
class SenderTrack:
    """What one receiver saw from one sender: counters, duplicates, reorderings."""

    seen: set[int] = field(default_factory=set)
    highest: int = -1
    duplicated: int = 0
    reordered: int = 0

    def record(self, counter: int) -> None:
        if counter in self.seen:
            self.duplicated += 1
            return
        self.seen.add(counter)
        if counter < self.highest:
            self.reordered += 1
        else:
            self.highest = counter


@dataclass
class Stats:
    """Latencies (ms) and counts of one worker; `merge` adds another worker's."""

    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    sent: int = 0
    acked: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    errors: int = 0
    first_send_ns: int = 0
    last_receive_ns: int = 0

    def merge(self, other: Stats) -> None:
        self.latencies_ms.extend(other.latencies_ms)
        for name in ("sent", "acked", "received", "lost", "duplicated", "reordered", "errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        firsts = [t for t in (self.first_send_ns, other.first_send_ns) if t]
        self.first_send_ns = min(firsts) if firsts else 0
        self.last_receive_ns = max(self.last_receive_ns, other.last_receive_ns)


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float]:
    ordered = sorted(latencies_ms)
    summary = {
        "p50_ms": percentile(ordered, 0.50),
        "p90_ms": percentile(ordered, 0.90),
        "p99_ms": percentile(ordered, 0.99),
        "p999_ms": percentile(ordered, 0.999),
        "max_ms": ordered[-1] if ordered else 0.0,
        "mean_ms": sum(ordered) / len(ordered) if ordered else 0.0,
    }
    return {k: round(v, 3) for k, v in summary.items()}
