"""`hubbub bench metrics`: the CPU the Prometheus metrics cost per 1:1 message, with and without.

Runs, many times over, exactly the metric calls one delivered 1:1 message makes across the
processes (edge: the send and the receipt in, the ack, the push and the receipt's answer
out; router: ack and delivery latency, fan-out sizes; messaging: one batch's commit latency
and size, the worst case of one message per batch) against an empty loop, and prints CPU
µs per message. Process CPU time, not wall time: the figure contention distorts least."""

from __future__ import annotations

import argparse
import json
import time

from edge import metrics as edge_metrics
from messaging.metrics import APPEND_BATCH_ITEMS, STORE_COMMIT_SECONDS
from protos import client_pb2 as pb
from router import metrics as router_metrics

TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
SENT = pb.ServerFrame(ref=7, trace=TRACE, sent=pb.Sent(conversation_id=1, seq=5)).SerializeToString()
MESSAGE = pb.ServerFrame(
    trace=TRACE, message=pb.Message(conversation_id=1, seq=5, body="hi")
).SerializeToString()
STORED = pb.ServerFrame(ref=8, cursors_stored=pb.CursorsStored(cursors=1)).SerializeToString()


def one_message() -> None:
    edge_metrics.frames_in("send").inc()
    accepted = router_metrics.now_ns()  # PendingSend.accepted_ns
    STORE_COMMIT_SECONDS.observe(0.001)
    APPEND_BATCH_ITEMS.observe(1)
    router_metrics.observe_ack(accepted)
    router_metrics.observe_delivery(accepted, 1, 1)
    edge_metrics.frames_out(edge_metrics.routed_kind(SENT)).inc(1)  # the sent ack
    edge_metrics.frames_out(edge_metrics.routed_kind(MESSAGE)).inc(1)  # the message, to the recipient
    edge_metrics.frames_in("delivered").inc()
    edge_metrics.frames_out(edge_metrics.routed_kind(STORED)).inc(1)  # the receipt's answer


def nothing() -> None:
    pass


def cpu_us_per_call(work: object, n: int) -> float:
    assert callable(work)
    start = time.process_time()
    for _ in range(n):
        work()
    return (time.process_time() - start) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench metrics", description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000, help="messages simulated (default 200000)")
    args = parser.parse_args(argv)
    with_metrics = min(cpu_us_per_call(one_message, args.messages) for _ in range(3))
    without = min(cpu_us_per_call(nothing, args.messages) for _ in range(3))
    print(
        json.dumps(
            {
                "messages": args.messages,
                "cpu_us_per_message_with_metrics": round(with_metrics, 3),
                "cpu_us_per_message_without": round(without, 3),
                "metrics_cpu_us_per_message": round(with_metrics - without, 3),
            }
        )
    )
    return 0
