"""Stand-ins for the messaging and presence services the router talks to: real grpc.aio
servers on port 0 with small in-memory behaviour (seqs per conversation, dedupe, members,
cursors, contacts, a Watch stream tests push changes into)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from grpc import aio

from kernel.errors import HubbubError, NotFound, NotMember, PartitionMismatch, PermissionDenied, Unavailable
from kernel.grpc_boundary import servicer_errors
from kernel.grpc_server import GrpcService, start_grpc_server
from kernel.partitions import partition_of
from protos import client_pb2, messaging_pb2, messaging_pb2_grpc, presence_pb2, presence_pb2_grpc

Context = aio.ServicerContext[Any, Any]


@dataclass
class Conv:
    conversation_id: int
    kind: client_pb2.ConversationKind.ValueType
    members: dict[str, client_pb2.Role.ValueType]
    title: str = ""
    last_seq: int = 0

    def to_proto(self) -> client_pb2.Conversation:
        return client_pb2.Conversation(
            conversation_id=self.conversation_id,
            kind=self.kind,
            title=self.title,
            last_seq=self.last_seq,
            members=[client_pb2.Member(user_id=u, role=r) for u, r in sorted(self.members.items())],
        )


@dataclass
class World:
    """The state both fake services share (accounts and messaging live in one store)."""

    conversations: dict[int, Conv] = field(default_factory=dict)
    messages: dict[int, list[client_pb2.Message]] = field(default_factory=dict)
    dedupe: dict[tuple[str, str], client_pb2.Message] = field(default_factory=dict)
    cursors: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # [delivered, read]
    contacts: dict[str, set[str]] = field(default_factory=dict)
    # Direct chats opened by OpenDirect: (conversation, who opened it). Their presence is
    # shared once both members opened (messaging's rule); add_conversation's are shared at once.
    opened: dict[int, set[str]] = field(default_factory=dict)
    append_sizes: list[int] = field(default_factory=list)
    append_conversations: list[list[int]] = field(default_factory=list)
    cursor_calls: list[int] = field(default_factory=list)
    get_members_calls: int = 0
    unavailable: bool = False
    # Fencing, as the contract has it: partition -> highest sealed epoch (P = `partitions`).
    partitions: int = 8
    sealed: dict[int, int] = field(default_factory=dict)
    seals: list[list[tuple[int, int]]] = field(default_factory=list)
    append_epochs: list[list[int]] = field(default_factory=list)
    append_gate: asyncio.Event = field(default_factory=asyncio.Event)  # cleared = Appends wait
    append_reached: asyncio.Event = field(default_factory=asyncio.Event)  # set by each Append
    refuse_open_direct: HubbubError | None = None
    seal_error: HubbubError | None = None  # Seal fails with it (the store unreachable)
    seal_failed: asyncio.Event = field(default_factory=asyncio.Event)  # set when it did
    seal_failures: int = 0  # the next this many Seals fail UNAVAILABLE (a store that comes back)
    seal_counts: list[int] = field(default_factory=list)  # partition_count of each Seal
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def add_conversation(
        self, kind: client_pb2.ConversationKind.ValueType, members: list[str], title: str = ""
    ) -> int:
        cid = next(self.ids)
        roles = {user: client_pb2.ROLE_MEMBER for user in members}
        if kind == client_pb2.CONVERSATION_KIND_GROUP and members:
            roles[members[0]] = client_pb2.ROLE_OWNER
        self.conversations[cid] = Conv(cid, kind, roles, title)
        self.messages[cid] = []
        return cid

    def conv(self, cid: int) -> Conv:
        conv = self.conversations.get(cid)
        if conv is None:
            raise NotFound(f"no conversation {cid}")
        return conv

    def audience(self, user: str) -> list[str]:
        """Who sees `user`'s presence: those with them as a contact, and direct-chat peers."""
        seen = {owner for owner, contacts in self.contacts.items() if user in contacts}
        seen.update(self._direct_peers(user))
        seen.discard(user)
        return sorted(seen)

    def watch_list(self, user: str) -> list[str]:
        seen = set(self.contacts.get(user, set()))
        seen.update(self._direct_peers(user))
        seen.discard(user)
        return sorted(seen)

    def _direct_peers(self, user: str) -> set[str]:
        peers: set[str] = set()
        for cid, conv in self.conversations.items():
            direct = conv.kind == client_pb2.CONVERSATION_KIND_DIRECT and user in conv.members
            if direct and self.opened.get(cid, set(conv.members)) >= set(conv.members):
                peers.update(conv.members)
        return peers


class FakeMessaging(messaging_pb2_grpc.MessagingServicer):
    def __init__(self, world: World) -> None:
        self.w = world

    @servicer_errors
    async def Append(
        self, request: messaging_pb2.AppendRequest, context: Context
    ) -> messaging_pb2.AppendReply:
        if self.w.unavailable:
            raise Unavailable("store is down")
        self.w.append_reached.set()
        self.w.append_epochs.append([item.owner_epoch for item in request.items])
        await self.w.append_gate.wait()
        self.w.append_sizes.append(len(request.items))
        self.w.append_conversations.append([item.message.conversation_id for item in request.items])
        reply = messaging_pb2.AppendReply()
        for item in request.items:
            result = reply.results.add()
            send = item.message
            conv = self.w.conversations.get(send.conversation_id)
            if conv is None:
                result.error.code, result.error.message = "NOT_FOUND", "no such conversation"
                continue
            if item.sender_id not in conv.members:
                result.error.code, result.error.message = "NOT_MEMBER", "not a member"
                continue
            if item.owner_epoch < self.w.sealed.get(partition_of(send.conversation_id, self.w.partitions), 0):
                result.error.code, result.error.message = "STALE_OWNER", "sealed at a newer epoch"
                result.error.retryable = True
                continue
            # A deletion (AppendItem.delete_seq) is an entry keyed by what it deletes, as messaging's.
            cmid = (
                f"hubbub:delete:{send.conversation_id}:{item.delete_seq}"
                if item.delete_seq
                else send.client_msg_id
            )
            key = (item.sender_id, cmid)
            original = self.w.dedupe.get(key)
            if original is not None:
                result.message.CopyFrom(original)
                result.duplicate = True
                continue
            conv.last_seq += 1
            message = client_pb2.Message(
                conversation_id=conv.conversation_id,
                seq=conv.last_seq,
                message_id=conv.conversation_id * 1_000_000 + conv.last_seq,
                sender_id=item.sender_id,
                sender_device=item.sender_device,
                client_msg_id=cmid,
                content_type=send.content_type,
                body=send.body,
                payload=send.payload,
                sent_at_ms=1_700_000_000_000,
                deletes_seq=item.delete_seq,
            )
            self.w.messages[conv.conversation_id].append(message)
            self.w.dedupe[key] = message
            result.message.CopyFrom(message)
        return reply

    @servicer_errors
    async def Seal(self, request: messaging_pb2.SealRequest, context: Context) -> messaging_pb2.SealReply:
        self.w.seal_counts.append(request.partition_count)
        if request.partition_count != self.w.partitions:
            raise PartitionMismatch(f"the store has {self.w.partitions} partitions")
        if self.w.seal_error is not None or self.w.seal_failures > 0:
            self.w.seal_failed.set()
            if self.w.seal_error is not None:
                raise self.w.seal_error
            self.w.seal_failures -= 1
            raise Unavailable("store is coming back")
        self.w.seals.append([(entry.partition, entry.epoch) for entry in request.partitions])
        reply = messaging_pb2.SealReply()
        for entry in request.partitions:
            if self.w.sealed.get(entry.partition, 0) > entry.epoch:
                reply.refused.add(partition=entry.partition, epoch=self.w.sealed[entry.partition])
            else:
                self.w.sealed[entry.partition] = entry.epoch
        return reply

    @servicer_errors
    async def GetMembers(
        self, request: messaging_pb2.ConversationRequest, context: Context
    ) -> messaging_pb2.MemberIds:
        self.w.get_members_calls += 1
        conv = self.w.conv(request.conversation_id)
        if request.user_id and request.user_id not in conv.members:
            raise NotMember("not a member")
        return messaging_pb2.MemberIds(
            conversation_id=conv.conversation_id, user_ids=sorted(conv.members), kind=conv.kind
        )

    @servicer_errors
    async def UpdateCursors(
        self, request: messaging_pb2.CursorUpdates, context: Context
    ) -> messaging_pb2.CursorResults:
        self.w.cursor_calls.append(len(request.updates))
        reply = messaging_pb2.CursorResults()
        for update in request.updates:
            result = reply.results.add(user_id=update.user_id, conversation_id=update.conversation_id)
            conv = self.w.conversations.get(update.conversation_id)
            if conv is None or update.user_id not in conv.members:
                result.error.code, result.error.message = "NOT_MEMBER", "not a member"
                continue
            cursor = self.w.cursors.setdefault((update.user_id, update.conversation_id), [0, 0])
            seq = min(update.seq, conv.last_seq)
            index = 1 if update.kind == client_pb2.RECEIPT_KIND_READ else 0
            result.moved = seq > cursor[index]
            cursor[index] = max(cursor[index], seq)
            if index == 1:
                cursor[0] = max(cursor[0], seq)  # read implies delivered
            result.delivered_seq, result.read_seq = cursor
        return reply

    @servicer_errors
    async def OpenDirect(
        self, request: messaging_pb2.OpenDirectRequest, context: Context
    ) -> client_pb2.Conversation:
        if self.w.refuse_open_direct is not None:
            raise self.w.refuse_open_direct
        pair = {request.user_id, request.peer_id}
        for cid, conv in self.w.conversations.items():
            if conv.kind == client_pb2.CONVERSATION_KIND_DIRECT and set(conv.members) == pair:
                self.w.opened.setdefault(cid, set(conv.members)).add(request.user_id)
                return conv.to_proto()
        cid = self.w.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, sorted(pair))
        self.w.opened[cid] = {request.user_id}
        return self.w.conversations[cid].to_proto()

    @servicer_errors
    async def CreateGroup(
        self, request: messaging_pb2.CreateGroupRequest, context: Context
    ) -> client_pb2.Conversation:
        members = [request.user_id, *(m for m in request.member_ids if m != request.user_id)]
        cid = self.w.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, members, request.title)
        return self.w.conversations[cid].to_proto()

    @servicer_errors
    async def UpdateGroup(
        self, request: messaging_pb2.UpdateGroupRequest, context: Context
    ) -> messaging_pb2.GroupChange:
        change = request.change
        conv = self.w.conv(change.conversation_id)
        if request.user_id not in conv.members:
            raise NotMember("not a member")
        event = client_pb2.ConversationEvent(actor_id=request.user_id)
        which = change.WhichOneof("change")
        if which == "rename":
            conv.title = change.rename
            event.kind = client_pb2.CONVERSATION_EVENT_KIND_RENAMED
        elif which == "add_members":
            for user in change.add_members.user_ids:
                conv.members.setdefault(user, client_pb2.ROLE_MEMBER)
            event.kind = client_pb2.CONVERSATION_EVENT_KIND_MEMBERS_ADDED
            event.user_ids.extend(change.add_members.user_ids)
        elif which == "remove_member":
            conv.members.pop(change.remove_member, None)
            event.kind = client_pb2.CONVERSATION_EVENT_KIND_MEMBER_REMOVED
            event.user_ids.append(change.remove_member)
        else:
            raise PermissionDenied("unsupported change in this fake")
        event.conversation.CopyFrom(conv.to_proto())
        return messaging_pb2.GroupChange(event=event)


class FakeAccounts(messaging_pb2_grpc.AccountsServicer):
    def __init__(self, world: World) -> None:
        self.w = world
        self.audience_calls = 0
        self.watch_list_calls = 0
        self.watch_lists_calls = 0
        self.watch_lists_users: list[list[str]] = []

    @servicer_errors
    async def AddContact(
        self, request: messaging_pb2.ContactChange, context: Context
    ) -> client_pb2.ContactList:
        self.w.contacts.setdefault(request.user_id, set()).add(request.contact_id)
        return client_pb2.ContactList(user_ids=sorted(self.w.contacts[request.user_id]))

    @servicer_errors
    async def RemoveContact(
        self, request: messaging_pb2.ContactChange, context: Context
    ) -> client_pb2.ContactList:
        self.w.contacts.setdefault(request.user_id, set()).discard(request.contact_id)
        return client_pb2.ContactList(user_ids=sorted(self.w.contacts[request.user_id]))

    @servicer_errors
    async def ListContacts(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> client_pb2.ContactList:
        return client_pb2.ContactList(user_ids=sorted(self.w.contacts.get(request.user_id, set())))

    @servicer_errors
    async def PresenceAudience(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> messaging_pb2.UserList:
        self.audience_calls += 1
        return messaging_pb2.UserList(user_ids=self.w.audience(request.user_id))

    @servicer_errors
    async def PresenceWatchList(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> messaging_pb2.UserList:
        self.watch_list_calls += 1
        return messaging_pb2.UserList(user_ids=self.w.watch_list(request.user_id))

    @servicer_errors
    async def PresenceWatchLists(
        self, request: messaging_pb2.UserList, context: Context
    ) -> messaging_pb2.WatchLists:
        self.watch_lists_calls += 1
        self.watch_lists_users.append(list(request.user_ids))
        return messaging_pb2.WatchLists(
            lists=[
                messaging_pb2.WatchList(user_id=user, user_ids=self.w.watch_list(user))
                for user in dict.fromkeys(request.user_ids)
            ]
        )


class FakePresence(presence_pb2_grpc.PresenceServicer):
    """Statuses set by the test; `change` pushes a snapshot down every open Watch stream."""

    def __init__(self) -> None:
        self.status: dict[str, client_pb2.PresenceEvent] = {}
        self._watchers: list[asyncio.Queue[presence_pb2.PresenceSnapshot | None]] = []
        self._watching = asyncio.Condition()
        self.watch_count = 0
        self.query_calls = 0

    def set_online(self, user: str, online: bool = True, last_seen_ms: int = 0) -> client_pb2.PresenceEvent:
        status = client_pb2.PRESENCE_STATUS_ONLINE if online else client_pb2.PRESENCE_STATUS_OFFLINE
        event = client_pb2.PresenceEvent(user_id=user, status=status, last_seen_ms=last_seen_ms)
        self.status[user] = event
        return event

    async def change(self, *events: client_pb2.PresenceEvent) -> None:
        snapshot = presence_pb2.PresenceSnapshot(users=events)
        for queue in self._watchers:
            queue.put_nowait(snapshot)

    async def break_watchers(self) -> None:
        """End every Watch stream (the router must reconnect)."""
        for queue in self._watchers:
            queue.put_nowait(None)

    async def wait_watchers(self, count: int) -> None:
        """Until `count` Watch streams were ever opened and at least one is open now."""
        async with self._watching:
            await self._watching.wait_for(lambda: self.watch_count >= count and bool(self._watchers))

    @servicer_errors
    async def Query(
        self, request: presence_pb2.PresenceQuery, context: Context
    ) -> presence_pb2.PresenceSnapshot:
        self.query_calls += 1
        offline = client_pb2.PRESENCE_STATUS_OFFLINE
        return presence_pb2.PresenceSnapshot(
            users=[
                self.status.get(u, client_pb2.PresenceEvent(user_id=u, status=offline))
                for u in request.user_ids
            ]
        )

    async def Watch(
        self, request: presence_pb2.WatchRequest, context: Context
    ) -> AsyncIterator[presence_pb2.PresenceSnapshot]:
        queue: asyncio.Queue[presence_pb2.PresenceSnapshot | None] = asyncio.Queue()
        async with self._watching:
            self._watchers.append(queue)
            self.watch_count += 1
            self._watching.notify_all()
        try:
            while True:
                snapshot = await queue.get()
                if snapshot is None:
                    return
                yield snapshot
        finally:
            self._watchers.remove(queue)


@dataclass
class FakeBackends:
    world: World
    accounts: FakeAccounts
    presence: FakePresence
    messaging_service: GrpcService
    presence_service: GrpcService

    async def stop(self) -> None:
        await self.messaging_service.stop(0)
        await self.presence_service.stop(0)


async def start_fakes() -> FakeBackends:
    world = World()
    world.append_gate.set()
    # The fakes implement only what the router calls; grpc answers UNIMPLEMENTED for the rest.
    accounts = FakeAccounts(world)  # type: ignore[abstract]
    presence = FakePresence()  # type: ignore[abstract]

    def register_messaging(server: aio.Server) -> None:
        messaging_pb2_grpc.add_MessagingServicer_to_server(FakeMessaging(world), server)  # type: ignore[abstract]
        messaging_pb2_grpc.add_AccountsServicer_to_server(accounts, server)

    messaging_service = await start_grpc_server("fake-messaging", register_messaging)
    presence_service = await start_grpc_server(
        "fake-presence", lambda server: presence_pb2_grpc.add_PresenceServicer_to_server(presence, server)
    )
    return FakeBackends(world, accounts, presence, messaging_service, presence_service)
