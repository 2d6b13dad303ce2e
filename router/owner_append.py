"""The partition owner's append when it reaches the log itself (the Cassandra log): the
senders' membership checked here against the router's member view (router/members.py), the
checked items handed to the log writer deploy/ injected (messaging/owner_append.py), so the
send path makes no messaging call. Results come back one per item, in order, as Append's.

Why the router's member view is safe for "may this user send": the owner routes every group
change of its conversations (edge/routing.py: update_group goes to the partition's owner) and
drops its entry before it answers the change (router/commands.py), and it forgets a
partition's entries whenever it takes or loses one (router/server.py). A send the owner
accepts after it acked a removal is refused NOT_MEMBER."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.error_frames import error_pb
from kernel.errors import HubbubError, Internal, NotMember
from kernel.grpc_boundary import call
from kernel.local_calls import Unary
from protos import messaging_pb2
from router.members import Members

LogWriter = Unary[messaging_pb2.AppendRequest, messaging_pb2.AppendReply]


def refusal(entry: Members | HubbubError | None, sender_id: str) -> HubbubError | None:
    """Why the sender may not append to this conversation (None: it may)."""
    if entry is None:
        return Internal("member lookup failed")
    if isinstance(entry, HubbubError):
        return entry
    if sender_id not in entry.user_ids:
        return NotMember("you are not a member of this conversation")
    return None


async def append_as_owner(
    writer: LogWriter,
    request: messaging_pb2.AppendRequest,
    members: Mapping[int, Members | HubbubError],
) -> list[messaging_pb2.AppendResult]:
    """One result per item of `request`: its refusal, or what the writer stored."""
    refused = [refusal(members.get(item.message.conversation_id), item.sender_id) for item in request.items]
    if not any(refused):
        return list((await call(writer(request))).results)
    checked = messaging_pb2.AppendRequest()
    for item, error in zip(request.items, refused, strict=True):
        if error is None:
            checked.items.append(item)
    stored = iter((await call(writer(checked))).results if checked.items else ())
    results: list[messaging_pb2.AppendResult] = []
    for error in refused:
        if error is None:
            results.append(next(stored, messaging_pb2.AppendResult()))
        else:
            results.append(messaging_pb2.AppendResult(error=error_pb(error)))
    return results
