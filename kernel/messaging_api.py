"""The messaging room's two services as the rooms that call them see them: one Protocol each,
kept by the gRPC stubs (protos/messaging_pb2_grpc) and by the in-process adapters
(messaging/local_api.py), so a caller is written once for both placements (deploy/ injects one).
Method for method the rpcs of protos/messaging.proto; tests/messaging/test_grpc_servicer.py runs
its cases over both."""

from __future__ import annotations

from typing import Protocol

from kernel.local_calls import Unary
from protos import client_pb2, messaging_pb2


class AccountsApi(Protocol):
    @property
    def SignUp(self) -> Unary[messaging_pb2.SignUpRequest, messaging_pb2.AuthReply]: ...

    @property
    def LogIn(self) -> Unary[messaging_pb2.LogInRequest, messaging_pb2.AuthReply]: ...

    @property
    def GetProfile(self) -> Unary[messaging_pb2.UserRequest, messaging_pb2.Profile]: ...

    @property
    def UpdateProfile(self) -> Unary[messaging_pb2.UpdateProfileRequest, messaging_pb2.Profile]: ...

    @property
    def AddContact(self) -> Unary[messaging_pb2.ContactChange, client_pb2.ContactList]: ...

    @property
    def RemoveContact(self) -> Unary[messaging_pb2.ContactChange, client_pb2.ContactList]: ...

    @property
    def ListContacts(self) -> Unary[messaging_pb2.UserRequest, client_pb2.ContactList]: ...

    @property
    def PresenceAudience(self) -> Unary[messaging_pb2.UserRequest, messaging_pb2.UserList]: ...

    @property
    def PresenceWatchList(self) -> Unary[messaging_pb2.UserRequest, messaging_pb2.UserList]: ...

    @property
    def PresenceWatchLists(self) -> Unary[messaging_pb2.UserList, messaging_pb2.WatchLists]: ...

    @property
    def TokenGenerations(self) -> Unary[messaging_pb2.UserList, messaging_pb2.TokenGenerationList]: ...

    @property
    def RevokeTokens(self) -> Unary[messaging_pb2.UserRequest, messaging_pb2.TokenGeneration]: ...


class MessagingApi(Protocol):
    @property
    def OpenDirect(self) -> Unary[messaging_pb2.OpenDirectRequest, client_pb2.Conversation]: ...

    @property
    def CreateGroup(self) -> Unary[messaging_pb2.CreateGroupRequest, client_pb2.Conversation]: ...

    @property
    def UpdateGroup(self) -> Unary[messaging_pb2.UpdateGroupRequest, messaging_pb2.GroupChange]: ...

    @property
    def GetConversation(self) -> Unary[messaging_pb2.ConversationRequest, client_pb2.Conversation]: ...

    @property
    def GetMembers(self) -> Unary[messaging_pb2.ConversationRequest, messaging_pb2.MemberIds]: ...

    @property
    def ListConversations(
        self,
    ) -> Unary[messaging_pb2.ListConversationsRequest, client_pb2.ConversationList]: ...

    @property
    def Append(self) -> Unary[messaging_pb2.AppendRequest, messaging_pb2.AppendReply]: ...

    @property
    def History(self) -> Unary[messaging_pb2.HistoryRequest, client_pb2.HistoryPage]: ...

    @property
    def Resume(self) -> Unary[messaging_pb2.ResumeRequest, messaging_pb2.ResumeReply]: ...

    @property
    def ResumeMany(self) -> Unary[messaging_pb2.ResumeRequests, messaging_pb2.ResumeResults]: ...

    @property
    def UpdateCursors(self) -> Unary[messaging_pb2.CursorUpdates, messaging_pb2.CursorResults]: ...

    @property
    def ReadBy(self) -> Unary[messaging_pb2.ReadByRequest, client_pb2.ReadByReply]: ...

    @property
    def Seal(self) -> Unary[messaging_pb2.SealRequest, messaging_pb2.SealReply]: ...

    @property
    def RecordAppends(
        self,
    ) -> Unary[messaging_pb2.ConversationHeads, messaging_pb2.ConversationHeadsRecorded]: ...
