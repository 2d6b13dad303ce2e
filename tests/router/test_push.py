"""Push hand-off: previews, the bounded drop-oldest queue, the log backend's JSON lines."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import orjson

from protos import client_pb2
from router.push import LogPushNotifier, MemoryPushNotifier, PushNotification, PushQueue, preview_of

WAIT_S = 30.0


def note(seq: int) -> PushNotification:
    return PushNotification("ann", 1, seq, 1000 + seq, "ben", f"hello {seq}")


def test_preview_is_the_first_100_chars_or_a_fixed_text_for_opaque_payloads() -> None:
    assert preview_of(client_pb2.Message(body="x" * 500)) == "x" * 100
    assert preview_of(client_pb2.Message(body="short")) == "short"
    assert preview_of(client_pb2.Message(payload=b"\x00secret")) == "New message"


class Gated:
    """A notifier that blocks until released, so the queue fills up behind it."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.memory = MemoryPushNotifier()

    async def notify(self, notifications: Sequence[PushNotification]) -> None:
        self.started.set()
        await self.gate.wait()
        await self.memory.notify(notifications)


async def test_overflow_drops_the_oldest_and_counts_them() -> None:
    notifier = Gated()
    queue = PushQueue(notifier, limit=5, batch=100)
    queue.start()
    queue.put_many([note(0)])
    async with asyncio.timeout(WAIT_S):
        await notifier.started.wait()  # seq 0 is with the notifier; the queue is empty
    queue.put_many([note(seq) for seq in range(1, 9)])  # 8 more into room for 5
    assert queue.dropped == 3 and len(queue) == 5
    notifier.gate.set()
    async with asyncio.timeout(WAIT_S):
        got = await notifier.memory.wait_for(6)
    assert [n.seq for n in got] == [0, 4, 5, 6, 7, 8]
    await queue.stop()


async def test_a_failing_notifier_does_not_stop_later_pushes() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.memory = MemoryPushNotifier()
            self.failed = asyncio.Event()

        async def notify(self, notifications: Sequence[PushNotification]) -> None:
            if not self.failed.is_set():
                self.failed.set()
                raise RuntimeError("push provider down")
            await self.memory.notify(notifications)

    flaky = Flaky()
    queue = PushQueue(flaky, limit=10)
    queue.start()
    queue.put_many([note(1)])
    async with asyncio.timeout(WAIT_S):
        await flaky.failed.wait()
    queue.put_many([note(2)])
    async with asyncio.timeout(WAIT_S):
        got = await flaky.memory.wait_for(1)
    assert [n.seq for n in got] == [2]
    await queue.stop()


async def test_log_notifier_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "push.jsonl"
    notifier = LogPushNotifier(path)
    await notifier.notify([note(1), note(2)])
    await notifier.notify([note(3)])
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [row["seq"] for row in rows] == [1, 2, 3]
    assert rows[0] == {
        "user_id": "ann",
        "conversation_id": 1,
        "seq": 1,
        "message_id": 1001,
        "sender_id": "ben",
        "preview": "hello 1",
        "encrypted": False,
    }


async def test_pushes_collapse_per_user_and_conversation_within_the_window() -> None:
    now = [0]
    notifier = MemoryPushNotifier()
    queue = PushQueue(notifier, collapse_window_ms=10_000, now_ms=lambda: now[0])
    queue.start()
    flood = [
        PushNotification(user, 1, seq, seq, "ben", "hi") for seq in range(1, 101) for user in ("ann", "cat")
    ]
    queue.put_many(flood)
    queue.put_many([PushNotification("ann", 2, 1, 500, "ben", "other chat")])
    assert queue.collapsed == 198
    now[0] = 10_000  # the window has passed: the next message notifies again
    queue.put_many([PushNotification("ann", 1, 101, 101, "ben", "later")])
    async with asyncio.timeout(WAIT_S):
        got = await notifier.wait_for(4)
    assert [(n.user_id, n.conversation_id, n.seq) for n in got] == [
        ("ann", 1, 1),
        ("cat", 1, 1),
        ("ann", 2, 1),
        ("ann", 1, 101),
    ]
    await queue.stop()
