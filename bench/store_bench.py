"""Load benchmark of the message store: many concurrent senders calling `append`.

Measures durable messages/s, append latency and CPU per message (this process's, and with
`--store cassandra` the Cassandra server's: a local Cassandra 1.2 started for the run through
deploy/local_servers/cassandra.py), then history read latency (bench/store_reads.py).
`--store sqlite,cassandra` measures both in one run, one after the other. The last stdout line
is one JSON object (with several stores: {"stores": {name: figures}}).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psutil
from tqdm import tqdm

from bench.store_reads import percentile, read_history
from messaging.model import Conversation, ConversationKind, Member, NewMessage, Role
from messaging.store.interface import MessageStore
from messaging.store.sqlite import SqliteStore

STORES = ("sqlite", "cassandra")

_BODY = "the quick brown fox jumps over the lazy dog"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hubbub bench store", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration (default 5)")
    parser.add_argument("--senders", type=int, default=64, help="concurrent sender tasks (default 64)")
    parser.add_argument("--conversations", type=int, default=100, help="conversations written (default 100)")
    parser.add_argument("--batch", type=int, default=1, help="messages per append call (default 1)")
    parser.add_argument("--data-dir", type=Path, default=None, help="store directory (default: a temp dir)")
    parser.add_argument(
        "--store",
        default="sqlite",
        help=f"store(s) measured, comma-separated: {', '.join(STORES)} (default sqlite)",
    )
    parser.add_argument(
        "--read-seconds",
        type=float,
        default=3.0,
        help="history reads after the appends, s (default 3; 0 = none)",
    )
    parser.add_argument(
        "--readers",
        type=int,
        default=8,
        help="concurrent history readers (default 8: latency, not a queue behind 64 senders)",
    )
    parser.add_argument(
        "--cassandra-hosts",
        default="",
        help="with --store cassandra: a cluster HOST[:PORT],... whose keyspace hubbub_bench "
        "`hubbub store migrate --cassandra-keyspace hubbub_bench` created, instead of a local "
        "Cassandra 1.2 started for the run",
    )
    parser.add_argument(
        "--cassandra-protocol-version",
        type=int,
        default=0,
        help="with --cassandra-hosts: 0 negotiates; 1 for 1.2",
    )
    args = parser.parse_args(argv)
    for name in ("senders", "conversations", "batch", "readers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    args.stores = list(dict.fromkeys(args.store.split(",")))  # each once, in the order named
    args.store = args.stores[0]
    unknown = set(args.stores) - set(STORES)
    if unknown:
        parser.error(f"--store: unknown {', '.join(sorted(unknown))} (choose from {', '.join(STORES)})")
    return args


async def _setup(store: MessageStore, conversations: int, senders: int) -> None:
    now = int(time.time() * 1000)
    members = [Member(f"u{i}", Role.MEMBER, now) for i in range(min(senders, 50))]
    for cid in range(1, conversations + 1):
        if await store.get_conversation(cid) is None:  # a reused --data-dir keeps them
            conversation = Conversation(cid, ConversationKind.GROUP, f"bench {cid}", "u0", now)
            await store.create_group(conversation, members)


def _commits(store: MessageStore) -> int:
    commits = getattr(store, "commits", None)
    if commits is None:
        commits = store.log.commits  # type: ignore[attr-defined]  # CassandraStore
    return int(commits)


def _cpu_s(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


async def _run(
    args: argparse.Namespace, data_dir: Path, store: MessageStore, server: psutil.Process | None
) -> dict[str, Any]:
    await store.open()
    try:
        await _setup(store, args.conversations, args.senders)
        latencies: list[float] = []
        sent = 0
        stop = asyncio.Event()
        next_id = time.time_ns()  # unique across runs on a reused --data-dir
        run = f"{next_id:x}"

        async def sender(index: int) -> None:
            nonlocal sent, next_id
            sender_id = f"u{index}"
            counter = 0
            while not stop.is_set():
                now = int(time.time() * 1000)
                batch: list[NewMessage] = []
                for _ in range(args.batch):
                    counter += 1
                    next_id += 1
                    cid = 1 + (index * 7919 + counter) % args.conversations
                    batch.append(
                        NewMessage(cid, sender_id, "bench", f"{run}-{index}-{counter}", "text/plain",
                                   _BODY, b"", next_id, now)
                    )  # fmt: skip
                started = time.perf_counter()
                await store.append(batch)
                latencies.append(time.perf_counter() - started)
                sent += len(batch)

        commits_before = _commits(store)
        ours, theirs = psutil.Process(), server
        cpu_before = (_cpu_s(ours), _cpu_s(theirs))
        progress = tqdm(file=sys.stderr, unit="msg", desc="append", mininterval=0.5)
        started = time.perf_counter()
        tasks = [asyncio.create_task(sender(i)) for i in range(args.senders)]
        deadline = started + args.seconds
        shown = 0
        while (left := deadline - time.perf_counter()) > 0:
            await asyncio.sleep(min(0.25, left))  # a ticker for the progress bar, not a wait for an event
            progress.update(sent - shown)
            shown = sent
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        progress.update(sent - shown)
        progress.close()
        commits = _commits(store) - commits_before
        cpu = (_cpu_s(ours) - cpu_before[0], _cpu_s(theirs) - cpu_before[1])
        reads = {}
        if args.read_seconds > 0:
            cpu_before = (_cpu_s(ours), _cpu_s(theirs))
            reads = await read_history(store, args.conversations, args.readers, args.read_seconds)
            done = max(1, reads["history_reads"])
            reads["history_cpu_us_per_read"] = round((_cpu_s(ours) - cpu_before[0]) / done * 1e6, 1)
            if theirs is not None:
                reads["history_server_cpu_us_per_read"] = round(
                    (_cpu_s(theirs) - cpu_before[1]) / done * 1e6, 1
                )
    finally:
        await store.close()
    latencies.sort()
    return {
        "store": args.store,
        "messages_per_s": round(sent / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "senders": args.senders,
        "batch": args.batch,
        "conversations": args.conversations,
        "seconds": round(elapsed, 3),
        "messages": sent,
        "commits": commits,
        "messages_per_commit": round(sent / commits, 1) if commits else 0.0,
        "cpu_us_per_msg": round(cpu[0] / sent * 1e6, 1) if sent else 0.0,
        "server_cpu_us_per_msg": round(cpu[1] / sent * 1e6, 1) if sent and server else 0.0,
        **reads,
    }


def _run_loop(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: dict[str, Any] = uvloop.run(coro)
    return result


def _measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    if len(args.stores) > 1:  # one after the other, each in a directory of its own
        stores = {}
        for name in args.stores:
            (data_dir / name).mkdir(parents=True, exist_ok=True)
            stores[name] = _measure(
                argparse.Namespace(**{**vars(args), "store": name, "stores": [name]}), data_dir / name
            )
        return {"stores": stores}
    if args.store == "sqlite":
        return _run_loop(_run(args, data_dir, SqliteStore(data_dir / "bench.sqlite3"), None))
    from bench.store_bench_cassandra import cassandra_store

    with cassandra_store(data_dir, args.cassandra_hosts, args.cassandra_protocol_version) as (
        store,
        server_pid,
    ):
        server = psutil.Process(server_pid) if server_pid else None
        return _run_loop(_run(args, data_dir, store, server))


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        result = _measure(args, args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="hubbub-store-bench-") as tmp:
            result = _measure(args, Path(tmp))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
