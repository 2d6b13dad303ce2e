"""The admin CLI against a real Discovery server. `main` runs its own event loop, so it
is called in a worker thread while the server keeps serving on the test's loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from discovery import DiscoveryConfig, NodeInfo, NodeKind, StaticRegistry, start_discovery
from discovery.admin_cli import main
from discovery.interface import PartitionListing
from discovery.server import DiscoveryService
from kernel.ownership import Owner, PartitionMap


@pytest.fixture
async def server() -> AsyncIterator[tuple[DiscoveryService, StaticRegistry]]:
    registry = StaticRegistry(
        [
            NodeInfo("edge-a", NodeKind.EDGE, "127.0.0.1:11", "ws://127.0.0.1:21/ws", connections=4),
            NodeInfo("edge-b", NodeKind.EDGE, "127.0.0.1:12", "ws://127.0.0.1:22/ws", connections=9),
            NodeInfo("router-1", NodeKind.ROUTER, "127.0.0.1:13", partitions=(0, 1, 2)),
        ]
    )
    service = await start_discovery(DiscoveryConfig(), registry)
    yield service, registry
    await service.stop(0.5)


async def run_cli(*argv: str) -> int:
    async with asyncio.timeout(60):
        return await asyncio.to_thread(main, list(argv))


def table(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


async def test_nodes_prints_a_table(
    server: tuple[DiscoveryService, StaticRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    service, _ = server
    assert await run_cli("--target", service.target, "nodes") == 0
    rows = table(capsys.readouterr().out)
    assert rows[0][:2] == ["NODE", "KIND"]
    assert [r[:2] for r in rows[1:]] == [["edge-a", "edge"], ["edge-b", "edge"], ["router-1", "router"]]
    assert rows[3][8] == "0-2"

    assert await run_cli("--target", service.target, "nodes", "--kind", "router") == 0
    assert [r[0] for r in table(capsys.readouterr().out)[1:]] == ["router-1"]


async def test_drain_then_assign_then_undrain(
    server: tuple[DiscoveryService, StaticRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    service, registry = server
    assert await run_cli("--target", service.target, "assign", "alice") == 0
    assert table(capsys.readouterr().out)[1][0] == "edge-a"

    assert await run_cli("--target", service.target, "drain", "edge-a") == 0
    assert table(capsys.readouterr().out)[1][7] == "yes"
    assert [n.draining for n in await registry.list_nodes(NodeKind.EDGE)] == [True, False]

    assert await run_cli("--target", service.target, "assign", "alice") == 0
    assert table(capsys.readouterr().out)[1][0] == "edge-b"

    assert await run_cli("--target", service.target, "undrain", "edge-a") == 0
    assert table(capsys.readouterr().out)[1][7] == "no"
    assert not any(n.draining for n in await registry.list_nodes())


async def test_errors_are_one_line_with_the_code(
    server: tuple[DiscoveryService, StaticRegistry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service, _ = server
    assert await run_cli("--target", service.target, "drain", "ghost") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: NOT_FOUND:")
    assert "Traceback" not in captured.err

    monkeypatch.setenv("HUBBUB_DISCOVERY_TARGET", service.target)  # the default target
    assert await run_cli("nodes") == 0
    assert "edge-a" in capsys.readouterr().out


def test_bad_usage_exits_2_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert main(["--help"]) == 0


async def test_drain_says_what_it_does_and_assign_explains_itself_on_a_single_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One edge, as `hubbub up` registers it: draining it leaves its clients nowhere to go,
    and both commands say so instead of a bare "no edge available"."""
    registry = StaticRegistry([NodeInfo("edge-1", NodeKind.EDGE, "127.0.0.1:11", "ws://127.0.0.1:21")])
    service = await start_discovery(DiscoveryConfig(), registry)
    try:
        assert await run_cli("--target", service.target, "drain", "edge-1") == 0
        captured = capsys.readouterr()
        assert table(captured.out)[1][7] == "yes"
        assert "no longer assigns edge-1 to new clients" in captured.err
        assert "tells its clients to reconnect elsewhere" in captured.err
        assert "No other edge takes clients" in captured.err

        assert await run_cli("--target", service.target, "assign", "alice") == 1
        err = capsys.readouterr().err
        assert err.startswith("error: UNAVAILABLE: no edge available: every edge is draining (edge-1)")
        assert "undrain" in err and len(err.strip().splitlines()) == 1

        assert await run_cli("--target", service.target, "undrain", "edge-1") == 0
        assert "assigns edge-1 to new clients again" in capsys.readouterr().err
        assert await run_cli("--target", service.target, "assign", "alice") == 0
    finally:
        await service.stop(0.5)


async def test_move_partition_is_refused_clearly_where_nothing_moves_partitions(
    server: tuple[DiscoveryService, StaticRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    """A discovery service given no mover (no router process behind it) says so; a negative
    partition never leaves the CLI. (The move itself: tests/e2e/test_two_routers.py.)"""
    service, _ = server
    assert await run_cli("--target", service.target, "move-partition", "3", "router-2") == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert await run_cli("--target", service.target, "move-partition", "-1", "router-2") == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err


async def test_weight_is_set_shown_and_bounded(
    server: tuple[DiscoveryService, StaticRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    service, registry = server
    assert await run_cli("--target", service.target, "weight", "edge-b", "4") == 0
    header, row = table(capsys.readouterr().out)
    assert (row[0], row[header.index("WEIGHT")]) == ("edge-b", "4")
    # edge-b has more connections (9 vs 4), yet at 4x the weight it is the less loaded now.
    assert await run_cli("--target", service.target, "assign", "alice") == 0
    assert table(capsys.readouterr().out)[1][0] == "edge-b"
    for bad in ("0", "-1", "nan", "5000"):
        assert await run_cli("--target", service.target, "weight", "edge-b", bad) == 1
        assert capsys.readouterr().err.startswith("error: INVALID_ARGUMENT: weight must be above 0")
    assert [n.weight for n in await registry.list_nodes(NodeKind.EDGE)] == [1.0, 4.0]


async def test_partitions_are_listed_where_discovery_knows_the_map(
    capsys: pytest.CaptureFixture[str],
) -> None:
    owners = (Owner("router-1", "127.0.0.1:13", 4), None, Owner("router-2", "127.0.0.1:14", 9))

    async def listing() -> PartitionListing:
        return PartitionListing(PartitionMap(3, 7, owners), {2: "router-2"})

    service = await start_discovery(DiscoveryConfig(), StaticRegistry(), list_partitions=listing)
    try:
        assert await run_cli("--target", service.target, "partitions") == 0
        assert table(capsys.readouterr().out) == [
            ["PARTITION", "OWNER", "TARGET", "EPOCH", "PLACED"],
            ["0", "router-1", "127.0.0.1:13", "4", "-"],
            ["1", "-", "-", "-", "-"],
            ["2", "router-2", "127.0.0.1:14", "9", "router-2"],
        ]
    finally:
        await service.stop(0.5)
