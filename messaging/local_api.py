"""The messaging room's services in-process: the Protocols of kernel/messaging_api.py kept by
calling the servicers directly (kernel/local_calls.py), for a router placed in the same process
as messaging (deploy/services.py). Same results and errors as the gRPC stubs, no gRPC."""

from __future__ import annotations

from kernel.local_calls import LocalUnary
from messaging.grpc_servicer import AccountsServicer, MessagingServicer


class LocalAccounts:
    """AccountsApi in this process."""

    def __init__(self, servicer: AccountsServicer) -> None:
        self.SignUp = LocalUnary(servicer.SignUp)
        self.LogIn = LocalUnary(servicer.LogIn)
        self.GetProfile = LocalUnary(servicer.GetProfile)
        self.UpdateProfile = LocalUnary(servicer.UpdateProfile)
        self.AddContact = LocalUnary(servicer.AddContact)
        self.RemoveContact = LocalUnary(servicer.RemoveContact)
        self.ListContacts = LocalUnary(servicer.ListContacts)
        self.PresenceAudience = LocalUnary(servicer.PresenceAudience)
        self.PresenceWatchList = LocalUnary(servicer.PresenceWatchList)
        self.PresenceWatchLists = LocalUnary(servicer.PresenceWatchLists)
        self.TokenGenerations = LocalUnary(servicer.TokenGenerations)
        self.RevokeTokens = LocalUnary(servicer.RevokeTokens)


class LocalMessaging:
    """MessagingApi in this process."""

    def __init__(self, servicer: MessagingServicer) -> None:
        self.OpenDirect = LocalUnary(servicer.OpenDirect)
        self.CreateGroup = LocalUnary(servicer.CreateGroup)
        self.UpdateGroup = LocalUnary(servicer.UpdateGroup)
        self.GetConversation = LocalUnary(servicer.GetConversation)
        self.GetMembers = LocalUnary(servicer.GetMembers)
        self.ListConversations = LocalUnary(servicer.ListConversations)
        self.Append = LocalUnary(servicer.Append)
        self.History = LocalUnary(servicer.History)
        self.Resume = LocalUnary(servicer.Resume)
        self.ResumeMany = LocalUnary(servicer.ResumeMany)
        self.UpdateCursors = LocalUnary(servicer.UpdateCursors)
        self.ReadBy = LocalUnary(servicer.ReadBy)
        self.Seal = LocalUnary(servicer.Seal)
        self.RecordAppends = LocalUnary(servicer.RecordAppends)
