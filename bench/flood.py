"""`hubbub bench flood`: what one flooding user costs everyone else. A bystander sends 1:1 at a
human rate and its latency (send -> `sent` ack) is measured alone, then while another user, in a
process of its own, floods flat out: sends pipelined on one connection into a group of offline
members (push fan-out) and typing from ten connections. The node keeps its default limits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
from multiprocessing.queues import Queue
from typing import Any

from tqdm import tqdm

from bench.client_socket import SocketClosed
from bench.loadgen import RawUser, encode_send, send_prefix, sign_up_many, stamp
from bench.node import NodeOptions, hubbub_node
from bench.sampler import ResourceSampler
from bench.stepped import emit, prefix
from protos import client_pb2 as pb

PASSWORD = "bench-password-1"
TYPING_CONNECTIONS = 10


def percentile(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    return round(sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))], 2)


async def measure(
    bystander: RawUser, conversation_id: int, rate: float, seconds: float, bar: tqdm[Any]
) -> dict[str, Any]:
    """Open loop at `rate`: each send timed from when it was due to its ack (or error)."""
    due: dict[int, int] = {}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    done = asyncio.Event()
    total = int(rate * seconds)

    def on_frame(user: RawUser, frame: pb.ServerFrame) -> None:
        started = due.pop(frame.ref, None)
        if started is None:
            return
        if frame.WhichOneof("kind") == "sent":
            latencies.append((time.time_ns() - started) / 1e6)
        else:
            errors[frame.error.code] = errors.get(frame.error.code, 0) + 1
        bar.update(1)
        if not due and sent_all:
            done.set()

    bystander.on_frame = on_frame
    head = send_prefix(conversation_id)
    start = time.time_ns()
    sent_all = False
    for k in range(total):
        at = start + int(k * 1e9 / rate)
        await asyncio.sleep(max(0.0, (at - time.time_ns()) / 1e9))  # open-loop pacing
        ref = bystander.next_ref()
        due[ref] = at
        await bystander.ws.send(encode_send(ref, head, b"b%d-%d" % (start, k), stamp(at, k)))
    sent_all = True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            if due:
                await done.wait()
    latencies.sort()
    return {
        "sends": total,
        "acked": len(latencies),
        "unanswered": len(due),
        "errors": errors,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": round(latencies[-1], 2) if latencies else None,
    }


async def _flood(
    url: str, user_id: str, token: str, group_id: int, seconds: float, kinds: str
) -> dict[str, int]:
    typists = TYPING_CONNECTIONS if "typing" in kinds else 0
    hellos = [pb.Hello(token=token, device_id=f"flood-{i}") for i in range(typists + 1)]
    users = [await RawUser.greeted(url, user_id, hello) for hello in hellos]
    counts = {"sent": 0, "rate_limited": 0, "other_errors": 0, "typing": 0, "sends": 0}

    def on_frame(user: RawUser, frame: pb.ServerFrame) -> None:
        kind = frame.WhichOneof("kind")
        if kind == "sent":
            counts["sent"] += 1
        elif kind == "error":
            key = "rate_limited" if frame.error.code == "RATE_LIMITED" else "other_errors"
            counts[key] += 1

    for user in users:
        user.on_frame = on_frame
    stop = time.monotonic() + seconds
    head = send_prefix(group_id)
    typing = pb.ClientFrame(typing=pb.Typing(conversation_id=group_id, active=True)).SerializeToString()

    async def sends(user: RawUser) -> None:
        k = 0
        with contextlib.suppress(SocketClosed):
            while time.monotonic() < stop:
                for _ in range(100):
                    k += 1
                    await user.ws.send(encode_send(user.next_ref(), head, b"f%d" % k, b"flood %d" % k))
                counts["sends"] += 100
                await asyncio.sleep(0)

    async def typist(user: RawUser) -> None:
        with contextlib.suppress(SocketClosed):
            while time.monotonic() < stop:
                for _ in range(100):
                    await user.ws.send(typing)
                counts["typing"] += 100
                await asyncio.sleep(0)

    flooders = [sends(users[0])] if "sends" in kinds else []
    await asyncio.gather(*flooders, *(typist(u) for u in users[1:]))
    await asyncio.gather(*(u.close() for u in users), return_exceptions=True)
    return counts


def _flood_process(
    url: str, user_id: str, token: str, group_id: int, seconds: float, kinds: str, out: Queue[dict[str, int]]
) -> None:
    # Niced: on a small machine a flat-out flooder would otherwise starve the bystander's own
    # generator, and the figure would measure the generator, not the server's fairness.
    os.nice(10)
    out.put(asyncio.run(_flood(url, user_id, token, group_id, seconds, kinds)))


async def setup(url: str, members: int) -> tuple[RawUser, RawUser, RawUser, int, int]:
    name = prefix()
    flooder, bystander, peer = await sign_up_many(
        url, [f"{name}-flood", f"{name}-by", f"{name}-peer"], PASSWORD, 3
    )
    offline = await sign_up_many(url, [f"{name}-m{i}" for i in range(members)], PASSWORD, 8)
    await asyncio.gather(*(u.close() for u in offline))  # offline: every flood message is a push
    group = await flooder.request(
        pb.ClientFrame(create_group=pb.CreateGroup(title="flood", member_ids=[u.user_id for u in offline]))
    )
    conversation = await bystander.open_direct(peer.user_id)
    return flooder, bystander, peer, group.conversation.conversation_id, conversation


async def run(url: str, seconds: float, rate: float, members: int, kinds: str) -> dict[str, Any]:
    flooder, bystander, peer, group_id, conversation = await setup(url, members)
    total = 2 * int(rate * seconds)
    with tqdm(total=total, unit="send", desc="flood: bystander alone, then with a flood", leave=False) as bar:
        alone = await measure(bystander, conversation, rate, seconds, bar)
        results: Queue[dict[str, int]] = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(
            target=_flood_process,
            args=(url, flooder.user_id, flooder.token, group_id, seconds + 1.0, kinds, results),
        )
        process.start()
        await asyncio.sleep(1.0)  # let the flood reach full speed before measuring
        flooded = await measure(bystander, conversation, rate, seconds, bar)
        flood = await asyncio.to_thread(results.get, True, 120.0)
        await asyncio.to_thread(process.join, 30.0)
    for user in (flooder, bystander, peer):
        await user.close()
    return {
        "workload": "flood",
        "seconds": seconds,
        "bystander_rate": rate,
        "group_members": members,
        "flood_kinds": kinds,
        "alone": alone,
        "flooded": flooded,
        "flood": flood,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench flood", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="each phase (default 10)")
    parser.add_argument("--rate", type=float, default=10.0, help="bystander sends per second (default 10)")
    parser.add_argument("--members", type=int, default=499, help="offline members of the flooded group")
    parser.add_argument(
        "--flood", default="sends,typing", help="what the flooder sends (default sends,typing)"
    )
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite", help="node's store")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    options = NodeOptions(store=args.store, default_limits=True)
    with hubbub_node(options) as server, ResourceSampler(server.pid) as sampler:
        sampler.label = "flood"
        result = asyncio.run(run(server.url, args.seconds, args.rate, args.members, args.flood))
        result.update(sampler.window("flood"))
        result["node"] = options.as_dict()
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
