"""A warning that a flood could repeat thousands of times a second is written at most once per
interval, saying how many were held back: the log stays readable and small under any load."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

DEFAULT_INTERVAL_MS = 10_000


class LogAtMostEvery:
    """One per call site: `warning(...)` logs now, or counts and stays quiet until the interval
    since the last line has passed; the next line then says how many it stood for."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        now_ms: Callable[[], int] = lambda: int(time.monotonic() * 1000),
    ) -> None:
        self._logger = logger
        self._interval_ms = interval_ms
        self._now_ms = now_ms
        self._last_ms: int | None = None
        self.held_back = 0

    def warning(self, message: str, *args: object) -> bool:
        """True if the line was written."""
        now = self._now_ms()
        if self._last_ms is not None and now - self._last_ms < self._interval_ms:
            self.held_back += 1
            return False
        if self.held_back:
            message += f" (and {self.held_back} more like it since the last such line)"
            self.held_back = 0
        self._last_ms = now
        self._logger.warning(message, *args)
        return True
