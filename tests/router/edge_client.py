"""A stand-in edge: opens a real Router.Link stream (over gRPC, or without it to a router this
process registered in kernel/link_streams.py, as the edge does), sends EdgeBatches for its
sessions and records every ServerFrame per session, so tests can await what each session
received."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable

from grpc import aio

from kernel.grpc_server import insecure_channel
from kernel.link_streams import LocalLinkStream, local_pump
from protos import client_pb2, router_pb2, router_pb2_grpc

Frame = client_pb2.ServerFrame
WAIT_S = 30.0  # generous: a loaded 2-core machine


class FakeEdge:
    def __init__(self, target: str, edge_id: str) -> None:
        self.target = target
        self.edge_id = edge_id
        self.sessions: dict[int, tuple[str, str]] = {}
        self.frames: dict[int, list[Frame]] = defaultdict(list)
        self.batches_received = 0
        self.items_received = 0
        self.items: list[tuple[list[int], Frame]] = []  # every RouterItem as received
        self.refused: list[router_pb2.EdgeItem] = []  # items handed back STALE_OWNER
        self._changed = asyncio.Condition()
        self._outgoing: asyncio.Queue[router_pb2.EdgeBatch | None] = asyncio.Queue()
        self._channel: aio.Channel | None = None
        self._local: LocalLinkStream | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.ended = asyncio.Event()

    async def connect(self) -> FakeEdge:
        pump = local_pump(self.target)
        if pump is not None:
            self._local = LocalLinkStream(pump)
            self._writer = asyncio.create_task(self._write_local(self._local))
            self._reader = asyncio.create_task(self._read(self._local, lambda: None))
        else:
            self._channel = insecure_channel(self.target)
            stub = router_pb2_grpc.RouterStub(self._channel)
            call = stub.Link(self._requests())
            self._reader = asyncio.create_task(self._read(call, call.cancel))
        # The router learns our edge_id from the first batch: send one straight away.
        self.send_items([])
        return self

    async def close(self) -> None:
        """Half-close our side (a clean link end) and wait for the router to finish the stream."""
        self._outgoing.put_nowait(None)
        async with asyncio.timeout(WAIT_S):
            await self.ended.wait()
        await self._closed()

    async def abort(self) -> None:
        """Drop the link without a goodbye (the edge process died)."""
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._closed()

    async def _closed(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._local is not None:
            await self._local.close()

    # ------------------------------------------------------------------ sending

    def send_items(self, items: Iterable[router_pb2.EdgeItem]) -> None:
        self._outgoing.put_nowait(router_pb2.EdgeBatch(edge_id=self.edge_id, items=items))

    def open(self, session_id: int, user_id: str, device_id: str, *, replay: bool = False) -> None:
        self.sessions[session_id] = (user_id, device_id)
        self.send_items([self.opened_item(session_id, user_id, device_id, replay=replay)])

    def opened_item(
        self, session_id: int, user_id: str, device_id: str, *, replay: bool = False
    ) -> router_pb2.EdgeItem:
        self.sessions[session_id] = (user_id, device_id)
        return router_pb2.EdgeItem(
            session=router_pb2.SessionRef(session_id=session_id, user_id=user_id, device_id=device_id),
            opened=router_pb2.SessionOpened(replay=replay),
        )

    def close_session(self, session_id: int) -> None:
        user_id, device_id = self.sessions.pop(session_id)
        self.send_items(
            [
                router_pb2.EdgeItem(
                    session=router_pb2.SessionRef(
                        session_id=session_id, user_id=user_id, device_id=device_id
                    ),
                    closed=router_pb2.SessionClosed(graceful=True),
                )
            ]
        )

    def frame_item(self, session_id: int, frame: client_pb2.ClientFrame) -> router_pb2.EdgeItem:
        user_id, device_id = self.sessions[session_id]
        return router_pb2.EdgeItem(
            session=router_pb2.SessionRef(session_id=session_id, user_id=user_id, device_id=device_id),
            frame=frame,
        )

    def send_frames(self, session_id: int, *frames: client_pb2.ClientFrame) -> None:
        self.send_items([self.frame_item(session_id, f) for f in frames])

    def send_text(
        self, session_id: int, conversation_id: int, client_msg_id: str, body: str, ref: int = 0
    ) -> None:
        self.send_frames(session_id, text_frame(conversation_id, client_msg_id, body, ref))

    # ---------------------------------------------------------------- receiving

    async def wait(self, session_id: int, predicate: Callable[[list[Frame]], bool]) -> list[Frame]:
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: predicate(self.frames[session_id]))
            return list(self.frames[session_id])

    async def wait_kind(self, session_id: int, kind: str, count: int = 1) -> list[Frame]:
        """Until the session got at least `count` frames of `kind`; returns those frames."""
        await self.wait(session_id, lambda fs: sum(f.WhichOneof("kind") == kind for f in fs) >= count)
        return self.of_kind(session_id, kind)

    async def wait_ref(self, session_id: int, ref: int) -> Frame:
        frames = await self.wait(session_id, lambda fs: any(f.ref == ref for f in fs))
        return next(f for f in frames if f.ref == ref)

    async def registered(self, *session_ids: int) -> None:
        """Until each session got its opening presence snapshot: proof the router processed the
        `opened` (sessions of users who watch nobody get no snapshot; do not use it for them)."""
        for session_id in session_ids:
            await self.wait_kind(session_id, "presence")

    async def wait_refused(self, count: int = 1) -> list[router_pb2.EdgeItem]:
        async with asyncio.timeout(30):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.refused) >= count)
        return self.refused

    def of_kind(self, session_id: int, kind: str) -> list[Frame]:
        return [f for f in self.frames[session_id] if f.WhichOneof("kind") == kind]

    async def _requests(self) -> AsyncIterator[router_pb2.EdgeBatch]:
        while True:
            batch = await self._outgoing.get()
            if batch is None:
                return
            yield batch

    async def _write_local(self, stream: LocalLinkStream) -> None:
        async for batch in self._requests():
            await stream.write(batch.SerializeToString())
        await stream.close()  # our half of the link ends: the router ends its half

    async def _read(
        self, batches: AsyncIterable[router_pb2.RouterBatch], cancel: Callable[[], object]
    ) -> None:
        try:
            async for batch in batches:
                async with self._changed:
                    self.batches_received += 1
                    for item in batch.items:
                        self.items_received += 1
                        if item.HasField("refused"):
                            self.refused.append(item.refused)
                            continue
                        frame = Frame.FromString(item.frame)
                        self.items.append((list(item.session_ids), frame))
                        for session_id in item.session_ids:
                            self.frames[session_id].append(frame)
                    self._changed.notify_all()
        except asyncio.CancelledError:
            cancel()
            raise
        except aio.AioRpcError:
            pass
        finally:
            self.ended.set()


def text_frame(conversation_id: int, client_msg_id: str, body: str, ref: int = 0) -> client_pb2.ClientFrame:
    return client_pb2.ClientFrame(
        ref=ref,
        send=client_pb2.SendMessage(
            conversation_id=conversation_id, client_msg_id=client_msg_id, content_type="text/plain", body=body
        ),
    )
