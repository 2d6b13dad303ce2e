"""What every router path shares: the stubs of its dependencies, the directory, the links,
the caches and the push queue, with the two ways to emit a frame (reply, deliver to users)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel.clock import Clock
from kernel.messaging_api import AccountsApi, MessagingApi
from router.config import RouterConfig
from router.directory import SessionDirectory
from router.fanout import FanoutPlan, SessionKey, plan_fanout
from router.frames import Origin
from router.links import LinkTable
from router.members import AudienceCache
from router.owner_append import LogWriter
from router.ownership import RouterPartitions
from router.push import PushQueue
from router.recent import RecentSenders

if TYPE_CHECKING:
    from protos.presence_pb2_grpc import PresenceAsyncStub


@dataclass
class RouterContext:
    config: RouterConfig
    clock: Clock
    messaging: MessagingApi  # the gRPC stub, or messaging in this process (kernel/local_calls.py)
    accounts: AccountsApi
    presence: PresenceAsyncStub | None
    directory: SessionDirectory
    links: LinkTable
    members: AudienceCache
    recent: RecentSenders
    push: PushQueue
    ownership: RouterPartitions
    log_writer: LogWriter | None = None
    """Set when this router appends to the log itself (Cassandra): no Append to messaging."""

    def reply(self, origin: Origin, frame: bytes) -> None:
        """One frame to the session a request came from."""
        self.links.send(origin.edge_id, (origin.session_id,), frame)

    async def deliver(
        self, users: Collection[str], frame: bytes, *, exclude: SessionKey | None = None
    ) -> FanoutPlan:
        """One frame to every session of `users` (except `exclude`), one item per edge."""
        placement = await self.directory.lookup(users)
        plan = plan_fanout(users, placement, exclude=exclude)
        self.links.send_plan(plan.targets, frame)
        return plan
