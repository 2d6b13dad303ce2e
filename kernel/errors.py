"""One error tree for all of hubbub, with stable codes that clients may switch on.

Rooms raise these; boundaries (gRPC servicers, the edge) turn them into gRPC statuses
or `Error` frames. A traceback never reaches a client: anything else becomes INTERNAL.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_MEMBER = "NOT_MEMBER"
    NOT_FOUND = "NOT_FOUND"
    TOO_LARGE = "TOO_LARGE"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    BAD_FRAME = "BAD_FRAME"
    RATE_LIMITED = "RATE_LIMITED"
    CONFLICT = "CONFLICT"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    UNAVAILABLE = "UNAVAILABLE"
    SLOW_CONSUMER = "SLOW_CONSUMER"
    HEARTBEAT_TIMEOUT = "HEARTBEAT_TIMEOUT"
    STALE_OWNER = "STALE_OWNER"
    PARTITION_MISMATCH = "PARTITION_MISMATCH"
    INTERNAL = "INTERNAL"


class HubbubError(Exception):
    """Base of every error hubbub raises on purpose. `message` is safe to show a client."""

    code: ErrorCode = ErrorCode.INTERNAL
    retryable: bool = False

    def __init__(self, message: str = "", *, code: ErrorCode | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


class Unauthenticated(HubbubError):
    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(HubbubError):
    code = ErrorCode.PERMISSION_DENIED


class NotMember(HubbubError):
    code = ErrorCode.NOT_MEMBER


class NotFound(HubbubError):
    code = ErrorCode.NOT_FOUND


class TooLarge(HubbubError):
    code = ErrorCode.TOO_LARGE


class InvalidArgument(HubbubError):
    code = ErrorCode.INVALID_ARGUMENT


class BadFrame(HubbubError):
    code = ErrorCode.BAD_FRAME


class RateLimited(HubbubError):
    """Over a limit; `retry_after_ms` says when the same request may pass."""

    code = ErrorCode.RATE_LIMITED
    retryable = True

    def __init__(self, message: str = "", *, code: ErrorCode | None = None, retry_after_ms: int = 0) -> None:
        super().__init__(message, code=code)
        self.retry_after_ms = retry_after_ms


class Conflict(HubbubError):
    code = ErrorCode.CONFLICT


class LimitExceeded(HubbubError):
    code = ErrorCode.LIMIT_EXCEEDED


class Unavailable(HubbubError):
    code = ErrorCode.UNAVAILABLE
    retryable = True


class StaleOwner(HubbubError):
    """A router wrote with an ownership epoch older than the partition's current one."""

    code = ErrorCode.STALE_OWNER
    retryable = True


class PartitionMismatch(HubbubError):
    """A router and the store disagree on P, the number of partitions: every epoch and seal
    is per partition, so the router must not serve what it claimed (not retryable: a
    configuration error, fixed by giving both the same `partitions`)."""

    code = ErrorCode.PARTITION_MISMATCH


class Internal(HubbubError):
    code = ErrorCode.INTERNAL
    retryable = True


_BY_CODE: dict[ErrorCode, type[HubbubError]] = {
    cls.code: cls
    for cls in (
        Unauthenticated,
        PermissionDenied,
        NotMember,
        NotFound,
        TooLarge,
        InvalidArgument,
        BadFrame,
        RateLimited,
        Conflict,
        LimitExceeded,
        Unavailable,
        StaleOwner,
        PartitionMismatch,
        Internal,
    )
}


_RETRYABLE: frozenset[ErrorCode] = frozenset(code for code, cls in _BY_CODE.items() if cls.retryable)


def is_retryable(code: ErrorCode) -> bool:
    """Whether the same request may succeed later: decided here only, by the error class."""
    return code in _RETRYABLE


def error_from_code(code: str, message: str) -> HubbubError:
    """Rebuild a typed error from a code received over the wire (unknown codes -> INTERNAL)."""
    try:
        known = ErrorCode(code)
    except ValueError:
        return Internal(message)
    cls = _BY_CODE.get(known, HubbubError)
    return cls(message, code=known)
