"""Read-only queries the edge answers itself, via the Accounts/Messaging services:
log-in/sign-up, history, conversation list, read-by and resume, mapped to ServerFrames."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from grpc import aio

from edge.actions import PUSH_TARGET_KINDS, QueryKind, ToMessaging
from edge.media import MediaUrls
from edge.metrics import resume_calls, resumes_sent
from edge.resume_batch import ResumeBatches
from kernel.clock import Clock
from kernel.errors import HubbubError, RateLimited, Unavailable
from kernel.grpc_boundary import PEER_KEY, call, error_from_rpc
from kernel.grpc_server import internal_channel
from protos.client_pb2 import ResumeDone, ServerFrame
from protos.messaging_pb2 import (
    AuthReply,
    ConversationRequest,
    HistoryRequest,
    ListConversationsRequest,
    LogInRequest,
    PushTargetChange,
    ReadByRequest,
    ResumeRequest,
    ResumeRequests,
    ResumeResults,
    SignUpRequest,
    UserList,
    UserRequest,
)
from protos.messaging_pb2_grpc import AccountsStub, MessagingStub

T = TypeVar("T")
log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 10.0
# Queries in flight per edge. A reconnect storm (thousands of Resumes at once) waits here,
# outside any deadline, instead of piling onto messaging until the deadlines expire.
MAX_QUERIES_IN_FLIGHT = 64
# Log-ins and sign-ups have slots of their own: a storm of them (each an argon2 hash at
# messaging) waits here and never takes a slot a bystander's history needs.
AUTH_IN_FLIGHT = 8
AUTH_WAITING = 256
AUTH_RETRY_AFTER_MS = 1000
PER_USER_IN_FLIGHT = 8  # of the query slots, at most this many are one user's at a time


class _Line:
    """One user's own queue in front of the shared query slots."""

    __slots__ = ("slots", "users")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self.slots = slots
        self.users = 0  # queries of this user here; the line goes when it drops to 0


class BoundedSlots:
    """A semaphore with a bounded waiting room: past `waiting` waiters, `enter` refuses at once
    (RATE_LIMITED) instead of queueing without bound."""

    def __init__(self, in_flight: int, waiting: int) -> None:
        self._slots = asyncio.Semaphore(in_flight)
        self._waiting_limit = waiting
        self.waiting = 0
        self.in_flight = 0

    async def run(self, make: Callable[[], Awaitable[T]]) -> T:
        if self._slots.locked() and self.waiting >= self._waiting_limit:
            raise RateLimited("too many log-ins at once, retry", retry_after_ms=AUTH_RETRY_AFTER_MS)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        try:
            return await make()
        finally:
            self.in_flight -= 1
            self._slots.release()


class MessagingQueries:
    """Implements connection.QueryRunner over one channel to `target` (empty = UNAVAILABLE)."""

    def __init__(
        self,
        target: str,
        internal_secret: str = "",
        max_in_flight: int = MAX_QUERIES_IN_FLIGHT,
        internal_tls_dir: str = "",
        *,
        auth_in_flight: int = AUTH_IN_FLIGHT,
        auth_waiting: int = AUTH_WAITING,
        per_user_in_flight: int = PER_USER_IN_FLIGHT,
        media: MediaUrls | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._media = media
        self._clock = clock
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._per_user_in_flight = per_user_in_flight
        self._lines: dict[str, _Line] = {}  # users with queries here (waiting or in flight)
        self.auth_slots = BoundedSlots(auth_in_flight, auth_waiting)
        self._channel: aio.Channel | None = (
            internal_channel(target, internal_secret, internal_tls_dir) if target else None
        )
        self._accounts = AccountsStub(self._channel) if self._channel else None
        self._messaging = MessagingStub(self._channel) if self._channel else None
        # A reconnect storm's resumes, holding their query slots, go to messaging together.
        self.resumes = ResumeBatches(self._resume_many)
        self._resume_many_served = True  # until messaging says UNIMPLEMENTED (an older version)

    async def close(self) -> None:
        await self.resumes.close()
        if self._channel is not None:
            await self._channel.close()

    async def authenticate(self, query: ToMessaging, peer: str = "") -> AuthReply:
        return await self.auth_slots.run(lambda: self._authenticate(query, peer))

    async def answer(self, query: ToMessaging) -> list[ServerFrame]:
        # A user's queries beyond its own few wait in its own line, so the shared FIFO of slots
        # holds at most `per_user_in_flight` of anyone's: one user's burst delays only itself.
        user = query.user_id
        line = self._lines.get(user)
        if line is None:
            line = self._lines[user] = _Line(asyncio.Semaphore(self._per_user_in_flight))
        line.users += 1
        try:
            async with line.slots, self._in_flight:
                return await self._answer(query)
        finally:
            line.users -= 1
            if not line.users:
                del self._lines[user]

    async def token_generations(self, user_ids: list[str]) -> dict[str, int]:
        """One call for a batch of token hellos (edge.token_check): absent = no such user.
        Outside the query slots: one such call is in flight at a time, and the hellos of a
        reconnect storm must not queue behind the Resumes of those already welcomed."""
        if self._accounts is None:
            raise Unavailable("accounts service not configured")
        reply = await call(
            self._accounts.TokenGenerations(UserList(user_ids=user_ids), timeout=QUERY_TIMEOUT_S)
        )
        return {entry.user_id: entry.generation for entry in reply.users}

    async def revoke_tokens(self, user_id: str) -> int:
        if self._accounts is None:
            raise Unavailable("accounts service not configured")
        async with self._in_flight:
            reply = await call(
                self._accounts.RevokeTokens(UserRequest(user_id=user_id), timeout=QUERY_TIMEOUT_S)
            )
        return reply.generation

    async def _authenticate(self, query: ToMessaging, peer: str) -> AuthReply:
        if self._accounts is None:
            raise Unavailable("accounts service not configured")
        metadata = ((PEER_KEY, peer),) if peer else None
        hello = query.frame.hello
        if query.kind is QueryKind.SIGN_UP:
            creds = hello.sign_up
            request = SignUpRequest(
                user_id=creds.user_id, password=creds.password, display_name=creds.display_name
            )
            return await call(self._accounts.SignUp(request, timeout=QUERY_TIMEOUT_S, metadata=metadata))
        creds = hello.log_in
        return await call(
            self._accounts.LogIn(
                LogInRequest(user_id=creds.user_id, password=creds.password),
                timeout=QUERY_TIMEOUT_S,
                metadata=metadata,
            )
        )

    async def _push_targets(self, query: ToMessaging) -> list[ServerFrame]:
        if self._accounts is None:
            raise Unavailable("accounts service not configured")
        frame, user = query.frame, query.user_id
        if query.kind is QueryKind.PUSH_REGISTER:
            change = PushTargetChange(user_id=user, device_id=query.device_id, register=frame.push_register)
            listing = await call(self._accounts.RegisterPushTarget(change, timeout=QUERY_TIMEOUT_S))
        elif query.kind is QueryKind.PUSH_DELETE:
            device = frame.push_delete.device_id or query.device_id
            change = PushTargetChange(user_id=user, device_id=device)
            listing = await call(self._accounts.DeletePushTarget(change, timeout=QUERY_TIMEOUT_S))
        else:
            listing = await call(
                self._accounts.ListPushTargets(UserRequest(user_id=user), timeout=QUERY_TIMEOUT_S)
            )
        return [ServerFrame(ref=query.ref, push_targets=listing)]

    async def _answer(self, query: ToMessaging) -> list[ServerFrame]:
        if query.kind in PUSH_TARGET_KINDS:
            return await self._push_targets(query)
        if self._messaging is None:
            raise Unavailable("messaging service not configured")
        stub, frame, ref, user = self._messaging, query.frame, query.ref, query.user_id
        # Requests copy whole submessages (history, resume): unknown fields (padding, a newer
        # client's extras) would ride along to messaging. Only the known fields go.
        frame.DiscardUnknownFields()
        if query.kind is QueryKind.HISTORY:
            page = await call(
                stub.History(HistoryRequest(user_id=user, query=frame.history), timeout=QUERY_TIMEOUT_S)
            )
            return [ServerFrame(ref=ref, history=page)]
        if query.kind is QueryKind.LIST_CONVERSATIONS:
            request = ListConversationsRequest(
                user_id=user,
                limit=frame.list_conversations.limit,
                before_activity_ms=frame.list_conversations.before_activity_ms,
                before_conversation_id=frame.list_conversations.before_conversation_id,
            )
            listing = await call(stub.ListConversations(request, timeout=QUERY_TIMEOUT_S))
            return [ServerFrame(ref=ref, conversations=listing)]
        if query.kind is QueryKind.READ_BY:
            request_rb = ReadByRequest(
                user_id=user, conversation_id=frame.read_by.conversation_id, seq=frame.read_by.seq
            )
            reply = await call(stub.ReadBy(request_rb, timeout=QUERY_TIMEOUT_S))
            return [ServerFrame(ref=ref, read_by=reply)]
        if query.kind is QueryKind.RESUME:
            resumed = await self.resumes.resume(ResumeRequest(user_id=user, resume=frame.resume))
            frames = [ServerFrame(ref=ref, history=page) for page in resumed.pages]
            done = ResumeDone(conversations=len(resumed.pages), has_more=resumed.has_more)
            frames.append(ServerFrame(ref=ref, resume_done=done))
            return frames
        if query.kind is QueryKind.MEDIA_DOWNLOADS:
            return [await self._downloads(query)]
        if query.kind is QueryKind.MEDIA_CONFIRM:
            if self._media is None or self._clock is None:
                raise Unavailable("media is not configured on this node")
            upload, now_ms = query.frame.confirm_upload, self._clock.now_ms()
            return [await self._media.confirm(query.ref, query.user_id, upload, now_ms)]
        raise AssertionError(f"not a messaging query: {query.kind}")

    async def _resume_many(self, requests: ResumeRequests) -> ResumeResults:
        if self._messaging is None:
            raise Unavailable("messaging service not configured")
        if self._resume_many_served:
            resume_calls("ResumeMany").inc()
            resumes_sent("ResumeMany").inc(len(requests.requests))
            try:
                return await self._messaging.ResumeMany(requests, timeout=QUERY_TIMEOUT_S)
            except aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.UNIMPLEMENTED:
                    raise error_from_rpc(exc) from exc
            log.warning("messaging serves no ResumeMany (an older version): one Resume call each")
            self._resume_many_served = False
        return await self._resume_one_by_one(requests)

    async def _resume_one_by_one(self, requests: ResumeRequests) -> ResumeResults:
        """ResumeMany's answer from Resume calls, for a messaging of a version before it."""
        assert self._messaging is not None
        stub = self._messaging
        resume_calls("Resume").inc(len(requests.requests))
        resumes_sent("Resume").inc(len(requests.requests))
        replies = await asyncio.gather(
            *(call(stub.Resume(r, timeout=QUERY_TIMEOUT_S)) for r in requests.requests),
            return_exceptions=True,
        )
        results = ResumeResults()
        for reply in replies:
            result = results.results.add()
            if isinstance(reply, HubbubError):
                result.error.code, result.error.message = reply.code.value, reply.message
            elif isinstance(reply, BaseException):
                raise reply
            else:
                result.reply.CopyFrom(reply)
        return results

    async def _downloads(self, query: ToMessaging) -> ServerFrame:
        """Signed URLs for a member of the conversation only (messaging says NOT_MEMBER)."""
        if self._messaging is None or self._media is None or self._clock is None:
            raise Unavailable("media is not configured on this node")
        asked = query.frame.request_downloads
        request = ConversationRequest(user_id=query.user_id, conversation_id=asked.conversation_id)
        await call(self._messaging.GetMembers(request, timeout=QUERY_TIMEOUT_S))
        return self._media.downloads(query.ref, asked, self._clock.now_ms())
