"""The push target store (kernel/push_targets.py) on every backend: one target per (user,
device), one holder per (service, token) (the newest registration wins), a user's own only,
the per-user cap, and a gone report that spares a newer token."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from kernel.push_targets import PushService, PushTarget, PushTargetStore
from messaging.store.sqlite import SqliteStore
from messaging.store.sqlite_schema import MIGRATIONS, PUSH_TOKEN_UNIQUE_STEP

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


async def test_a_token_registered_by_another_user_moves_to_them(store: PushTargetStore) -> None:
    """A phone handed to bob: alice must not get his pushes, nor he hers."""
    alices = fcm("alice", "phone", "shared")
    bobs = replace(alices, user_id="bob", device_id="phone", created_at_ms=9)
    await store.put_push_target(alices, max_per_user=20)
    assert await store.put_push_target(bobs, max_per_user=20)
    assert await store.push_targets(["alice", "bob"]) == [bobs]


async def test_a_reinstalled_app_on_a_new_device_id_is_pushed_once(store: PushTargetStore) -> None:
    old = PushTarget("alice", "install-1", PushService.APNS, "ab" * 32, apns_topic="app.chat")
    new = replace(old, device_id="install-2")
    await store.put_push_target(old, max_per_user=20)
    await store.put_push_target(new, max_per_user=20)
    assert await store.push_targets(["alice"]) == [new]
    assert not await store.delete_push_target("alice", "install-1")


async def test_the_same_token_on_another_service_is_another_target(store: PushTargetStore) -> None:
    web = replace(WEBPUSH, device_id="laptop")
    fcm_of_same = PushTarget("bob", "phone", PushService.FCM, web.token)
    await store.put_push_target(web, max_per_user=20)
    await store.put_push_target(fcm_of_same, max_per_user=20)
    assert await store.push_targets(["alice", "bob"]) == [web, fcm_of_same]


async def test_a_token_moving_between_a_users_devices_frees_its_place(store: PushTargetStore) -> None:
    await store.put_push_target(fcm("alice", "a"), max_per_user=2)
    await store.put_push_target(fcm("alice", "b"), max_per_user=2)
    moved = replace(fcm("alice", "a"), device_id="c")
    assert await store.put_push_target(moved, max_per_user=2)
    assert await store.push_targets(["alice"]) == [fcm("alice", "b"), moved]


async def test_a_moved_token_is_registered_again_by_its_first_holder(store: PushTargetStore) -> None:
    alices = fcm("alice", "phone", "shared")
    bobs = replace(alices, user_id="bob")
    for target in (alices, bobs, alices):
        await store.put_push_target(target, max_per_user=20)
    assert await store.push_targets(["alice", "bob"]) == [alices]
    assert await store.remove_gone_push_target(alices)
    assert await store.push_targets(["alice", "bob"]) == []


async def test_sqlite_duplicate_tokens_from_before_the_unique_step_keep_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[: PUSH_TOKEN_UNIQUE_STEP - 1]:
        for statement in step:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {PUSH_TOKEN_UNIQUE_STEP - 1}")
    older = fcm("alice", "phone", "shared")
    newer = replace(older, user_id="bob", created_at_ms=older.created_at_ms + 1)
    for t in (older, newer, fcm("carol", "tablet")):
        conn.execute(
            "INSERT INTO push_targets VALUES (?, ?, ?, ?, '', 0, '', '', ?)",
            (t.user_id, t.device_id, t.service.value, t.token, t.created_at_ms),
        )
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.push_targets(["alice", "bob", "carol"]) == [newer, fcm("carol", "tablet")]
    finally:
        await store.close()


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
