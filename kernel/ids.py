"""Time-ordered 64-bit ids (Snowflake layout): 41 bits of ms since EPOCH_MS,
10 bits of worker id, 12 bits of sequence within the millisecond."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.clock import Clock

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


@dataclass(frozen=True, slots=True)
class SnowflakeState:
    last_ms: int = -1
    sequence: int = 0


def next_snowflake(state: SnowflakeState, now_ms: int, worker_id: int) -> tuple[int | None, SnowflakeState]:
    """The next id and state, or (None, state) when this millisecond is exhausted
    (the caller waits for the next one). A clock that steps back reuses the last ms,
    so ids never go backwards."""
    if not 0 <= worker_id <= MAX_WORKER:
        raise ValueError(f"worker id must be in 0..{MAX_WORKER}")
    ms = max(now_ms, state.last_ms)
    if ms == state.last_ms:
        if state.sequence >= MAX_SEQUENCE:
            return None, state
        sequence = state.sequence + 1
    else:
        sequence = 0
    new_id = ((ms - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) | (worker_id << SEQUENCE_BITS) | sequence
    return new_id, SnowflakeState(ms, sequence)


def snowflake_time_ms(snowflake: int) -> int:
    return (snowflake >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS


def snowflake_worker(snowflake: int) -> int:
    return (snowflake >> SEQUENCE_BITS) & MAX_WORKER


class SnowflakeGenerator:
    def __init__(self, worker_id: int, clock: Clock) -> None:
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker id must be in 0..{MAX_WORKER}")
        self._worker_id = worker_id
        self._clock = clock
        self._state = SnowflakeState()

    def next_id(self) -> int:
        now = self._clock.now_ms()
        while True:
            new_id, self._state = next_snowflake(self._state, now, self._worker_id)
            if new_id is not None:
                return new_id
            now = self._state.last_ms + 1  # borrow the next millisecond rather than spin
