"""One builder for the client-facing Error (kernel/error_frames.py), used by edge, router and
messaging alike: retryable from the error tree, a RATE_LIMITED's retry_after_ms always kept."""

from __future__ import annotations

from kernel.error_frames import error_pb
from kernel.errors import ErrorCode, HubbubError, InvalidArgument, RateLimited, Unavailable
from messaging.convert import append_reply
from protos import client_pb2 as pb
from router.frames import error_frame


def test_a_rate_limited_error_keeps_its_retry_after() -> None:
    error = error_pb(RateLimited("slow down", retry_after_ms=750))
    assert (error.code, error.message, error.retryable, error.retry_after_ms) == (
        "RATE_LIMITED",
        "slow down",
        True,
        750,
    )
    assert not error.fatal


def test_retryable_is_decided_by_the_error_tree() -> None:
    assert error_pb(Unavailable("down")).retryable
    assert not error_pb(InvalidArgument("no")).retryable
    rebuilt = HubbubError("queue full", code=ErrorCode.SLOW_CONSUMER)
    assert (error_pb(rebuilt, fatal=True).code, error_pb(rebuilt, fatal=True).fatal) == (
        "SLOW_CONSUMER",
        True,
    )


def test_the_router_and_messaging_carry_retry_after_too() -> None:
    """Regression: both builders dropped retry_after_ms for a RateLimited."""
    routed = pb.ServerFrame.FromString(error_frame(9, RateLimited("wait", retry_after_ms=1200)))
    assert (routed.ref, routed.error.code, routed.error.retry_after_ms) == (9, "RATE_LIMITED", 1200)
    (result,) = append_reply([RateLimited("wait", retry_after_ms=300)]).results
    assert (result.error.code, result.error.retryable, result.error.retry_after_ms) == (
        "RATE_LIMITED",
        True,
        300,
    )
