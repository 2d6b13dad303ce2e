"""The push target store (kernel/push_targets.py) on every backend: one target per (user,
device), a user's own only, the per-user cap, and a gone report that spares a newer token."""

from __future__ import annotations

from pathlib import Path

from kernel.push_targets import PushService, PushTarget, PushTargetStore
from messaging.store.sqlite import SqliteStore

# `store` is tests/messaging/store/conftest.py's: memory, SQLite and Cassandra (whose store keeps
# push targets in its directory).


def fcm(user_id: str, device_id: str, token: str = "tok") -> PushTarget:
    return PushTarget(user_id, device_id, PushService.FCM, f"{token}-{user_id}-{device_id}", created_at_ms=5)


APNS = PushTarget("alice", "phone", PushService.APNS, "ab" * 32, apns_topic="app.chat", apns_sandbox=True)
WEBPUSH = PushTarget(
    "alice", "browser", PushService.WEBPUSH, "https://push.example/abc", p256dh="B" * 87, auth="A" * 22
)


async def test_registered_targets_read_back_whole_and_sorted(store: PushTargetStore) -> None:
    for target in (WEBPUSH, APNS, fcm("bob", "tablet")):
        assert await store.put_push_target(target, max_per_user=20)
    assert await store.push_targets(["alice", "bob", "carol"]) == [WEBPUSH, APNS, fcm("bob", "tablet")]
    assert await store.push_targets(["carol"]) == []


async def test_registering_a_device_again_replaces_its_target(store: PushTargetStore) -> None:
    await store.put_push_target(fcm("alice", "phone", "old"), max_per_user=20)
    await store.put_push_target(fcm("alice", "phone", "new"), max_per_user=20)
    assert await store.push_targets(["alice"]) == [fcm("alice", "phone", "new")]


async def test_a_user_deletes_only_their_own(store: PushTargetStore) -> None:
    await store.put_push_target(fcm("alice", "phone"), max_per_user=20)
    await store.put_push_target(fcm("bob", "phone"), max_per_user=20)
    assert await store.delete_push_target("alice", "phone")
    assert not await store.delete_push_target("alice", "phone")
    assert await store.push_targets(["alice", "bob"]) == [fcm("bob", "phone")]


async def test_the_cap_refuses_another_device_but_not_a_replacement(store: PushTargetStore) -> None:
    assert await store.put_push_target(fcm("alice", "a"), max_per_user=2)
    assert await store.put_push_target(fcm("alice", "b"), max_per_user=2)
    assert not await store.put_push_target(fcm("alice", "c"), max_per_user=2)
    assert await store.put_push_target(fcm("alice", "b", "fresh"), max_per_user=2)
    assert await store.push_targets(["alice"]) == [fcm("alice", "a"), fcm("alice", "b", "fresh")]


async def test_a_gone_report_removes_that_token_only(store: PushTargetStore) -> None:
    stale = fcm("alice", "phone", "old")
    await store.put_push_target(stale, max_per_user=20)
    await store.put_push_target(fcm("alice", "phone", "new"), max_per_user=20)
    assert not await store.remove_gone_push_target(stale)
    assert await store.push_targets(["alice"]) == [fcm("alice", "phone", "new")]
    assert await store.remove_gone_push_target(fcm("alice", "phone", "new"))
    assert await store.push_targets(["alice"]) == []


async def test_sqlite_targets_survive_a_reopen(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "m.db")
    await first.open()
    await first.put_push_target(APNS, max_per_user=20)
    await first.close()
    second = SqliteStore(tmp_path / "m.db")
    await second.open()
    try:
        assert await second.push_targets(["alice"]) == [APNS]
    finally:
        await second.close()
