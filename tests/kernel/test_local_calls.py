"""In-process calls (kernel/local_calls.py): a servicer method called directly answers and fails
as its gRPC stub does once `call` has mapped the failure: same code, same safe message."""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import ErrorCode, HubbubError, NotMember, RateLimited
from kernel.grpc_boundary import Context, metadata_value, servicer_errors
from kernel.local_calls import LocalUnary


class Servicer:
    """A servicer with the house's decorator, like messaging's."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    @servicer_errors
    async def Echo(self, request: str, context: Context) -> str:
        return f"{request} from {metadata_value(context, 'hubbub-peer') or 'nobody'}"

    @servicer_errors
    async def Refuse(self, request: str, context: Context) -> str:
        if request == "limit":
            raise RateLimited("slow down", retry_after_ms=250)
        raise NotMember("not a member of this conversation")

    @servicer_errors
    async def Crash(self, request: str, context: Context) -> str:
        raise RuntimeError("disk on fire at /secret/path")

    @servicer_errors
    async def Stall(self, request: str, context: Context) -> str:
        await self.release.wait()
        return request


async def test_a_call_answers_and_sees_its_metadata() -> None:
    echo = LocalUnary(Servicer().Echo)
    assert await echo("hi") == "hi from nobody"
    assert await echo("hi", metadata=(("hubbub-peer", "10.0.0.7"),)) == "hi from 10.0.0.7"


async def test_a_refusal_arrives_with_its_code_and_retry_after() -> None:
    refuse = LocalUnary(Servicer().Refuse)
    with pytest.raises(HubbubError) as member:
        await refuse("member")
    assert member.value.code == ErrorCode.NOT_MEMBER
    assert member.value.message == "not a member of this conversation"
    with pytest.raises(RateLimited) as limited:
        await refuse("limit")
    assert limited.value.retry_after_ms == 250


async def test_an_unexpected_error_is_internal_without_its_details() -> None:
    with pytest.raises(HubbubError) as info:
        await LocalUnary(Servicer().Crash)("x")
    assert info.value.code == ErrorCode.INTERNAL
    assert "secret" not in info.value.message


async def test_a_timeout_ends_the_call_retryable_as_a_deadline_does() -> None:
    servicer = Servicer()
    with pytest.raises(HubbubError) as info:
        await LocalUnary(servicer.Stall)("x", timeout=0.01)
    assert info.value.code == ErrorCode.UNAVAILABLE and info.value.retryable
    servicer.release.set()
    assert await LocalUnary(servicer.Stall)("y", timeout=5) == "y"
