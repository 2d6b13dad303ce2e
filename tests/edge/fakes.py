"""Stand-ins for the router, messaging and presence services: small grpc.aio servicers
speaking the real protos, so the edge is tested against real gRPC servers on port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from grpc import aio

from kernel import link_streams
from kernel.errors import NotFound, Unauthenticated
from kernel.grpc_boundary import servicer_errors
from kernel.grpc_server import GrpcService, start_grpc_server
from kernel.tokens import issue_token
from protos import client_pb2 as pb
from protos import messaging_pb2 as mpb
from protos import messaging_pb2_grpc, presence_pb2_grpc, router_pb2_grpc
from protos import presence_pb2 as ppb
from protos import router_pb2 as rpb

SECRET = "edge-test-secret"
NOW_MS = 1_700_000_000_000
Ctx = aio.ServicerContext[Any, Any]


class FakeRouter(router_pb2_grpc.RouterServicer):
    """Acks every send with Sent and echoes it as a Message to every other open session.

    Tests read `items` (every EdgeItem received, in order) and may `push` frames."""

    def __init__(self) -> None:
        self.items: asyncio.Queue[rpb.EdgeItem] = asyncio.Queue()
        self.sessions: dict[int, rpb.SessionRef] = {}
        self.seq = 0
        self.links = 0
        self.refuse_all = False  # answer every frame STALE_OWNER (a router that lost its partitions)
        self.answer_receipts = False  # answer delivered/read with CursorsStored
        self.withhold = False  # keep every answer back until release() (a slow router)
        self._withheld: list[rpb.RouterBatch] = []
        self._outs: list[asyncio.Queue[rpb.RouterBatch | None]] = []

    async def Link(
        self, request_iterator: AsyncIterator[rpb.EdgeBatch], context: Ctx | None
    ) -> AsyncGenerator[rpb.RouterBatch, None]:
        out: asyncio.Queue[rpb.RouterBatch | None] = asyncio.Queue(maxsize=4)
        self._outs.append(out)
        self.links += 1

        async def read() -> None:
            async for batch in request_iterator:
                assert batch.edge_id
                reply = rpb.RouterBatch()
                for item in batch.items:
                    self._handle(item, reply)
                    self.items.put_nowait(item)
                if reply.items and self.withhold:
                    self._withheld.append(reply)
                elif reply.items:
                    await out.put(reply)
            await out.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (batch := await out.get()) is not None:
                yield batch
        finally:
            reader.cancel()
            self._outs.remove(out)

    def local(self, request_iterator: AsyncIterator[rpb.EdgeBatch]) -> AsyncGenerator[rpb.RouterBatch, None]:
        """A Link from an edge in this process (kernel/link_streams.py)."""
        return self.Link(request_iterator, None)

    def end_links(self) -> None:
        """End every link, as a router stopping does."""
        for out in self._outs:
            while out.full():
                out.get_nowait()  # what the stopped router had not sent yet is lost with it
            out.put_nowait(None)

    async def release(self) -> None:
        """Send the answers kept back (on the first link), and stop keeping them."""
        self.withhold = False
        withheld, self._withheld = self._withheld, []
        for reply in withheld:
            await self._outs[0].put(reply)

    def _handle(self, item: rpb.EdgeItem, reply: rpb.RouterBatch) -> None:
        kind = item.WhichOneof("kind")
        if kind == "opened":
            self.sessions[item.session.session_id] = item.session
        elif kind == "closed":
            self.sessions.pop(item.session.session_id, None)
        elif self.refuse_all:
            reply.items.add(refused=item)
        elif self.answer_receipts and item.frame.WhichOneof("kind") in ("delivered", "read"):
            frame = item.frame
            cursors = frame.delivered.cursors if frame.HasField("delivered") else frame.read.cursors
            answer = pb.ServerFrame(ref=frame.ref, cursors_stored=pb.CursorsStored(cursors=len(cursors)))
            reply.items.add(session_ids=[item.session.session_id], frame=answer.SerializeToString())
        elif item.frame.WhichOneof("kind") == "send":
            send = item.frame.send
            self.seq += 1
            sent = pb.Sent(
                conversation_id=send.conversation_id, seq=self.seq, client_msg_id=send.client_msg_id
            )
            ack = pb.ServerFrame(ref=item.frame.ref, sent=sent)
            reply.items.add(session_ids=[item.session.session_id], frame=ack.SerializeToString())
            message = pb.Message(
                conversation_id=send.conversation_id,
                seq=self.seq,
                sender_id=item.session.user_id,
                client_msg_id=send.client_msg_id,
                body=send.body,
            )
            others = [sid for sid in self.sessions if sid != item.session.session_id]
            if others:
                reply.items.add(session_ids=others, frame=pb.ServerFrame(message=message).SerializeToString())

    async def WatchPartitions(
        self, request: rpb.WatchPartitionsRequest, context: Ctx
    ) -> AsyncIterator[rpb.PartitionMapUpdate]:
        raise NotImplementedError  # the edge tests give the map in process
        yield rpb.PartitionMapUpdate()

    async def MovePartition(self, request: rpb.MovePartitionRequest, context: Ctx) -> rpb.PartitionOwner:
        raise NotImplementedError

    async def push(self, batch: rpb.RouterBatch) -> None:
        """Send a batch down the current link; waits while the link's queue is full."""
        await self._outs[-1].put(batch)

    async def next_item(self, kind: str, wait_s: float = 30.0) -> rpb.EdgeItem:
        """The next received EdgeItem of this kind (`opened`, `closed`, or a frame kind)."""
        async with asyncio.timeout(wait_s):
            while True:
                item = await self.items.get()
                item_kind = item.WhichOneof("kind")
                if item_kind == kind or (item_kind == "frame" and item.frame.WhichOneof("kind") == kind):
                    return item


class FakeAccounts(messaging_pb2_grpc.AccountsServicer):
    """bob/password123 logs in; sign-up of anyone but `taken` works."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.token_checks = 0

    @servicer_errors
    async def LogIn(self, request: mpb.LogInRequest, context: Ctx) -> mpb.AuthReply:
        if (request.user_id, request.password) != ("bob", "password123"):
            raise Unauthenticated("wrong user or password")
        token, expires = issue_token(SECRET, request.user_id, NOW_MS, 3_600_000)
        return mpb.AuthReply(user_id=request.user_id, token=token, expires_at_ms=expires)

    @servicer_errors
    async def SignUp(self, request: mpb.SignUpRequest, context: Ctx) -> mpb.AuthReply:
        token, expires = issue_token(SECRET, request.user_id, NOW_MS, 3_600_000)
        return mpb.AuthReply(user_id=request.user_id, token=token, expires_at_ms=expires)

    @servicer_errors
    async def TokenGenerations(self, request: mpb.UserList, context: Ctx) -> mpb.TokenGenerationList:
        """Everyone exists at generation 0 but "ghost"; `revoked` users are at generation 1."""
        self.token_checks += 1
        return mpb.TokenGenerationList(
            users=[
                mpb.TokenGeneration(user_id=u, generation=1 if u in self.revoked else 0)
                for u in request.user_ids
                if u != "ghost"
            ]
        )

    @servicer_errors
    async def RevokeTokens(self, request: mpb.UserRequest, context: Ctx) -> mpb.TokenGeneration:
        self.revoked.add(request.user_id)
        return mpb.TokenGeneration(user_id=request.user_id, generation=1)


class FakeMessaging(messaging_pb2_grpc.MessagingServicer):
    """History of conversation 1 has two messages, of conversation 2 ten of 100,000 characters
    (a reply of about 1 MB); any other conversation is NOT_FOUND."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.history_gate: asyncio.Event | None = None  # set: History answers only once it is set

    @servicer_errors
    async def History(self, request: mpb.HistoryRequest, context: Ctx) -> pb.HistoryPage:
        self.requests.append(request)
        if self.history_gate is not None:
            await self.history_gate.wait()
        if request.query.conversation_id == 2:
            big = [pb.Message(conversation_id=2, seq=s, body="x" * 100_000) for s in range(1, 11)]
            return pb.HistoryPage(conversation_id=2, messages=big)
        if request.query.conversation_id != 1:
            raise NotFound("no such conversation")
        messages = [pb.Message(conversation_id=1, seq=s, body=f"m{s}") for s in (1, 2)]
        return pb.HistoryPage(conversation_id=1, messages=messages)

    @servicer_errors
    async def Resume(self, request: mpb.ResumeRequest, context: Ctx) -> mpb.ResumeReply:
        self.requests.append(request)
        pages = [
            pb.HistoryPage(conversation_id=c.conversation_id, messages=[pb.Message(seq=c.seq + 1)])
            for c in request.resume.cursors
        ]
        return mpb.ResumeReply(pages=pages)

    @servicer_errors
    async def ReadBy(self, request: mpb.ReadByRequest, context: Ctx) -> pb.ReadByReply:
        return pb.ReadByReply(conversation_id=request.conversation_id, seq=request.seq, read_by=["carol"])


class FakePresence(presence_pb2_grpc.PresenceServicer):
    def __init__(self) -> None:
        self.reports: asyncio.Queue[ppb.EdgeReport] = asyncio.Queue()

    async def Report(self, request: ppb.EdgeReport, context: Ctx) -> ppb.ReportReply:
        self.reports.put_nowait(request)
        return ppb.ReportReply(server_time_ms=NOW_MS)

    async def next_change(self, online: bool, wait_s: float = 30.0) -> ppb.SessionChange:
        """The next non-snapshot change with this online flag (lease renewals are skipped)."""
        async with asyncio.timeout(wait_s):
            while True:
                report = await self.reports.get()
                for change in report.changes:
                    if change.online == online and not report.full_snapshot:
                        return change


@dataclass
class RouterServer:
    """A FakeRouter serving Link over gRPC; `local`: edges of this process reach it without."""

    router: FakeRouter
    grpc: GrpcService
    unregister: Callable[[], None] = lambda: None

    @property
    def target(self) -> str:
        return self.grpc.target

    @property
    def port(self) -> int:
        return self.grpc.port

    async def stop(self, grace: float = 0) -> None:
        self.unregister()
        self.router.end_links()
        await self.grpc.stop(grace)


async def start_router(router: FakeRouter, port: int = 0, *, local: bool = False) -> RouterServer:
    server = await start_grpc_server(
        "fake-router", lambda s: router_pb2_grpc.add_RouterServicer_to_server(router, s), port=port
    )
    started = RouterServer(router, server)
    if local:
        started.unregister = link_streams.register(server.target, router.local)
    return started


async def start_messaging(messaging: FakeMessaging) -> GrpcService:
    def register(server: aio.Server) -> None:
        messaging_pb2_grpc.add_AccountsServicer_to_server(FakeAccounts(), server)  # type: ignore[abstract]
        messaging_pb2_grpc.add_MessagingServicer_to_server(messaging, server)

    return await start_grpc_server("fake-messaging", register)


async def start_presence(presence: FakePresence) -> GrpcService:
    return await start_grpc_server(
        "fake-presence", lambda s: presence_pb2_grpc.add_PresenceServicer_to_server(presence, s)
    )
