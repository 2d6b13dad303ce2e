"""`hubbub bench chat`: 1:1 chat load. Users in pairs, each pair one direct conversation, an
open-loop aggregate send rate spread over every user; receivers measure delivery latency, loss,
duplicates and reordering. Progress on stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import queue
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from tqdm import tqdm

from bench.loadgen import (
    Pacer,
    RawUser,
    SenderTrack,
    Stats,
    ack_periodically,
    encode_send,
    latency_summary,
    parse_stamp,
    send_prefix,
    sign_up_many,
    stamp,
)
from bench.node import hubbub_node
from protos import client_pb2 as pb

PACING_TICK_S = 0.001
REPORT_EVERY_NS = 100_000_000


@dataclass(frozen=True)
class BenchConfig:
    url: str
    users: int = 200
    rate: float = 1000.0  # messages per second, all senders together
    seconds: float = 10.0
    drain_s: float = 10.0  # after the last send, how long to wait for stragglers
    prefix: str = "bench"
    password: str = "bench-password-1"
    signup_concurrency: int = 16
    ack_every_s: float = 0.2


@dataclass
class _Sender:
    user: RawUser
    prefix: bytes
    counter: int = 0


Report = Callable[[int, int], None]  # (sent, received) so far


def pair_names(config: BenchConfig) -> list[tuple[str, str]]:
    return [(f"{config.prefix}-{i}a", f"{config.prefix}-{i}b") for i in range(config.users // 2)]


async def run_worker(
    config: BenchConfig,
    pairs: list[tuple[str, str]],
    start_at: Callable[[], Any],
    report: Report,
) -> Stats:
    """Sign up and pair this worker's users, wait for `start_at()` (-> wall ns), run, drain."""
    stats = Stats()
    names = [name for pair in pairs for name in pair]
    users = await sign_up_many(config.url, names, config.password, config.signup_concurrency)
    try:
        by_name = {u.user_id: u for u in users}
        conversations = await asyncio.gather(*(by_name[a].open_direct(b) for a, b in pairs))
        senders: list[_Sender] = []
        for (a, b), conversation_id in zip(pairs, conversations, strict=True):
            prefix = send_prefix(conversation_id)
            senders += [_Sender(by_name[a], prefix), _Sender(by_name[b], prefix)]
        tracks: dict[str, SenderTrack] = {name: SenderTrack() for name in names}
        acked: dict[str, set[int]] = {name: set() for name in names}

        def on_frame(user: RawUser, frame: pb.ServerFrame) -> None:
            kind = frame.WhichOneof("kind")
            if kind == "message":
                now_ns = time.time_ns()
                sent_ns, counter = parse_stamp(frame.message.body)
                stats.latencies_ms.append((now_ns - sent_ns) / 1e6)
                tracks[frame.message.sender_id].record(counter)
                stats.received += 1
                stats.last_receive_ns = now_ns
            elif kind == "sent":
                acked[user.user_id].add(int(frame.sent.client_msg_id))
            elif kind == "error":
                stats.errors += 1

        for user in users:
            user.on_frame = on_frame
        start_ns = await start_at()
        stats.first_send_ns = start_ns
        stop_acks = asyncio.Event()
        acker = asyncio.create_task(ack_periodically(users, config.ack_every_s, stop_acks))
        await _send_paced(config, senders, start_ns, len(users) / config.users, stats, report)
        await _drain(config, acked, tracks, stats, report)
        stop_acks.set()
        await acker
        stats.acked = sum(len(a) for a in acked.values())
        for name in names:
            track = tracks[name]
            stats.lost += len(acked[name] - track.seen)
            stats.duplicated += track.duplicated
            stats.reordered += track.reordered
    finally:
        await asyncio.gather(*(u.close() for u in users), return_exceptions=True)
    return stats


async def _send_paced(
    config: BenchConfig, senders: list[_Sender], start_ns: int, share: float, stats: Stats, report: Report
) -> None:
    pacer = Pacer.for_window(config.rate * share, start_ns, config.seconds)
    end_ns = start_ns + int(config.seconds * 1e9)
    await asyncio.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))
    next_report = 0
    count = len(senders)
    while True:
        now_ns = min(time.time_ns(), end_ns)
        for index in pacer.due(now_ns):
            sender = senders[index % count]
            counter = sender.counter
            sender.counter += 1
            body = stamp(pacer.scheduled_ns(index), counter)
            frame = encode_send(sender.user.next_ref(), sender.prefix, b"%d" % counter, body)
            await sender.user.ws.send(frame)
            stats.sent += 1
        if now_ns >= next_report:
            report(stats.sent, stats.received)
            next_report = now_ns + REPORT_EVERY_NS
        if now_ns >= end_ns:
            break
        await asyncio.sleep(PACING_TICK_S)
    report(stats.sent, stats.received)


async def _drain(
    config: BenchConfig,
    acked: dict[str, set[int]],
    tracks: dict[str, SenderTrack],
    stats: Stats,
    report: Report,
) -> None:
    """Wait (bounded) until every send is acked and every acked message arrived."""
    deadline = time.monotonic() + config.drain_s
    while time.monotonic() < deadline:
        n_acked = sum(len(a) for a in acked.values())
        if n_acked >= stats.sent and all(a <= tracks[name].seen for name, a in acked.items()):
            break
        report(stats.sent, stats.received)
        await asyncio.sleep(0.05)  # polling a bench's counters, not a test waiting for an event
    report(stats.sent, stats.received)


# ------------------------------------------------------------------ processes


def _split(pairs: list[tuple[str, str]], processes: int) -> list[list[tuple[str, str]]]:
    return [chunk for chunk in (pairs[k::processes] for k in range(processes)) if chunk]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _worker_process(
    config: BenchConfig,
    index: int,
    pairs: list[tuple[str, str]],
    events: mp.Queue[tuple[str, int, Any]],
    go: MpEvent,
    start_ns: Synchronized[int],
    counters: SynchronizedArray[int],
) -> None:
    async def start_at() -> int:
        events.put(("ready", index, None))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        return int(start_ns.value)

    def report(sent: int, received: int) -> None:
        counters[2 * index] = sent
        counters[2 * index + 1] = received

    try:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            stats = runner.run(run_worker(config, pairs, start_at, report))
        events.put(("result", index, stats))
    except Exception as exc:  # noqa: BLE001 - any failure is reported to the parent, which prints it
        events.put(("error", index, f"{type(exc).__name__}: {exc}"))


def run_processes(config: BenchConfig, processes: int, progress: tqdm[Any]) -> Stats:
    """Run the workers in `processes` processes (1 = in this process) and merge their stats."""
    chunks = _split(pair_names(config), max(1, processes))
    if len(chunks) == 1:
        return _run_inline(config, chunks[0], progress)
    ctx = mp.get_context("spawn")
    events: mp.Queue[tuple[str, int, Any]] = ctx.Queue()
    go = ctx.Event()
    start_ns = ctx.Value("q", 0)
    counters = ctx.Array("q", 2 * len(chunks))
    workers = [
        ctx.Process(
            target=_worker_process, args=(config, i, chunk, events, go, start_ns, counters), daemon=True
        )
        for i, chunk in enumerate(chunks)
    ]
    for worker in workers:
        worker.start()
    total = Stats()
    ready = results = 0
    try:
        while results < len(workers):
            try:
                kind, index, payload = events.get(timeout=0.2)
            except queue.Empty:  # time to refresh the progress bar
                _show(progress, sum(counters[0::2]), sum(counters[1::2]))
                if not any(w.is_alive() for w in workers):
                    raise RuntimeError("every worker exited without a result") from None
                continue
            if kind == "error":
                raise RuntimeError(f"worker {index}: {payload}")
            if kind == "ready":
                ready += 1
                if ready == len(workers):
                    start_ns.value = time.time_ns() + 300_000_000
                    go.set()
            elif kind == "result":
                results += 1
                total.merge(payload)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
    return total


def _run_inline(config: BenchConfig, pairs: list[tuple[str, str]], progress: tqdm[Any]) -> Stats:
    async def start_at() -> int:
        return time.time_ns() + 100_000_000

    def report(sent: int, received: int) -> None:
        _show(progress, sent, received)

    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(run_worker(config, pairs, start_at, report))


def _show(progress: tqdm[Any], sent: int, received: int) -> None:
    progress.n = sent
    progress.set_postfix(received=received, refresh=False)
    progress.refresh()


def summarize(config: BenchConfig, processes: int, stats: Stats) -> dict[str, Any]:
    elapsed_s = max(1e-9, (stats.last_receive_ns - stats.first_send_ns) / 1e9) if stats.last_receive_ns else 0
    return {
        "workload": "chat",
        "users": config.users,
        "processes": processes,
        "seconds": config.seconds,
        "rate": config.rate,
        "send_rate": round(stats.sent / config.seconds, 1),
        "delivered_per_s": round(stats.received / elapsed_s, 1) if elapsed_s else 0.0,
        **latency_summary(stats.latencies_ms),
        "sent": stats.sent,
        "acked": stats.acked,
        "received": stats.received,
        "unacked": stats.sent - stats.acked,
        "lost": stats.lost,
        "duplicated": stats.duplicated,
        "reordered": stats.reordered,
        "errors": stats.errors,
    }


# ------------------------------------------------------------------ a node of our own


@contextlib.contextmanager
def local_node() -> Iterator[str]:
    """Start `hubbub up` in a separate process on free ports; yield its WebSocket URL."""
    with hubbub_node() as server:
        yield server.url


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hubbub bench chat", description=__doc__)
    parser.add_argument("--url", help="WebSocket URL of a running edge (default: start a local node)")
    parser.add_argument("--users", type=int, default=200, help="users, in pairs (default 200)")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages/s, all senders (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time (default 10)")
    parser.add_argument("--drain", type=float, default=10.0, help="max wait for stragglers (default 10)")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--signup-concurrency", type=int, default=16, help="parallel sign-ups (default 16)")
    parser.add_argument("--prefix", help="user name prefix (default: random per run)")
    args = parser.parse_args(argv)
    if args.users < 2 or args.rate <= 0 or args.seconds <= 0 or args.processes < 1:
        parser.error("need --users >= 2, --rate > 0, --seconds > 0, --processes >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(local_node())
        config = BenchConfig(
            url=url,
            users=args.users - args.users % 2,
            rate=args.rate,
            seconds=args.seconds,
            drain_s=args.drain,
            prefix=args.prefix or f"bench-{secrets.token_hex(4)}",
            signup_concurrency=max(1, args.signup_concurrency // args.processes),
        )
        total = int(config.rate * config.seconds)
        with tqdm(total=total, unit="msg", desc="chat", file=sys.stderr, dynamic_ncols=True) as progress:
            stats = run_processes(config, args.processes, progress)
    print(json.dumps(summarize(config, args.processes, stats)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
