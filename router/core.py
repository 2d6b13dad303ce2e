"""The router's dispatcher: takes EdgeItems from a link and routes them to the send, receipt,
command and presence paths. No gRPC here beyond the stubs in the context."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kernel.background import BackgroundTask
from kernel.errors import BadFrame, HubbubError, Internal, InvalidArgument, StaleOwner, Unavailable
from protos import client_pb2, router_pb2
from router.commands import CommandPath
from router.context import RouterContext
from router.directory import ReachableDirectory
from router.directory_expiry import expire_forever
from router.frames import Origin, error_frame
from router.ownership import frame_partitions
from router.presence_fanout import PresenceFanout
from router.receipts import ReceiptPath
from router.sends import SendPath

log = logging.getLogger(__name__)

# Command frames (typing, group and contact changes) being handled at once, across all edges.
MAX_COMMANDS_IN_FLIGHT = 10_000

Command = Callable[[Origin, client_pb2.ClientFrame], Awaitable[None]]


class RouterCore:
    def __init__(self, ctx: RouterContext) -> None:
        self.ctx = ctx
        # A shared directory is written by the edges under their leases; the router only reads
        # it and expires lapsed leases. Else (memory) the links feed it.
        self._directory_shared = ctx.config.directory_shared
        if self._directory_shared:  # users on an edge not linked to this router go to push
            ctx.directory = ReachableDirectory(ctx.directory, ctx.links.linked)
        self.sends = SendPath(ctx)
        self.receipts = ReceiptPath(ctx)
        self.presence = PresenceFanout(ctx)
        self.commands = CommandPath(ctx, self.presence)
        self._commands: dict[str, Command] = {
            "typing": self.commands.typing,
            "open_direct": self.commands.open_direct,
            "create_group": self.commands.create_group,
            "update_group": self.commands.update_group,
            "contact": self.commands.contact,
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self.max_commands_in_flight = MAX_COMMANDS_IN_FLIGHT
        self._expiry = BackgroundTask(
            "directory-expiry",
            lambda: expire_forever(ctx.directory, ctx.config.directory_expiry_check_ms, ctx.clock.now_ms),
        )

    def start(self) -> None:
        self.ctx.ownership.start()
        self.ctx.push.start()
        self.sends.start()
        self.receipts.start()
        self.presence.start()
        if self._directory_shared:
            self._expiry.start()

    async def stop(self) -> None:
        await self._expiry.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.presence.stop()
        await self.receipts.stop()
        await self.sends.stop()
        await self.ctx.push.stop()
        await self.ctx.ownership.stop()

    async def handle_batch(self, edge_id: str, batch: router_pb2.EdgeBatch) -> None:
        """Every item on its own: a malformed one is answered (when it can be) and skipped."""
        for item in batch.items:
            try:
                await self._handle_item(edge_id, item)
            except HubbubError as exc:
                self._answer_error(edge_id, item, exc)
            except Exception:  # the boundary: log, answer INTERNAL, keep the link
                log.exception("router: item from %s failed", edge_id)
                self._answer_error(edge_id, item, Internal("internal error"))

    async def edge_gone(self, edge_id: str) -> None:
        if self._directory_shared:  # never cleared for one link: the edge's lease decides
            log.info("edge %s link ended: its sessions stay while its lease lives", edge_id)
            return
        dropped = await self.ctx.directory.drop_edge(edge_id)
        log.info("edge %s link ended: dropped %d sessions", edge_id, dropped)

    async def _handle_item(self, edge_id: str, item: router_pb2.EdgeItem) -> None:
        session = item.session
        origin = Origin(edge_id, session.session_id, session.user_id, session.device_id)
        kind = item.WhichOneof("kind")
        if kind == "frame":
            if not session.user_id:
                raise BadFrame("frame without an authenticated session")
            frame = item.frame
            what = frame.WhichOneof("kind")
            ownership = self.ctx.ownership
            if ownership.fenced:
                try:
                    ownership.check(frame_partitions(frame, session.user_id, ownership.partitions))
                except StaleOwner:
                    # Not ours (any more): back to the edge, which re-routes it by a newer map.
                    ownership.refused += 1
                    self.ctx.links.refuse(edge_id, item)
                    return
            if what == "send":
                if not frame.send.conversation_id:
                    raise InvalidArgument("send needs a conversationId")
                self.sends.submit(origin, frame, item.reroutes, item.reroute_deadline_ms)
            elif what == "delete_message":
                if not frame.delete_message.conversation_id or not frame.delete_message.seq:
                    raise InvalidArgument("delete_message needs a conversationId and a seq")
                self.sends.submit(origin, frame, item.reroutes, item.reroute_deadline_ms)
            elif what == "delivered" or what == "read":
                self.receipts.submit(origin, frame)
            elif what is not None and what in self._commands:
                self._spawn(self._commands[what], origin, frame)
            else:
                raise BadFrame(f"the router does not handle {what or 'an empty'} frame")
        elif kind == "opened":
            if not session.user_id:
                raise BadFrame("opened without a user")
            if not self._directory_shared:
                await self.ctx.directory.add(edge_id, session.user_id, session.session_id, session.device_id)
            if not item.opened.replay:
                self.presence.on_session_opened(origin)
        elif kind == "closed":
            if not self._directory_shared:
                await self.ctx.directory.remove(edge_id, session.session_id)
        else:
            raise BadFrame("empty edge item")

    def _spawn(self, handler: Command, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        if len(self._tasks) >= self.max_commands_in_flight:
            # Messaging is slow and commands pile up: refuse (retryable) rather than grow.
            raise Unavailable("router busy, retry")
        task = asyncio.create_task(self._guarded(handler, origin, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, handler: Command, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        try:
            await handler(origin, frame)
        except HubbubError as exc:
            self.ctx.reply(origin, error_frame(frame.ref, exc))
        except Exception:
            log.exception("router: handler failed for %s", origin.user_id)
            self.ctx.reply(origin, error_frame(frame.ref, Internal("internal error")))

    def _answer_error(self, edge_id: str, item: router_pb2.EdgeItem, error: HubbubError) -> None:
        if not item.HasField("session"):
            log.warning("router: dropped an item from %s without a session: %r", edge_id, error)
            return
        ref = item.frame.ref if item.HasField("frame") else 0
        self.ctx.links.send(edge_id, (item.session.session_id,), error_frame(ref, error))
