"""kill -9 a process with pushes queued and in flight: after a restart each (message, device)
is sent exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from kernel.push_targets import PushService
from messaging.store.sqlite import SqliteStore
from router.push.config import PushConfig
from router.push.dispatcher import DurablePushNotifier
from router.push.durable_queue import DurablePushQueue
from tests.router.push.dispatch_fixtures import ScriptedSender

CONVERSATIONS = 40
WAIT_S = 60.0
ROOT = Path(__file__).resolve().parents[3]


async def test_pushes_queued_at_kill_9_are_each_sent_once_after_restart(tmp_path: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.router.push.killed_dispatcher",
        str(tmp_path),
        str(CONVERSATIONS),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    async with asyncio.timeout(WAIT_S):
        assert await child.stdout.readline() == b"queued\n"
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL

    store = SqliteStore(tmp_path / "messages.db")
    await store.open()
    sender = ScriptedSender()
    notifier = DurablePushNotifier(
        DurablePushQueue(tmp_path / "push_queue.db"),
        store,
        {service: sender for service in PushService},
        PushConfig(push_user_burst=2 * CONVERSATIONS),
    )
    try:
        await notifier.start()
        async with asyncio.timeout(WAIT_S):
            await sender.wait_for(2 * CONVERSATIONS)
        await notifier.drain_once()
        sent = sorted((t.device_id, c.data["message_id"]) for t, c in sender.sent)
        expected = sorted(
            (device, str(1000 * c + 1)) for device in ("laptop", "phone") for c in range(1, CONVERSATIONS + 1)
        )
        assert sent == expected
    finally:
        await notifier.stop()
        await store.close()
