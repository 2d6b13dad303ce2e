"""Each new workload, tiny, against a real node (and the baseline against a real echo server):
nothing lost, and the keys the suite and the report read are there. The generators run in
their own processes; the parent side runs in a thread so the in-process node keeps serving.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import serve

from bench.client_socket import CLIENTS
from bench.connections import run as run_connections
from bench.echo_server import echo
from bench.engine import Engine
from bench.engine_plan import Plan, echoes, group, pairs
from bench.node import echo_server
from bench.resume import run as run_resume
from bench.sampler import ResourceSampler
from bench.stepped import run_steps
from deploy.single_node import SingleNode

STEP_KEYS = {
    *("rate", "sent", "acked", "received", "expected_deliveries", "delivered_per_s", "unacked"),
    *("p50_ms", "p99_ms", "p999_ms", "max_ms", "lost", "duplicated", "reordered"),
    *("server_cpu_pct", "generator_cpu_pct", "server_cpu_us_per_msg", "generator_cpu_us_per_delivery"),
}


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        yield f"ws://{host}:{port}"


def stepped(plan: Plan, rates: list[float]) -> list[dict[str, Any]]:
    # The node runs in this (test) process: its CPU is the "server" side here.
    with ResourceSampler(os.getpid()) as sampler, Engine(plan, processes=1, desc="test") as engine:
        return run_steps(engine, rates, seconds=1.0, drain_s=60.0, sampler=sampler, label="test")


def assert_clean(step: dict[str, Any], expected_deliveries: int) -> None:
    assert step.keys() >= STEP_KEYS
    assert step["status"] == "ok"
    assert step["acked"] == step["sent"] > 0
    assert step["expected_deliveries"] == expected_deliveries
    assert step["received"] == expected_deliveries
    assert (step["lost"], step["duplicated"], step["reordered"], step["errors"]) == (0, 0, 0, 0)


@pytest.mark.parametrize("client", CLIENTS)
async def test_w1_pairs_deliver_every_message_once_per_step(node: SingleNode, client: str) -> None:
    plan = Plan(node.ws_url, pairs("t1", 4), client=client)
    steps = await asyncio.to_thread(stepped, plan, [20.0, 40.0])
    assert [s["sent"] for s in steps] == [20, 40]
    for step in steps:  # the second step reuses the users: new client_msg_ids, fresh counters
        assert_clean(step, step["sent"])


async def test_w1_over_the_json_subprotocol_delivers_every_message_once(node: SingleNode) -> None:
    plan = Plan(node.ws_url, pairs("t5", 4), json=True)  # on picows, the default client
    (step,) = await asyncio.to_thread(stepped, plan, [20.0])
    assert_clean(step, 20)


async def test_w2_a_group_message_reaches_every_other_online_member(node: SingleNode) -> None:
    plan = Plan(node.ws_url, (group("t2", members=6, online=4),))
    (step,) = await asyncio.to_thread(stepped, plan, [12.0])
    assert_clean(step, step["sent"] * 3)


async def test_w2_over_the_json_subprotocol_on_websockets_too(node: SingleNode) -> None:
    plan = Plan(node.ws_url, (group("t7", members=5, online=3),), json=True, client="websockets")
    (step,) = await asyncio.to_thread(stepped, plan, [12.0])
    assert_clean(step, step["sent"] * 2)


async def test_baseline_echoes_every_frame(echo_url: str) -> None:
    plan = Plan(echo_url, echoes("t3", 3), echo=True)
    (step,) = await asyncio.to_thread(stepped, plan, [30.0])
    assert_clean(step, 30)


def test_the_picows_baseline_echoes_every_frame() -> None:
    with echo_server("picows") as server:
        (step,) = stepped(Plan(server.url, echoes("t6", 3), echo=True), [30.0])
    assert_clean(step, 30)


async def test_w3_idle_connections_authenticate_with_tokens(node: SingleNode) -> None:
    def run() -> dict[str, Any]:
        with ResourceSampler(os.getpid()) as sampler:
            return run_connections(25, 10, 1, 10, sampler, node.ws_url, settle_s=0.0)

    result = await asyncio.to_thread(run)
    assert (result["connected"], result["failed"], result["users"]) == (25, 0, 3)
    assert result["still_open_at_end"] == 25
    assert {
        "kib_per_conn",
        "connects_per_s",
        "server_rss_before_mib",
        "server_rss_after_mib",
    } <= result.keys()


async def test_w4_every_client_catches_up_after_the_storm(node: SingleNode) -> None:
    def run() -> dict[str, Any]:
        with ResourceSampler(os.getpid()) as sampler:
            return run_resume(3, 5, 1, sampler, node.ws_url)

    result = await asyncio.to_thread(run)
    assert (result["sent"], result["send_answers"]) == (15, 15)
    assert (result["clients"], result["caught_up"], result["errors"]) == (6, 6, 0)
    assert result["all_caught_up"] is True
    assert result["catchup_s"] is not None and result["catchup_s"] >= 0
