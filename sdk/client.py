"""The asyncio chat client: typed request helpers that await their reply by ref, a stream of
pushed events in order, heartbeats, and reconnect with backoff + Resume that loses nothing.

Ordering, dedupe, gap filling and ack batching are decided by the sans-I/O `SyncState`; this
module only pumps frames between it, the transport and the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from kernel.errors import (
    BadFrame,
    HubbubError,
    InvalidArgument,
    RateLimited,
    Unauthenticated,
    Unavailable,
    error_from_code,
)
from kernel.limits import MAX_RECEIPT_CURSORS
from protos import client_pb2 as pb
from sdk.connection import AuthMode, Credentials, backoff_delay, handshake, hello_frame
from sdk.direct_chats import DirectChats
from sdk.discovery import assign_edge
from sdk.events import ConnectionChanged, ConnectionState, Event
from sdk.sync_state import AckPolicy, FetchRequest, SyncResult, SyncState
from sdk.transport import Transport, TransportClosed, TransportKind, open_transport


@dataclass(frozen=True)
class ClientOptions:
    """Tunables, each with a default that suits an interactive client."""

    request_timeout: float = 10.0  # per attempt; a silent request drops the connection and retries
    send_attempts: int = 3  # attempts of an idempotent request (same client_msg_id) before giving up
    rate_limit_retries: int = 5  # times an idempotent request refused RATE_LIMITED waits and retries
    connect_timeout: float = 10.0
    reconnect: bool = True
    reconnect_base: float = 0.2  # seconds; full-jitter exponential backoff
    reconnect_cap: float = 10.0
    ack_policy: AckPolicy = field(default_factory=AckPolicy)
    resume_limit: int = 100  # messages per conversation in each Resume page
    echo_own: bool = False  # also emit messages this device sent itself
    client_name: str = "hubbub-sdk"
    discovery: str = ""
    """host:port of discovery (gRPC): when set, every reconnect (and the first connect, when no
    target is given) asks it for the edge (sticky to the last one while it is healthy), and a
    Reconnect frame from a draining edge moves the client to another edge. Empty = always
    `target`, and Reconnect frames are ignored (such a client stays until the drained edge
    closes it, then reconnects to it)."""


@dataclass
class _Pending:
    frame: pb.ClientFrame
    future: asyncio.Future[pb.ServerFrame]
    retry: bool  # idempotent: re-sent after a reconnect


_END = None  # the events queue's end marker


class ChatClient:
    """One device of one user, connected to an edge. Build it with `await ChatClient.connect(...)`."""

    def __init__(
        self,
        target: str,
        *,
        device_id: str,
        transport: TransportKind,
        token: str,
        credentials: Credentials | None,
        auth_mode: AuthMode,
        options: ClientOptions,
    ) -> None:
        self.target = target
        self.device_id = device_id
        self.user_id = ""
        self.token = token
        self.welcome: pb.Welcome | None = None
        self.options = options
        self._kind: TransportKind = transport
        self._credentials = credentials
        self._auth_mode: AuthMode = auth_mode
        self._sync: SyncState[pb.Message] = SyncState(options.ack_policy)
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._pending: dict[int, _Pending] = {}
        self._fetch_refs: dict[int, int] = {}  # ref of an internal FetchHistory -> conversation
        self._resume_ref = 0
        self._ref = 0
        self._transport: Transport | None = None
        self._connected = asyncio.Event()
        self._ack_wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._last_rx = 0.0
        self._rng = random.Random()
        self._loop = asyncio.get_running_loop()
        self._moving = False  # a Reconnect frame came: the next connect skips the backoff
        self._move_to = ""  # the edge a Reconnect frame led to, used by the next connect
        self._leaving: asyncio.Task[None] | None = None  # waiting to leave a draining edge
        self._directs = DirectChats()

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def connect(
        cls,
        target: str,
        *,
        device_id: str,
        token: str | None = None,
        log_in: Credentials | None = None,
        sign_up: Credentials | None = None,
        transport: TransportKind = "ws",
        options: ClientOptions | None = None,
    ) -> ChatClient:
        """Connect and authenticate with exactly one of a token, log-in or sign-up credentials.

        Refusals (wrong password, taken user id) raise their typed HubbubError here; after this
        returns, connection losses are handled by reconnecting.
        """
        if sum(x is not None for x in (token, log_in, sign_up)) != 1:
            raise InvalidArgument("pass exactly one of token, log_in, sign_up")
        if not target and not (options and options.discovery and (log_in or sign_up)):
            raise InvalidArgument("pass a target, or options.discovery with log_in or sign_up")
        mode: AuthMode = "token" if token is not None else "log_in" if log_in is not None else "sign_up"
        client = cls(
            target,
            device_id=device_id,
            transport=transport,
            token=token or "",
            credentials=log_in or sign_up,
            auth_mode=mode,
            options=options or ClientOptions(),
        )
        first = await client._open()
        client._supervisor = asyncio.create_task(client._supervise(first), name=f"hubbub-client-{device_id}")
        return client

    async def close(self) -> None:
        """Flush delivery acks, say Goodbye, and stop for good."""
        if self._closed:
            return
        self._closing = True
        transport = self._transport
        if transport is not None:
            with contextlib.suppress(HubbubError):
                acks = self._sync.take_acks()
                if acks:
                    for frame in self._acks_frames(acks):
                        await self._write(transport, frame)
                await self._write(transport, pb.ClientFrame(ref=self._next_ref(), goodbye=pb.Goodbye()))
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()
        self._finish("closed by the application")

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._transport is not None

    def drop_connection(self) -> None:
        """Drop the current connection now (a network change, or a test); the client reconnects
        with backoff and resumes, exactly as after a real cut."""
        self._drop_connection()

    def cursor(self, conversation_id: int) -> int | None:
        """The highest seq of `conversation_id` delivered to the application, in order."""
        return self._sync.cursor(conversation_id)

    # ------------------------------------------------------------------ events

    async def events(self) -> AsyncIterator[Event]:
        """Pushed events, messages in order per conversation; ends after the client closes."""
        while (event := await self._events.get()) is not _END:
            assert event is not None
            yield event

    async def next_event(self) -> Event:
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(_END)
            raise Unavailable("the client is closed")
        return event

    # ------------------------------------------------------------------ requests

    async def send(
        self,
        conversation_id: int,
        body: str,
        *,
        client_msg_id: str | None = None,
        content_type: str = "text/plain",
        payload: bytes = b"",
        media: pb.MediaRef | None = None,
    ) -> pb.Sent:
        """Store a message durably. Retried with the same client_msg_id, so it is stored once.
        `media`: an attachment uploaded before (sdk.media_transfer.attach does both).
        The first send in a direct chat the peer opened opens it here first (presence between
        direct peers needs both to have opened it; sdk/direct_chats.py)."""
        peer = self._directs.peer_to_open(conversation_id)
        if peer:
            with contextlib.suppress(HubbubError):  # presence only: the message goes regardless
                await self.open_direct(peer)
        send = pb.SendMessage(
            conversation_id=conversation_id,
            client_msg_id=client_msg_id or uuid.uuid4().hex,
            content_type=content_type,
            body=body,
            payload=payload,
            media=media,
        )
        reply = await self._request(pb.ClientFrame(send=send), retry=True)
        return _expect(reply, "sent").sent

    async def delete_message(self, conversation_id: int, seq: int) -> pb.Message:
        """Delete one of your own messages for everyone; returns its deletion entry (a Message
        whose `deletes_seq` is `seq`). Idempotent, so retried like a send. Other devices get
        the entry as a Message event too: apply it by marking `deletes_seq` deleted."""
        delete = pb.DeleteMessage(conversation_id=conversation_id, seq=seq)
        reply = await self._request(pb.ClientFrame(delete_message=delete), retry=True)
        return _expect(reply, "message_deleted").message_deleted

    async def open_direct(self, peer_id: str) -> pb.Conversation:
        reply = await self._request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id=peer_id)), retry=True)
        conversation = _expect(reply, "conversation").conversation
        self._directs.opened(conversation, self.user_id)
        return conversation

    def note_direct(self, conversation_id: int, peer_id: str) -> None:
        """Tell the client that `conversation_id` is the direct chat with `peer_id`, when the
        app learned it elsewhere (listings and conversation events are noted already)."""
        self._directs.note(conversation_id, peer_id)

    async def create_group(self, title: str, member_ids: list[str]) -> pb.Conversation:
        frame = pb.ClientFrame(create_group=pb.CreateGroup(title=title, member_ids=member_ids))
        return _expect(await self._request(frame, retry=False), "conversation").conversation

    async def update_group(
        self,
        conversation_id: int,
        *,
        rename: str | None = None,
        add_members: list[str] | None = None,
        remove_member: str | None = None,
        set_role: tuple[str, pb.Role.ValueType] | None = None,
    ) -> pb.Conversation:
        """Apply exactly one change to a group."""
        update = pb.UpdateGroup(conversation_id=conversation_id)
        if sum(x is not None for x in (rename, add_members, remove_member, set_role)) != 1:
            raise InvalidArgument("update_group takes exactly one change")
        if rename is not None:
            update.rename = rename
        elif add_members is not None:
            update.add_members.user_ids.extend(add_members)
        elif remove_member is not None:
            update.remove_member = remove_member
        elif set_role is not None:
            update.set_role.CopyFrom(pb.MemberRole(user_id=set_role[0], role=set_role[1]))
        reply = await self._request(pb.ClientFrame(update_group=update), retry=False)
        return _expect(reply, "conversation").conversation

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int = 0,
        direction: pb.HistoryDirection.ValueType = pb.HISTORY_DIRECTION_BEFORE,
        limit: int = 50,
        newest_first: bool = False,
    ) -> pb.HistoryPage:
        fetch = pb.FetchHistory(
            conversation_id=conversation_id,
            anchor_seq=anchor_seq,
            direction=direction,
            limit=limit,
            newest_first=newest_first,
        )
        return _expect(await self._request(pb.ClientFrame(history=fetch), retry=True), "history").history

    async def list_conversations(
        self, *, limit: int = 50, before_activity_ms: int = 0, before_conversation_id: int = 0
    ) -> pb.ConversationList:
        """One page, newest activity first; for the next, pass the last item's `last_activity_ms`
        and `conversation_id` (rows with equal activity times are then neither skipped nor repeated)."""
        listing = pb.ListConversations(
            limit=limit, before_activity_ms=before_activity_ms, before_conversation_id=before_conversation_id
        )
        frame = pb.ClientFrame(list_conversations=listing)
        found = _expect(await self._request(frame, retry=True), "conversations").conversations
        for row in found.items:
            self._directs.learn(row.conversation, self.user_id, sender=row.last_message.sender_id)
        return found

    async def request_upload(self, conversation_id: int, content_type: str, size_bytes: int) -> pb.UploadUrl:
        """A signed URL to PUT one attachment to (docs/media.md)."""
        asked = pb.RequestUpload(
            conversation_id=conversation_id, content_type=content_type, size_bytes=size_bytes
        )
        reply = await self._request(pb.ClientFrame(request_upload=asked), retry=True)
        return _expect(reply, "upload_url").upload_url

    async def confirm_upload(self, granted: pb.UploadUrl) -> pb.MediaRef:
        """The receipt of an upload to a store that gives none (S3: `granted.confirm`)."""
        asked = pb.MediaRef(key=granted.key, content_type=granted.content_type, size_bytes=granted.size_bytes)
        reply = await self._request(pb.ClientFrame(confirm_upload=asked), retry=True)
        return _expect(reply, "upload_confirmed").upload_confirmed

    async def download_urls(self, conversation_id: int, keys: list[str]) -> pb.DownloadUrls:
        asked = pb.RequestDownloads(conversation_id=conversation_id, keys=keys)
        reply = await self._request(pb.ClientFrame(request_downloads=asked), retry=True)
        return _expect(reply, "download_urls").download_urls

    async def read_by(self, conversation_id: int, seq: int) -> pb.ReadByReply:
        frame = pb.ClientFrame(read_by=pb.ReadBy(conversation_id=conversation_id, seq=seq))
        return _expect(await self._request(frame, retry=True), "read_by").read_by

    async def add_contact(self, user_id: str) -> None:
        await self._request(pb.ClientFrame(contact=pb.ContactRequest(add=user_id)), retry=True)

    async def remove_contact(self, user_id: str) -> None:
        await self._request(pb.ClientFrame(contact=pb.ContactRequest(remove=user_id)), retry=True)

    async def list_contacts(self) -> list[str]:
        reply = await self._request(pb.ClientFrame(contact=pb.ContactRequest(list=True)), retry=True)
        return list(_expect(reply, "contacts").contacts.user_ids)

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        """Fire-and-forget: read cursors are monotonic, so a lost one is superseded by the next."""
        cursor = pb.ConversationCursor(conversation_id=conversation_id, seq=seq)
        await self._fire(pb.ClientFrame(read=pb.MarkRead(cursors=[cursor])))

    async def ack_now(self) -> None:
        """Send the batched delivery acks now (before a read cursor, so `delivered` is seen
        first); without a connection they stay batched for the next one."""
        transport = self._transport
        if transport is None:
            return
        acks = self._sync.take_acks()
        for frame in self._acks_frames(acks):
            await self._write(transport, frame)

    async def typing(self, conversation_id: int, active: bool = True) -> None:
        await self._fire(pb.ClientFrame(typing=pb.Typing(conversation_id=conversation_id, active=active)))

    # ------------------------------------------------------------------ request plumbing

    def _next_ref(self) -> int:
        self._ref += 1
        return self._ref

    async def _write(self, transport: Transport, frame: pb.ClientFrame) -> None:
        async with self._write_lock:
            await transport.send(frame)

    async def _fire(self, frame: pb.ClientFrame) -> None:
        """Send without awaiting a reply; an error answering it arrives as an event."""
        frame.ref = self._next_ref()
        transport = self._transport
        if transport is None:
            raise Unavailable("not connected")
        await self._write(transport, frame)

    async def _request(self, frame: pb.ClientFrame, *, retry: bool) -> pb.ServerFrame:
        """An idempotent (`retry`) request refused RATE_LIMITED is sent again once the
        retry-after it was given has passed, up to `rate_limit_retries` times."""
        for _ in range(self.options.rate_limit_retries if retry else 0):
            try:
                return await self._request_once(frame, retry=retry)
            except RateLimited as exc:
                await asyncio.sleep(max(1, exc.retry_after_ms) / 1000)  # as the server asked
        return await self._request_once(frame, retry=retry)

    async def _request_once(self, frame: pb.ClientFrame, *, retry: bool) -> pb.ServerFrame:
        if self._closing:
            raise Unavailable("the client is closed")
        frame.ref = ref = self._next_ref()
        future: asyncio.Future[pb.ServerFrame] = self._loop.create_future()
        self._pending[ref] = _Pending(frame, future, retry)
        attempts = max(1, self.options.send_attempts) if retry else 1
        try:
            if not retry:
                async with asyncio.timeout(self.options.request_timeout):
                    await self._connected.wait()
            transport = self._transport
            if transport is not None:
                with contextlib.suppress(TransportClosed):  # the reconnect re-sends it
                    await self._write(transport, frame)
            for attempt in range(attempts):
                done, _ = await asyncio.wait({future}, timeout=self.options.request_timeout)
                if done:
                    return future.result()
                if attempt + 1 < attempts:
                    self._drop_connection()  # a silent connection is a dead one; retry on the next
            raise Unavailable(f"no reply to {frame.WhichOneof('kind')} (ref {ref})")
        except TimeoutError as exc:
            raise Unavailable("not connected") from exc
        finally:
            self._pending.pop(ref, None)

    # ------------------------------------------------------------------ connection

    async def _open(self) -> Transport:
        """Connect and handshake once; refusals raise."""
        target = await self._edge_target()
        transport = await open_transport(target, self._kind)
        hello = hello_frame(
            self._next_ref(),
            self.device_id,
            self._auth_mode,
            token=self.token,
            credentials=self._credentials,
            client_name=self.options.client_name,
        )
        try:
            welcome = await handshake(transport, hello, self.options.connect_timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await transport.close()
            raise
        self.target = target
        self._moving = False
        self.welcome = welcome
        self.user_id = welcome.user_id
        self.device_id = welcome.device_id or self.device_id
        if welcome.token:
            self.token = welcome.token
        if self.token:
            self._auth_mode = "token"
        return transport

    async def _edge_target(self) -> str:
        """Where to connect now: the edge a Reconnect led to, else discovery's answer, else
        `target` (also when discovery cannot answer and there is a target to fall back on)."""
        move_to, self._move_to = self._move_to, ""
        if move_to:
            return move_to
        if not self.options.discovery or (self.welcome is None and self.target):
            return self.target  # a target given for the first connect is used as given
        try:
            return await self._ask_discovery()
        except Unavailable:
            if not self.target:
                raise
            return self.target

    async def _ask_discovery(self) -> str:
        user_id = self.user_id or (self._credentials.user_id if self._credentials else "")
        return await assign_edge(
            self.options.discovery,
            self._kind,
            user_id=user_id,
            device_id=self.device_id,
            previous_edge_id=self.welcome.edge_id if self.welcome is not None else "",
        )

    async def _reconnect(self) -> Transport | None:
        attempt = 0
        while not self._closing:
            if not (attempt == 0 and self._moving):  # told to move: it already waited after_ms
                await asyncio.sleep(
                    backoff_delay(
                        attempt,
                        base=self.options.reconnect_base,
                        cap=self.options.reconnect_cap,
                        rng=self._rng,
                    )
                )
            attempt += 1
            try:
                return await self._open()
            except (TransportClosed, TimeoutError, OSError):
                continue
            except Unauthenticated as exc:
                if self._auth_mode == "token" and self._credentials is not None:
                    self._auth_mode = "log_in"  # the token expired: log in again
                    continue
                self._finish(f"cannot re-authenticate: {exc.message}")
                return None
            except HubbubError as exc:
                if exc.retryable:
                    continue
                self._finish(f"reconnect refused: {exc.message}")
                return None
        return None

    async def _supervise(self, transport: Transport | None) -> None:
        while transport is not None:
            await self._serve(transport)
            self._transport = None
            self._connected.clear()
            self._sync.on_disconnect()
            self._fetch_refs.clear()
            self._resume_ref = 0
            for ref, pending in list(self._pending.items()):
                if not pending.retry and not pending.future.done():
                    pending.future.set_exception(
                        Unavailable(f"connection lost before the reply to ref {ref}")
                    )
            if self._closing:
                return
            self._emit(ConnectionChanged(ConnectionState.DISCONNECTED))
            if not self.options.reconnect:
                self._finish("disconnected (reconnect disabled)")
                return
            transport = await self._reconnect()

    async def _serve(self, transport: Transport) -> None:
        """Run one connection until it drops: resume, re-send pending requests, read frames."""
        self._transport = transport
        self._last_rx = self._loop.time()
        self._emit(ConnectionChanged(ConnectionState.CONNECTED))
        helpers = [
            asyncio.create_task(self._heartbeat(transport)),
            asyncio.create_task(self._ack_loop(transport)),
        ]
        try:
            await self._start_resume(transport)
            for pending in list(self._pending.values()):
                if pending.retry and not pending.future.done():
                    await self._write(transport, pending.frame)
            self._connected.set()
            while True:
                try:
                    frame = await transport.recv()
                except BadFrame as exc:
                    self._emit(pb.Error(code=exc.code.value, message=exc.message))
                    continue
                self._last_rx = self._loop.time()
                self._dispatch(frame)
        except TransportClosed:
            pass
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await transport.close()

    def _drop_connection(self) -> None:
        transport = self._transport
        if transport is not None:
            asyncio.create_task(transport.close())  # noqa: RUF006 - recv then raises TransportClosed

    async def _heartbeat(self, transport: Transport) -> None:
        welcome = self.welcome
        interval = (welcome.heartbeat_interval_ms if welcome else 0) / 1000 or 25.0
        timeout = (welcome.heartbeat_timeout_ms if welcome else 0) / 1000 or 3 * interval
        while True:
            await asyncio.sleep(interval * 0.8)  # a timer, not a stand-in for an event
            if self._loop.time() - self._last_rx > timeout:
                await transport.close()
                return
            now_ms = int(self._loop.time() * 1000)
            with contextlib.suppress(TransportClosed):
                await self._write(
                    transport, pb.ClientFrame(ref=self._next_ref(), ping=pb.Ping(client_time_ms=now_ms))
                )

    async def _ack_loop(self, transport: Transport) -> None:
        while True:
            due_at = self._sync.next_ack_at()
            self._ack_wake.clear()
            if due_at is None:
                await self._ack_wake.wait()
                continue
            delay = due_at - self._loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._ack_wake.wait()
            acks = self._sync.due_acks(self._loop.time())
            if acks:
                with contextlib.suppress(TransportClosed):
                    for frame in self._acks_frames(acks):
                        await self._write(transport, frame)

    def _acks_frames(self, acks: list[tuple[int, int]]) -> list[pb.ClientFrame]:
        """One AckDelivered per MAX_RECEIPT_CURSORS cursors (a resume of many conversations
        can owe more than one frame may carry)."""
        cursors = [pb.ConversationCursor(conversation_id=c, seq=s) for c, s in acks]
        return [
            pb.ClientFrame(
                ref=self._next_ref(),
                delivered=pb.AckDelivered(cursors=cursors[i : i + MAX_RECEIPT_CURSORS]),
            )
            for i in range(0, len(cursors), MAX_RECEIPT_CURSORS)
        ]

    async def _start_resume(self, transport: Transport) -> None:
        self._sync.begin_resume()
        self._resume_ref = ref = self._next_ref()
        cursors = [pb.ConversationCursor(conversation_id=c, seq=s) for c, s in self._sync.resume_cursors()]
        frame = pb.ClientFrame(
            ref=ref, resume=pb.Resume(cursors=cursors, limit_per_conversation=self.options.resume_limit)
        )
        self._loop.call_later(
            self.options.request_timeout, self._end_resume, ref
        )  # the server never answered
        await self._write(transport, frame)

    def _end_resume(self, ref: int) -> None:
        if ref != self._resume_ref or self._transport is None:
            return
        self._resume_ref = 0
        self._apply(self._sync.end_resume(self._loop.time()))
        self._emit(ConnectionChanged(ConnectionState.RESUMED))

    # ------------------------------------------------------------------ incoming frames

    def _dispatch(self, frame: pb.ServerFrame) -> None:
        kind = frame.WhichOneof("kind")
        now = self._loop.time()
        ref = frame.ref
        if (ref and ref == self._resume_ref) or (not ref and self._resume_ref and kind == "history"):
            if kind == "history":
                page = frame.history
                self._apply(
                    self._sync.on_page(
                        page.conversation_id, page.messages, page.has_more, now, answers_fetch=False
                    )
                )
                return
            if kind == "error":
                self._emit(frame.error)
            elif kind == "resume_done" and frame.resume_done.has_more and self._transport is not None:
                # The answer stopped at its byte budget: resume again from the seqs now held.
                task = asyncio.create_task(self._start_resume(self._transport))
                task.add_done_callback(_ignore_failure)
                return
            self._end_resume(self._resume_ref)
            return
        if ref and ref in self._fetch_refs:
            conversation_id = self._fetch_refs.pop(ref)
            page = frame.history
            if kind == "error":
                self._emit(frame.error)
            self._apply(self._sync.on_page(conversation_id, page.messages, page.has_more, now))
            return
        pending = self._pending.get(ref) if ref else None
        if pending is not None and not pending.future.done():
            if kind == "error":
                error = error_from_code(frame.error.code, frame.error.message)
                if isinstance(error, RateLimited):
                    error.retry_after_ms = frame.error.retry_after_ms
                pending.future.set_exception(error)
                return
            if kind == "sent":
                self._on_sent(pending.frame.send, frame.sent, now)
            elif kind == "message_deleted":  # our own deletion entry holds its seq too
                self._apply(self._sync.on_message(frame.message_deleted, now))
            pending.future.set_result(frame)
            return
        if kind == "message":
            self._apply(self._sync.on_message(frame.message, now))
        elif kind == "message_deleted":  # a deletion entry: ordered and acked like a message
            self._apply(self._sync.on_message(frame.message_deleted, now))
        elif kind == "receipt":
            self._emit(frame.receipt)
        elif kind == "typing":
            self._emit(frame.typing)
        elif kind == "presence":
            self._emit(frame.presence)
        elif kind == "conversation_event":
            self._directs.learn(frame.conversation_event.conversation, self.user_id)
            self._emit(frame.conversation_event)
        elif kind == "error":
            self._emit(frame.error)
        elif kind == "reconnect":
            self._on_reconnect(frame.reconnect)

    def _on_reconnect(self, reconnect: pb.Reconnect) -> None:
        """The edge is draining: after the wait it asks for, leave it for another (the Resume
        on the new connection fetches whatever was pushed meanwhile)."""
        if self._moving or not (self.options.discovery or reconnect.edge_url):
            return
        transport = self._transport
        if transport is None:
            return
        self._moving = True
        leave = self._leave_after(transport, reconnect.after_ms / 1000, reconnect.edge_url)
        self._leaving = asyncio.create_task(leave)
        self._leaving.add_done_callback(_ignore_failure)

    async def _leave_after(self, transport: Transport, delay_s: float, edge_url: str) -> None:
        """Move once another edge is known; with nowhere else to go (discovery has no other
        edge, or cannot be asked), stay: the drained edge closes this connection in time and
        the client reconnects with backoff as after any close (never a tight loop)."""
        await asyncio.sleep(delay_s)
        target = edge_url
        if not target:
            try:
                target = await self._ask_discovery()
            except HubbubError:
                target = ""
        if not target or target == self.target or self._transport is not transport:
            self._moving = False
            return
        self._move_to = target
        await transport.close()  # recv then raises TransportClosed: _supervise reconnects

    def _on_sent(self, send: pb.SendMessage, sent: pb.Sent, now: float) -> None:
        """Our own message holds its seq too: record it so it never looks like a gap."""
        own = pb.Message(
            conversation_id=sent.conversation_id,
            seq=sent.seq,
            message_id=sent.message_id,
            sender_id=self.user_id,
            sender_device=self.device_id,
            client_msg_id=sent.client_msg_id or send.client_msg_id,
            content_type=send.content_type,
            body=send.body,
            payload=send.payload,
            sent_at_ms=sent.sent_at_ms,
        )
        self._apply(self._sync.on_message(own, now))

    def _apply(self, result: SyncResult[pb.Message]) -> None:
        for message in result.deliver:
            if (
                self.options.echo_own
                or message.sender_device != self.device_id
                or message.sender_id != self.user_id
            ):
                self._emit(message)
        if result.deliver:
            self._ack_wake.set()
        for fetch in result.fetch:
            self._request_gap(fetch)

    def _request_gap(self, fetch: FetchRequest) -> None:
        transport = self._transport
        if transport is None:
            return  # the Resume after reconnecting asks again
        ref = self._next_ref()
        self._fetch_refs[ref] = fetch.conversation_id
        frame = pb.ClientFrame(
            ref=ref,
            history=pb.FetchHistory(
                conversation_id=fetch.conversation_id,
                anchor_seq=fetch.after_seq,
                direction=pb.HISTORY_DIRECTION_AFTER,
                limit=100,
            ),
        )
        task = asyncio.create_task(self._write(transport, frame))
        task.add_done_callback(_ignore_failure)

    def _emit(self, event: Event) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _finish(self, detail: str) -> None:
        if self._closed:
            return
        self._closing = True
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(Unavailable(f"the client is closed: {detail}"))
        self._emit(ConnectionChanged(ConnectionState.CLOSED, detail))
        self._closed = True
        self._events.put_nowait(_END)


def _expect(frame: pb.ServerFrame, kind: str) -> pb.ServerFrame:
    got = frame.WhichOneof("kind")
    if got != kind:
        raise BadFrame(f"expected a {kind} reply, got {got!r}")
    return frame


def _ignore_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failed gap fetch is re-asked by the next Resume
