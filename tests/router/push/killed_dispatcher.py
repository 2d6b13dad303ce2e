"""Run as a child process by test_kill9.py: queue pushes for ann's devices, start sending them
to a service that never answers, say "queued" once a send is in flight, then wait to be killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kernel.push_targets import PushService, PushTarget
from messaging.store.sqlite import SqliteStore
from router.push.dispatcher import DurablePushNotifier
from router.push.durable_queue import DurablePushQueue
from router.push.rules import PushContent, SendResult
from tests.router.push.dispatch_fixtures import LAPTOP, PHONE, note


class Hanging:
    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        return None


async def main(folder: Path, count: int) -> None:
    store = SqliteStore(folder / "messages.db")
    await store.open()
    for target in (PHONE, LAPTOP):
        await store.put_push_target(target, max_per_user=20)
    sender = Hanging()
    notifier = DurablePushNotifier(
        DurablePushQueue(folder / "push_queue.db"), store, {service: sender for service in PushService}
    )
    await notifier.start()
    await notifier.notify([note(1, conversation=c) for c in range(1, count + 1)])
    await sender.entered.wait()
    print("queued", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
