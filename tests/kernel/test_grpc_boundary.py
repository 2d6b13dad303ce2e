from __future__ import annotations

import grpc
import pytest
from grpc import aio

from kernel.errors import ErrorCode
from kernel.grpc_boundary import ERROR_CODE_KEY, error_from_rpc


def rpc_error(
    code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, str], ...] = ()
) -> aio.AioRpcError:
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(*trailing), details)


def test_the_servers_stable_code_wins() -> None:
    error = error_from_rpc(
        rpc_error(grpc.StatusCode.PERMISSION_DENIED, "no", ((ERROR_CODE_KEY, "NOT_MEMBER"),))
    )
    assert (error.code, error.message) == (ErrorCode.NOT_MEMBER, "no")


@pytest.mark.parametrize(
    "status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED]
)
def test_overload_and_outages_are_retryable_unavailable(status: grpc.StatusCode) -> None:
    error = error_from_rpc(rpc_error(status, "busy"))
    assert error.code is ErrorCode.UNAVAILABLE and error.retryable


def test_anything_else_is_internal() -> None:
    error = error_from_rpc(rpc_error(grpc.StatusCode.UNKNOWN, "boom"))
    assert error.code is ErrorCode.INTERNAL


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorCode.INTERNAL),
        (grpc.StatusCode.UNKNOWN, ErrorCode.INTERNAL),
        (grpc.StatusCode.UNAVAILABLE, ErrorCode.UNAVAILABLE),
    ],
)
def test_grpcs_own_details_never_reach_the_error(status: grpc.StatusCode, code: ErrorCode) -> None:
    """Issue 7 finding 6: `SERVER: Sent message larger than max (...)` reached clients."""
    details = "SERVER: Sent message larger than max (20001850 vs. 16777216)"
    error = error_from_rpc(rpc_error(status, details))
    assert error.code is code
    assert "larger than max" not in error.message and "16777216" not in error.message
