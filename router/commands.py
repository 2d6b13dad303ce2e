"""Request/response paths that are not messages: typing, direct chats and groups, contacts.
Each calls Messaging/Accounts as the session's user, replies to the session, and pushes the
resulting event to whoever it concerns."""

from __future__ import annotations

from kernel.errors import BadFrame, NotMember
from kernel.grpc_boundary import call
from protos import client_pb2, messaging_pb2
from router.context import RouterContext
from router.fanout import typing_audience
from router.frames import Origin
from router.presence_fanout import PresenceFanout


class CommandPath:
    def __init__(self, ctx: RouterContext, presence: PresenceFanout) -> None:
        self._ctx = ctx
        self._presence = presence

    async def typing(self, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        """Never stored. Rate-limited at the edge only (per connection and per user, answered
        RATE_LIMITED): a second, silent limit here would drop events the edge let through.
        The typist's own devices do not get the event: a device knows its user is typing only
        on itself, and echoing it to the user's other devices would show them their own
        indicator."""
        typing = frame.typing
        members = await self._ctx.members.get(typing.conversation_id)
        if origin.user_id not in members.user_ids:
            raise NotMember("not a member of this conversation")
        out = client_pb2.ServerFrame()
        out.typing.conversation_id = typing.conversation_id
        out.typing.user_id = origin.user_id
        out.typing.active = typing.active
        await self._ctx.deliver(typing_audience(members.user_ids, origin.user_id), out.SerializeToString())

    async def open_direct(self, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        request = messaging_pb2.OpenDirectRequest(user_id=origin.user_id, peer_id=frame.open_direct.peer_id)
        conversation = await call(self._ctx.messaging.OpenDirect(request))
        users = [member.user_id for member in conversation.members]
        await self._announce(
            origin, frame.ref, conversation, client_pb2.CONVERSATION_EVENT_KIND_CREATED, users
        )
        # Opening may have made the pair see each other's presence (once both sides opened it):
        # their lists changed, and if they now see each other, each gets the other's dot now.
        peer_id = frame.open_direct.peer_id
        if peer_id != origin.user_id:
            self._presence.forget_pair(origin.user_id, peer_id)
            await self._presence.push_if_visible(origin.user_id, peer_id)

    async def create_group(self, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        group = frame.create_group
        request = messaging_pb2.CreateGroupRequest(
            user_id=origin.user_id, title=group.title, member_ids=group.member_ids
        )
        conversation = await call(self._ctx.messaging.CreateGroup(request))
        users = [member.user_id for member in conversation.members]
        await self._announce(
            origin, frame.ref, conversation, client_pb2.CONVERSATION_EVENT_KIND_CREATED, users
        )

    async def update_group(self, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        request = messaging_pb2.UpdateGroupRequest(user_id=origin.user_id, change=frame.update_group)
        change = await call(self._ctx.messaging.UpdateGroup(request))
        event = change.event
        conversation_id = event.conversation.conversation_id or frame.update_group.conversation_id
        self._ctx.members.invalidate(conversation_id)
        reply = client_pb2.ServerFrame(ref=frame.ref)
        reply.conversation.CopyFrom(event.conversation)
        self._ctx.reply(origin, reply.SerializeToString())
        # Everyone after the change plus those it affected (a removed member learns it too).
        users = {member.user_id for member in event.conversation.members}
        users.update(event.user_ids)
        push = client_pb2.ServerFrame()
        push.conversation_event.CopyFrom(event)
        await self._ctx.deliver(users, push.SerializeToString(), exclude=origin.key)

    async def contact(self, origin: Origin, frame: client_pb2.ClientFrame) -> None:
        request = frame.contact
        change = request.WhichOneof("change")
        accounts = self._ctx.accounts
        if change == "add":
            contacts = await call(
                accounts.AddContact(
                    messaging_pb2.ContactChange(user_id=origin.user_id, contact_id=request.add)
                )
            )
            self._presence.forget_pair(origin.user_id, request.add)
        elif change == "remove":
            contacts = await call(
                accounts.RemoveContact(
                    messaging_pb2.ContactChange(user_id=origin.user_id, contact_id=request.remove)
                )
            )
            self._presence.forget_pair(origin.user_id, request.remove)
        elif change == "list":
            contacts = await call(accounts.ListContacts(messaging_pb2.UserRequest(user_id=origin.user_id)))
        else:
            raise BadFrame("contact request without a change")
        reply = client_pb2.ServerFrame(ref=frame.ref)
        reply.contacts.CopyFrom(contacts)
        self._ctx.reply(origin, reply.SerializeToString())
        if change == "add":
            await self._presence.push_if_visible(origin.user_id, request.add)

    async def _announce(
        self,
        origin: Origin,
        ref: int,
        conversation: client_pb2.Conversation,
        kind: client_pb2.ConversationEventKind.ValueType,
        users: list[str],
    ) -> None:
        """Reply with the conversation, then push the event to every member's other sessions."""
        self._ctx.members.invalidate(conversation.conversation_id)
        reply = client_pb2.ServerFrame(ref=ref)
        reply.conversation.CopyFrom(conversation)
        self._ctx.reply(origin, reply.SerializeToString())
        push = client_pb2.ServerFrame()
        event = push.conversation_event
        event.kind = kind
        event.conversation.CopyFrom(conversation)
        event.actor_id = origin.user_id
        event.user_ids.extend(users)
        await self._ctx.deliver(users, push.SerializeToString(), exclude=origin.key)
