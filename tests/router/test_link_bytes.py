"""The router's side of the byte bounds (issue 7, finding 1): RouterBatches to an edge are cut
below the gRPC message limit, an item none can carry becomes a TOO_LARGE answer, a stalled
edge's backlog is bounded in bytes, and Append calls are cut by bytes too."""

from __future__ import annotations

import asyncio

from kernel.grpc_server import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from protos import client_pb2 as pb
from router.links import EdgeLink
from router.pipeline import OrderedBatchPipeline

MIB = 1024 * 1024


def pushed(ref: int, size: int) -> bytes:
    message = pb.Message(conversation_id=1, seq=ref, payload=b"p" * size)
    return pb.ServerFrame(ref=ref, message=message).SerializeToString()


async def test_a_large_backlog_goes_to_the_edge_in_batches_below_the_limit() -> None:
    link = EdgeLink("edge-1")
    for n in range(1, 25):  # 24 maximum-size messages fanned out to the same edge: ~19 MiB
        link.put([1, 2, 3], pushed(n, 800_000))
    sizes: list[int] = []
    seqs: list[int] = []
    async with asyncio.timeout(30):
        while len(seqs) < 24:
            batch = await link.next_batch()
            assert batch is not None
            sizes.append(batch.ByteSize())
            seqs.extend(pb.ServerFrame.FromString(item.frame).message.seq for item in batch.items)
    assert seqs == list(range(1, 25)) and len(sizes) >= 2
    assert max(sizes) <= MAX_MESSAGE_BYTES
    assert link.queued_bytes == 0


async def test_an_item_no_batch_can_carry_is_answered_too_large_and_the_link_goes_on() -> None:
    link = EdgeLink("edge-1")
    link.put([7], pushed(42, MAX_BATCH_BYTES))
    link.put([8], pushed(43, 10))
    batch = await link.next_batch()
    assert batch is not None
    first, second = batch.items
    error = pb.ServerFrame.FromString(first.frame)
    assert (list(first.session_ids), error.ref, error.error.code) == ([7], 42, "TOO_LARGE")
    assert pb.ServerFrame.FromString(second.frame).ref == 43
    assert link.too_large == 1


def test_a_stalled_edges_backlog_is_bounded_in_bytes() -> None:
    link = EdgeLink("edge-1", limit=1_000_000, limit_bytes=4 * MIB)
    for n in range(100):
        link.put([1], pushed(n, MIB // 2))
    assert link.queued_bytes <= 4 * MIB and link.dropped == 100 - 7


async def test_append_batches_are_cut_by_bytes() -> None:
    batches: list[list[tuple[int, int]]] = []
    done = asyncio.Event()

    async def run_batch(items: list[tuple[int, int]]) -> None:
        batches.append(items)
        if sum(len(b) for b in batches) == 10:
            done.set()

    pipeline: OrderedBatchPipeline[tuple[int, int], None] = OrderedBatchPipeline(
        key=lambda item: item[0],
        run_batch=run_batch,
        deliver=lambda items, outcome: None,
        fail=lambda items, exc: None,
        size=lambda item: item[1],
        max_batch_bytes=10,
    )
    # Conversation 1: sizes 4, 4, 4; conversation 2: 30 (alone: too big for any batch, still
    # carried by itself), then 1s.
    for item in [(1, 4), (1, 4), (1, 4), (2, 30), (2, 1), (2, 1), (3, 1), (3, 1), (3, 1), (3, 1)]:
        assert pipeline.submit(item)
    pipeline.start()
    try:
        async with asyncio.timeout(30):
            await done.wait()
    finally:
        await pipeline.stop()
    for batch in batches:
        assert len(batch) == 1 or sum(size for _, size in batch) <= 10, batches
    by_conversation: dict[int, list[int]] = {}
    for batch in batches:
        for conversation, size in batch:
            by_conversation.setdefault(conversation, []).append(size)
    assert by_conversation == {1: [4, 4, 4], 2: [30, 1, 1], 3: [1, 1, 1, 1]}
