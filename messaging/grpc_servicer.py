"""The messaging room's gRPC face (protos/messaging.proto): thin methods that convert,
call a service and convert back. Errors cross as status + `hubbub-error-code` metadata."""

from __future__ import annotations

import logging
import time

from kernel.errors import HubbubError, Internal, InvalidArgument, Unavailable
from kernel.grpc_boundary import PEER_KEY, Context, metadata_value, servicer_errors
from kernel.limits import MAX_RESUME_BATCH, MAX_RESUME_BATCH_REPLY_BYTES
from kernel.push_targets import target_from_proto, target_listing, target_to_proto
from kernel.telemetry import spans_from
from messaging import convert
from messaging.accounts import Accounts, Session
from messaging.conversations import Conversations
from messaging.messages import CursorOutcome, Messages, Page
from messaging.metrics import APPEND_BATCH_ITEMS, STORE_COMMIT_SECONDS
from messaging.model import CursorKind, CursorUpdate
from messaging.push_targets import PushTargets
from protos import client_pb2, messaging_pb2, messaging_pb2_grpc

log = logging.getLogger(__name__)


def _auth_reply(session: Session) -> messaging_pb2.AuthReply:
    return messaging_pb2.AuthReply(
        user_id=session.user_id, token=session.token, expires_at_ms=session.expires_at_ms
    )


class AccountsServicer(messaging_pb2_grpc.AccountsServicer):
    def __init__(self, accounts: Accounts, push_targets: PushTargets | None = None) -> None:
        self._accounts = accounts
        self._push_targets = push_targets

    def _push(self) -> PushTargets:
        if self._push_targets is None:
            raise Unavailable("this store keeps no push targets")
        return self._push_targets

    @servicer_errors
    async def SignUp(self, request: messaging_pb2.SignUpRequest, context: Context) -> messaging_pb2.AuthReply:
        session = await self._accounts.sign_up(
            request.user_id, request.password, request.display_name, metadata_value(context, PEER_KEY)
        )
        return _auth_reply(session)

    @servicer_errors
    async def LogIn(self, request: messaging_pb2.LogInRequest, context: Context) -> messaging_pb2.AuthReply:
        address = metadata_value(context, PEER_KEY)
        return _auth_reply(await self._accounts.log_in(request.user_id, request.password, address))

    @servicer_errors
    async def GetProfile(self, request: messaging_pb2.UserRequest, context: Context) -> messaging_pb2.Profile:
        user = await self._accounts.get_profile(request.user_id)
        return messaging_pb2.Profile(
            user_id=user.user_id, display_name=user.display_name, created_at_ms=user.created_at_ms
        )

    @servicer_errors
    async def UpdateProfile(
        self, request: messaging_pb2.UpdateProfileRequest, context: Context
    ) -> messaging_pb2.Profile:
        user = await self._accounts.update_profile(request.user_id, request.display_name)
        return messaging_pb2.Profile(
            user_id=user.user_id, display_name=user.display_name, created_at_ms=user.created_at_ms
        )

    @servicer_errors
    async def AddContact(
        self, request: messaging_pb2.ContactChange, context: Context
    ) -> client_pb2.ContactList:
        contacts = await self._accounts.add_contact(request.user_id, request.contact_id)
        return client_pb2.ContactList(user_ids=contacts)

    @servicer_errors
    async def RemoveContact(
        self, request: messaging_pb2.ContactChange, context: Context
    ) -> client_pb2.ContactList:
        contacts = await self._accounts.remove_contact(request.user_id, request.contact_id)
        return client_pb2.ContactList(user_ids=contacts)

    @servicer_errors
    async def ListContacts(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> client_pb2.ContactList:
        return client_pb2.ContactList(user_ids=await self._accounts.list_contacts(request.user_id))

    @servicer_errors
    async def PresenceAudience(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> messaging_pb2.UserList:
        return messaging_pb2.UserList(user_ids=await self._accounts.presence_audience(request.user_id))

    @servicer_errors
    async def PresenceWatchList(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> messaging_pb2.UserList:
        return messaging_pb2.UserList(user_ids=await self._accounts.presence_watch_list(request.user_id))

    @servicer_errors
    async def PresenceWatchLists(
        self, request: messaging_pb2.UserList, context: Context
    ) -> messaging_pb2.WatchLists:
        lists = await self._accounts.presence_watch_lists(request.user_ids)
        return messaging_pb2.WatchLists(
            lists=[messaging_pb2.WatchList(user_id=user, user_ids=watched) for user, watched in lists.items()]
        )

    @servicer_errors
    async def TokenGenerations(
        self, request: messaging_pb2.UserList, context: Context
    ) -> messaging_pb2.TokenGenerationList:
        found = await self._accounts.token_generations(request.user_ids)
        return messaging_pb2.TokenGenerationList(
            users=[messaging_pb2.TokenGeneration(user_id=u, generation=g) for u, g in found.items()]
        )

    @servicer_errors
    async def RevokeTokens(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> messaging_pb2.TokenGeneration:
        generation = await self._accounts.revoke_tokens(request.user_id)
        return messaging_pb2.TokenGeneration(user_id=request.user_id, generation=generation)

    @servicer_errors
    async def RegisterPushTarget(
        self, request: messaging_pb2.PushTargetChange, context: Context
    ) -> client_pb2.PushTargetList:
        return target_listing(
            await self._push().register(request.user_id, request.device_id, request.register)
        )

    @servicer_errors
    async def ListPushTargets(
        self, request: messaging_pb2.UserRequest, context: Context
    ) -> client_pb2.PushTargetList:
        return target_listing(await self._push().of_user(request.user_id))

    @servicer_errors
    async def DeletePushTarget(
        self, request: messaging_pb2.PushTargetChange, context: Context
    ) -> client_pb2.PushTargetList:
        return target_listing(await self._push().delete(request.user_id, request.device_id))

    @servicer_errors
    async def PushTargetsOf(
        self, request: messaging_pb2.UserList, context: Context
    ) -> messaging_pb2.StoredPushTargets:
        found = await self._push().targets_of(request.user_ids)
        return messaging_pb2.StoredPushTargets(targets=[target_to_proto(t) for t in found])

    @servicer_errors
    async def RemoveGonePushTarget(
        self, request: messaging_pb2.StoredPushTarget, context: Context
    ) -> messaging_pb2.Removed:
        return messaging_pb2.Removed(removed=await self._push().remove_gone(target_from_proto(request)))


class MessagingServicer(messaging_pb2_grpc.MessagingServicer):
    def __init__(self, conversations: Conversations, messages: Messages) -> None:
        self._conversations = conversations
        self._messages = messages

    # ------------------------------------------------------------- conversations
    @servicer_errors
    async def OpenDirect(
        self, request: messaging_pb2.OpenDirectRequest, context: Context
    ) -> client_pb2.Conversation:
        details = await self._conversations.open_direct(request.user_id, request.peer_id)
        return convert.details_to_pb(details)

    @servicer_errors
    async def CreateGroup(
        self, request: messaging_pb2.CreateGroupRequest, context: Context
    ) -> client_pb2.Conversation:
        event = await self._conversations.create_group(request.user_id, request.title, request.member_ids)
        return convert.details_to_pb(event.details)

    @servicer_errors
    async def UpdateGroup(
        self, request: messaging_pb2.UpdateGroupRequest, context: Context
    ) -> messaging_pb2.GroupChange:
        change = convert.group_change_from_pb(request.change)
        event = await self._conversations.update_group(
            request.user_id, request.change.conversation_id, change
        )
        return messaging_pb2.GroupChange(event=convert.group_event_to_pb(event))

    @servicer_errors
    async def GetConversation(
        self, request: messaging_pb2.ConversationRequest, context: Context
    ) -> client_pb2.Conversation:
        details = await self._conversations.get(request.user_id, request.conversation_id)
        return convert.details_to_pb(details)

    @servicer_errors
    async def GetMembers(
        self, request: messaging_pb2.ConversationRequest, context: Context
    ) -> messaging_pb2.MemberIds:
        members = await self._conversations.get_members(request.user_id, request.conversation_id)
        return messaging_pb2.MemberIds(
            conversation_id=request.conversation_id,
            user_ids=sorted(members.members),
            kind=convert.kind_to_pb(members.kind),
        )

    @servicer_errors
    async def ListConversations(
        self, request: messaging_pb2.ListConversationsRequest, context: Context
    ) -> client_pb2.ConversationList:
        page, has_more = await self._conversations.list_page(
            request.user_id, request.limit, request.before_activity_ms, request.before_conversation_id
        )
        return convert.conversation_list_to_pb(page, has_more)

    # ------------------------------------------------------------------ messages
    @servicer_errors
    async def Append(
        self, request: messaging_pb2.AppendRequest, context: Context
    ) -> messaging_pb2.AppendReply:
        """Each item carries its router's epoch for its partition: an item older than the
        partition's seal fails STALE_OWNER alone (the store checks it with the write)."""
        items = request.items
        started = time.perf_counter()
        with spans_from("hubbub.messaging", "messaging.store_commit", [item.trace for item in items]):
            results = await self._messages.append(convert.send_items_from_pb(items))
        STORE_COMMIT_SECONDS.observe(time.perf_counter() - started)
        APPEND_BATCH_ITEMS.observe(len(items))
        return convert.append_reply(results)

    @servicer_errors
    async def History(
        self, request: messaging_pb2.HistoryRequest, context: Context
    ) -> client_pb2.HistoryPage:
        query = request.query
        page = await self._messages.history(
            request.user_id,
            query.conversation_id,
            anchor_seq=query.anchor_seq,
            direction=convert.direction_from_pb(query.direction),
            limit=query.limit,
            newest_first=query.newest_first,
        )
        return convert.page_to_pb(page)

    @servicer_errors
    async def Resume(
        self, request: messaging_pb2.ResumeRequest, context: Context
    ) -> messaging_pb2.ResumeReply:
        return convert.resume_reply_to_pb(await self._resume(request))

    @servicer_errors
    async def ResumeMany(
        self, request: messaging_pb2.ResumeRequests, context: Context
    ) -> messaging_pb2.ResumeResults:
        """Each resume read and built as Resume does it (each read in its own snapshot; all in
        one store round trip), in order, straight into the reply; one that fails fails alone.
        Past MAX_RESUME_BATCH_REPLY_BYTES the rest are left out (the caller asks again), so the
        reply stays far below the gRPC limit. More than MAX_RESUME_BATCH resumes in one call is
        refused whole (the bound holds here, where the work is done, not only at the edge)."""
        if len(request.requests) > MAX_RESUME_BATCH:
            raise InvalidArgument(f"at most {MAX_RESUME_BATCH} resumes per ResumeMany call")
        asks = [_resume_ask(one) for one in request.requests]
        read: list[list[Page]] = []
        try:
            read = await self._messages.resume_many(asks, MAX_RESUME_BATCH_REPLY_BYTES)
        except Exception:  # read again one by one below: a bad one fails alone
            log.debug("a batched resume read failed; reading its resumes one by one", exc_info=True)
        results = messaging_pb2.ResumeResults()
        used = 0
        for index, one in enumerate(request.requests):
            if read and index >= len(read):
                break  # left out by the store's byte budget: the caller asks again
            result = results.results.add()
            try:
                pages = read[index] if read else await self._resume(one)
                result.reply.SetInParent()  # an empty reply (nothing missed) is a reply too
                convert.resume_reply_to_pb(pages, into=result.reply)
            except HubbubError as exc:
                convert.fill_error(result.error, exc)
            except Exception:  # the boundary, per item: its neighbours are still answered
                log.exception("unexpected error in a batched resume")
                convert.fill_error(result.error, Internal("internal error"))
            used += result.ByteSize()
            if used > MAX_RESUME_BATCH_REPLY_BYTES and len(results.results) > 1:
                del results.results[-1]
                break
        return results

    async def _resume(self, request: messaging_pb2.ResumeRequest) -> list[Page]:
        return await self._messages.resume(*_resume_ask(request))

    # ------------------------------------------------------------------- cursors
    @servicer_errors
    async def UpdateCursors(
        self, request: messaging_pb2.CursorUpdates, context: Context
    ) -> messaging_pb2.CursorResults:
        parsed: list[CursorUpdate | CursorOutcome] = []
        for raw in request.updates:
            try:
                parsed.append(convert.cursor_update_from_pb(raw))
            except HubbubError as exc:
                fallback = CursorUpdate(raw.user_id, raw.conversation_id, CursorKind.DELIVERED, 0)
                parsed.append(CursorOutcome(fallback, None, exc))
        valid = [p for p in parsed if isinstance(p, CursorUpdate)]
        done = iter(await self._messages.update_cursors(valid) if valid else [])
        outcomes = [p if isinstance(p, CursorOutcome) else next(done) for p in parsed]
        return messaging_pb2.CursorResults(results=[convert.cursor_outcome_to_pb(o) for o in outcomes])

    @servicer_errors
    async def ReadBy(self, request: messaging_pb2.ReadByRequest, context: Context) -> client_pb2.ReadByReply:
        read_by = await self._messages.read_by(request.user_id, request.conversation_id, request.seq)
        return convert.read_by_to_pb(read_by)

    # ------------------------------------------------------------------- fencing
    @servicer_errors
    async def Seal(self, request: messaging_pb2.SealRequest, context: Context) -> messaging_pb2.SealReply:
        refused = await self._messages.seal(
            [(p.partition, p.epoch) for p in request.partitions], request.partition_count
        )
        return messaging_pb2.SealReply(
            refused=[messaging_pb2.PartitionEpoch(partition=p, epoch=e) for p, e in refused]
        )

    @servicer_errors
    async def RecordAppends(
        self, request: messaging_pb2.ConversationHeads, context: Context
    ) -> messaging_pb2.ConversationHeadsRecorded:
        await self._conversations.record_appends(
            {h.conversation_id: (h.last_seq, h.last_activity_ms) for h in request.heads}
        )
        return messaging_pb2.ConversationHeadsRecorded()


def _resume_ask(request: messaging_pb2.ResumeRequest) -> tuple[str, dict[int, int], int]:
    cursors = {c.conversation_id: c.seq for c in request.resume.cursors}
    return request.user_id, cursors, request.resume.limit_per_conversation
