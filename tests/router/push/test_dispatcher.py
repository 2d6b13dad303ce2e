"""The durable push notifier over a real queue file and a real target store: one push per
device, collapse, the content policy, retries honouring Retry-After, gone targets removed,
per-user rate limits, and nothing sent twice across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kernel.push_targets import PushService, PushTarget
from messaging.store.sqlite import SqliteStore
from router.push.config import PushConfig
from router.push.dispatcher import DurablePushNotifier
from router.push.durable_queue import DurablePushQueue
from router.push.rules import PushContent, SendResult, Verdict
from tests.router.push.dispatch_fixtures import BEN_PHONE, LAPTOP, PHONE, Clock, ScriptedSender, note


@pytest.fixture
async def targets(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "messages.db")
    await store.open()
    for target in (PHONE, LAPTOP, BEN_PHONE):
        await store.put_push_target(target, max_per_user=20)
    try:
        yield store
    finally:
        await store.close()


async def opened(
    path: Path, targets: SqliteStore, sender: ScriptedSender, clock: Clock, **options: object
) -> DurablePushNotifier:
    config = PushConfig(**options)  # type: ignore[arg-type]
    senders = {service: sender for service in PushService}
    notifier = DurablePushNotifier(
        DurablePushQueue(path / "push_queue.db"), targets, senders, config, now_ms=clock
    )
    await notifier._queue.open()
    return notifier


async def test_an_offline_message_reaches_each_registered_device_once(
    tmp_path: Path, targets: SqliteStore
) -> None:
    sender, clock = ScriptedSender(), Clock()
    notifier = await opened(tmp_path, targets, sender, clock)
    await notifier.notify([note(1)])
    await notifier.drain_once()
    await notifier.drain_once()
    assert sorted(t.device_id for t, _ in sender.sent) == ["laptop", "phone"]
    content = sender.sent[0][1]
    assert (content.title, content.body) == ("New message", "")
    assert content.data == {"conversation_id": "1", "message_id": "1001", "seq": "1"}


async def test_a_burst_in_one_conversation_is_one_push_per_device(
    tmp_path: Path, targets: SqliteStore
) -> None:
    sender, clock = ScriptedSender(), Clock()
    notifier = await opened(tmp_path, targets, sender, clock, push_content="count")
    await notifier.notify([note(seq) for seq in range(1, 6)])
    await notifier.notify([note(1, conversation=2)])
    await notifier.drain_once()
    pushes = sorted((t.device_id, c.collapse_key, c.title) for t, c in sender.sent)
    assert pushes == [
        ("laptop", "c1", "5 new messages"),
        ("laptop", "c2", "New message"),
        ("phone", "c1", "5 new messages"),
        ("phone", "c2", "New message"),
    ]


async def test_previews_are_an_option_and_encrypted_bodies_give_ids_only(
    tmp_path: Path, targets: SqliteStore
) -> None:
    sender, clock = ScriptedSender(), Clock()
    notifier = await opened(tmp_path, targets, sender, clock, push_content="preview")
    await notifier.notify([note(1, user="ben"), note(1, user="ben", conversation=2, encrypted=True)])
    await notifier.drain_once()
    shown = {c.collapse_key: (c.title, c.body, c.data) for _, c in sender.sent}
    assert shown["c1"][:2] == ("cat", "hi 1")
    assert shown["c2"] == ("New message", "", {"conversation_id": "2", "message_id": "2001", "seq": "1"})


async def test_a_429_is_retried_no_sooner_than_its_retry_after(tmp_path: Path, targets: SqliteStore) -> None:
    sender, clock = ScriptedSender([SendResult(Verdict.RETRY, retry_after_ms=30_000)]), Clock()
    notifier = await opened(tmp_path, targets, sender, clock)
    await notifier.notify([note(1, user="ben")])
    await notifier.drain_once()
    assert sender.sent == [] and len(sender.attempts) == 1
    clock.now += 29_000
    await notifier.drain_once()
    assert len(sender.attempts) == 1
    clock.now += 1_000
    await notifier.drain_once()
    await notifier.drain_once()
    assert [t.device_id for t, _ in sender.sent] == ["phone"]


async def test_a_target_the_service_reports_gone_is_removed(tmp_path: Path, targets: SqliteStore) -> None:
    sender, clock = ScriptedSender([SendResult(Verdict.GONE, detail="410 Unregistered")]), Clock()
    notifier = await opened(tmp_path, targets, sender, clock)
    await notifier.notify([note(1, user="ben")])
    await notifier.drain_once()
    assert await targets.push_targets(["ben"]) == []
    await notifier.notify([note(2, user="ben")])
    await notifier.drain_once()
    assert sender.sent == [] and len(sender.attempts) == 1


async def test_a_user_over_the_rate_waits_instead_of_buzzing(tmp_path: Path, targets: SqliteStore) -> None:
    sender, clock = ScriptedSender(), Clock()
    notifier = await opened(tmp_path, targets, sender, clock, push_user_burst=2, push_user_rate_per_minute=6)
    await notifier.notify([note(1, user="ben", conversation=c) for c in (1, 2, 3)])
    await notifier.drain_once()
    assert len(sender.sent) == 2
    clock.now += 10_000
    await notifier.drain_once()
    assert sorted(c.collapse_key for _, c in sender.sent) == ["c1", "c2", "c3"]


async def test_a_restart_sends_what_was_queued_and_nothing_twice(
    tmp_path: Path, targets: SqliteStore
) -> None:
    clock = Clock()
    first = ScriptedSender([SendResult(Verdict.RETRY)])  # the phone fails, the laptop succeeds
    notifier = await opened(tmp_path, targets, first, clock)
    await notifier.notify([note(1)])
    await notifier.drain_once()
    await notifier._queue.close()
    assert len(first.sent) == 1
    clock.now += 600_000
    second = ScriptedSender()
    again = await opened(tmp_path, targets, second, clock)
    await again.notify([note(1)])  # the router hands over the same message again
    await again.drain_once()
    await again.drain_once()
    devices = sorted(t.device_id for t, _ in first.sent + second.sent)
    assert devices == ["laptop", "phone"]


class RaisingSender(ScriptedSender):
    """A sender with a bug (or a library raising what it should not): every send raises."""

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        self.attempts.append((target, content))
        raise ValueError("Invalid port: 'abc'")


async def test_a_sender_that_raises_costs_attempts_and_the_push_is_dropped_after_the_last(
    tmp_path: Path, targets: SqliteStore
) -> None:
    """Review finding: one raising send failed the whole pass and was never rescheduled, so it
    was retried about 5 times a second for ever (push_max_attempts never applied)."""
    sender, clock = RaisingSender(), Clock()
    notifier = await opened(tmp_path, targets, sender, clock, push_max_attempts=3)
    await notifier.notify([note(1, user="ben")])
    for _ in range(10):
        await notifier.drain_once()
        clock.now += 600_000  # past any backoff
    assert len(sender.attempts) == 3
    assert await notifier._queue.due(clock.now, 10) == []
