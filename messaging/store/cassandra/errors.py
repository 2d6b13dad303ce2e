"""Driver errors mapped at the boundary into hubbub's tree (kernel/errors.py), chained.

A timeout, an unavailable replica or no reachable host is a retryable UNAVAILABLE: the write
may or may not have landed, so it is never an ack; the caller's retry is deduped."""

from __future__ import annotations

from cassandra import (
    CoordinationFailure,
    OperationTimedOut,
    ReadTimeout,
    RequestExecutionException,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException

from kernel import errors

_RETRYABLE = (
    OperationTimedOut,
    ReadTimeout,
    WriteTimeout,
    Unavailable,
    CoordinationFailure,
    NoHostAvailable,
    ConnectionException,
    ConnectionError,
    RequestExecutionException,
)


def as_store_error(exc: BaseException) -> errors.HubbubError:
    """The HubbubError to raise (`raise as_store_error(e) from e`). Anything not known to be
    transient (a bad statement, a missing table) is INTERNAL: a bug or an unmigrated schema."""
    if isinstance(exc, errors.HubbubError):
        return exc
    if isinstance(exc, _RETRYABLE):
        return errors.Unavailable("the message store is unavailable; retry")
    return errors.Internal("message store error")
