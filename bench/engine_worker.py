"""One load-generator process of the stepped engine: holds its share of the online users,
paces its share of the offered rate, and records, per (receiver, sender), which counters
arrived (bitsets the parent merges to count loss exactly across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

from bench import json_wire
from bench.client_socket import ClientSocket, SocketClosed
from bench.engine_plan import Plan
from bench.loadgen import (
    Pacer,
    PushedMessage,
    RawUser,
    ack_periodically,
    encode_send,
    open_socket,
    parse_stamp,
    send_prefix,
    sign_up_many,
    stamp,
)
from bench.pool import Command, Handler
from protos import client_pb2 as pb

PACING_TICK_S = 0.001
REPORT_EVERY_NS = 100_000_000


def pause_s(next_due_ns: int | None, end_ns: int, now_ns: int) -> float:
    """How long the send loop sleeps: until the next send is due (or the step ends), but at
    least one tick, so sends due together go out together. Waking every tick whatever the
    rate cost each generator process ~4% of a core at low rates."""
    wake_ns = end_ns if next_due_ns is None else min(next_due_ns, end_ns)
    return max(PACING_TICK_S, (wake_ns - now_ns) / 1e9)


@dataclass
class StepRecord:
    """What one worker saw in one step; plain data so it pickles to the parent."""

    sent: dict[str, int] = field(default_factory=dict)  # sender -> sends this step
    acked: dict[str, int] = field(default_factory=dict)  # sender -> bitset of acked counters
    seen: dict[tuple[str, str], int] = field(default_factory=dict)  # (receiver, sender) -> bitset
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    received: int = 0
    duplicated: int = 0
    reordered: int = 0
    errors: int = 0
    first_send_ns: int = 0
    last_receive_ns: int = 0


class EchoUser:
    """A baseline connection: same sends, but the server echoes the frame back unchanged."""

    ws: ClientSocket

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.on_data: Callable[[EchoUser, bytes], None] | None = None
        self._ref = 0

    @classmethod
    async def connect(cls, url: str, user_id: str, client: str) -> EchoUser:
        user = cls(user_id)
        user.ws = await open_socket(url, None, user._on_data, lambda: None, client=client)
        return user

    def next_ref(self) -> int:
        self._ref += 1
        return self._ref

    def _on_data(self, data: bytes | str) -> None:
        if self.on_data is not None:
            self.on_data(self, data if isinstance(data, bytes) else data.encode())

    async def close(self) -> None:
        await self.ws.close()


class Worker:
    def __init__(self, plan: Plan, index: int, processes: int, counters: SynchronizedArray[int]) -> None:
        self.plan = plan
        self.index = index
        self.processes = processes
        self.counters = counters
        self.names = plan.users_of(index, processes)
        self.users: list[Any] = []  # RawUser or EchoUser, aligned with self.names
        self.prefixes: dict[str, bytes] = {}
        self.conversation_ids: dict[str, int] = {}
        self.step_no = 0
        self.record = StepRecord()
        self.step_start_ns = 0

    async def setup(self) -> None:
        plan = self.plan
        if plan.echo:
            echoes = (EchoUser.connect(plan.url, name, plan.client) for name in self.names)
            self.users = list(await asyncio.gather(*echoes))
            for user in self.users:
                user.on_data = self._on_echo
            return
        concurrency = max(1, plan.signup_concurrency // self.processes)
        self.users = await sign_up_many(
            plan.url, self.names, plan.password, concurrency, plan.json, plan.client
        )
        if self.index == 0 and plan.offline_users():
            offline = await sign_up_many(
                plan.url, plan.offline_users(), plan.password, concurrency, client=plan.client
            )
            await asyncio.gather(*(u.close() for u in offline))
        for raw in self.users:
            raw.on_frame = self._on_frame
            raw.on_message = self._on_message

    async def open(self) -> dict[int, int]:
        """Open the conversations whose first online member is ours: {conversation index: id}."""
        if self.plan.echo:
            return {}
        mine = {u.user_id: u for u in self.users}
        opened: dict[int, int] = {}
        for position, conversation in enumerate(self.plan.conversations):
            creator = mine.get(conversation.online[0])
            if creator is None:
                continue
            if conversation.group:
                members = [*conversation.online[1:], *conversation.offline]
                frame = pb.ClientFrame(create_group=pb.CreateGroup(title="bench", member_ids=members))
                reply = await creator.request(frame)
            else:
                reply = await creator.request(
                    pb.ClientFrame(open_direct=pb.OpenDirect(peer_id=conversation.online[1]))
                )
            if reply.WhichOneof("kind") != "conversation":
                raise RuntimeError(f"opening conversation {position}: {reply}")
            opened[position] = reply.conversation.conversation_id
        return opened

    def learn(self, conversation_ids: dict[int, int]) -> None:
        for position, conversation in enumerate(self.plan.conversations):
            conversation_id = conversation_ids.get(position, 0)
            prefix = send_prefix(conversation_id)
            for name in conversation.online:
                self.prefixes[name] = prefix
                self.conversation_ids[name] = conversation_id

    # ---------------------------------------------------------------- receiving

    def _record(self, receiver: str, sender: str, sent_ns: int, counter: int, now_ns: int) -> None:
        record = self.record
        seen = record.seen
        key = (receiver, sender)
        bits = seen.get(key, 0)
        if bits >> counter & 1:
            record.duplicated += 1
            return
        seen[key] = bits | 1 << counter
        if bits >> counter:  # a higher counter of this sender came first
            record.reordered += 1
        record.latencies_ms.append((now_ns - sent_ns) / 1e6)
        record.received += 1
        record.last_receive_ns = now_ns

    def _on_message(self, user: RawUser, message: PushedMessage) -> None:
        now_ns = time.time_ns()
        sent_ns, counter = parse_stamp(message.body)
        if sent_ns >= self.step_start_ns:  # not a straggler of an earlier step
            self._record(user.user_id, message.sender_id, sent_ns, counter, now_ns)

    def _on_frame(self, user: RawUser, frame: pb.ServerFrame) -> None:
        kind = frame.WhichOneof("kind")
        if kind == "sent":
            step, _, number = frame.sent.client_msg_id.partition(".")
            if int(step) == self.step_no:
                acked = self.record.acked
                acked[user.user_id] = acked.get(user.user_id, 0) | (1 << int(number))
        elif kind == "error":
            self.record.errors += 1

    def _on_echo(self, user: EchoUser, data: bytes) -> None:
        now_ns = time.time_ns()
        sent_ns, counter = parse_stamp(pb.ClientFrame.FromString(data).send.body)
        if sent_ns >= self.step_start_ns:
            self._record(user.user_id, user.user_id, sent_ns, counter, now_ns)

    # ---------------------------------------------------------------- a step

    async def send(self, rate: float, start_ns: int, seconds: float) -> dict[str, int]:
        """Send this worker's share of `rate` for `seconds` from `start_ns`; -> sends per sender."""
        self.step_no += 1
        self.record = StepRecord(first_send_ns=start_ns)
        self.step_start_ns = start_ns
        users = self.users
        count = len(users)
        counters = [0] * count
        share = rate * count / self.plan.online_count()
        pacer = Pacer.for_window(share, start_ns, seconds)
        end_ns = start_ns + int(seconds * 1e9)
        step = b"%d." % self.step_no
        encoders = [self._send_encoder(u.user_id) for u in users]
        await asyncio.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))
        next_report = 0
        while True:
            now_ns = min(time.time_ns(), end_ns)
            for index in pacer.due(now_ns):
                k = index % count
                user = users[k]
                counter = counters[k]
                counters[k] = counter + 1
                body = stamp(pacer.scheduled_ns(index), counter)
                with contextlib.suppress(SocketClosed):
                    await user.ws.send(encoders[k](user.next_ref(), step + b"%d" % counter, body))
            if now_ns >= next_report:
                self._report(pacer.issued)
                next_report = now_ns + REPORT_EVERY_NS
            if now_ns >= end_ns:
                break
            await asyncio.sleep(pause_s(pacer.next_due_ns(), end_ns, time.time_ns()))
        self._report(pacer.issued)
        self.record.sent = {u.user_id: c for u, c in zip(users, counters, strict=True)}
        if self.plan.echo:  # no separate ack: a send is "acked" when it was sent
            self.record.acked = {name: (1 << c) - 1 for name, c in self.record.sent.items()}
        return self.record.sent

    def _send_encoder(self, name: str) -> Callable[[int, bytes, bytes], bytes | str]:
        """(ref, client_msg_id, body) -> the send frame of `name`, in the plan's subprotocol."""
        if self.plan.json:
            conversation_id = self.conversation_ids.get(name, 0)
            return lambda ref, msg_id, body: json_wire.encode_send(ref, conversation_id, msg_id, body)
        prefix = self.prefixes.get(name, b"")
        return lambda ref, msg_id, body: encode_send(ref, prefix, msg_id, body)

    async def drain(self, all_sent: dict[str, int], drain_s: float) -> StepRecord:
        """Wait (bounded) until our sends are acked and our receivers hold all they should."""
        expected = sum(all_sent.get(s, 0) for r in self.names for s in self.plan.senders_to(r))
        my_sent = sum(self.record.sent.values())
        deadline = time.monotonic() + drain_s
        stop_acks = asyncio.Event()
        acker = None if self.plan.echo else asyncio.create_task(ack_periodically(self.users, 0.2, stop_acks))
        while time.monotonic() < deadline:
            acked = sum(bin(b).count("1") for b in self.record.acked.values())
            if self.record.received >= expected and acked >= my_sent:
                break
            self._report(my_sent)
            await asyncio.sleep(0.05)  # polling a bench's counters, not a test waiting for an event
        stop_acks.set()
        if acker is not None:
            await acker
        self._report(my_sent)
        return self.record

    def _report(self, sent: int) -> None:
        self.counters[2 * self.index] = sent
        self.counters[2 * self.index + 1] = self.record.received

    async def close(self) -> None:
        await asyncio.gather(*(u.close() for u in self.users), return_exceptions=True)


def handler(plan: Plan, index: int, processes: int, counters: SynchronizedArray[int]) -> Handler:
    """This process's side of the engine: setup, open, learn, then step/expect until stop."""
    worker = Worker(plan, index, processes, counters)

    async def handle(command: Command) -> Any:
        kind = command[0]
        if kind == "setup":
            return await worker.setup()
        if kind == "open":
            return await worker.open()
        if kind == "learn":
            return worker.learn(command[1])
        if kind == "step":
            return await worker.send(command[1], command[2], command[3])
        if kind == "expect":
            return await worker.drain(command[1], command[2])
        if kind == "stop":
            return await worker.close()
        raise ValueError(f"unknown command {kind!r}")

    return handle
