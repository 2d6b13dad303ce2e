"""Steady traffic on a cluster and the checks of what it left behind (Jepsen-style: faults
are injected while it runs, the history is checked afterwards). Members send to every shared
group in a loop, retrying an unanswered or refused send with the same client_msg_id until it
is acked, and record every push; the checker then reads the stored history and asserts:
nothing acked is lost, nothing is stored twice, every member saw the same order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed

from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient

PACE_S = 0.05
"""Between one member's acked send and its next to a conversation: steady, not a flood."""
RETRY_PAUSE_S = 0.2
"""Before retrying a send that failed (a backoff, not a wait for an event)."""


@dataclass(frozen=True)
class Ack:
    user_id: str
    conversation_id: int
    seq: int
    client_msg_id: str
    at: float  # time.monotonic() when the ack arrived
    sent_at: float  # when its first attempt went out (an ack just after a fault may be older)


EdgeChooser = Callable[[str, str, str], Awaitable[str]]
"""(user_id, device_id, previous edge id) -> the ws URL to connect to (discovery's answer)."""


@dataclass
class Member:
    user_id: str
    client: WireClient
    choose_edge: EdgeChooser | None = None
    """How this member finds an edge again when its connection drops; None = it must not drop."""
    received: dict[int, list[pb.Message]] = field(default_factory=lambda: defaultdict(list))
    reconnects: int = 0
    reconnected_at: float = 0.0
    _reader: asyncio.Task[None] | None = None
    _reconnecting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def start_reading(self) -> None:
        async def read(client: WireClient) -> None:
            while True:
                frame = await client.pushes.get()
                if frame.WhichOneof("kind") == "message":
                    self.received[frame.message.conversation_id].append(frame.message)

        self._reader = asyncio.create_task(read(self.client))

    async def reconnect(self, lost: WireClient) -> WireClient:
        """What a client does when its edge goes: ask discovery for an edge, connect there
        with its token, again until one takes it. Sends resume after; what it missed live it
        gets from history (check below)."""
        async with self._reconnecting:
            if self.client is not lost:  # another send loop of this member did it already
                return self.client
            assert self.choose_edge is not None, f"{self.user_id} lost its connection"
            await self.stop_reading()
            while True:
                try:
                    url = await self.choose_edge(
                        self.user_id, self.client.welcome.device_id, self.client.welcome.edge_id
                    )
                    client = await WireClient.with_token(
                        url, self.client.welcome.token, self.client.welcome.device_id
                    )
                    break
                except (OSError, TimeoutError, ConnectionError, AssertionError):
                    await asyncio.sleep(RETRY_PAUSE_S)
            client.welcome.token = client.welcome.token or self.client.welcome.token
            client.keep_alive(2.0)
            self.client = client
            self.reconnects += 1
            self.reconnected_at = time.monotonic()
            self.start_reading()
            return client

    async def stop_reading(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def send_until_acked(member: Member, conversation_id: int, client_msg_id: str) -> pb.Sent:
    """What a client does: the same send again (same client_msg_id) until it is acked, on a
    new connection if the old one dropped. A non-retryable error fails the test: no fault
    here may cost a user a message."""
    while True:
        client = member.client
        try:
            reply = await client.send_text(conversation_id, f"body of {client_msg_id}", client_msg_id)
        except (TimeoutError, ConnectionError, ConnectionClosed):
            if client.closed.is_set():
                await member.reconnect(client)
            else:
                await asyncio.sleep(RETRY_PAUSE_S)
            continue
        kind = reply.WhichOneof("kind")
        if kind == "sent":
            return reply.sent
        assert kind == "error" and reply.error.retryable, f"{client_msg_id}: {reply}"
        await asyncio.sleep(RETRY_PAUSE_S)


class Traffic:
    def __init__(self, members: list[Member], conversations: list[int]) -> None:
        self.members = members
        self.conversations = conversations
        self.acks: list[Ack] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for member in self.members:
            member.start_reading()
            for conversation in self.conversations:
                self._tasks.append(asyncio.create_task(self._send_loop(member, conversation)))

    async def _send_loop(self, member: Member, conversation: int) -> None:
        n = 0
        while not self._stopping.is_set():
            client_msg_id = f"{member.user_id}-{conversation}-{n}"
            sent_at = time.monotonic()
            sent = await send_until_acked(member, conversation, client_msg_id)
            self.acks.append(
                Ack(member.user_id, conversation, sent.seq, client_msg_id, time.monotonic(), sent_at)
            )
            n += 1
            await asyncio.sleep(PACE_S)

    async def until_every_member_acks_after(self, since: float, timeout_s: float) -> float:
        """Seconds from `since` until every member has had a send begun after it acked."""
        users = {m.user_id for m in self.members}
        async with asyncio.timeout(timeout_s):
            while {a.user_id for a in self.acks if a.sent_at > since} != users:
                self._raise_failures()
                await asyncio.sleep(0.05)  # polls a list this process fills: no event to wait on
        return (
            max(min(a.at for a in self.acks if a.sent_at > since and a.user_id == u) for u in users) - since
        )

    def missed_live_after(self, member: Member, since: float, settle_s: float = 1.0) -> int:
        """Messages others had acked over `settle_s` after `since` (when `member` reconnected,
        or the registry held it again) that it never got pushed though it was online."""
        got = {(c, m.seq) for c, messages in member.received.items() for m in messages}
        after = since + settle_s
        return sum(
            1
            for a in self.acks
            if a.user_id != member.user_id and a.at > after and (a.conversation_id, a.seq) not in got
        )

    def acked_since(self, since: float) -> set[int]:
        """The conversations with an ack of a send begun after `since` (an ack arriving just
        after a fault may answer a send the failed router had taken before it)."""
        return {a.conversation_id for a in self.acks if a.sent_at > since}

    async def until_every_conversation_acks_after(self, since: float, timeout_s: float) -> float:
        """Seconds from `since` until every conversation has had a send begun after it acked
        (the recovery time a user notices)."""
        async with asyncio.timeout(timeout_s):
            while self.acked_since(since) != set(self.conversations):
                self._raise_failures()
                await asyncio.sleep(0.05)  # polls a list this process fills: no event to wait on
        firsts = [
            min(a.at for a in self.acks if a.sent_at > since and a.conversation_id == c)
            for c in self.conversations
        ]
        return max(firsts) - since

    async def until_acks(self, count: int, timeout_s: float) -> None:
        target = len(self.acks) + count
        async with asyncio.timeout(timeout_s):
            while len(self.acks) < target:
                self._raise_failures()
                await asyncio.sleep(0.05)

    def _raise_failures(self) -> None:
        for task in self._tasks:
            if task.done() and task.exception() is not None:
                raise AssertionError("a sender failed") from task.exception()

    async def stop(self) -> None:
        """Let every send in flight finish (acked), then stop."""
        self._stopping.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 120)
        for member in self.members:
            await member.stop_reading()


async def history(client: WireClient, conversation_id: int) -> list[pb.Message]:
    """The whole stored conversation, oldest first, page by page."""
    messages: list[pb.Message] = []
    while True:
        anchor = messages[-1].seq if messages else 0
        reply = await client.request(
            pb.ClientFrame(
                history=pb.FetchHistory(
                    conversation_id=conversation_id,
                    anchor_seq=anchor,
                    direction=pb.HISTORY_DIRECTION_AFTER,
                    limit=100,
                )
            )
        )
        assert reply.WhichOneof("kind") == "history", reply
        messages.extend(reply.history.messages)
        if not reply.history.has_more:
            return messages


def late_pushes(got: list[pb.Message]) -> list[tuple[int, int, bool]]:
    """(seq before, seq pushed after it, a second copy?) for every push that did not come
    after the ones before it: a member seeing its conversation out of order."""
    seen: set[int] = set()
    late = []
    highest = 0
    for message in got:
        if message.seq <= highest:
            late.append((highest, message.seq, message.seq in seen))
        highest = max(highest, message.seq)
        seen.add(message.seq)
    return late


async def check(traffic: Traffic, reader: WireClient) -> tuple[dict[str, int], list[str]]:
    """Assert the storage guarantees over what the traffic left (nothing acked lost, nothing
    stored twice, gap-free seqs, every push the stored message). Returns counts to print and
    the live order violations (a push arriving after a later seq), which the caller asserts."""
    gaps = 0
    disorder: list[str] = []
    for conversation in traffic.conversations:
        stored = await history(reader, conversation)
        seqs = [m.seq for m in stored]
        assert seqs == list(range(1, len(stored) + 1)), f"conversation {conversation}: seqs not gap-free"
        keys = [(m.sender_id, m.client_msg_id) for m in stored]
        assert len(keys) == len(set(keys)), f"conversation {conversation}: a message stored twice"
        by_seq = {m.seq: m for m in stored}
        for ack in (a for a in traffic.acks if a.conversation_id == conversation):
            assert ack.seq in by_seq and by_seq[ack.seq].client_msg_id == ack.client_msg_id, (
                f"acked {ack.client_msg_id} as seq {ack.seq} of {conversation}, not stored there"
            )
        for member in traffic.members:
            got = member.received[conversation]
            late = late_pushes(got)
            if late:
                disorder.append(
                    f"{member.user_id} in {conversation}: {len(late)} pushes after a later seq "
                    f"(before, late, again?): {late[:4]}"
                )
            assert all(by_seq[m.seq].message_id == m.message_id for m in got), (
                f"{member.user_id} saw another order than the store's"
            )
            # What it missed live (a push lost with a dead router) it gets by asking from its
            # last seq, as a client resuming does.
            others = [m.seq for m in stored if m.sender_id != member.user_id]
            missed = sorted(set(others) - {m.seq for m in got})
            gaps += len(missed)
            if missed:
                after = [m for m in await history(member.client, conversation) if m.seq >= missed[0]]
                assert {m.seq for m in after} >= set(missed)
    return {"acked": len(traffic.acks), "live gaps filled by history": gaps}, disorder
