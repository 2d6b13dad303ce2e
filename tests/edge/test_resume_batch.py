"""The edge's batched resumes (edge/resume_batch.py) against a fake ResumeMany: resumes waiting
behind a call in flight go together, each caller gets its own reply, left-out resumes go first
in the next call, one refusal fails one caller, a failed call fails only what it carried."""

from __future__ import annotations

import asyncio

import pytest

from edge.resume_batch import ResumeBatches
from kernel.errors import ErrorCode, HubbubError, Unavailable
from protos import client_pb2
from protos.messaging_pb2 import ResumeReply, ResumeRequest, ResumeRequests, ResumeResults


def request(user: str) -> ResumeRequest:
    return ResumeRequest(user_id=user, resume=client_pb2.Resume(limit_per_conversation=10))


def reply_for(user: str) -> ResumeReply:
    """A reply that says whose it is: a page with the user's name as its one message's sender."""
    reply = ResumeReply()
    reply.pages.add(conversation_id=1).messages.add(sender_id=user, seq=1)
    return reply


def owner(reply: ResumeReply) -> str:
    return reply.pages[0].messages[0].sender_id


class FakeMessaging:
    """ResumeMany that answers each request with reply_for(its user); `answer_at_most` leaves
    the rest out; `gate` holds the calls until set; users in `refused` get NOT_MEMBER."""

    def __init__(self, answer_at_most: int = 1000) -> None:
        self.batches: list[list[str]] = []
        self.called = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.answer_at_most = answer_at_most
        self.refused: set[str] = set()
        self.fail_next: Exception | None = None

    async def __call__(self, requests: ResumeRequests) -> ResumeResults:
        self.batches.append([r.user_id for r in requests.requests])
        self.called.set()
        await self.gate.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        results = ResumeResults()
        for one in requests.requests[: self.answer_at_most]:
            result = results.results.add()
            if one.user_id in self.refused:
                result.error.code, result.error.message = "NOT_MEMBER", "not a member"
            else:
                result.reply.CopyFrom(reply_for(one.user_id))
        return results


async def test_resumes_waiting_behind_a_call_go_together_each_answered_its_own() -> None:
    fake = FakeMessaging()
    batches = ResumeBatches(fake, calls_in_flight=1, max_batch=32)
    fake.gate.clear()
    first = asyncio.create_task(batches.resume(request("u0")))
    await fake.called.wait()  # the first call is in flight
    rest = [asyncio.create_task(batches.resume(request(f"u{i}"))) for i in range(1, 101)]
    await asyncio.sleep(0)  # the tasks take their places in line
    fake.gate.set()
    replies = await asyncio.gather(first, *rest)
    assert [owner(r) for r in replies] == [f"u{i}" for i in range(101)]
    assert fake.batches == [["u0"]] + [
        [f"u{i}" for i in range(k, min(k + 32, 101))] for k in range(1, 101, 32)
    ]


async def test_left_out_resumes_go_first_in_the_next_call() -> None:
    fake = FakeMessaging(answer_at_most=2)
    batches = ResumeBatches(fake, calls_in_flight=1)
    fake.gate.clear()
    blocker = asyncio.create_task(batches.resume(request("first")))
    await fake.called.wait()
    tasks = [asyncio.create_task(batches.resume(request(f"u{i}"))) for i in range(5)]
    await asyncio.sleep(0)  # the tasks take their places in line
    fake.gate.set()
    replies = await asyncio.gather(blocker, *tasks)
    assert [owner(r) for r in replies] == ["first", "u0", "u1", "u2", "u3", "u4"]
    assert fake.batches == [["first"], ["u0", "u1", "u2", "u3", "u4"], ["u2", "u3", "u4"], ["u4"]]


async def test_a_refused_resume_fails_only_its_caller() -> None:
    fake = FakeMessaging()
    fake.refused = {"mallory"}
    batches = ResumeBatches(fake, calls_in_flight=1)
    fake.gate.clear()
    tasks = [asyncio.create_task(batches.resume(request(u))) for u in ("alice", "mallory", "bob")]
    await asyncio.sleep(0)  # the tasks take their places in line
    fake.gate.set()
    alice, refused, bob = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(alice, ResumeReply) and owner(alice) == "alice"
    assert isinstance(bob, ResumeReply) and owner(bob) == "bob"
    assert isinstance(refused, HubbubError) and refused.code is ErrorCode.NOT_MEMBER


async def test_a_failed_call_fails_what_it_carried_and_the_next_call_goes() -> None:
    fake = FakeMessaging()
    batches = ResumeBatches(fake, calls_in_flight=1)
    fake.gate.clear()
    fake.fail_next = Unavailable("service unavailable, retry")
    carried = asyncio.create_task(batches.resume(request("alice")))
    await fake.called.wait()
    waiting = asyncio.create_task(batches.resume(request("bob")))
    await asyncio.sleep(0)  # the tasks take their places in line
    fake.gate.set()
    with pytest.raises(HubbubError) as failed:
        await carried
    assert failed.value.code is ErrorCode.UNAVAILABLE and failed.value.retryable
    assert owner(await waiting) == "bob"


async def test_a_caller_gone_before_its_call_is_not_sent() -> None:
    fake = FakeMessaging()
    batches = ResumeBatches(fake, calls_in_flight=1)
    fake.gate.clear()
    first = asyncio.create_task(batches.resume(request("first")))
    await fake.called.wait()
    gone = asyncio.create_task(batches.resume(request("gone")))
    stays = asyncio.create_task(batches.resume(request("stays")))
    await asyncio.sleep(0)  # the tasks take their places in line
    gone.cancel()
    fake.gate.set()
    assert [owner(r) for r in await asyncio.gather(first, stays)] == ["first", "stays"]
    assert fake.batches == [["first"], ["stays"]]


async def test_batches_are_bounded_in_request_bytes_and_a_large_one_goes_alone() -> None:
    fake = FakeMessaging()
    size = request("u0").ByteSize()
    batches = ResumeBatches(fake, calls_in_flight=1, max_request_bytes=3 * size)
    fake.gate.clear()
    big = ResumeRequest(
        user_id="big", resume=client_pb2.Resume(cursors=[client_pb2.ConversationCursor()] * 50)
    )
    tasks = [
        asyncio.create_task(batches.resume(r))
        for r in [request("u0"), big, *map(request, ["u1", "u2", "u3", "u4"])]
    ]
    await asyncio.sleep(0)  # the tasks take their places in line
    fake.gate.set()
    replies = await asyncio.gather(*tasks)
    assert [owner(r) for r in replies] == ["u0", "big", "u1", "u2", "u3", "u4"]
    assert fake.batches == [["u0"], ["big"], ["u1", "u2", "u3"], ["u4"]]


async def test_closing_fails_what_waits_and_what_is_in_flight_unavailable() -> None:
    fake = FakeMessaging()
    batches = ResumeBatches(fake, calls_in_flight=1)
    fake.gate.clear()
    in_flight = asyncio.create_task(batches.resume(request("alice")))
    await fake.called.wait()
    waiting = asyncio.create_task(batches.resume(request("bob")))
    await asyncio.sleep(0)  # the task takes its place in line
    await batches.close()
    for task in (in_flight, waiting):
        with pytest.raises(HubbubError) as failed:
            await task
        assert failed.value.code is ErrorCode.UNAVAILABLE
    with pytest.raises(HubbubError):
        await batches.resume(request("carol"))
    assert fake.batches == [["alice"]]


async def test_closing_right_after_a_call_was_started_fails_its_resumes_unavailable() -> None:
    """A call task cancelled before its first step never runs its own failure path: close must
    fail what it carried, or its caller waits forever."""
    fake = FakeMessaging()
    batches = ResumeBatches(fake)
    waiting = asyncio.create_task(batches.resume(request("alice")))
    await asyncio.sleep(0)  # alice's resume is queued and its call task created, not yet run
    await batches.close()
    with pytest.raises(HubbubError) as failed:
        async with asyncio.timeout(5):
            await waiting
    assert failed.value.code is ErrorCode.UNAVAILABLE
    assert fake.batches == []
