"""`hubbub bench resume` (W4): clients in direct pairs drop at once, 50 messages per conversation
are sent meanwhile (from another device of one member), then every client reconnects together
with Resume. Measures the time until every client holds every message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from bench.client_socket import SocketClosed
from bench.connections import source_address
from bench.loadgen import SETUP_TIMEOUT_S, RawUser, encode_send, send_prefix, sign_up_many, stamp
from bench.node import NodeOptions, hubbub_node
from bench.pool import Command, Handler, Pool
from bench.profiler import flame_graph
from bench.sampler import ResourceSampler
from bench.stepped import emit, prefix
from protos import client_pb2 as pb

PASSWORD = "bench-password-1"
SENDER_DEVICE = "sender"
CLIENT_DEVICE = "bench"
CATCH_UP_TIMEOUT_S = 60.0
MAX_RESUME_RETRIES = 20


def retry_delay_s(attempt: int) -> float:
    """Exponential back-off from 50 ms, capped at 1 s, as a client retrying a failed resume."""
    return float(min(1.0, 0.05 * 2 ** (attempt - 1)))


async def token_user(
    url: str, user_id: str, token: str, device: str, local: tuple[str, int] | None
) -> RawUser:
    return await RawUser.greeted(url, user_id, pb.Hello(token=token, device_id=device), local)


class ResumeWorker:
    def __init__(self, url: str, messages: int, index: int, counters: SynchronizedArray[int]) -> None:
        self.url = url
        self.messages = messages
        self.index = index
        self.counters = counters
        self.local = source_address(url, index)
        self.users: list[RawUser] = []
        self.tokens: dict[str, str] = {}
        self.conversations: list[tuple[str, str, int]] = []  # (a, b, conversation id)

    async def setup(self, pairs: list[tuple[str, str]]) -> int:
        names = [name for pair in pairs for name in pair]
        self.users = await sign_up_many(self.url, names, PASSWORD, 8)
        self.tokens = {u.user_id: u.token for u in self.users}
        by_name = {u.user_id: u for u in self.users}
        ids = await asyncio.gather(*(by_name[a].open_direct(b) for a, b in pairs))
        self.conversations = [(a, b, c) for (a, b), c in zip(pairs, ids, strict=True)]
        return len(self.users)

    async def drop(self) -> int:
        """Every client goes away at once."""
        await asyncio.gather(*(u.close() for u in self.users), return_exceptions=True)
        dropped, self.users = len(self.users), []
        return dropped

    async def send(self) -> dict[str, int]:
        """From a second device of each pair's first member: `messages` sends, all acked."""
        gate = asyncio.Semaphore(100)
        acked = 0

        async def one(a: str, conversation_id: int) -> None:
            nonlocal acked
            async with gate:
                sender = await token_user(self.url, a, self.tokens[a], SENDER_DEVICE, self.local)
                done = asyncio.get_running_loop().create_future()
                got = 0

                def on_frame(user: RawUser, frame: pb.ServerFrame) -> None:
                    nonlocal got
                    if frame.WhichOneof("kind") in ("sent", "error"):
                        got += 1
                        if got == self.messages and not done.done():
                            done.set_result(None)

                sender.on_frame = on_frame
                prefix_ = send_prefix(conversation_id)
                for k in range(self.messages):
                    body = stamp(time.time_ns(), k)
                    await sender.ws.send(encode_send(sender.next_ref(), prefix_, b"r%d" % k, body))
                async with asyncio.timeout(CATCH_UP_TIMEOUT_S):
                    await done
                acked += got
                self.counters[2 * self.index] += self.messages
                await sender.close()

        await asyncio.gather(*(one(a, c) for a, _, c in self.conversations))
        return {"sent": self.messages * len(self.conversations), "answered": acked}

    async def reconnect(self, start_ns: int) -> dict[str, Any]:
        """Reconnect every client at `start_ns` and resume: when did each hold all messages?"""
        await asyncio.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))
        welcomed: list[int] = []
        caught_up: list[int] = []
        errors: dict[str, int] = {}
        error_messages: dict[str, str] = {}
        retries: list[int] = []

        async def client(name: str, conversation_id: int) -> None:
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            seqs: set[int] = set()
            resume_refs: set[int] = set()
            pending: set[asyncio.Task[None]] = set()

            def on_frame(user: RawUser, frame: pb.ServerFrame) -> None:
                kind = frame.WhichOneof("kind")
                if kind == "history":
                    seqs.update(m.seq for m in frame.history.messages)
                elif kind == "message":
                    seqs.add(frame.message.seq)
                elif kind == "error":
                    errors[frame.error.code] = errors.get(frame.error.code, 0) + 1
                    error_messages.setdefault(frame.error.code, frame.error.message)
                    if frame.ref in resume_refs and len(resume_refs) <= MAX_RESUME_RETRIES:
                        retries.append(1)  # as the SDK does: a failed resume is asked again, backing off
                        task = loop.create_task(send_resume(user, retry_delay_s(len(resume_refs))))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                if len(seqs) >= self.messages and not done.done():
                    done.set_result(time.time_ns())

            async def send_resume(user: RawUser, delay_s: float = 0.0) -> None:
                await asyncio.sleep(delay_s)  # the retry back-off
                cursor = pb.ConversationCursor(conversation_id=conversation_id, seq=0)
                ref = user.next_ref()
                resume_refs.add(ref)
                frame = pb.ClientFrame(
                    ref=ref, resume=pb.Resume(cursors=[cursor], limit_per_conversation=100)
                )
                with contextlib.suppress(SocketClosed):
                    await user.ws.send(frame.SerializeToString())

            user = await token_user(self.url, name, self.tokens[name], CLIENT_DEVICE, self.local)
            welcomed.append(time.time_ns())
            self.users.append(user)
            user.on_frame = on_frame
            await send_resume(user)
            try:
                async with asyncio.timeout(CATCH_UP_TIMEOUT_S):
                    caught_up.append(await done)
            except TimeoutError:
                raise TimeoutError(
                    f"{name}: {len(seqs)} of {self.messages} messages after {len(resume_refs)} resumes"
                ) from None
            self.counters[2 * self.index + 1] += 1

        clients = [(n, c) for a, b, c in self.conversations for n in (a, b)]
        results = await asyncio.gather(*(client(n, c) for n, c in clients), return_exceptions=True)
        failures = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        return {
            "clients": len(clients),
            "caught_up": len(caught_up),
            "welcomed": welcomed,
            "caught_up_ns": caught_up,
            "errors": errors,
            "error_messages": error_messages,
            "resume_retries": len(retries),
            "failures": failures[:5],
        }


def handler(url: str, messages: int, index: int, processes: int, counters: SynchronizedArray[int]) -> Handler:
    worker = ResumeWorker(url, messages, index, counters)

    async def handle(command: Command) -> Any:
        kind = command[0]
        if kind == "setup":
            return await worker.setup(command[1][index])
        if kind == "drop":
            return await worker.drop()
        if kind == "send":
            return await worker.send()
        if kind == "reconnect":
            return await worker.reconnect(command[1])
        if kind == "stop":
            return await worker.drop()
        raise ValueError(f"unknown command {kind!r}")

    return handle


def _merge_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for one in counts:
        for key, n in one.items():
            merged[key] = merged.get(key, 0) + n
    return merged


def catch_up_figures(start_ns: int, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds from the reconnect until the last client was welcomed / fully caught up."""
    welcomed = [t for a in answers for t in a["welcomed"]]
    done = sorted((t - start_ns) / 1e9 for a in answers for t in a["caught_up_ns"])
    clients = sum(a["clients"] for a in answers)
    return {
        "clients": clients,
        "caught_up": len(done),
        "all_caught_up": len(done) == clients,
        "all_welcomed_s": round((max(welcomed) - start_ns) / 1e9, 3) if welcomed else None,
        "catchup_s": round(done[-1], 3) if done and len(done) == clients else None,
        "catchup_median_s": round(statistics.median(done), 3) if done else None,
        "errors": sum(n for a in answers for n in a["errors"].values()),
        "error_codes": _merge_counts(a["errors"] for a in answers),
        "error_messages": {k: v for a in answers for k, v in a["error_messages"].items()},
        "resume_retries": sum(a["resume_retries"] for a in answers),
        "failures": [f for a in answers for f in a["failures"]][:5],
    }


def cpu_per_catch_up(server_cpu_s: float, clients: int, messages: int) -> dict[str, float | None]:
    """The server's CPU over the resume window per client caught up and per message caught up:
    the figures contention distorts least."""
    if not clients:
        return {"server_cpu_us_per_client": None, "server_cpu_us_per_message": None}
    return {
        "server_cpu_us_per_client": round(server_cpu_s * 1e6 / clients, 1),
        "server_cpu_us_per_message": round(server_cpu_s * 1e6 / (clients * messages), 2)
        if messages
        else None,
    }


def edge_resume_counts(metrics_urls: Iterable[str]) -> dict[str, float]:
    """The edges' counts of resume calls to messaging and the resumes they carried (all rpcs),
    read from their Prometheus endpoints (zeros when none is given)."""
    counts = {"resume_calls": 0.0, "resumes_sent": 0.0}
    for url in metrics_urls:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            name = family.name.removeprefix("hubbub_edge_")
            if name in counts:
                counts[name] += sum(
                    sample.value for sample in family.samples if sample.name.endswith("_total")
                )
    return counts


def resume_batching(before: dict[str, float], after: dict[str, float]) -> dict[str, float | None]:
    calls = after.get("resume_calls", 0.0) - before.get("resume_calls", 0.0)
    sent = after.get("resumes_sent", 0.0) - before.get("resumes_sent", 0.0)
    return {"resume_calls": calls, "resumes_per_call": round(sent / calls, 1) if calls else None}


Profiling = Callable[[], AbstractContextManager[Any]]
PROFILER_ATTACH_S = 1.5
"""With --profile the storm starts this much later: py-spy attaches to the node's children first."""


def run(
    pairs: int,
    messages: int,
    processes: int,
    sampler: ResourceSampler,
    url: str,
    profiling: Profiling = contextlib.nullcontext,
    edge_metrics: Iterable[str] = (),
) -> dict[str, Any]:
    """`profiling`: entered around the resume phase only (a py-spy recording, say);
    `edge_metrics`: the edges' metrics URLs, to count the resume calls they made."""
    edge_metrics = list(edge_metrics)
    name = prefix()
    all_pairs = [(f"{name}-{i}a", f"{name}-{i}b") for i in range(pairs)]
    shares = [all_pairs[k::processes] for k in range(processes)]
    with Pool(functools.partial(handler, url, messages), processes) as pool:
        sampler.label = "w4 setup"
        pool.ask(("setup", shares), SETUP_TIMEOUT_S * 5)
        sampler.label = "w4 drop+send"
        pool.ask(("drop",), SETUP_TIMEOUT_S)
        with tqdm(total=pairs * messages, unit="msg", desc="w4 send", leave=False) as bar:
            sent = pool.ask(("send",), CATCH_UP_TIMEOUT_S * 2, lambda: bar.update(pool.sums()[0] - bar.n))
        counted = edge_resume_counts(edge_metrics)
        with (
            profiling() as profile,
            tqdm(total=2 * pairs, unit="client", desc="w4 resume", leave=False) as bar,
        ):
            lead_s = 0.3 + (PROFILER_ATTACH_S if profile is not None else 0.0)
            start_ns = time.time_ns() + int(lead_s * 1e9)
            sampler.label = "w4 resume"
            answers = pool.ask(
                ("reconnect", start_ns), CATCH_UP_TIMEOUT_S * 2, lambda: bar.update(pool.sums()[1] - bar.n)
            )
            sampler.label = ""
    batching = resume_batching(counted, edge_resume_counts(edge_metrics))
    window = sampler.window("w4 resume")
    figures = catch_up_figures(start_ns, answers)
    return {
        "workload": "resume",
        "pairs": pairs,
        "messages_per_conversation": messages,
        "processes": processes,
        "sent": sum(s["sent"] for s in sent),
        "send_answers": sum(s["answered"] for s in sent),
        **figures,
        **window,
        **cpu_per_catch_up(window["server_cpu_s"], figures["caught_up"], messages),
        **batching,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench resume", description=__doc__)
    parser.add_argument("--clients", type=int, default=2000, help="clients, in direct pairs (default 2000)")
    parser.add_argument("--messages", type=int, default=50, help="messages per conversation (default 50)")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite", help="node's store")
    parser.add_argument(
        "--layout", default="", help="the node's --processes layout (default: hubbub up's own)"
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy flame graph (SVG) of the node's processes during the storm only"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    extra = ("--processes", args.layout) if args.layout else ()
    with (
        hubbub_node(NodeOptions(store=args.store, extra_args=extra)) as server,
        ResourceSampler(server.pid) as sampler,
    ):
        profiling: Profiling = functools.partial(flame_graph, server.pid, args.profile)
        edges = [url for name, url in server.ready.get("metrics", {}).items() if "edge" in name.split("+")]
        result = run(args.clients // 2, args.messages, args.processes, sampler, server.url, profiling, edges)
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
