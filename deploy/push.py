"""The node's push notifier: the durable queue with the FCM / APNs / Web Push senders when any
service's credentials are set (HUBBUB_PUSH_*, router/push/config.py), else None (the log
backend, so `hubbub up` needs no credentials). Composition root: it joins router and kernel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from kernel.config import from_env
from kernel.grpc_server import internal_channel
from protos.messaging_pb2_grpc import AccountsStub
from router.config import RouterConfig
from router.push.config import PushConfig
from router.push.dispatcher import DurablePushNotifier
from router.push.durable_queue import DurablePushQueue
from router.push.grpc_targets import GrpcPushTargets
from router.push.senders import senders_of

QUEUE_FILE = "push_queue.db"


async def durable_push(
    data_dir: Path, router: RouterConfig
) -> tuple[DurablePushNotifier, Callable[[], Awaitable[None]]] | None:
    config = from_env(PushConfig)
    senders = senders_of(config)
    if not senders:
        return None
    channel = internal_channel(router.messaging_target, router.internal_secret, router.internal_tls_dir)
    targets = GrpcPushTargets(AccountsStub(channel))
    notifier = DurablePushNotifier(DurablePushQueue(data_dir / QUEUE_FILE), targets, senders, config)
    await notifier.start()

    async def stop() -> None:
        await notifier.stop()
        await channel.close()

    return notifier, stop
