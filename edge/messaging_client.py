"""Read-only queries the edge answers itself, via the Accounts/Messaging services:
log-in/sign-up, history, conversation list, read-by and resume, mapped to ServerFrames."""

from __future__ import annotations

import asyncio

from grpc import aio

from edge.actions import QueryKind, ToMessaging
from kernel.errors import Unavailable
from kernel.grpc_boundary import call
from kernel.grpc_server import internal_channel
from protos.client_pb2 import ResumeDone, ServerFrame
from protos.messaging_pb2 import (
    AuthReply,
    HistoryRequest,
    ListConversationsRequest,
    LogInRequest,
    ReadByRequest,
    ResumeRequest,
    SignUpRequest,
    UserList,
    UserRequest,
)
from protos.messaging_pb2_grpc import AccountsStub, MessagingStub

QUERY_TIMEOUT_S = 10.0
# Queries in flight per edge. A reconnect storm (thousands of Resumes at once) waits here,
# outside any deadline, instead of piling onto messaging until the deadlines expire.
MAX_QUERIES_IN_FLIGHT = 64


class MessagingQueries:
    """Implements connection.QueryRunner over one channel to `target` (empty = UNAVAILABLE)."""

    def __init__(
        self,
        target: str,
        internal_secret: str = "",
        max_in_flight: int = MAX_QUERIES_IN_FLIGHT,
        internal_tls_dir: str = "",
    ) -> None:
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._channel: aio.Channel | None = (
            internal_channel(target, internal_secret, internal_tls_dir) if target else None
        )
        self._accounts = AccountsStub(self._channel) if self._channel else None
        self._messaging = MessagingStub(self._channel) if self._channel else None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def authenticate(self, query: ToMessaging) -> AuthReply:
        async with self._in_flight:
            return await self._authenticate(query)

    async def answer(self, query: ToMessaging) -> list[ServerFrame]:
        async with self._in_flight:
            return await self._answer(query)

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

    async def _authenticate(self, query: ToMessaging) -> AuthReply:
        if self._accounts is None:
            raise Unavailable("accounts service not configured")
        hello = query.frame.hello
        if query.kind is QueryKind.SIGN_UP:
            creds = hello.sign_up
            request = SignUpRequest(
                user_id=creds.user_id, password=creds.password, display_name=creds.display_name
            )
            return await call(self._accounts.SignUp(request, timeout=QUERY_TIMEOUT_S))
        creds = hello.log_in
        return await call(
            self._accounts.LogIn(
                LogInRequest(user_id=creds.user_id, password=creds.password), timeout=QUERY_TIMEOUT_S
            )
        )

    async def _answer(self, query: ToMessaging) -> list[ServerFrame]:
        if self._messaging is None:
            raise Unavailable("messaging service not configured")
        stub, frame, ref, user = self._messaging, query.frame, query.ref, query.user_id
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
            resumed = await call(
                stub.Resume(ResumeRequest(user_id=user, resume=frame.resume), timeout=QUERY_TIMEOUT_S)
            )
            frames = [ServerFrame(ref=ref, history=page) for page in resumed.pages]
            done = ResumeDone(conversations=len(resumed.pages), has_more=resumed.has_more)
            frames.append(ServerFrame(ref=ref, resume_done=done))
            return frames
        raise AssertionError(f"not a messaging query: {query.kind}")
